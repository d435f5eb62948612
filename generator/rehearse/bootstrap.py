"""The bootstrap exactly as the README says: `bootstrap/install-cilium.sh` with the
pinned helm and kubectl on PATH, against the rehearsal's API server, the chart from the
offline chart cache served as a Helm repository on loopback."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from .. import yamlio
from ..errors import ClusterforgeError
from ..model import Inventory
from ..render import cilium as cilium_render
from ..render import layout
from ..tools import run
from ..validate import caches
from . import toolset
from .kube import Kubectl

SCRIPT_LIMIT = 600.0  # the script's own rollout waits are 10 minutes each


def chart_folder(inv: Inventory, folder: Path) -> Path:
    """A Helm repository folder holding the cluster's chart archive from the offline cache."""
    ref = caches.ChartRef(cilium_render.CHART_REPOSITORY, cilium_render.CHART, inv.cilium.version)
    archive = caches.cached_chart(ref, caches.cache_dir())
    if archive is None:
        raise ClusterforgeError(
            f"the {ref.chart} chart {ref.version} is not in the offline chart cache: run `clusterforge charts pull` first"
        )
    charts = folder / "charts"
    charts.mkdir()
    shutil.copyfile(archive, charts / archive.name)
    return charts


def add_chart(charts: Path, archive: Path) -> None:
    """One more chart archive in the served Helm repository folder (index it again after)."""
    shutil.copyfile(archive, charts / archive.name)


def index_charts(charts: Path, url: str, helm_env: dict[str, str]) -> None:
    run([toolset.helm(), "repo", "index", charts, "--url", url], env=helm_env)


def helm_env(folder: Path) -> dict[str, str]:
    """Helm's cache, configuration and data inside the rehearsal's folder, not the user's."""
    return {f"HELM_{k}_HOME": str(folder / "helm" / k.lower()) for k in ("CACHE", "CONFIG", "DATA")}


def path_with_tools(folder: Path, kubernetes_version: str) -> str:
    """A bin folder with `helm` and `kubectl` as the script calls them: the pinned builds."""
    bin_dir = folder / "bin"
    bin_dir.mkdir()
    (bin_dir / "helm").symlink_to(toolset.helm())
    (bin_dir / "kubectl").symlink_to(toolset.kubernetes("kubectl", kubernetes_version))
    return f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"


def run_script(work: Path, kubectl: Kubectl, folder: Path, kubernetes_version: str) -> str:
    env = {**kubectl.env(), **helm_env(folder), "PATH": path_with_tools(folder, kubernetes_version)}
    done = run(["bash", work / layout.CILIUM_BOOTSTRAP], env=env, timeout=SCRIPT_LIMIT, cwd=work)
    return done.stdout


def helm_history(kubectl: Kubectl, folder: Path, release: str, namespace: str) -> list[dict]:
    done = run([toolset.helm(), "history", release, "--namespace", namespace, "-o", "json"], env={**kubectl.env(), **helm_env(folder)})
    return json.loads(done.stdout)


def helm_values(kubectl: Kubectl, folder: Path, release: str, namespace: str, revision: int) -> dict:
    """The user-supplied values of one revision (what the values file or valuesFrom gave)."""
    done = run([toolset.helm(), "get", "values", release, "--namespace", namespace, "--revision", str(revision), "-o", "json"],
               env={**kubectl.env(), **helm_env(folder)})
    return json.loads(done.stdout) or {}


def helm_manifest(kubectl: Kubectl, folder: Path, release: str, namespace: str) -> str:
    """The objects of the release's current revision, as helm applied them."""
    return run([toolset.helm(), "get", "manifest", release, "--namespace", namespace], env={**kubectl.env(), **helm_env(folder)}).stdout


def helm_template(folder: Path, chart: Path, release: str, namespace: str, values: dict, kubernetes_version: str) -> str:
    """The chart rendered offline with these values, for the cluster's Kubernetes version."""
    values_file = folder / "helm" / "template-values.json"
    values_file.parent.mkdir(parents=True, exist_ok=True)
    values_file.write_text(json.dumps(values))  # JSON is YAML
    return run([toolset.helm(), "template", release, chart, "--namespace", namespace, "--values", values_file,
                "--kube-version", kubernetes_version], env=helm_env(folder)).stdout


def release_objects(kubectl: Kubectl, folder: Path, release: str, namespace: str) -> list[dict]:
    """The live objects of a release's manifest (its namespaced ones default to the release's
    namespace); those deleted since are missing from the list."""
    manifest = helm_manifest(kubectl, folder, release, namespace)
    by_namespace: dict[str, list] = {}
    for doc in json.loads(json.dumps(list(yamlio.loader().load_all(manifest)))):
        if doc:  # kubectl refuses an object of another namespace than --namespace: one call per namespace
            by_namespace.setdefault(doc.get("metadata", {}).get("namespace") or namespace, []).append(doc)
    found = []
    for ns, docs in sorted(by_namespace.items()):
        listed = json.dumps({"apiVersion": "v1", "kind": "List", "items": docs})
        done = kubectl("get", "--namespace", ns, "--ignore-not-found", "-f", "-", "-o", "json", input=listed)
        got = json.loads(done.stdout) if done.stdout.strip() else {"items": []}
        found += got["items"] if "items" in got else [got]  # one object comes alone, not in a List
    return found
