from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import lupa.lua51 as lupa
import pytest

from generator import tools
from generator.validate import caches
from generator.loader import check_file
from generator.model import Inventory
from generator.render import cilium, gitops, layout

from .test_cilium import CHART_VERSIONS, EXAMPLE, FULL, KUBECONFORM_SCHEMAS, VARIANT, load, load_all
from .test_cilium import charts as charts  # noqa: F401  (the session fixture)

NeedTool = Callable[..., Path]
CILIUM_DIR = f"{layout.CONTROLLERS_DIR}/cilium"
FLUX_FILES = {
    "clusters/koedo-lab/infrastructure.yaml",
    f"{layout.CONTROLLERS_DIR}/kustomization.yaml",
    *(f"{CILIUM_DIR}/{name}" for name in ("kustomization.yaml", "kustomizeconfig.yaml", "helmrepository.yaml", "helmrelease.yaml")),
}
ARGOCD_FILES = {"argocd/root.yaml", "argocd/argocd-cm.yaml", *(f"argocd/apps/{name}" for name in ("project.yaml", "cilium.yaml", "cilium-config.yaml"))}
CONFIGS_KUSTOMIZATION = f"{layout.CONFIGS_DIR}/kustomization.yaml"


def on(inv: Inventory, engine: str) -> Inventory:
    return inv.model_copy(update={"gitops": inv.gitops.model_copy(update={"engine": engine})})


@pytest.fixture(scope="module")
def inv() -> Inventory:
    return check_file(EXAMPLE).inventory


@pytest.fixture(scope="module")
def argo(inv: Inventory) -> Inventory:
    return on(inv, "argocd")


def whole_tree(inv: Inventory) -> dict[str, str]:
    """What the repository holds of Cilium and GitOps for this inventory."""
    return {**cilium.render(inv), **gitops.render(inv)}


def write(tree: dict[str, str], root: Path) -> Path:
    for rel, text in tree.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


# --- files per engine ----------------------------------------------------------------


def test_flux_files_only(inv: Inventory) -> None:
    tree = gitops.render(inv)
    assert set(tree) == FLUX_FILES | {CONFIGS_KUSTOMIZATION}
    assert gitops.render(inv) == tree
    assert all(text.endswith("\n") for text in tree.values())


def test_argocd_files_only(argo: Inventory) -> None:
    assert set(gitops.render(argo)) == ARGOCD_FILES | {CONFIGS_KUSTOMIZATION}


@pytest.mark.parametrize("engine", ["flux", "argocd"])
def test_configs_kustomization_lists_the_rendered_configs(inv: Inventory, engine: str) -> None:
    for variant in (on(inv, engine), on(inv.model_copy(update={"bgp": None}), engine)):
        tree = whole_tree(variant)
        resources = load(tree[CONFIGS_KUSTOMIZATION])["resources"]
        in_dir = sorted(p.removeprefix(f"{layout.CONFIGS_DIR}/") for p in tree if p.startswith(f"{layout.CONFIGS_DIR}/") and p != CONFIGS_KUSTOMIZATION)
        assert sorted(resources) == in_dir
    assert load(gitops.render(on(inv.model_copy(update={"bgp": None}), engine))[CONFIGS_KUSTOMIZATION])["resources"] == ["lb-ippools.yaml"]


# --- Flux ------------------------------------------------------------------------------


def test_flux_kustomizations_order_controllers_first(inv: Inventory) -> None:
    tree = whole_tree(inv)
    controllers, configs = load_all(tree["clusters/koedo-lab/infrastructure.yaml"])
    for k in (controllers, configs):
        assert k["apiVersion"] == "kustomize.toolkit.fluxcd.io/v1"
        assert k["metadata"]["namespace"] == "flux-system"
        assert k["spec"]["sourceRef"] == {"kind": "GitRepository", "name": "flux-system"}
        assert k["spec"]["prune"] is True and k["spec"]["wait"] is True
        assert f"{k['spec']['path'].removeprefix('./')}/kustomization.yaml" in tree  # the path is a rendered kustomize dir
    assert (controllers["metadata"]["name"], configs["metadata"]["name"]) == ("infra-controllers", "infra-configs")
    assert "dependsOn" not in controllers["spec"]
    assert configs["spec"]["dependsOn"] == [{"name": "infra-controllers"}]


