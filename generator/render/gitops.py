"""The GitOps entry points: Flux Kustomizations and a HelmRelease, or an Argo CD
app-of-apps. Either way Cilium (the controller) is reconciled before the
objects that use its CRDs (the configs), and the release matches the bootstrap
install: same release name, namespace, chart, version and values file.

Argo CD orders the app-of-apps by sync waves, but a wave waits for the health of
the Applications before it only when argocd-cm has a health check for
argoproj.io/Application (Argo CD removed the built-in one in 1.8:
docs/operator-manual/upgrading/1.7-1.8.md, docs/operator-manual/health.md):
`argocd_cm` renders it, and the README applies it before the root application.
"""

from __future__ import annotations

from typing import Any

from .. import yamlio
from ..model import Inventory
from . import cilium, layout

Document = dict[str, Any]

KUSTOMIZE_API_VERSION = "kustomize.config.k8s.io/v1beta1"
FLUX_NAMESPACE = "flux-system"
# The GitRepository `flux bootstrap` creates and points at clusters/<name>.
FLUX_SOURCE = "flux-system"
CONTROLLERS = "infra-controllers"
CONFIGS = "infra-configs"
VALUES_CONFIGMAP = "cilium-values"
# The configMapGenerator reads the bootstrap's values file by its name, which becomes the key.
VALUES_KEY = layout.CILIUM_VALUES.removeprefix(f"{layout.CILIUM_DIR}/")
REMEDIATION_RETRIES = 3

ARGOCD_NAMESPACE = "argocd"
IN_CLUSTER = "https://kubernetes.default.svc"
# The chart also creates this namespace (the default of its *.secretsNamespace.name) and Roles in it.
CILIUM_SECRETS_NAMESPACE = "cilium-secrets"
SYNC_WAVE = "argocd.argoproj.io/sync-wave"
# The project first, then Cilium, then the objects that need Cilium's CRDs.
PROJECT_WAVE, CILIUM_WAVE, CONFIG_WAVE = "-2", "-1", "1"
# Argo CD's documented health check for child Applications: a child's own health.
APPLICATION_HEALTH_KEY = "resource.customizations.health.argoproj.io_Application"
APPLICATION_HEALTH_LUA = """hs = {}
hs.status = "Progressing"
hs.message = ""
if obj.status ~= nil then
  if obj.status.health ~= nil then
    hs.status = obj.status.health.status
    if obj.status.health.message ~= nil then
      hs.message = obj.status.health.message
    end
  end
end
return hs
"""
# `helm template` (what Argo CD runs) mints new certificates on every render;
# Helm and Flux reuse the live ones through `lookup`. Keep the live ones.
HUBBLE_CERT_SECRETS = ("cilium-ca", "hubble-server-certs")
RELAY_CERT_SECRETS = ("hubble-relay-client-certs",)


def render(inv: Inventory) -> dict[str, str]:
    tree = {f"{layout.CONFIGS_DIR}/kustomization.yaml": yamlio.dump(configs_kustomization(inv))}
    tree.update(flux(inv) if inv.gitops.engine == "flux" else argocd(inv))
    return tree


def _automated() -> Document:
    return {"prune": True, "selfHeal": True}


def _kustomization(**fields: Any) -> Document:
    return {"apiVersion": KUSTOMIZE_API_VERSION, "kind": "Kustomization", **fields}


def configs_kustomization(inv: Inventory) -> Document:
    prefix = f"{layout.CONFIGS_DIR}/"
    return _kustomization(resources=[path.removeprefix(prefix) for path in cilium.config_files(inv)])


# --- Flux ------------------------------------------------------------------------


def flux(inv: Inventory) -> dict[str, str]:
    cluster_dir = layout.flux_cluster_dir(inv)
    cilium_dir = layout.CILIUM_DIR
    return {
        f"{cluster_dir}/infrastructure.yaml": yamlio.dump_all(flux_kustomizations()),
        f"{layout.CONTROLLERS_DIR}/kustomization.yaml": yamlio.dump(_kustomization(resources=[cilium_dir.removeprefix(f"{layout.CONTROLLERS_DIR}/")])),
        f"{cilium_dir}/kustomization.yaml": yamlio.dump(cilium_kustomization()),
        f"{cilium_dir}/kustomizeconfig.yaml": yamlio.dump(kustomize_config()),
        f"{cilium_dir}/helmrepository.yaml": yamlio.dump(helm_repository()),
        f"{cilium_dir}/helmrelease.yaml": yamlio.dump(helm_release(inv)),
    }


