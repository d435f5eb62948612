"""The cluster's certificate authorities and service-account key pair, made by
`render` the way kubeadm would make them on the first control plane (Cluster API's
kubeadm bootstrap does the same), so the CA certificate hash every join needs is
known before any VM boots.

They live only in the secrets file (SOPS-encrypted when the inventory names age
recipients) and reach the first control plane's seed as /etc/kubernetes/pki/*,
where `kubeadm init` finds and uses them instead of making its own.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta, timezone

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

PKI_DIR = "/etc/kubernetes/pki"
# kubeadm's defaults: RSA 2048 keys (ClusterConfiguration.encryptionAlgorithm
# RSA-2048), CAs valid for ten years (cmd/kubeadm/app/constants: CACertificateValidityPeriod).
KEY_SIZE = 2048
CA_VALIDITY = timedelta(days=3650)
# Files under PKI_DIR, each with the common name kubeadm gives that CA
# (cmd/kubeadm/app/phases/certs/certlist.go: KubeadmCertRootCA, ...EtcdCA, ...FrontProxyCA).
CAS = {"ca": "kubernetes", "etcd/ca": "etcd-ca", "front-proxy-ca": "front-proxy-ca"}
SERVICE_ACCOUNT_KEY, SERVICE_ACCOUNT_PUB = "sa.key", "sa.pub"
FILES = tuple([f"{name}.{ext}" for name in CAS for ext in ("crt", "key")] + [SERVICE_ACCOUNT_KEY, SERVICE_ACCOUNT_PUB])
CLUSTER_CA = "ca.crt"


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=KEY_SIZE)


def _private_pem(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()).decode()


def _ca(common_name: str, now: datetime) -> tuple[str, str]:
    """A self-signed CA as kubeadm's certutil makes one: CN (and DNS SAN) = common_name."""
    key = _key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))  # tolerate a node clock slightly behind
        .not_valid_after(now + CA_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=True, data_encipherment=False,
                key_agreement=False, key_cert_sign=True, crl_sign=False, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(common_name)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode(), _private_pem(key)


def generate(now: datetime | None = None) -> dict[str, str]:
    """{file under PKI_DIR: PEM text} for the three CAs and the service-account key pair."""
    now = now or datetime.now(timezone.utc)
    files: dict[str, str] = {}
    for name, common_name in CAS.items():
        files[f"{name}.crt"], files[f"{name}.key"] = _ca(common_name, now)
    sa = _key()
    files[SERVICE_ACCOUNT_KEY] = _private_pem(sa)
    files[SERVICE_ACCOUNT_PUB] = sa.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return files


def ca_cert_hash(cert_pem: str) -> str:
    """What `kubeadm join --discovery-token-ca-cert-hash` pins: sha256 of the CA
    certificate's DER-encoded SubjectPublicKeyInfo (kubeadm's pubkeypin.Hash)."""
    cert = x509.load_pem_x509_certificate(cert_pem.encode())
    spki = cert.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return "sha256:" + hashlib.sha256(spki).hexdigest()


def check(files: dict[str, str]) -> list[str]:
    """What is wrong with a set of PKI files read back from the secrets file."""
    problems = []
    if sorted(files) != sorted(FILES):
        problems.append(f"expected exactly {', '.join(FILES)}")
        return problems
    for name in CAS:
        try:
            cert = x509.load_pem_x509_certificate(files[f"{name}.crt"].encode())
            key = serialization.load_pem_private_key(files[f"{name}.key"].encode(), password=None)
        except ValueError:
            problems.append(f"{name}.crt/{name}.key: not a PEM certificate and private key")
            continue
        if cert.public_key().public_numbers() != key.public_key().public_numbers():  # type: ignore[union-attr]
            problems.append(f"{name}.key is not the key of {name}.crt")
    try:
        sa_key = serialization.load_pem_private_key(files[SERVICE_ACCOUNT_KEY].encode(), password=None)
        sa_pub = serialization.load_pem_public_key(files[SERVICE_ACCOUNT_PUB].encode())
        if sa_key.public_key().public_numbers() != sa_pub.public_numbers():  # type: ignore[union-attr]
            problems.append(f"{SERVICE_ACCOUNT_PUB} is not the public half of {SERVICE_ACCOUNT_KEY}")
    except ValueError:
        problems.append(f"{SERVICE_ACCOUNT_KEY}/{SERVICE_ACCOUNT_PUB}: not a PEM key pair")
    return problems
