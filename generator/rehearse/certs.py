"""Certificates for the rehearsal's control plane: one CA, the API server's serving
certificate, an administrator's client certificate (group system:masters) and the
service-account key pair. Throwaway: they live in the rehearsal's 0700 folder only."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from ipaddress import IPv4Address, ip_address
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

VALIDITY = timedelta(days=1)  # a rehearsal lasts minutes; a kept one, a day
ADMIN_USER = "clusterforge-rehearsal"


@dataclass(frozen=True)
class Pki:
    ca_crt: Path
    ca_key: Path
    apiserver_crt: Path
    apiserver_key: Path
    admin_crt: Path
    admin_key: Path
    sa_key: Path
    sa_pub: Path


def _name(common_name: str, organization: str | None = None) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if organization:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    return x509.Name(attrs)


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    path.chmod(0o600)


def _write_cert(path: Path, cert: x509.Certificate) -> None:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _builder(subject: x509.Name, issuer: x509.Name, public_key, now: datetime) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(public_key)
        .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + VALIDITY)
    )


def generate(folder: Path, service_ip: IPv4Address) -> Pki:
    """Write the control plane's certificates and keys into `folder` (which must be private)."""
    now = datetime.now(timezone.utc)
    ca_key = _key()
    ca_name = _name("clusterforge-rehearsal-ca")
    ca = (
        _builder(ca_name, ca_name, ca_key.public_key(), now)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    pki = Pki(*(folder / n for n in ("ca.crt", "ca.key", "apiserver.crt", "apiserver.key", "admin.crt", "admin.key", "sa.key", "sa.pub")))
    _write_cert(pki.ca_crt, ca)
    _write_key(pki.ca_key, ca_key)

    def leaf(crt: Path, key_path: Path, subject: x509.Name, usage: x509.ObjectIdentifier, sans: list[x509.GeneralName]) -> None:
        key = _key()
        b = _builder(subject, ca_name, key.public_key(), now).add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        if sans:
            b = b.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        _write_cert(crt, b.sign(ca_key, hashes.SHA256()))
        _write_key(key_path, key)

    names = ["localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"]
    sans: list[x509.GeneralName] = [x509.DNSName(n) for n in names]
    sans += [x509.IPAddress(ip_address("127.0.0.1")), x509.IPAddress(service_ip)]
    leaf(pki.apiserver_crt, pki.apiserver_key, _name("kube-apiserver"), ExtendedKeyUsageOID.SERVER_AUTH, sans)
    leaf(pki.admin_crt, pki.admin_key, _name(ADMIN_USER, "system:masters"), ExtendedKeyUsageOID.CLIENT_AUTH, [])
    sa = _key()
    _write_key(pki.sa_key, sa)
    pki.sa_pub.write_bytes(sa.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    return pki