def test_helmrelease_is_the_bootstrap_release(inv: Inventory) -> None:
    tree = whole_tree(inv)
    release = load(tree[f"{CILIUM_DIR}/helmrelease.yaml"])
    spec = release["spec"]
    assert release["apiVersion"] == "helm.toolkit.fluxcd.io/v2"
    assert spec["releaseName"] == cilium.RELEASE_NAME
    assert spec["targetNamespace"] == spec["storageNamespace"] == cilium.NAMESPACE
    assert spec["chart"]["spec"]["chart"] == cilium.CHART
    assert spec["chart"]["spec"]["version"] == inv.cilium.version
    repo = load(tree[f"{CILIUM_DIR}/helmrepository.yaml"])
    assert spec["chart"]["spec"]["sourceRef"] == {"kind": "HelmRepository", "name": repo["metadata"]["name"]}
    assert repo["spec"]["url"] == cilium.CHART_REPOSITORY
    assert spec["install"]["crds"] == spec["upgrade"]["crds"] == "CreateReplace"
    assert spec["upgrade"]["remediation"]["retries"] > 0
    script = tree[layout.CILIUM_BOOTSTRAP]
    for option in (f"--install {spec['releaseName']} {cilium.CHART}", f"--version {inv.cilium.version}", f"--namespace {cilium.NAMESPACE}", f"--repo {repo['spec']['url']}"):
        assert option in script


def test_values_come_from_the_bootstrap_values_file(inv: Inventory) -> None:
    tree = whole_tree(inv)
    k = load(tree[f"{CILIUM_DIR}/kustomization.yaml"])
    assert k["namespace"] == cilium.NAMESPACE
    [generator] = k["configMapGenerator"]
    [values_file] = generator["files"]
    assert f"{CILIUM_DIR}/{values_file}" == layout.CILIUM_VALUES
    [source] = load(tree[f"{CILIUM_DIR}/helmrelease.yaml"])["spec"]["valuesFrom"]
    assert source == {"kind": "ConfigMap", "name": generator["name"], "valuesKey": values_file}
    assert all(f"{CILIUM_DIR}/{r}" in tree for r in (*k["resources"], *k["configurations"]))
    config = load(tree[f"{CILIUM_DIR}/kustomizeconfig.yaml"])
    assert config["nameReference"][0]["fieldSpecs"] == [{"path": "spec/valuesFrom/name", "kind": "HelmRelease"}]


# --- Argo CD -----------------------------------------------------------------------------


def test_argocd_app_of_apps(argo: Inventory) -> None:
    tree = whole_tree(argo)
    root = load(tree[layout.ARGOCD_ROOT])
    assert root["metadata"] == {"name": "root", "namespace": "argocd"}
    assert root["spec"]["source"] == {"repoURL": argo.gitops.repository, "targetRevision": "main", "path": layout.ARGOCD_APPS_DIR}
    apps = {p: load(t) for p, t in tree.items() if p.startswith(f"{layout.ARGOCD_APPS_DIR}/")}
    [project] = [a for a in apps.values() if a["kind"] == "AppProject"]
    assert project["metadata"]["name"] == "koedo-lab"
    assert set(project["spec"]["sourceRepos"]) == {argo.gitops.repository, cilium.CHART_REPOSITORY}
    applications = {a["metadata"]["name"]: a for a in apps.values() if a["kind"] == "Application"}
    assert set(applications) == {"cilium", "cilium-config"}
    for app in (root, *applications.values()):
        assert app["spec"]["syncPolicy"]["automated"] == {"prune": True, "selfHeal": True}
    for app in applications.values():
        assert app["spec"]["project"] == "koedo-lab"
        destination = app["spec"]["destination"]
        assert {"server": destination["server"], "namespace": destination["namespace"]} in project["spec"]["destinations"]
    waves = {name: int(a["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"]) for name, a in applications.items()}
    assert waves["cilium"] < waves["cilium-config"]
    # The project exists before any Application that names it is synced.
    assert int(project["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"]) < min(waves.values())


def _health(lua: str, application: dict[str, Any]) -> dict[str, str]:
    """Run an argocd-cm health check as Argo CD does: Lua 5.1 (gopher-lua), `obj` set, a table returned."""
    runtime = lupa.LuaRuntime()
    runtime.globals().obj = runtime.table_from(application, recursive=True)
    return dict(runtime.execute(lua))