def _flux_kustomization(name: str, directory: str, depends_on: list[str]) -> Document:
    spec: Document = {"interval": "1h", "retryInterval": "1m", "timeout": "10m"}
    if depends_on:
        spec["dependsOn"] = [{"name": d} for d in depends_on]
    spec |= {"sourceRef": {"kind": "GitRepository", "name": FLUX_SOURCE}, "path": f"./{directory}", "prune": True, "wait": True}
    return {
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
        "kind": "Kustomization",
        "metadata": {"name": name, "namespace": FLUX_NAMESPACE},
        "spec": spec,
    }


def flux_kustomizations() -> list[Document]:
    return [
        _flux_kustomization(CONTROLLERS, layout.CONTROLLERS_DIR, []),
        # The configs are Cilium CRD objects: the CRDs exist once the controllers are ready.
        _flux_kustomization(CONFIGS, layout.CONFIGS_DIR, [CONTROLLERS]),
    ]


def cilium_kustomization() -> Document:
    return _kustomization(
        namespace=cilium.NAMESPACE,
        resources=["helmrepository.yaml", "helmrelease.yaml"],
        # The bootstrap's own values file; the content hash in the ConfigMap's name
        # changes the HelmRelease whenever the values change, which triggers an upgrade.
        configMapGenerator=[{"name": VALUES_CONFIGMAP, "files": [VALUES_KEY]}],
        configurations=["kustomizeconfig.yaml"],
    )


def kustomize_config() -> Document:
    """Flux's documented pattern: make kustomize rewrite valuesFrom to the hashed name."""
    field = {"path": "spec/valuesFrom/name", "kind": "HelmRelease"}
    return {"nameReference": [{"kind": "ConfigMap", "version": "v1", "fieldSpecs": [field]}]}


def helm_repository() -> Document:
    return {
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "HelmRepository",
        "metadata": {"name": cilium.CHART, "namespace": cilium.NAMESPACE},
        "spec": {"interval": "24h", "url": cilium.CHART_REPOSITORY},
    }


def helm_release(inv: Inventory) -> Document:
    return {
        "apiVersion": "helm.toolkit.fluxcd.io/v2",
        "kind": "HelmRelease",
        "metadata": {"name": cilium.RELEASE_NAME, "namespace": cilium.NAMESPACE},
        "spec": {
            "interval": "30m",
            # Exactly the bootstrap's release: helm-controller upgrades it in place.
            "releaseName": cilium.RELEASE_NAME,
            "targetNamespace": cilium.NAMESPACE,
            "storageNamespace": cilium.NAMESPACE,
            "chart": {
                "spec": {
                    "chart": cilium.CHART,
                    "version": inv.cilium.version,
                    "sourceRef": {"kind": "HelmRepository", "name": cilium.CHART},
                }
            },
            "valuesFrom": [{"kind": "ConfigMap", "name": VALUES_CONFIGMAP, "valuesKey": VALUES_KEY}],
            "install": {"crds": "CreateReplace", "remediation": {"retries": REMEDIATION_RETRIES}},
            "upgrade": {"crds": "CreateReplace", "remediation": {"retries": REMEDIATION_RETRIES}},
        },
    }


# --- Argo CD ---------------------------------------------------------------------


def argocd(inv: Inventory) -> dict[str, str]:
    apps = layout.ARGOCD_APPS_DIR
    return {
        layout.ARGOCD_CM: yamlio.dump(argocd_cm()),
        layout.ARGOCD_ROOT: yamlio.dump(root_application(inv)),
        f"{apps}/project.yaml": yamlio.dump(app_project(inv)),
        f"{apps}/cilium.yaml": yamlio.dump(cilium_application(inv)),
        f"{apps}/cilium-config.yaml": yamlio.dump(config_application(inv)),
    }


def _application(name: str, wave: str | None, spec: Document) -> Document:
    metadata: Document = {"name": name, "namespace": ARGOCD_NAMESPACE}
    if wave is not None:
        metadata["annotations"] = {SYNC_WAVE: wave}
    return {"apiVersion": "argoproj.io/v1alpha1", "kind": "Application", "metadata": metadata, "spec": spec}


