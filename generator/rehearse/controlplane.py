"""etcd, kube-apiserver, kube-controller-manager and kube-scheduler on 127.0.0.1, at the
cluster's Kubernetes version, with the rehearsal's own certificates and kubeconfig."""

from __future__ import annotations

import ssl
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from ipaddress import IPv4Network
from pathlib import Path

from .. import yamlio
from ..errors import ClusterforgeError
from . import certs, toolset
from .processes import Daemons, free_port

READY_LIMIT = 60.0  # seconds for etcd + the API server to answer /readyz


@dataclass(frozen=True)
class ControlPlane:
    url: str
    kubeconfig: Path
    pki: certs.Pki
    kubernetes_version: str


def write_kubeconfig(path: Path, url: str, pki: certs.Pki) -> None:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "rehearsal", "cluster": {"server": url, "certificate-authority": str(pki.ca_crt)}}],
        "users": [{"name": certs.ADMIN_USER, "user": {"client-certificate": str(pki.admin_crt), "client-key": str(pki.admin_key)}}],
        "contexts": [{"name": "rehearsal", "context": {"cluster": "rehearsal", "user": certs.ADMIN_USER}}],
        "current-context": "rehearsal",
    }
    path.write_text(yamlio.dump(config))
    path.chmod(0o600)


def _ready(url: str, pki: certs.Pki) -> bool:
    context = ssl.create_default_context(cafile=str(pki.ca_crt))
    context.load_cert_chain(str(pki.admin_crt), str(pki.admin_key))
    try:
        with urllib.request.urlopen(f"{url}/readyz", context=context, timeout=2) as answer:
            return answer.status == 200
    except (urllib.error.URLError, OSError):
        return False


def start(daemons: Daemons, folder: Path, kubernetes_version: str, service_cidr: IPv4Network, pod_cidr: IPv4Network) -> ControlPlane:
    pki_dir = folder / "pki"
    pki_dir.mkdir(mode=0o700)
    pki = certs.generate(pki_dir, service_cidr[1])
    etcd_port, peer_port, api_port = free_port(), free_port(), free_port()
    etcd_url = f"http://127.0.0.1:{etcd_port}"
    peer_url = f"http://127.0.0.1:{peer_port}"
    daemons.start("etcd", [
        toolset.etcd(), "--name", "rehearsal", "--data-dir", folder / "etcd",
        "--listen-client-urls", etcd_url, "--advertise-client-urls", etcd_url,
        "--listen-peer-urls", peer_url, "--initial-advertise-peer-urls", peer_url,
        "--initial-cluster", f"rehearsal={peer_url}",
        "--unsafe-no-fsync",  # a throwaway store: durability buys nothing, fsync costs seconds on a busy disk
    ])
    url = f"https://127.0.0.1:{api_port}"
    daemons.start("kube-apiserver", [
        toolset.kubernetes("kube-apiserver", kubernetes_version),
        "--etcd-servers", etcd_url, "--bind-address", "127.0.0.1", "--secure-port", str(api_port),
        "--advertise-address", "127.0.0.1",
        # The `kubernetes` Service's endpoints would be 127.0.0.1, which Endpoints validation refuses.
        "--endpoint-reconciler-type", "none",
        "--service-cluster-ip-range", str(service_cidr),
        "--client-ca-file", pki.ca_crt, "--tls-cert-file", pki.apiserver_crt, "--tls-private-key-file", pki.apiserver_key,
        "--service-account-issuer", "https://kubernetes.default.svc", "--service-account-key-file", pki.sa_pub,
        "--service-account-signing-key-file", pki.sa_key,
        "--authorization-mode", "RBAC", "--allow-privileged=true", "--profiling=false",
    ])
    kubeconfig = folder / "kubeconfig"
    write_kubeconfig(kubeconfig, url, pki)
    deadline = time.monotonic() + READY_LIMIT
    while not _ready(url, pki):
        daemons.check_alive()
        if time.monotonic() > deadline:
            raise ClusterforgeError(f"the local API server did not become ready within {READY_LIMIT:.0f} s")
        time.sleep(0.3)
    daemons.start("kube-controller-manager", [
        toolset.kubernetes("kube-controller-manager", kubernetes_version),
        "--kubeconfig", kubeconfig, "--bind-address", "127.0.0.1", "--secure-port", str(free_port()),
        "--leader-elect=false", "--service-account-private-key-file", pki.sa_key, "--root-ca-file", pki.ca_crt,
        "--service-cluster-ip-range", str(service_cidr), "--authentication-skip-lookup=true",
        # As kubeadm runs it when networking.podSubnet is set: each node gets a pod CIDR (Cilium's ipam mode kubernetes).
        "--allocate-node-cidrs=true", f"--cluster-cidr={pod_cidr}",
        "--authentication-kubeconfig", kubeconfig, "--authorization-kubeconfig", kubeconfig,
    ])
    daemons.start("kube-scheduler", [
        toolset.kubernetes("kube-scheduler", kubernetes_version),
        "--kubeconfig", kubeconfig, "--bind-address", "127.0.0.1", "--secure-port", str(free_port()), "--leader-elect=false",
        "--authentication-kubeconfig", kubeconfig, "--authorization-kubeconfig", kubeconfig,
    ])
    return ControlPlane(url, kubeconfig, pki, kubernetes_version)
