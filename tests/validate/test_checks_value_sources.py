"""Where the helm check reads a release's values from (Argo CD parameters, Flux
valuesFrom with targetPath), the kubeconform check's report of a path that does
not exist, and the daemons check as one."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from generator import loader
from generator.errors import ClusterforgeError
from generator.render import layout
from generator.validate import caches, gitops
from generator.validate.base import Context, Result
from generator.validate.checks import daemons, helm, kubeconform
from support import copy, edit

from . import NeedTool, example_repo, failures, run

ARGO_APP = "argocd/apps/cilium.yaml"
FLUX_APPS = "clusters/koedo-lab/infrastructure.yaml"


def context(root: Path) -> Context:
    return Context(root, loader.check_file(root / layout.INVENTORY).inventory, root.parent / "cache")


def cilium_release(ctx: Context) -> gitops.Release:
    return next(r for r in gitops.discover(ctx.repo, ctx.inventory).releases if r.name == "cilium")


@pytest.fixture(scope="module")
def argocd(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return example_repo(tmp_path_factory.mktemp("argocd") / "lab", engine="argocd")


def test_argocd_values_in_helms_order(argocd: Path, tmp_path: Path) -> None:
    """valueFiles, then values, then valuesObject, then parameters: each later one wins, `a.b.c` parameters nest."""
    root = copy(argocd, tmp_path)
    edit(root, ARGO_APP, "          - $values/infrastructure/controllers/cilium/values.yaml\n", (
        "          - $values/infrastructure/controllers/cilium/values.yaml\n"
        "          - chart-defaults.yaml\n"
        "        values: |\n          ipam: {mode: cluster-pool}\n          extra: {from: values}\n"
        "        valuesObject:\n          extra: {from: object}\n"
        "        parameters:\n"
        "          - {name: hubble.relay.enabled, value: 'false'}\n"
        "          - {name: operator.replicas, value: '1'}\n"
        "          - {name: new.deep.key, value: x}\n"
        "          - {name: top, value: y}\n"
    ))
    ctx = context(root)
    values = helm.argo_values(ctx, cilium_release(ctx), caches.ChartFiles({"chart-defaults.yaml": "fromChart: true\nroutingMode: native\n"}))
    assert values["fromChart"] is True and values["routingMode"] == "native"  # valueFiles merge in their order
    assert values["ipam"] == {"mode": "cluster-pool"}
    assert values["extra"] == {"from": "object"}
    assert values["hubble"]["relay"] == {"enabled": "false"} and values["hubble"]["enabled"] is True
    assert values["operator"] == {"replicas": "1"}
    assert values["new"] == {"deep": {"key": "x"}} and values["top"] == "y"


@pytest.mark.tools
def test_flux_values_from_a_target_path(need_tool: NeedTool, tmp_path: Path) -> None:
    need_tool("kustomize")
    root = example_repo(tmp_path / "lab")
    controllers = "infrastructure/controllers/cilium"
    edit(root, f"{controllers}/helmrelease.yaml", "      valuesKey: values.yaml\n", (
        "      valuesKey: values.yaml\n"
        "    - kind: ConfigMap\n      name: cilium-extra\n      valuesKey: replicas\n      targetPath: operator.replicas\n"
        "    - kind: ConfigMap\n      name: cilium-extra\n      valuesKey: mode\n      targetPath: ipam.mode\n"
    ))
    edit(root, f"{controllers}/kustomization.yaml", "configMapGenerator:\n", (
        "configMapGenerator:\n  - name: cilium-extra\n    literals:\n      - replicas=1\n      - mode=cluster-pool\n"
    ))
    ctx = context(root)
    values = helm.flux_values(ctx, cilium_release(ctx))
    assert values["operator"] == {"replicas": 1}  # a targetPath value is a YAML scalar, as Flux reads it
    assert values["ipam"] == {"mode": "cluster-pool"}
    assert values["k8sServiceHost"] == "192.168.100.4"  # the rest of values.yaml is still there


def test_a_path_that_does_not_exist_fails_the_kubeconform_check(tmp_path: Path) -> None:
    root = example_repo(tmp_path / "lab")
    edit(root, FLUX_APPS, "  path: ./infrastructure/controllers\n", "  path: ./infrastructure/controller\n")
    ctx = context(root)
    # The unit that holds the file is still checked by kubeconform (a job that needs the tool); the problem needs none.
    problems = [job for job in kubeconform.jobs(ctx) if job.inputs == (FLUX_APPS,) and not job.tool_version]
    assert [job.check for job in problems] == [kubeconform.CHECK]
    (result,) = problems[0].run()
    assert (result.check, result.file, result.ok) == (kubeconform.CHECK, FLUX_APPS, False)
    assert result.message == "infrastructure/controller does not exist in the repository"
    assert result.hint == "fix the file, or the path that points at it"
    assert problems[0].extra_key == result.message  # another missing path is another cached verdict


@pytest.mark.tools
def test_the_daemons_check_runs_all_three(reference: Path, need_tool: NeedTool) -> None:
    for tool in ("haproxy", "keepalived", "shellcheck"):
        need_tool(tool)
    results = run(reference, daemons.jobs)
    assert {r.check for r in results} == {daemons.HAPROXY, daemons.KEEPALIVED, daemons.SHELLCHECK}
    assert failures(results) == {}


def test_schemas_with_a_chart_s_converted_crds(tmp_path: Path) -> None:
    """The CRDs a chart renders add one more schema folder, searched after the others."""
    base = kubeconform.Schemas("1.35.4", tmp_path / "core", tmp_path / "catalog", (tmp_path / "repo-crds",), "digest")
    more = base.with_converted(tmp_path / "chart-crds")
    assert more == kubeconform.Schemas("1.35.4", tmp_path / "core", tmp_path / "catalog", (tmp_path / "repo-crds", tmp_path / "chart-crds"), "digest")
    assert more.locations()[:3] == base.locations()
    assert more.locations()[3] == f"{tmp_path / 'chart-crds'}/{{{{.Group}}}}/{{{{.ResourceKind}}}}_{{{{.ResourceAPIVersion}}}}.json"


def test_argocd_value_files_of_the_repository(argocd: Path) -> None:
    ctx = context(argocd)
    assert helm.argo_value_files(cilium_release(ctx)) == ["infrastructure/controllers/cilium/values.yaml"]
    assert helm._value_files({"valueFiles": "values.yaml"}) == []  # not a list: none


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("$values/infrastructure/controllers/cilium/values.yaml", "$other/values.yaml", "valueFiles $other/values.yaml: no source has ref other"),
        ("    - repoURL: ssh://git@github.com/example/koedo-lab.git", "    - repoURL: https://example.com/else.git", "valueFiles $values/infrastructure/controllers/cilium/values.yaml: source values is not this repository"),
        ("$values/infrastructure/controllers/cilium/values.yaml", "chart-only.yaml", "valueFiles chart-only.yaml is not in the chart"),
        ("        valueFiles:\n", "        values: '- a list'\n        valueFiles:\n", "helm.values is not a YAML map"),
    ],
)
def test_argocd_values_that_cannot_be_read(argocd: Path, tmp_path: Path, old: str, new: str, message: str) -> None:
    root = copy(argocd, tmp_path)
    edit(root, ARGO_APP, old, new)
    ctx = context(root)
    with pytest.raises(ClusterforgeError) as e:
        helm.argo_values(ctx, cilium_release(ctx), caches.ChartFiles({}))
    assert str(e.value) == message


@pytest.mark.parametrize(("content", "says"), [(b"- a list\n", "is not a YAML map"), (b"a: \xff\n", "not UTF-8")])
def test_a_values_file_that_is_no_map_is_named(argocd: Path, tmp_path: Path, content: bytes, says: str) -> None:
    root = copy(argocd, tmp_path)
    (root / "infrastructure/controllers/cilium/values.yaml").write_bytes(content)
    ctx = context(root)
    with pytest.raises(ClusterforgeError) as e:
        helm.argo_values(ctx, cilium_release(ctx), caches.ChartFiles({}))
    assert str(e.value).startswith("$values/infrastructure/controllers/cilium/values.yaml" if says.endswith("map") else "infrastructure/controllers/cilium/values.yaml")
    assert says in str(e.value)


@pytest.mark.tools
def test_flux_values_in_helm_controller_s_order(need_tool: NeedTool, tmp_path: Path) -> None:
    """valuesFrom in order (an optional one that is missing is left out, the default key is
    values.yaml), then spec.values over them."""
    need_tool("kustomize")
    root = example_repo(tmp_path / "lab")
    release = "infrastructure/controllers/cilium/helmrelease.yaml"
    edit(root, release, "  valuesFrom:\n    - kind: ConfigMap\n      name: cilium-values\n      valuesKey: values.yaml\n", (
        "  valuesFrom:\n    - kind: ConfigMap\n      name: nowhere\n      optional: true\n"
        "    - kind: ConfigMap\n      name: cilium-values\n"
        "  values:\n    k8sServicePort: 7443\n    extra: {from: spec}\n"
    ))
    ctx = context(root)
    values = helm.flux_values(ctx, cilium_release(ctx))
    assert (values["k8sServiceHost"], values["k8sServicePort"], values["extra"]) == ("192.168.100.4", 7443, {"from": "spec"})
    edit(root, release, "      optional: true\n", "")
    with pytest.raises(ClusterforgeError) as e:
        helm.flux_values(ctx, cilium_release(ctx))
    assert str(e.value) == "valuesFrom ConfigMap/nowhere key values.yaml is not in the build of infrastructure/controllers"


CONTROLLERS = "infrastructure/controllers/cilium"
EXTRA_CONFIG_MAP = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cilium\ndata:\n  replicas: '1'\n  mode: {mode}\n"


def _with_extra_values(root: Path, mode: str) -> None:
    """The release also reads two values from a plain ConfigMap named like it (kustomize builds
    ConfigMaps first: the HelmRelease is found by its kind and name, not by its name alone)."""
    (root / f"{CONTROLLERS}/extra.yaml").write_text(EXTRA_CONFIG_MAP.format(mode=mode))
    edit(root, f"{CONTROLLERS}/kustomization.yaml", "  - helmrelease.yaml\n", "  - helmrelease.yaml\n  - extra.yaml\n")
    edit(root, f"{CONTROLLERS}/helmrelease.yaml", "      valuesKey: values.yaml\n", (
        "      valuesKey: values.yaml\n"
        "    - {kind: ConfigMap, name: cilium, valuesKey: replicas, targetPath: operator.replicas}\n"
        "    - {kind: ConfigMap, name: cilium, valuesKey: mode, targetPath: ipam.mode}\n"
    ))


@pytest.mark.tools
def test_flux_values_from_a_config_map_named_like_the_release(need_tool: NeedTool, tmp_path: Path) -> None:
    need_tool("kustomize")
    root = example_repo(tmp_path / "lab")
    _with_extra_values(root, "cluster-pool")
    ctx = context(root)
    values = helm.flux_values(ctx, cilium_release(ctx))
    assert (values["operator"], values["ipam"], values["k8sServiceHost"]) == ({"replicas": 1}, {"mode": "cluster-pool"}, "192.168.100.4")


@pytest.mark.tools
def test_flux_values_that_are_not_yaml_name_their_source(need_tool: NeedTool, tmp_path: Path) -> None:
    need_tool("kustomize")
    root = example_repo(tmp_path / "lab")
    _with_extra_values(root, "'[unclosed'")
    ctx = context(root)
    with pytest.raises(ClusterforgeError) as e:
        helm.flux_values(ctx, cilium_release(ctx))
    assert str(e.value) == "ConfigMap/cilium mode:1: not valid YAML: expected ',' or ']', but got '<stream end>'"
    (root / f"{CONTROLLERS}/values.yaml").write_text("ipam: [\n")
    with pytest.raises(ClusterforgeError) as e:
        helm.flux_values(ctx, cilium_release(ctx))
    # The generated ConfigMap's name, as kustomize wrote it into the HelmRelease (a hash of its content).
    assert re.fullmatch(r"ConfigMap/cilium-values-[a-z0-9]{10} values\.yaml:2: not valid YAML: expected the node content, but found '<stream end>'", str(e.value)), str(e.value)


@pytest.mark.tools
def test_a_flux_release_the_build_leaves_out_fails_its_values_check(need_tool: NeedTool, tmp_path: Path) -> None:
    """A kustomize patch that deletes the HelmRelease: the engine installs nothing, and the values
    cannot be built."""
    need_tool("kustomize")
    root = example_repo(tmp_path / "lab")
    edit(root, f"{CONTROLLERS}/kustomization.yaml", "configMapGenerator:\n", (
        "patches:\n  - patch: |\n      $patch: delete\n      apiVersion: helm.toolkit.fluxcd.io/v2\n"
        "      kind: HelmRelease\n      metadata: {name: cilium, namespace: kube-system}\n"
        "configMapGenerator:\n"
    ))
    ctx = context(root)
    release = cilium_release(ctx)
    assert helm.check_release(ctx, release, kubeconform.prepare(ctx, ctx.discovery), []) == [
        Result(helm.VALUES_CHECK, f"{CONTROLLERS}/helmrelease.yaml", False, "values of cilium: HelmRelease cilium is not in the build of infrastructure/controllers"),
    ]


def test_a_helm_release_without_a_name_in_a_plain_folder(tmp_path: Path) -> None:
    """Without kustomize (which refuses a nameless object) the files are applied as they are: the
    HelmRelease is matched by the name discovery gave it, none (kubeconform reports that)."""
    root = example_repo(tmp_path / "lab")
    for kustomization in ("infrastructure/controllers/kustomization.yaml", f"{CONTROLLERS}/kustomization.yaml"):
        (root / kustomization).unlink()
    (root / f"{CONTROLLERS}/values.yaml").unlink()  # a values file is no manifest of a plain folder
    edit(root, f"{CONTROLLERS}/helmrelease.yaml", "metadata:\n  name: cilium\n", "metadata:\n")
    edit(root, f"{CONTROLLERS}/helmrelease.yaml", "  valuesFrom:\n    - kind: ConfigMap\n      name: cilium-values\n      valuesKey: values.yaml\n",
         "  values:\n    ipam: {mode: kubernetes}\n")
    ctx = context(root)
    [release] = gitops.discover(ctx.repo, ctx.inventory).releases
    assert (release.name, release.unit.kustomize) == ("", False)
    assert helm.flux_values(ctx, release) == {"ipam": {"mode": "kubernetes"}}
