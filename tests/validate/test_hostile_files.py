"""Every check, on a rendered repository with one file replaced by something hostile
(binary garbage, broken or bottomless YAML, fields of the wrong type, non-ASCII digits,
numbers of thousands of digits): validate reports a failure naming the file, in its
own words, and never crashes."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from generator.validate import caches, commands
from support import copy

from . import NeedTool, example_repo, fill_cache

GARBAGE = bytes(range(256)) * 4  # byte 128 is the first that is not UTF-8
SUPERSCRIPT = str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")
ARABIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")
TOOLS = ("kubeconform", "kustomize", "helm", "haproxy", "shellcheck", "cloud-init", "netplan")


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One cache for every case: what a case does not touch is validated once."""
    return fill_cache(tmp_path_factory.mktemp("cache"))


@pytest.fixture(scope="module")
def argocd(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return example_repo(tmp_path_factory.mktemp("argocd") / "lab", engine="argocd")


def replaced(text: bytes, old: str, new: str) -> bytes:
    assert old.encode() in text
    return text.replace(old.encode(), new.encode())


FLUX = "flux"
ARGOCD = "argocd"
ARGO_APP = "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata: {name: cilium}\nspec:\n  destination: 5\n  sources:\n"
ARGO_CHART = "{chart: cilium, repoURL: 'https://helm.cilium.io/', targetRevision: 1.19.6, helm: {valueFiles: 5, valuesObject: 3, parameters: [1, {value: x}]}}"
CASES: dict[str, tuple[str, str, Callable[[bytes], bytes], tuple[str, str, str]]] = {
    # id: (engine, file, what it becomes, (check, file, message) of a result that must fail)
    "binary-flux-entry": (
        FLUX,
        "clusters/koedo-lab/infrastructure.yaml",
        lambda _: GARBAGE,
        ("kubeconform", "clusters/koedo-lab/infrastructure.yaml", "clusters/koedo-lab/infrastructure.yaml: not UTF-8 text (byte 128)"),
    ),
    "binary-kustomization": (
        FLUX,
        "infrastructure/controllers/cilium/kustomization.yaml",
        lambda _: GARBAGE,
        (
            "kubeconform",
            "infrastructure/controllers/cilium/kustomization.yaml",
            "infrastructure/controllers/cilium/kustomization.yaml: not UTF-8 text (byte 128)",
        ),
    ),
    "unclosed-values": (
        FLUX,
        "infrastructure/controllers/cilium/values.yaml",
        lambda _: b"a: [\nb: c\n",
        (
            "helm values",
            "infrastructure/controllers/cilium/helmrelease.yaml",
            "values of cilium: ConfigMap/cilium-values-62f974btt7 values.yaml:3: not valid YAML: expected ',' or ']', but got '<stream end>'",
        ),
    ),
    "scalar-fields-helmrelease": (
        FLUX,
        "infrastructure/controllers/cilium/helmrelease.yaml",
        lambda _: b"apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata: x\nspec: 3\n",
        (
            "helm template",
            "infrastructure/controllers/cilium/helmrelease.yaml",
            "only spec.chart.spec (a HelmRepository chart) is supported, not spec.chartRef",
        ),
    ),
    "bottomless-user-data": (
        FLUX,
        "nodes/cp1/user-data",
        lambda _: b"#cloud-config\n" + b"[" * 5000,
        ("cloud-config keys", "nodes/cp1/user-data", "nodes/cp1/user-data: not valid YAML: nested deeper than the parser can follow"),
    ),
    "superscript-digits-rtx": (
        FLUX,
        "routers/rtx1220/rtx.txt",
        lambda text: re.sub(rb"(?m)^bgp autonomous-system [0-9]+$", "bgp autonomous-system 64512".translate(SUPERSCRIPT).encode(), text, count=1),
        ("rtx commands", "routers/rtx1220/rtx.txt", "line 25: '⁶⁴⁵¹²' is not an AS number"),
    ),
    "arabic-digits-haproxy": (
        FLUX,
        "loadbalancers/haproxy1/haproxy.cfg",
        lambda text: text.decode().translate(ARABIC).encode(),  # haproxy quotes lines cut in the middle of a digit
        (
            "haproxy backends",
            "loadbalancers/haproxy1/haproxy.cfg",
            "\n".join(f"control plane cp{i} (192.168.100.1{i}:6443) is not a backend server" for i in (1, 2, 3)),
        ),
    ),
    "huge-numbers-haproxy": (
        FLUX,
        "loadbalancers/haproxy1/haproxy.cfg",
        lambda text: replaced(text, "192.168.100.11:6443 check", "192.168.100.11:" + "6" * 5000 + " check"),
        ("haproxy backends", "loadbalancers/haproxy1/haproxy.cfg", "control plane cp1 (192.168.100.11:6443) is not a backend server"),
    ),
    "flux-kind-in-argocd": (
        ARGOCD,
        "argocd/apps/cilium.yaml",
        lambda _: b"apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata: x\nspec: 3\n",
        (
            "gitops values",
            "argocd",
            "the argocd release reads values from [], the bootstrap install from infrastructure/controllers/cilium/values.yaml\n"
            "the argocd release installs chart version [], the bootstrap install 1.19.6",
        ),
    ),
    "wrong-types-argocd-application": (
        ARGOCD,
        "argocd/apps/cilium.yaml",
        lambda _: (ARGO_APP + f"    - 3\n    - {ARGO_CHART}\n    - {{path: 7, repoURL: 8}}\n").encode(),
        ("gitops values", "argocd", "the argocd release reads values from [], the bootstrap install from infrastructure/controllers/cilium/values.yaml"),
    ),
}


@pytest.mark.tools
@pytest.mark.parametrize("case", list(CASES))
def test_a_hostile_file_is_a_failure_naming_it(
    case: str, reference: Path, argocd: Path, cache: Path, tmp_path: Path, need_tool: NeedTool, monkeypatch: pytest.MonkeyPatch
) -> None:
    for tool in TOOLS:
        need_tool(tool)
    need_tool("kubeadm")
    engine, path, hostile, expected = CASES[case]
    root = copy(reference if engine == FLUX else argocd, tmp_path)
    original = (root / path).read_bytes()
    assert hostile(original) != original, "the case no longer matches the rendered file"
    (root / path).write_bytes(hostile(original))
    monkeypatch.setenv(caches.CACHE_ENV, str(cache))
    out = io.StringIO()
    assert commands.validate_command(root, "json", False, out) == 1
    failed = {(r["check"], r["file"], r["message"]) for r in json.loads(out.getvalue())["results"] if not r["ok"]}
    assert expected in failed
    assert ("owned files", path, "changed since clusterforge wrote it (its sha256 is not the lock's)") in failed
