"""Flux's source-, kustomize- and helm-controller as local processes (the pinned release,
CRDs from the same modules), bootstrapped the way `flux bootstrap` leaves a cluster: a
GitRepository `flux-system` on the repository and a Kustomization `flux-system` on the
cluster's folder."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from .. import toolpins, yamlio
from ..errors import ClusterforgeError
from ..model import Inventory
from ..render import cilium, gitops, layout
from . import toolset
from .kube import Kubectl
from .processes import Daemons, free_port

NAMESPACE = gitops.FLUX_NAMESPACE
SOURCE = gitops.FLUX_SOURCE
# How often the engine looks at the repository; the update step asks for a sync at once
# (the reconcile.fluxcd.io/requestedAt annotation `flux reconcile` sets) and does not wait for it.
GIT_INTERVAL = "1m"
REQUEUE_DEPENDENCY = "5s"


def crds() -> str:
    return "".join(toolset.data(toolset.flux(b.name), b).read_text() for b in toolpins.FLUX_CONTROLLERS)


def start(daemons: Daemons, kubectl: Kubectl, folder: Path) -> None:
    definitions = crds()
    kubectl.apply(definitions)
    # Served before anything uses them: a controller that starts first exits on the missing API.
    names = [d["metadata"]["name"] for d in yamlio.loader().load_all(definitions) if d]
    kubectl("wait", "--for=condition=Established", "--timeout=60s", *(f"crd/{n}" for n in names), timeout=90)
    kubectl.apply(yamlio.dump({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}))
    storage = free_port()
    env = {**kubectl.env(), "RUNTIME_NAMESPACE": NAMESPACE, "HOME": str(folder), "TUF_ROOT": str(folder / "sigstore")}

    def controller(name: str, *extra: str) -> None:
        daemons.start(name, [
            toolset.flux(name), "--watch-all-namespaces", "--log-encoding=json",
            f"--metrics-addr=127.0.0.1:{free_port()}", f"--health-addr=127.0.0.1:{free_port()}", *extra,
        ], env=env, cwd=folder)

    (folder / "source").mkdir()
    controller("source-controller", f"--storage-path={folder / 'source'}", f"--storage-addr=127.0.0.1:{storage}",
               f"--storage-adv-addr=127.0.0.1:{storage}")
    # A Kustomization or HelmRelease waiting for a dependency looks again after 30 s by default:
    # the rehearsal's only change to the controllers' settings, to spend less time waiting.
    controller("kustomize-controller", f"--requeue-dependency={REQUEUE_DEPENDENCY}")
    controller("helm-controller", f"--requeue-dependency={REQUEUE_DEPENDENCY}")


def bootstrap_objects(inv: Inventory, url: str) -> list[dict[str, Any]]:
    """What `flux bootstrap git --path=clusters/NAME` creates, less the controllers' own manifests."""
    meta = {"name": SOURCE, "namespace": NAMESPACE}
    return [
        {"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository", "metadata": meta,
         "spec": {"interval": GIT_INTERVAL, "url": url, "ref": {"branch": inv.gitops.branch}}},
        {"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization", "metadata": meta,
         "spec": {"interval": "10m", "path": f"./{layout.flux_cluster_dir(inv)}", "prune": True,
                  "sourceRef": {"kind": "GitRepository", "name": SOURCE}}},
    ]


def ready(obj: dict[str, Any]) -> tuple[bool | None, str]:
    """(True/False from the Ready condition of the object's current generation, or None while
    it has none yet; the condition's message)."""
    status = obj.get("status", {})
    for c in status.get("conditions", []):
        if c.get("type") == "Ready":
            # A failed reconciliation leaves status.observedGeneration alone (-1 before the
            # first success); the condition says which generation it is about.
            seen = c.get("observedGeneration", status.get("observedGeneration", 0))
            current = seen >= obj["metadata"].get("generation", 0)
            if not current:
                return None, c.get("message", "")
            return {"True": True, "False": False}.get(c.get("status")), c.get("message", "")
    return None, ""


DEPENDENCY_NOT_READY = "DependencyNotReady"


def dependencies(obj: dict[str, Any]) -> list[str]:
    """The `kind namespace/name` keys of what an object dependsOn (same kind, same namespace by default)."""
    namespace = obj["metadata"].get("namespace", "")
    return [f"{obj['kind']} {d.get('namespace', namespace)}/{d['name']}" for d in obj.get("spec", {}).get("dependsOn", []) or []]


def reason(obj: dict[str, Any]) -> str:
    return next((c.get("reason", "") for c in obj.get("status", {}).get("conditions", []) if c.get("type") == "Ready"), "")


KINDS = ("kustomizations.kustomize.toolkit.fluxcd.io", "helmreleases.helm.toolkit.fluxcd.io",
         "gitrepositories.source.toolkit.fluxcd.io", "helmrepositories.source.toolkit.fluxcd.io",
         "helmcharts.source.toolkit.fluxcd.io")


def objects(kubectl: Kubectl) -> list[dict[str, Any]]:
    return [o for kind in KINDS for o in kubectl.items(kind)]


def reconcile_now(kubectl: Kubectl, stamp: str) -> None:
    """What `flux reconcile source git flux-system` does: ask for a sync now."""
    kubectl("annotate", "--overwrite", "--namespace", NAMESPACE, "gitrepository", SOURCE, f"reconcile.fluxcd.io/requestedAt={stamp}")


def refetch_chart_index(kubectl: Kubectl, stamp: str, limit: float) -> None:
    """What `flux reconcile source helm cilium -n kube-system` does: fetch the chart repository's
    index now (it is fetched every 24 h otherwise), and wait until the controller has."""
    kubectl("annotate", "--overwrite", "--namespace", cilium.NAMESPACE, "helmrepository", cilium.CHART, f"reconcile.fluxcd.io/requestedAt={stamp}")
    deadline = time.monotonic() + limit
    while True:
        repository = kubectl.get("helmrepository", cilium.CHART, cilium.NAMESPACE) or {}
        if repository.get("status", {}).get("lastHandledReconcileAt") == stamp and ready(repository)[0]:
            return
        if time.monotonic() > deadline:
            raise ClusterforgeError(f"HelmRepository {cilium.NAMESPACE}/{cilium.CHART} did not fetch the new index within {limit:.0f} s: {ready(repository)[1]}")
        time.sleep(1)