def test_argocd_waves_wait_for_healthy_applications(argo: Inventory) -> None:
    """Without argocd-cm's health check for argoproj.io/Application a child app counts as
    healthy as soon as it exists, and the next wave starts at once (Argo CD >= 1.8)."""
    tree = whole_tree(argo)
    cm = load(tree[layout.ARGOCD_CM])
    assert (cm["kind"], cm["metadata"]["name"], cm["metadata"]["namespace"]) == ("ConfigMap", "argocd-cm", gitops.ARGOCD_NAMESPACE)
    lua = cm["data"]["resource.customizations.health.argoproj.io_Application"]
    assert _health(lua, {"metadata": {"name": "cilium"}}) == {"status": "Progressing", "message": ""}
    assert _health(lua, {"status": {"health": {"status": "Progressing"}}})["status"] == "Progressing"
    assert _health(lua, {"status": {"health": {"status": "Healthy"}}})["status"] == "Healthy"
    assert _health(lua, {"status": {"health": {"status": "Degraded", "message": "operator CrashLoop"}}}) == {"status": "Degraded", "message": "operator CrashLoop"}
    # Not synced by the root application (it would come too late): applied before it.
    assert not layout.ARGOCD_CM.startswith(f"{layout.ARGOCD_APPS_DIR}/")


def test_argocd_cilium_uses_the_bootstrap_values(argo: Inventory) -> None:
    tree = whole_tree(argo)
    app = load(tree["argocd/apps/cilium.yaml"])["spec"]
    assert "source" not in app
    chart, values = app["sources"]
    assert (chart["repoURL"], chart["chart"], chart["targetRevision"]) == (cilium.CHART_REPOSITORY, cilium.CHART, argo.cilium.version)
    assert chart["helm"]["releaseName"] == cilium.RELEASE_NAME
    assert app["destination"]["namespace"] == cilium.NAMESPACE
    [value_file] = chart["helm"]["valueFiles"]
    ref, path = value_file.split("/", 1)
    assert ref == f"${values['ref']}" and path in tree and path == layout.CILIUM_VALUES
    assert (values["repoURL"], values["targetRevision"]) == (argo.gitops.repository, argo.gitops.branch)
    assert {"ServerSideApply=true", "CreateNamespace=false", "RespectIgnoreDifferences=true"} <= set(app["syncPolicy"]["syncOptions"])


def test_argocd_configs_app_points_at_the_configs(argo: Inventory) -> None:
    tree = whole_tree(argo)
    app = load(tree["argocd/apps/cilium-config.yaml"])["spec"]
    assert app["source"]["path"] == layout.CONFIGS_DIR and CONFIGS_KUSTOMIZATION in tree
    assert "directory" not in app["source"]  # a directory source would apply kustomization.yaml itself
    assert "SkipDryRunOnMissingResource=true" in app["syncPolicy"]["syncOptions"]


def test_argocd_ignores_only_the_generated_certs_that_exist(argo: Inventory) -> None:
    def ignored(inv: Inventory) -> list[str]:
        return [d["name"] for d in gitops.cilium_application(inv)["spec"]["ignoreDifferences"]]

    assert ignored(argo) == ["cilium-ca", "hubble-relay-client-certs", "hubble-server-certs"]
    no_relay = argo.model_copy(update={"cilium": argo.cilium.model_copy(update={"hubble_relay": False})})
    assert ignored(no_relay) == ["cilium-ca", "hubble-server-certs"]
    no_hubble = argo.model_copy(update={"cilium": argo.cilium.model_copy(update={"hubble": False})})
    assert ignored(no_hubble) == []


def test_no_anchors_or_secrets(inv: Inventory, argo: Inventory) -> None:
    for variant in (inv, argo, check_file(VARIANT).inventory, check_file(FULL).inventory):
        for path, text in whole_tree(variant).items():
            assert "&id" not in text and "*id" not in text, path
            # Secret objects (BGP passwords) come from the secrets file, never from git.
            if path.endswith(".yaml"):
                assert all(d.get("kind") != "Secret" for d in load_all(text) if isinstance(d, dict)), path


# --- real tools ----------------------------------------------------------------------------


def _manifests(tree: dict[str, str]) -> list[str]:
    """Files holding Kubernetes objects (not kustomize's own configs, not Helm values)."""
    skip = {"kustomization.yaml", "kustomizeconfig.yaml", "values.yaml"}
    return sorted(p for p in tree if p.endswith(".yaml") and Path(p).name not in skip)


