"""kubeadm configuration per Kubernetes node: `kubeadm init` on the first control
plane, `kubeadm join` everywhere else (kubeadm.k8s.io/v1beta4).

The committed files carry no secret: the bootstrap token, the certificate key
and the CA certificate hash are left out entirely and filled in by
`with_secrets` when a node's seed is built (or with dummies when validating).
"""

from __future__ import annotations

from typing import Any

from .. import versions, yamlio
from ..errors import ClusterforgeError
from ..model import Inventory, Node
from ..secrets import ClusterSecrets
from . import layout

CRI_SOCKET = "unix:///var/run/containerd/containerd.sock"
# kubeadm's default, stated: the bootstrap token must outlive every join. Nodes that
# bootstrap themselves give up long before (bootstrap.API_WAIT_SECONDS and retries).
TOKEN_TTL = "24h0m0s"
KUBELET_API_VERSION = "kubelet.config.k8s.io/v1beta1"

Document = dict[str, Any]


def render(inv: Inventory) -> dict[str, str]:
    return {layout.kubeadm_file(inv, node): config(inv, node) for node in inv.kubernetes_nodes}


def config(inv: Inventory, node: Node) -> str:
    """The committed kubeadm config of `node` (no secrets)."""
    return yamlio.dump_all(documents(inv, node))


def with_secrets(inv: Inventory, node: Node, secrets: ClusterSecrets) -> str:
    """The config of `node` with the bootstrap token, certificate key and (for joins)
    the CA hash filled in: what goes into the node's seed, never into git."""
    return yamlio.dump_all(documents(inv, node, secrets))


def documents(inv: Inventory, node: Node, secrets: ClusterSecrets | None = None) -> list[Document]:
    if node.role == "loadbalancer":
        raise ValueError(f"{node.name} is a load balancer, not a Kubernetes node")
    if node == inv.control_planes[0]:
        return [_init(inv, node, secrets), _cluster(inv), _kubelet()]
    return [_join(inv, node, secrets)]


def _header(inv: Inventory, kind: str) -> Document:
    return {"apiVersion": versions.kubeadm_api_version(inv.kubernetes.version), "kind": kind}


def _node_registration(inv: Inventory, node: Node) -> Document:
    registration: Document = {
        "name": node.name,
        "criSocket": CRI_SOCKET,
        # The kubelet would otherwise pick the address of the default route's interface.
        "kubeletExtraArgs": [{"name": "node-ip", "value": str(node.ip)}],
    }
    if node.role == "control-plane" and not inv.workers:
        # No worker to run workloads: an empty list keeps kubeadm's NoSchedule taint off.
        registration["taints"] = []
    return registration


def _local_endpoint(inv: Inventory, node: Node) -> Document:
    # The load balancers are separate VMs, so each API server can bind the VIP's port.
    return {"advertiseAddress": str(node.ip), "bindPort": inv.api_server.port}


def _init(inv: Inventory, node: Node, secrets: ClusterSecrets | None) -> Document:
    doc = _header(inv, "InitConfiguration")
    if secrets is not None:
        # usages and groups keep kubeadm's defaults (signing + authentication).
        doc["bootstrapTokens"] = [{"token": secrets.bootstrap_token, "ttl": TOKEN_TTL}]
    doc["nodeRegistration"] = _node_registration(inv, node)
    doc["localAPIEndpoint"] = _local_endpoint(inv, node)
    if secrets is not None:
        doc["certificateKey"] = secrets.certificate_key
    if inv.cilium.kube_proxy_replacement:
        # Said explicitly for the reader; init would add it itself for proxy.disabled.
        doc["skipPhases"] = ["addon/kube-proxy"]
    return doc


def _cluster(inv: Inventory) -> Document:
    doc = _header(inv, "ClusterConfiguration")
    doc.update(
        {
            "clusterName": inv.name,
            "kubernetesVersion": f"v{inv.kubernetes.version}",
            "controlPlaneEndpoint": inv.api_endpoint,
            "networking": {
                "podSubnet": str(inv.kubernetes.pod_cidr),
                "serviceSubnet": str(inv.kubernetes.service_cidr),
                "dnsDomain": inv.kubernetes.cluster_domain,
            },
            "apiServer": {"certSANs": cert_sans(inv)},
        }
    )
    if inv.cilium.kube_proxy_replacement:
        # Kept in the kubeadm-config ConfigMap, so `kubeadm upgrade` does not bring
        # kube-proxy back either; `kubeadm init` turns it into skipPhases
        # [addon/kube-proxy] itself (cmd/kubeadm/app/cmd/init.go, manageSkippedAddons).
        doc["proxy"] = {"disabled": True}
    return doc


def cert_sans(inv: Inventory) -> list[str]:
    """Every name and address clients may use for the API server, VIP first, no duplicates."""
    sans = [str(inv.api_server.vip), inv.api_dns_name]
    for cp in inv.control_planes:
        sans += [str(cp.ip), cp.name]
    sans += inv.api_server.extra_cert_sans
    return list(dict.fromkeys(sans))


def _kubelet() -> Document:
    # systemd is kubeadm's default since 1.22; stated so it visibly matches containerd's SystemdCgroup.
    return {"apiVersion": KUBELET_API_VERSION, "kind": "KubeletConfiguration", "cgroupDriver": "systemd"}


def _join(inv: Inventory, node: Node, secrets: ClusterSecrets | None) -> Document:
    discovery: Document = {"apiServerEndpoint": inv.api_endpoint}
    if secrets is not None:
        if secrets.ca_cert_hash is None:
            raise ClusterforgeError(
                f"{node.name}: the secrets have neither the cluster CA nor a caCertHash "
                "(joining without it would trust any API server)"
            )
        discovery["token"] = secrets.bootstrap_token
        discovery["caCertHashes"] = [secrets.ca_cert_hash]
    doc = _header(inv, "JoinConfiguration")
    doc["nodeRegistration"] = _node_registration(inv, node)
    doc["discovery"] = {"bootstrapToken": discovery}
    if node.role == "control-plane":
        control_plane: Document = {"localAPIEndpoint": _local_endpoint(inv, node)}
        if secrets is not None:
            control_plane["certificateKey"] = secrets.certificate_key
        doc["controlPlane"] = control_plane
    return doc