def _git_source(inv: Inventory, **fields: str) -> Document:
    return {"repoURL": inv.gitops.repository, "targetRevision": inv.gitops.branch, **fields}


def argocd_cm() -> Document:
    """The key this repository adds to Argo CD's argocd-cm (server-side apply keeps the
    install's other keys): without it the sync waves order nothing."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": "argocd-cm",
            "namespace": ARGOCD_NAMESPACE,
            "labels": {"app.kubernetes.io/name": "argocd-cm", "app.kubernetes.io/part-of": "argocd"},
        },
        "data": {APPLICATION_HEALTH_KEY: APPLICATION_HEALTH_LUA},
    }


def root_application(inv: Inventory) -> Document:
    # The "default" project: the cluster's own project is one of the apps it creates.
    return _application(
        "root",
        None,
        {
            "project": "default",
            "source": _git_source(inv, path=layout.ARGOCD_APPS_DIR),
            "destination": {"server": IN_CLUSTER, "namespace": ARGOCD_NAMESPACE},
            "syncPolicy": {"automated": _automated()},
        },
    )


def app_project(inv: Inventory) -> Document:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "AppProject",
        # Before the Applications that name it: Argo CD refuses an app whose project is missing.
        "metadata": {"name": inv.name, "namespace": ARGOCD_NAMESPACE, "annotations": {SYNC_WAVE: PROJECT_WAVE}},
        "spec": {
            "description": f"Infrastructure of cluster {inv.name}",
            "sourceRepos": sorted({inv.gitops.repository, cilium.CHART_REPOSITORY}),
            "destinations": [
                {"server": IN_CLUSTER, "namespace": ns} for ns in sorted({cilium.NAMESPACE, CILIUM_SECRETS_NAMESPACE})
            ],
            # Cluster-scoped kinds the chart and the configs create.
            "clusterResourceWhitelist": [
                {"group": "", "kind": "Namespace"},
                {"group": "cilium.io", "kind": "*"},
                {"group": "rbac.authorization.k8s.io", "kind": "ClusterRole"},
                {"group": "rbac.authorization.k8s.io", "kind": "ClusterRoleBinding"},
            ],
        },
    }


def cilium_application(inv: Inventory) -> Document:
    chart = {
        "repoURL": cilium.CHART_REPOSITORY,
        "chart": cilium.CHART,
        "targetRevision": inv.cilium.version,
        "helm": {"releaseName": cilium.RELEASE_NAME, "valueFiles": [f"$values/{layout.CILIUM_VALUES}"]},
    }
    return _application(
        cilium.RELEASE_NAME,
        CILIUM_WAVE,
        {
            "project": inv.name,
            "sources": [chart, _git_source(inv, ref="values")],
            "destination": {"server": IN_CLUSTER, "namespace": cilium.NAMESPACE},
            "syncPolicy": {
                "automated": _automated(),
                # Server-side apply: Cilium's objects outgrow the last-applied annotation.
                "syncOptions": ["ServerSideApply=true", "CreateNamespace=false", "RespectIgnoreDifferences=true"],
            },
            "ignoreDifferences": _generated_certs(inv),
        },
    )


def _generated_certs(inv: Inventory) -> list[Document]:
    hubble = cilium.values(inv)["hubble"]
    if not hubble["enabled"]:
        return []
    names = HUBBLE_CERT_SECRETS + (RELAY_CERT_SECRETS if hubble["relay"]["enabled"] else ())
    return [{"group": "", "kind": "Secret", "name": n, "namespace": cilium.NAMESPACE, "jsonPointers": ["/data"]} for n in sorted(names)]


def config_application(inv: Inventory) -> Document:
    return _application(
        "cilium-config",
        CONFIG_WAVE,
        {
            "project": inv.name,
            # A kustomize directory (it holds kustomization.yaml); the objects are cluster-scoped.
            "source": _git_source(inv, path=layout.CONFIGS_DIR),
            "destination": {"server": IN_CLUSTER, "namespace": cilium.NAMESPACE},
            "syncPolicy": {
                "automated": _automated(),
                # The CRDs appear only once the Cilium operator runs: retry until they do.
                "syncOptions": ["SkipDryRunOnMissingResource=true"],
                "retry": {"limit": 10, "backoff": {"duration": "30s", "factor": 2, "maxDuration": "5m"}},
            },
        },
    )
