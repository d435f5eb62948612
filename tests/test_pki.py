"""The cluster CAs render makes (generator/pki.py), checked with openssl and kubeadm."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from generator import pki, secrets, yamlio
from generator.errors import ClusterforgeError
from generator.loader import check_file
from generator.render import kubeadm

EXAMPLE = check_file(Path("generator/data/cluster.example.yaml")).inventory
# The command the README had the operator run on cp1 to compute the hash by hand
# (kubeadm's docs, "kubeadm join": --discovery-token-ca-cert-hash).
OPENSSL_HASH = (
    "openssl x509 -pubkey -in {cert} | openssl rsa -pubin -outform der 2>/dev/null | openssl dgst -sha256 -hex | sed 's/^.* /sha256:/'"
)


@pytest.fixture(scope="module")
def files() -> dict[str, str]:
    return pki.generate()


def write(files: dict[str, str], root: Path) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def test_the_files_kubeadm_looks_for(files: dict[str, str]) -> None:
    assert sorted(files) == sorted(
        ["ca.crt", "ca.key", "etcd/ca.crt", "etcd/ca.key", "front-proxy-ca.crt", "front-proxy-ca.key", "sa.key", "sa.pub"]
    )
    assert pki.check(files) == []
    assert pki.generate() != files  # fresh keys every time


def test_check_names_what_does_not_belong_together(files: dict[str, str]) -> None:
    other = pki.generate()
    assert pki.check({**files, "ca.key": other["ca.key"]}) == ["ca.key is not the key of ca.crt"]
    assert pki.check({**files, "sa.pub": other["sa.pub"]}) == ["sa.pub is not the public half of sa.key"]
    assert pki.check({**files, "etcd/ca.crt": "not pem"}) == ["etcd/ca.crt/etcd/ca.key: not a PEM certificate and private key"]
    assert pki.check({"ca.crt": files["ca.crt"]})[0].startswith("expected exactly ca.crt, ca.key")


@pytest.mark.tools
def test_hash_is_the_one_openssl_computes(files: dict[str, str], tmp_path: Path, need_tool) -> None:
    need_tool("openssl")
    cert = write(files, tmp_path) / "ca.crt"
    done = subprocess.run(["bash", "-c", OPENSSL_HASH.format(cert=cert)], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == pki.ca_cert_hash(files["ca.crt"])


@pytest.mark.tools
def test_openssl_reads_the_cas_as_kubeadm_makes_them(files: dict[str, str], tmp_path: Path, need_tool) -> None:
    openssl = need_tool("openssl")
    root = write(files, tmp_path)
    for name, common_name in pki.CAS.items():
        text = subprocess.run([openssl, "x509", "-in", root / f"{name}.crt", "-noout", "-subject", "-ext", "basicConstraints,keyUsage"], capture_output=True, text=True, check=True).stdout
        assert f"CN = {common_name}" in text and "CA:TRUE" in text and "Certificate Sign" in text
        subprocess.run([openssl, "verify", "-CAfile", root / f"{name}.crt", root / f"{name}.crt"], check=True, capture_output=True)


@pytest.mark.tools
def test_kubeadm_signs_with_the_generated_ca(files: dict[str, str], tmp_path: Path, need_tool) -> None:
    """`kubeadm init` takes the CAs it finds in its certificate folder: its own phase that
    makes the API server's certificate signs it with ours, and verifies against our CA."""
    version = EXAMPLE.kubernetes.version
    kubeadm_bin, openssl = need_tool("kubeadm", kubernetes_version=version), need_tool("openssl")
    certs = write(files, tmp_path / "pki")
    values = secrets.generate(EXAMPLE)
    documents = kubeadm.documents(EXAMPLE, EXAMPLE.control_planes[0], values)
    for doc in documents:
        if doc["kind"] == "ClusterConfiguration":
            doc["certificatesDir"] = str(certs)  # instead of /etc/kubernetes/pki (--cert-dir cannot go with --config)
    config = tmp_path / "kubeadm.yaml"
    config.write_text(yamlio.dump_all(documents))
    for phase in ("ca", "apiserver"):
        subprocess.run([kubeadm_bin, "init", "phase", "certs", phase, "--config", config], check=True, capture_output=True, text=True)
    assert (certs / "ca.crt").read_text() == files["ca.crt"]  # kept, not replaced
    subprocess.run([openssl, "verify", "-CAfile", certs / "ca.crt", certs / "apiserver.crt"], check=True, capture_output=True)


def test_secrets_keep_the_ca_and_its_hash_together() -> None:
    values = secrets.generate(EXAMPLE)
    assert values.ca_cert_hash == pki.ca_cert_hash(values.pki["ca.crt"])
    data = values.as_data()
    assert secrets.from_data(data, "s.yaml") == values
    with pytest.raises(ClusterforgeError, match="caCertHash: is not the hash of pki's ca.crt"):
        secrets.from_data({**data, "caCertHash": "sha256:" + "0" * 64}, "s.yaml")
    with pytest.raises(ClusterforgeError, match="pki: ca.key is not the key of ca.crt"):
        secrets.from_data({**data, "pki": {**data["pki"], "ca.key": pki.generate()["ca.key"]}}, "s.yaml")
    # Completing keeps what is there: the CA is the cluster's identity.
    assert secrets.complete(values, EXAMPLE) == values
