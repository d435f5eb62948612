"""The offline caches validation works from, all under $CLUSTERFORGE_CACHE_DIR
(default ~/.cache/clusterforge):

    schemas/crds/<group>/<kind>_<version>.json   CRD schemas, datreeio CRDs-catalog layout
    schemas/index.json                           where each pulled schema came from, and its sha256
    schemas/layered/<key>/                       the catalog validation reads: links to these
                                                 schemas, then to the package's (see crd_catalog)
    schemas/kubernetes/<pkg version>/<dir>/      core schemas from kubernetes-validate, made offline-resolvable
    charts/<name>-<version>.tgz + index.json     chart archives and where each came from
    results/<key>.json                           check results keyed by a hash of their inputs

Below the user cache lies a read-only layer, the package's own data
(generator/data/offline, built by tools/offline/build_data.py): the schemas of every
custom kind clusterforge renders and the chart archives of its default versions, each
checked against the sha256 in its manifest. A file in the user cache always wins.

Only the pull commands go online, and only for what neither layer holds; everything
else reads these folders.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import json
import os
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import versions, yamlio
from . import crd2schema
from ..errors import ClusterforgeError
from . import runs
from .runs import CACHE_ENV, cache_dir  # defined there: a warm validate needs nothing more of this module

CATALOG_URL = "https://raw.githubusercontent.com/datreeio/CRDs-catalog/main"
HTTP_TIMEOUT = 60
# kubernetes-validate's schemas give every file an https $id and refs such as
# "/api/_definitions.json#/$defs/...", which resolve against that $id to a URL
# kubeconform would fetch. Made relative, they resolve next to the file, offline.
_DEFINITIONS_REF = "/api/_definitions.json"


PACKAGED = Path(__file__).resolve().parents[1] / "data" / "offline"


def user_catalog(cache: Path) -> Path:
    """Where pulled CRD schemas go."""
    return cache / "schemas" / "crds"


def schema_index_path(cache: Path) -> Path:
    return cache / "schemas" / "index.json"


def charts_dir(cache: Path) -> Path:
    return cache / "charts"


def results_dir(cache: Path) -> Path:
    return cache / "results"


def user_chart_archive(cache: Path, chart: str, version: str) -> Path:
    """Where a pulled chart archive goes."""
    return charts_dir(cache) / f"{chart}-{version}.tgz"


def chart_archive(cache: Path, chart: str, version: str) -> Path:
    """The archive validation reads: the user cache's, else the package's (verified),
    else the user cache's path a pull would fill."""
    user = user_chart_archive(cache, chart, version)
    if user.is_file():
        return user
    packaged, _ = packaged_files("charts").get(user.name, (user, {}))
    return packaged


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def stamp(path: Path) -> str:
    """A cheap identity of a file: its size and modification time. Every cache write
    replaces whole files, so a changed file always gets a new stamp."""
    st = path.stat()
    return f"{st.st_size}:{st.st_mtime_ns}"


def tree_stamp(root: Path) -> str:
    """One hash over the stamps of every file below root; "" if root is missing.
    (Hashing the contents of a 13 MB catalog on every run would cost more than a warm validate.)"""
    if not root.is_dir():
        return ""
    h = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        h.update(f"{path.relative_to(root).as_posix()}\0{stamp(path)}\n".encode())
    return h.hexdigest()


def _atomic_dir(target: Path, fill: Any) -> Path:
    """Build a folder in a sibling temp dir with fill(tmp) and move it into place, so
    concurrent runs or a kill never leave a half-written cache folder."""
    if target.is_dir():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        fill(tmp)
        os.replace(tmp, target)
    except OSError:
        if not target.is_dir():  # another run won the race if it exists now
            raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def _atomic_file(target: Path, data: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, target)


# --- the package's read-only layer ------------------------------------------------------


@functools.lru_cache(maxsize=None)
def _matches(path: Path, file_stamp: str, sha256: str) -> bool:
    """Whether a file hashes to sha256; remembered per stamp, so each file is read once."""
    del file_stamp  # part of the memo key only
    return file_digest(path) == sha256


def packaged_files(section: str) -> dict[str, tuple[Path, dict[str, str]]]:
    """{relative path: (file, manifest entry)} of one section ("schemas" or "charts") of
    the package's offline data. A file that is missing or does not match its manifest
    sha256 is left out: validation then asks for a pull instead of trusting it."""
    manifest_path = PACKAGED / "manifest.json"
    if not manifest_path.is_file():
        return {}
    entries = json.loads(manifest_path.read_text(encoding="utf-8")).get(section, {})
    out = {}
    for rel, entry in sorted(entries.items()):
        path = PACKAGED / section / rel
        if path.is_file() and _matches(path, stamp(path), entry["sha256"]):
            out[rel] = (path, entry)
    return out


