"""Where every rendered file lives in the generated repository. Renderers and
validators ask here instead of spelling paths themselves."""

from __future__ import annotations

from ..model import BgpPeer, Inventory, Node

SECRETS_FILE = ".clusterforge/secrets.yaml"  # git-ignored, mode 0600 (SOPS-encrypted with age recipients)
LOCK_FILE = ".clusterforge/lock"
CACHE_DIR = ".clusterforge/cache"
SCHEMA_FILE = ".clusterforge/cluster.schema.json"
SEEDS_DIR = "seeds"  # where `clusterforge seed` output may go inside the repo (git-ignored)
INVENTORY = "cluster.yaml"
README = "README.md"
README_JA = "README.ja.md"  # written when docs.language is ja
# The inventory the tree was rendered from: `clusterforge plan` compares it with the edited one.
INVENTORY_SNAPSHOT = ".clusterforge/inventory.json"

# The guide beside the README (each in English, and in Japanese too when docs.language is ja).
DOCS_DIR = "docs"
TROUBLESHOOTING = f"{DOCS_DIR}/troubleshooting.md"
DECISIONS = f"{DOCS_DIR}/decisions.md"
TOPOLOGY_SVG = f"{DOCS_DIR}/topology.svg"
RUNBOOKS_DIR = f"{DOCS_DIR}/runbooks"

# One values file, read by the bootstrap Helm install and by the GitOps release.
CILIUM_DIR = "infrastructure/controllers/cilium"
CILIUM_VALUES = f"{CILIUM_DIR}/values.yaml"
CILIUM_BOOTSTRAP = "bootstrap/install-cilium.sh"
CONTROLLERS_DIR = "infrastructure/controllers"
CONFIGS_DIR = "infrastructure/configs"
ARGOCD_DIR = "argocd"
# Cilium's CRD objects (applied after the chart, which makes the operator register the CRDs).
CILIUM_BGP = f"{CONFIGS_DIR}/cilium-bgp.yaml"
LB_IPPOOLS = f"{CONFIGS_DIR}/lb-ippools.yaml"
ARGOCD_ROOT = f"{ARGOCD_DIR}/root.yaml"
# Argo CD's own settings this repository needs (applied once, before the root application).
ARGOCD_CM = f"{ARGOCD_DIR}/argocd-cm.yaml"
ARGOCD_APPS_DIR = f"{ARGOCD_DIR}/apps"


def localized(path: str, language: str) -> str:
    """The Japanese page of an English one: README.md -> README.ja.md."""
    return path if language == "en" else path.removesuffix(".md") + f".{language}.md"


def runbook(name: str, language: str = "en") -> str:
    return localized(f"{RUNBOOKS_DIR}/{name}.md", language)


def seed_dir(node: Node) -> str:
    return f"nodes/{node.name}"


def kubeadm_file(inv: Inventory, node: Node) -> str:
    """The kubeadm config of a Kubernetes node: init for the first control plane, join otherwise."""
    if node == inv.control_planes[0]:
        return f"kubeadm/{node.name}-init.yaml"
    return f"kubeadm/{node.name}-join.yaml"


def loadbalancer_dir(node: Node) -> str:
    return f"loadbalancers/{node.name}"


ROUTER_FILE_NAMES = {"yamaha-rtx": "rtx.txt", "frr": "frr.conf", "bird": "bird.conf"}


def router_file(peer: BgpPeer) -> str:
    return f"routers/{peer.name}/{ROUTER_FILE_NAMES[peer.router]}"


def flux_cluster_dir(inv: Inventory) -> str:
    return f"clusters/{inv.name}"
