"""Build generator/data/offline: what validating the embedded default needs with no network.

    python tools/offline/build_data.py [--catalog DIR] [--catalog-commit SHA] [--charts DIR]

- schemas/<group>/<kind>_<version>.json: every custom-resource kind clusterforge renders,
  for each supported Cilium minor and both GitOps engines (found by rendering the
  reference inventory, not listed by hand), taken from a datreeio CRDs-catalog folder
  and minified (same schema, a third of the bytes);
- charts/<name>-<version>.tgz: the chart archives the reference inventory uses, unchanged
  (each keeps its LICENSE), checked against the chart repository's index digest;
- manifest.json: sha256, source and upstream version of every file; NOTICE: licenses.

Deterministic: the same inputs give byte-identical output. Needs the package installed
(it renders with it) and kubernetes-validate (to tell core kinds from custom ones).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from generator import loader, repo, versions, yamlio  # noqa: E402
from generator.render import layout  # noqa: E402
from generator.validate import caches, gitops  # noqa: E402

OUT = ROOT / "generator" / "data" / "offline"
EXAMPLE = ROOT / "generator" / "data" / "cluster.example.yaml"
CATALOG_REPO = "datreeio/CRDs-catalog"
# The commit /work/shared/schemas/crds was taken from (its README).
CATALOG_COMMIT = "7b1e26ef9deea49293714d204c1a2270aab1178f"
# Which upstream project each API group's CRDs come from, and its license.
PROJECTS = {
    "cilium.io": ("cilium", "Apache-2.0"),
    "argoproj.io": ("argo-cd", "Apache-2.0"),
    "helm.toolkit.fluxcd.io": ("flux2 (helm-controller)", "Apache-2.0"),
    "kustomize.toolkit.fluxcd.io": ("flux2 (kustomize-controller)", "Apache-2.0"),
    "source.toolkit.fluxcd.io": ("flux2 (source-controller)", "Apache-2.0"),
}


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def rendered(cilium_version: str, engine: str) -> tuple[gitops.Discovery, set[tuple[str, str]]]:
    text = EXAMPLE.read_text(encoding="utf-8")
    text = text.replace("engine: flux", f"engine: {engine}").replace("version: " + default_cilium(), "version: " + cilium_version)
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / "lab"
        repo.new(target, text)
        inv = loader.check_file(target / layout.INVENTORY).inventory
        assert (engine, inv.cilium.version) == (inv.gitops.engine, cilium_version), "the example's text changed: adapt rendered()"
        discovery = gitops.discover(target, inv)
        core = caches.kubernetes_schemas(Path(tmp) / "cache", inv.kubernetes.version)
        return discovery, gitops.custom_kinds(discovery, core)


def default_cilium() -> str:
    return loader.check_file(EXAMPLE).inventory.cilium.version


def needed() -> tuple[set[tuple[str, str]], set[caches.ChartRef]]:
    """Custom kinds over every supported Cilium minor and engine; charts of the default only."""
    kinds: set[tuple[str, str]] = set()
    charts: set[caches.ChartRef] = set()
    default = default_cilium()
    for minor in sorted(versions.CILIUM_TESTED_KUBERNETES):
        version = default if versions.minor(default) == minor else f"{versions.show(minor)}.0"
        for engine in ("flux", "argocd"):
            discovery, custom = rendered(version, engine)
            kinds |= custom
            if version == default:
                charts |= {r.chart for r in discovery.releases if r.chart is not None}
    return kinds, charts


def build(catalog: Path, commit: str, charts_repo: Path, out: Path) -> dict:
    kinds, charts = needed()
    shutil.rmtree(out, ignore_errors=True)
    manifest: dict = {"format": 1, "schemas": {}, "charts": {}}
    for api_version, kind in sorted(kinds):
        rel = caches.catalog_file(api_version, kind)
        source = (catalog / rel).read_bytes()
        data = (json.dumps(json.loads(source), separators=(",", ":"), ensure_ascii=False) + "\n").encode()
        (out / "schemas" / rel).parent.mkdir(parents=True, exist_ok=True)
        (out / "schemas" / rel).write_bytes(data)
        project, license_ = PROJECTS[rel.split("/")[0]]
        manifest["schemas"][rel] = {
            "sha256": sha256(data),
            "source": f"https://raw.githubusercontent.com/{CATALOG_REPO}/{commit}/{rel}",
            "source_sha256": sha256(source),
            "project": project,
            "project_version": None,  # the catalog does not record which release a CRD came from
            "license": license_,
        }
    index = yamlio.loader().load((charts_repo / "index.yaml").read_text(encoding="utf-8"))
    for ref in sorted(charts, key=lambda r: (r.chart, r.version)):
        entry = next(e for e in index["entries"][ref.chart] if str(e["version"]) == ref.version)
        name = f"{ref.chart}-{ref.version}.tgz"
        data = (charts_repo / name).read_bytes()
        if sha256(data) != entry["digest"]:
            raise SystemExit(f"{charts_repo / name} does not match its index digest {entry['digest']}")
        (out / "charts").mkdir(parents=True, exist_ok=True)
        (out / "charts" / name).write_bytes(data)
        manifest["charts"][name] = {
            "sha256": sha256(data),
            "repository": ref.repository,
            "chart": ref.chart,
            "version": ref.version,
            "source": f"{ref.repository.rstrip('/')}/{name}",
            "license": "Apache-2.0 (the archive's own LICENSE file)",
        }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    notice = [
        "Third-party files packaged for offline validation of the default cluster.",
        "",
        f"schemas/: JSON schemas of CustomResourceDefinitions from {CATALOG_REPO} (MIT) at commit {commit},",
        "minified; the CRDs themselves come from Cilium, Flux and Argo CD, all Apache-2.0.",
        "charts/: Helm chart archives from their chart repositories, unchanged; each archive holds its",
        "LICENSE (Cilium: Apache-2.0). manifest.json records every file's source and sha256.",
    ]
    (out / "NOTICE").write_text("\n".join(notice) + "\n", encoding="utf-8")
    return manifest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--catalog", type=Path, default=ROOT.parent / "shared" / "schemas" / "crds")
    parser.add_argument("--catalog-commit", default=CATALOG_COMMIT)
    parser.add_argument("--charts", type=Path, default=ROOT.parent / "shared" / "charts", help="a Helm repository folder (index.yaml)")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    manifest = build(args.catalog, args.catalog_commit, args.charts, args.out)
    size = sum(p.stat().st_size for p in args.out.rglob("*") if p.is_file())
    print(f"{len(manifest['schemas'])} schemas, {len(manifest['charts'])} charts, {size} bytes in {args.out}")


if __name__ == "__main__":
    main()