def _same_repository(a: str, b: str) -> bool:
    return a.rstrip("/") == b.rstrip("/")


def cached_chart(ref: ChartRef, cache: Path) -> Path | None:
    """The archive of a release's chart if a layer holds it verified: the user cache's
    when there is one (its digest as recorded by the pull, from the same repository),
    else the package's. None: a pull is needed."""
    user = user_chart_archive(cache, ref.chart, ref.version)
    if user.is_file():
        entry = chart_index(cache).get(user.name)
        ok = entry is not None and _same_repository(entry["repository"], ref.repository) and file_digest(user) == entry["digest"]
        return user if ok else None
    path, entry = packaged_files("charts").get(user.name, (None, {}))
    return path if path is not None and _same_repository(entry["repository"], ref.repository) else None


def schema_index(cache: Path) -> dict[str, dict[str, str]]:
    path = schema_index_path(cache)
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def _record_schemas(cache: Path, pulled: dict[str, dict[str, str]]) -> None:
    index = {**schema_index(cache), **pulled}
    _atomic_file(schema_index_path(cache), (json.dumps(index, indent=1, sort_keys=True) + "\n").encode())


def cached_schema(cache: Path, rel: str) -> Path | None:
    """A catalog file (<group>/<kind>_<version>.json) if a layer holds it verified: the
    user cache's when there is one (its sha256 as recorded by the pull), else the package's."""
    user = user_catalog(cache) / rel
    if user.is_file():
        entry = schema_index(cache).get(rel)
        return user if entry is not None and file_digest(user) == entry["sha256"] else None
    return packaged_files("schemas").get(rel, (None, {}))[0]


