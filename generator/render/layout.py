"""Where every rendered file lives in the generated repository. Renderers and
validators ask here instead of spelling paths themselves.

RENDERED_FILES lists every file any inventory can render, `{name}` standing for
one node, peer or cluster name; `is_renderable` matches a path against exactly
that list, so a path read from the (tracked, hence hostile) lock is trusted only
if clusterforge could have written it."""

from __future__ import annotations

import re

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # annotations only: the CLI reads these paths without loading the model
    from ..model import BgpPeer, Inventory, Node

SECRETS_FILE = ".clusterforge/secrets.yaml"  # git-ignored, mode 0600 (SOPS-encrypted with age recipients)
LOCK_FILE = ".clusterforge/lock"
CACHE_DIR = ".clusterforge/cache"
SCRATCH_DIR = ".clusterforge/tmp"  # the writer's temporary files: git-ignored, emptied by the next write
SCHEMA_FILE = ".clusterforge/cluster.schema.json"
SEEDS_DIR = "seeds"  # where `clusterforge seed` output may go inside the repo (git-ignored)
INVENTORY = "cluster.yaml"
GITIGNORE = ".gitignore"
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

SEED_DIR = "nodes/{name}"
KUBEADM_INIT = "kubeadm/{name}-init.yaml"
KUBEADM_JOIN = "kubeadm/{name}-join.yaml"
LOADBALANCER_DIR = "loadbalancers/{name}"
ROUTER_DIR = "routers/{name}"
FLUX_CLUSTER_DIR = "clusters/{name}"
ROUTER_FILE_NAMES = {"yamaha-rtx": "rtx.txt", "frr": "frr.conf", "bird": "bird.conf"}


def localized(path: str, language: str) -> str:
    """The Japanese page of an English one: README.md -> README.ja.md."""
    return path if language == "en" else path.removesuffix(".md") + f".{language}.md"


def page(lines: list[str]) -> str:
    """A Markdown page of `lines`: blank lines at the end dropped, one newline. Trailing spaces
    stay: two of them are a line break."""
    return "\n".join(lines).rstrip("\n") + "\n"


def runbook(name: str, language: str = "en") -> str:
    return localized(f"{RUNBOOKS_DIR}/{name}.md", language)


def seed_dir(node: Node) -> str:
    return SEED_DIR.format(name=node.name)


def kubeadm_file(inv: Inventory, node: Node) -> str:
    """The kubeadm config of a Kubernetes node: init for the first control plane, join otherwise."""
    return (KUBEADM_INIT if node == inv.control_planes[0] else KUBEADM_JOIN).format(name=node.name)


def loadbalancer_dir(node: Node) -> str:
    return LOADBALANCER_DIR.format(name=node.name)


def router_file(peer: BgpPeer) -> str:
    return f"{ROUTER_DIR.format(name=peer.name)}/{ROUTER_FILE_NAMES[peer.router]}"


def flux_cluster_dir(inv: Inventory) -> str:
    return FLUX_CLUSTER_DIR.format(name=inv.name)


RENDERED_FILES: tuple[str, ...] = (
    GITIGNORE,
    SCHEMA_FILE,
    README,
    README_JA,
    INVENTORY_SNAPSHOT,
    *(localized(page, language) for page in (TROUBLESHOOTING, DECISIONS) for language in ("en", "ja")),
    TOPOLOGY_SVG,
    *(runbook(name, language) for name in ("renew-certificates", "restore-etcd", "rotate-bgp-password") for language in ("en", "ja")),
    CILIUM_BOOTSTRAP,
    CILIUM_VALUES,
    *(f"{CILIUM_DIR}/{name}" for name in ("kustomization.yaml", "kustomizeconfig.yaml", "helmrepository.yaml", "helmrelease.yaml")),
    f"{CONTROLLERS_DIR}/kustomization.yaml",
    f"{CONFIGS_DIR}/kustomization.yaml",
    CILIUM_BGP,
    LB_IPPOOLS,
    ARGOCD_ROOT,
    ARGOCD_CM,
    *(f"{ARGOCD_APPS_DIR}/{name}" for name in ("project.yaml", "cilium.yaml", "cilium-config.yaml")),
    f"{FLUX_CLUSTER_DIR}/infrastructure.yaml",
    *(f"{SEED_DIR}/{name}" for name in ("user-data", "meta-data", "network-config")),
    KUBEADM_INIT,
    KUBEADM_JOIN,
    *(f"{LOADBALANCER_DIR}/{name}" for name in ("haproxy.cfg", "keepalived.conf", "check_apiserver.sh")),
    *(f"{ROUTER_DIR}/{name}" for name in ROUTER_FILE_NAMES.values()),
)
# A node, peer or cluster name: an RFC 1123 label, as the model requires.
_NAME = "[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?"
_RENDERED = re.compile("|".join(re.escape(path).replace(re.escape("{name}"), _NAME) for path in RENDERED_FILES))

# The runbooks `clusterforge plan` writes for a change (render/change_runbooks.py): not rendered, not in the lock.
_VERSION = "[0-9][0-9A-Za-z.+-]{0,40}"
CHANGE_RUNBOOK = re.compile(
    rf"{re.escape(RUNBOOKS_DIR)}/(?:upgrade-(?:kubernetes|cilium)-{_VERSION}-to-{_VERSION}|(?:add|remove)-node-{_NAME})(?:\.ja)?\.md"
)


def is_renderable(path: str) -> bool:
    """Whether some inventory renders a file at `path` (a relative POSIX path)."""
    return _RENDERED.fullmatch(path) is not None