@pytest.mark.tools
@pytest.mark.parametrize("engine", ["flux", "argocd"])
def test_kubeconform_accepts_everything(inv: Inventory, engine: str, tmp_path: Path, need_tool: NeedTool) -> None:
    tree = whole_tree(on(inv, engine))
    root = write(tree, tmp_path / "repo")
    # Core kinds (argocd-cm is a ConfigMap) against the cluster minor's strict schemas, as `validate` does.
    core = caches.kubernetes_schemas(tmp_path / "cache", inv.kubernetes.version)
    tools.run([need_tool("kubeconform"), "-strict", "-summary", "-schema-location", f"{core}/{{{{.ResourceKind}}}}{{{{.KindSuffix}}}}.json",
               "-schema-location", KUBECONFORM_SCHEMAS, *(root / p for p in _manifests(tree))])


def _kustomize_dirs(tree: dict[str, str]) -> list[str]:
    return sorted(str(Path(p).parent) for p in tree if Path(p).name == "kustomization.yaml")


@pytest.mark.tools
@pytest.mark.parametrize("engine", ["flux", "argocd"])
def test_kustomize_builds_every_dir(inv: Inventory, engine: str, tmp_path: Path, need_tool: NeedTool) -> None:
    kustomize = need_tool("kustomize")
    tree = whole_tree(on(inv, engine))
    root = write(tree, tmp_path)
    for directory in _kustomize_dirs(tree):
        built = [d for d in load_all(tools.run([kustomize, "build", root / directory]).stdout) if d]
        assert built, directory
        if directory == layout.CONTROLLERS_DIR:
            [configmap] = [d for d in built if d["kind"] == "ConfigMap"]
            [release] = [d for d in built if d["kind"] == "HelmRelease"]
            name = configmap["metadata"]["name"]
            assert name.startswith(f"{gitops.VALUES_CONFIGMAP}-")  # hashed: a values change renames it
            assert release["spec"]["valuesFrom"][0]["name"] == name
            assert load(configmap["data"]["values.yaml"]) == cilium.values(inv)
            assert {d["metadata"]["namespace"] for d in built} == {cilium.NAMESPACE}
    if engine == "argocd":
        assert _kustomize_dirs(tree) == [layout.CONFIGS_DIR]


def _helm_template(chart: Path, values_file: Path) -> list[dict[str, Any]]:
    out = tools.helm("template", cilium.RELEASE_NAME, str(chart), "--namespace", cilium.NAMESPACE, "--kube-version", "1.35.4", "-f", str(values_file))
    return [d for d in load_all(out) if d]


def _group(doc: dict[str, Any]) -> str:
    return doc["apiVersion"].split("/")[0] if "/" in doc["apiVersion"] else ""


@pytest.mark.tools
@pytest.mark.parametrize("version", CHART_VERSIONS)
def test_argocd_project_admits_what_the_chart_renders(version: str, charts: dict[str, Path], argo: Inventory, tmp_path: Path, need_tool: NeedTool) -> None:  # noqa: F811
    """`helm template` twice, as Argo CD does: every namespace and cluster-scoped kind
    is allowed by the project, and whatever differs between the two renders is ignored."""
    need_tool("helm")
    values_file = write(whole_tree(argo), tmp_path) / layout.CILIUM_VALUES
    first = _helm_template(charts[version], values_file)
    second = _helm_template(charts[version], values_file)
    project = gitops.app_project(argo)["spec"]
    allowed_namespaces = {d["namespace"] for d in project["destinations"]}
    namespaced = [d for d in first if "namespace" in d["metadata"]]
    assert {d["metadata"]["namespace"] for d in namespaced} <= allowed_namespaces
    created = {d["metadata"]["name"] for d in first if d["kind"] == "Namespace"}
    assert created <= allowed_namespaces
    whitelist = {(w["group"], w["kind"]) for w in project["clusterResourceWhitelist"]}
    for doc in first:
        if "namespace" not in doc["metadata"]:
            assert (_group(doc), doc["kind"]) in whitelist or (_group(doc), "*") in whitelist, doc["kind"]
    changing = {(d["kind"], d["metadata"]["name"]) for d, again in zip(first, second, strict=True) if d != again}
    ignored = {(i["kind"], i["name"]) for i in gitops.cilium_application(argo)["spec"]["ignoreDifferences"]}
    assert changing and changing <= ignored