def crd_catalog(cache: Path) -> Path:
    """The one catalog folder validation reads (kubeconform takes it as one location):
    links to every schema of the user cache, then to each packaged schema the user
    cache lacks. Made once per set of user file names and package files; the links
    follow later changes of a file's content by themselves."""
    user = user_catalog(cache)
    packaged = packaged_files("schemas")
    if not packaged:
        return user
    names = sorted(p.relative_to(user).as_posix() for p in user.glob("*/*.json")) if user.is_dir() else []
    key = json.dumps([names, [(rel, str(path), stamp(path)) for rel, (path, _) in packaged.items()]])

    def fill(tmp: Path) -> None:
        targets = {rel: path for rel, (path, _) in packaged.items()} | {rel: (user / rel).resolve() for rel in names}
        for rel, target in targets.items():
            (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
            (tmp / rel).symlink_to(target)

    return _atomic_dir(cache / "schemas" / "layered" / hashlib.sha256(key.encode()).hexdigest()[:32], fill)


# --- core Kubernetes schemas ---------------------------------------------------------


def kubernetes_schema_dir_name(kubernetes_version: str) -> str:
    """kubernetes-validate ships one folder per minor, named for its .0 release."""
    major, minor = versions.minor(kubernetes_version)
    return f"v{major}.{minor}.0-local-strict"


def _package_schemas(kubernetes_version: str) -> Path:
    # Found, not imported: the package itself loads jsonschema, which validation never uses.
    spec = importlib.util.find_spec("kubernetes_validate")
    if spec is None or not spec.submodule_search_locations:
        raise ClusterforgeError("kubernetes-validate is not installed: `pip install kubernetes-validate`")
    root = Path(list(spec.submodule_search_locations)[0]) / "kubernetes-json-schema"
    source = root / kubernetes_schema_dir_name(kubernetes_version)
    if not source.is_dir():
        have = sorted(p.name.removesuffix("-local-strict") for p in root.glob("v*-local-strict"))
        raise ClusterforgeError(
            f"kubernetes-validate {runs.kubernetes_validate_version()} has no schemas for Kubernetes "
            f"{kubernetes_version} (it has {', '.join(have)}): upgrade it with `pip install -U kubernetes-validate`"
        )
    return source


_DEFS_PREFIX = "#/$defs/"


def _local_refs(node: Any, used: set[str]) -> Any:
    """A schema with every ref into _definitions.json (from a kind's file, or from within
    _definitions.json itself) made a ref into its own $defs, collecting the names in `used`."""
    if isinstance(node, dict):
        out = {}
        for k, v in node.items():
            if k == "$ref" and isinstance(v, str) and v.removeprefix(_DEFINITIONS_REF).startswith(_DEFS_PREFIX):
                name = v.removeprefix(_DEFINITIONS_REF).removeprefix(_DEFS_PREFIX)
                used.add(name)
                out[k] = _DEFS_PREFIX + name
            else:
                out[k] = _local_refs(v, used)
        return out
    if isinstance(node, list):
        return [_local_refs(v, used) for v in node]
    return node


def self_contained(schema: dict[str, Any], definitions: dict[str, Any]) -> dict[str, Any]:
    """A kind's schema with the definitions it reaches (transitively) copied into its own
    $defs: kubeconform then compiles a few kilobytes per kind instead of parsing the shared
    1.2 MB _definitions.json for each one, and resolves every ref offline."""
    used: set[str] = set()
    out = _local_refs(schema, used)
    out.pop("$id", None)  # only the top-level $id: "$id" may also be a property name
    defs: dict[str, Any] = {}
    pending = sorted(used)
    while pending:
        name = pending.pop()
        if name in defs or name not in definitions:
            continue  # a dangling ref stays dangling: kubeconform reports it
        reached: set[str] = set()
        defs[name] = _local_refs(definitions[name], reached)
        pending += sorted(reached - defs.keys())
    if defs:
        out["$defs"] = dict(sorted(defs.items()))
    return out


def kubernetes_schemas(cache: Path, kubernetes_version: str) -> Path:
    """The strict core schemas of the cluster's minor, each made self-contained once (see
    self_contained; refs into _definitions.json would resolve to a URL, see _DEFINITIONS_REF).
    The folder name says the layout, so a cache of the former layout is never mistaken for it."""
    source = _package_schemas(kubernetes_version)
    target = cache / "schemas" / "kubernetes" / runs.kubernetes_validate_version() / f"{source.name}-self-contained"

    def fill(tmp: Path) -> None:
        definitions = json.loads((source / "_definitions.json").read_text(encoding="utf-8")).get("$defs", {})
        for path in source.glob("*.json"):
            if path.name == "_definitions.json":
                continue
            schema = self_contained(json.loads(path.read_text(encoding="utf-8")), definitions)
            (tmp / path.name).write_text(json.dumps(schema), encoding="utf-8")

    return _atomic_dir(target, fill)


def has_core_schema(schema_dir: Path, api_version: str, kind: str) -> bool:
    """Whether a kind is built into Kubernetes: kubeconform's file name for it exists.
    Same naming as kubeconform's {{.ResourceKind}}{{.KindSuffix}}."""
    group, _, version = api_version.rpartition("/")
    suffix = f"-{group.split('.')[0]}-{version}" if group else f"-{version}"
    return (schema_dir / f"{kind.lower()}{suffix.lower()}.json").is_file()


def converted_schemas(cache: Path, crds: list[dict[str, Any]]) -> Path:
    """Schemas converted from these CRDs, in a folder named by their content hash."""
    key = hashlib.sha256(json.dumps(crds, sort_keys=True, default=str).encode()).hexdigest()[:32]
    return _atomic_dir(cache / "schemas" / "converted" / key, lambda tmp: crd2schema.write_schemas(crds, tmp))


# --- CRD catalog ---------------------------------------------------------------------


def catalog_file(api_version: str, kind: str) -> str:
    """The catalog's relative path of a kind: <group>/<kind>_<version>.json."""
    group, _, version = api_version.rpartition("/")
    return f"{group}/{kind.lower()}_{version}.json"


def pull_schemas_from_dir(source: Path, cache: Path) -> int:
    """Copy a catalog folder (<group>/<kind>_<version>.json) into the cache; returns the file count."""
    if not source.is_dir():
        raise ClusterforgeError(f"{source} is not a folder")
    files = sorted(source.glob("*/*.json"))
    if not files:
        raise ClusterforgeError(f"{source} holds no <group>/<kind>_<version>.json files")
    dest = user_catalog(cache)
    pulled = {}
    for path in files:
        rel = path.relative_to(source).as_posix()
        target, data = dest / rel, path.read_bytes()
        if not target.is_file() or target.read_bytes() != data:  # unchanged files keep their stamps
            _atomic_file(target, data)
        pulled[rel] = {"source": str(path.resolve()), "sha256": hashlib.sha256(data).hexdigest()}
    _record_schemas(cache, pulled)
    return len(files)


def http_get(url: str) -> bytes:
    try:
        with urllib.request.urlopen(url, timeout=HTTP_TIMEOUT) as response:
            return response.read()
    except urllib.error.HTTPError as e:
        raise ClusterforgeError(f"GET {url}: HTTP {e.code} {e.reason}") from None
    except (urllib.error.URLError, TimeoutError) as e:
        reason = getattr(e, "reason", e)
        raise ClusterforgeError(f"GET {url}: {reason} (pulling needs network access to it)") from None


def pull_schemas_from_url(base_url: str, wanted: list[tuple[str, str]], cache: Path) -> tuple[list[str], list[str]]:
    """Download the catalog files of (apiVersion, kind) pairs; returns (fetched, not in the catalog)."""
    fetched, missing, pulled = [], [], {}
    for api_version, kind in sorted(set(wanted)):
        rel = catalog_file(api_version, kind)
        url = f"{base_url.rstrip('/')}/{rel}"
        try:
            data = http_get(url)
        except ClusterforgeError as e:
            if "HTTP 404" not in str(e):
                raise
            missing.append(rel)
            continue
        json.loads(data)  # a proxy's HTML error page must not land in the cache
        _atomic_file(user_catalog(cache) / rel, data)
        pulled[rel] = {"source": url, "sha256": hashlib.sha256(data).hexdigest()}
        fetched.append(rel)
    if pulled:
        _record_schemas(cache, pulled)
    return fetched, missing


# --- charts ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ChartRef:
    repository: str  # the Helm repository URL the release names
    chart: str
    version: str


def chart_index(cache: Path) -> dict[str, dict[str, str]]:
    path = charts_dir(cache) / "index.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def pull_chart(ref: ChartRef, cache: Path, mirror: str | None = None) -> Path:
    """Fetch a chart archive through the repository's index.yaml (or the mirror's),
    verify the index's digest, store it as charts/<name>-<version>.tgz."""
    base = (mirror or ref.repository).rstrip("/") + "/"
    index_url = urllib.parse.urljoin(base, "index.yaml")
    index = yamlio.loader().load(http_get(index_url).decode("utf-8"))
    entries = (index or {}).get("entries", {}).get(ref.chart) or []
    entry = next((e for e in entries if str(e.get("version")) == ref.version), None)
    if entry is None:
        have = ", ".join(str(e.get("version")) for e in entries) or "none"
        raise ClusterforgeError(f"{index_url} has no {ref.chart} {ref.version} (versions: {have})")
    url = urllib.parse.urljoin(index_url, entry["urls"][0])  # index URLs may be relative to the index
    data = http_get(url)
    digest = hashlib.sha256(data).hexdigest()
    expected = entry.get("digest")
    if expected is not None and str(expected) != digest:
        raise ClusterforgeError(f"{url}: sha256 {digest} does not match the index's digest {expected}")
    archive = user_chart_archive(cache, ref.chart, ref.version)
    _atomic_file(archive, data)
    index_entries = chart_index(cache)
    index_entries[archive.name] = {"repository": ref.repository, "url": url, "digest": digest}
    _atomic_file(charts_dir(cache) / "index.json", (json.dumps(index_entries, indent=2, sort_keys=True) + "\n").encode())
    return archive


class ChartFiles:
    """A chart archive's own files (subcharts excluded), parsed on first use: validation
    plans need only the CRDs, and values.yaml of a big chart takes a while to parse."""

    def __init__(self, files: dict[str, str]):
        self.files = files  # chart-relative path -> text, YAML and JSON files only

    @functools.cached_property
    def metadata(self) -> dict[str, Any]:
        return yamlio.loader().load(self.files.get("Chart.yaml", "")) or {}

    @functools.cached_property
    def values(self) -> dict[str, Any]:
        return yamlio.loader().load(self.files.get("values.yaml", "")) or {}

    @functools.cached_property
    def schema(self) -> dict[str, Any]:
        return json.loads(self.files["values.schema.json"]) if "values.schema.json" in self.files else {}

    @functools.cached_property
    def crds(self) -> list[dict[str, Any]]:
        """The documents in crds/ (plain YAML, never templated)."""
        texts = [text for rel, text in sorted(self.files.items()) if rel.startswith("crds/") and not rel.endswith(".json")]
        return [doc for text in texts for doc in yamlio.loader().load_all(text) if isinstance(doc, dict)]


def read_chart(archive: Path) -> ChartFiles:
    texts: dict[str, str] = {}
    with tarfile.open(archive, "r:gz") as tar:
        for member in tar.getmembers():
            _, _, rel = member.name.partition("/")  # archives hold one top folder, the chart's name
            # Only the top chart's own files: subcharts live under charts/ with their own values.
            if member.isfile() and not rel.startswith("charts/") and rel.endswith((".yaml", ".yml", ".json")):
                stream = tar.extractfile(member)
                if stream is not None:
                    texts[rel] = stream.read().decode("utf-8", errors="replace")
    return ChartFiles(texts)
