"""Argo CD's repo server and application controller as local processes (the pinned release,
with the CRDs and settings of the same module's install manifests), redis from Debian,
and the README's Argo CD step: argocd-cm's health check for Applications, then the root
Application."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path
from typing import Any

from .. import toolpins, yamlio
from ..errors import ClusterforgeError
from ..render import gitops, layout
from ..tools import require
from . import toolset
from .kube import Kubectl, load_yaml
from .processes import Daemons, free_port

NAMESPACE = gitops.ARGOCD_NAMESPACE
APPLICATIONS = "applications.argoproj.io"
# The README's field manager for argocd-cm: server-side apply keeps the install's other keys.
CM_FIELD_MANAGER = "clusterforge"
TRACKING = "argocd.argoproj.io/tracking-id"  # annotation tracking, Argo CD 3's default
REFRESH = "argocd.argoproj.io/refresh"
REDIS_LIMIT = 30.0  # seconds for redis to accept connections
RELAY_LIMIT = 30.0  # seconds for the relays' Unix sockets to listen
CRD_LIMIT = 60.0  # seconds for the API server to serve Argo CD's CRDs
# Argo CD hard-codes the controller's metrics listener on every address
# (controller/appcontroller.go: fmt.Sprintf("0.0.0.0:%d", metricsPort)); no flag binds it to loopback.
CONTROLLER_ISOLATED = (
    "the application controller runs in a network namespace of its own with only a loopback interface: its metrics "
    "server listens on 0.0.0.0 (Argo CD hard-codes that address), there and nowhere else; its connections to the API "
    "server, redis and the repo server pass through Unix-socket relays to the host's 127.0.0.1"
)
# An error condition is one whose type ends in "Error", as Argo CD judges them
# (pkg/apis/application/v1alpha1/types.go: ApplicationCondition.IsError); warnings are not.
ERROR_SUFFIX = "Error"
FAILED_PHASES = ("Failed", "Error")
# The project the root Application names. Argo CD's API server (not run here) makes it when it
# starts, with exactly this spec (server/server.go: initializeDefaultProject).
DEFAULT_PROJECT = {
    "apiVersion": "argoproj.io/v1alpha1", "kind": "AppProject", "metadata": {"name": "default", "namespace": NAMESPACE},
    "spec": {"sourceRepos": ["*"], "destinations": [{"server": "*", "namespace": "*"}], "clusterResourceWhitelist": [{"group": "*", "kind": "*"}]},
}


def install_objects() -> list[dict[str, Any]]:
    """The module's manifests/install.yaml, as data."""
    return load_yaml_all(toolset.data(toolset.argocd(), toolpins.ARGOCD).read_text())


def load_yaml_all(text: str) -> list[Any]:
    """Every non-empty document, as plain data."""
    return [d for d in json.loads(json.dumps(list(yamlio.loader().load_all(text)))) if d]


def settings(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The install's ConfigMaps and Secret (argocd-cm, argocd-secret...): what the components read."""
    return [{**o, "metadata": {**o["metadata"], "namespace": NAMESPACE}} for o in objects if o["kind"] in ("ConfigMap", "Secret")]


def _wait_for_port(port: int, daemons: Daemons) -> None:
    deadline = time.monotonic() + REDIS_LIMIT
    while time.monotonic() < deadline:
        daemons.check_alive()
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise ClusterforgeError(f"redis did not accept connections on 127.0.0.1:{port} within {REDIS_LIMIT:.0f} s")


def _wait_established(kubectl: Kubectl, names: list[str]) -> None:
    """Served before anything uses them. Not `kubectl wait`: it fails at once on a CRD whose
    status has no conditions yet, as these have for a moment after they are made."""
    deadline = time.monotonic() + CRD_LIMIT
    while time.monotonic() < deadline:
        crds = [kubectl.get("crd", name) or {} for name in names]
        if all(any(c.get("type") == "Established" and c.get("status") == "True" for c in (crd.get("status") or {}).get("conditions") or [])
               for crd in crds):
            return
        time.sleep(0.5)
    raise ClusterforgeError(f"Argo CD's CRDs not Established within {CRD_LIMIT:.0f} s: {', '.join(names)}")


def _tools_path(folder: Path) -> str:
    """helm and kustomize as the repo server calls them: the pinned builds."""
    bin_dir = folder / "argocd-bin"
    bin_dir.mkdir()
    (bin_dir / "helm").symlink_to(toolset.helm())
    (bin_dir / "kustomize").symlink_to(require("kustomize"))
    return f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"


def start(daemons: Daemons, kubectl: Kubectl, folder: Path) -> None:
    objects = install_objects()
    crds = [o for o in objects if o["kind"] == "CustomResourceDefinition"]
    kubectl.apply(yamlio.dump_all(crds))
    _wait_established(kubectl, [c["metadata"]["name"] for c in crds])
    kubectl.apply(yamlio.dump({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}))
    kubectl.apply(yamlio.dump_all([*settings(objects), DEFAULT_PROJECT]))

    data = folder / "argocd"
    for sub in ("redis", "tmp", "tls", "ssh", "gpg", "plugins"):
        (data / sub).mkdir(parents=True)
    redis = free_port()
    # No persistence, loopback only: a cache, as Argo CD's own manifests run it.
    daemons.start("redis", [require("redis-server"), "--bind", "127.0.0.1", "--port", str(redis), "--save", "",
                            "--appendonly", "no", "--dir", data / "redis", "--protected-mode", "yes"], cwd=data / "redis")
    _wait_for_port(redis, daemons)
    repo_server = free_port()
    binary = toolset.argocd()
    env = {
        **kubectl.env(), "HOME": str(data), "TMPDIR": str(data / "tmp"), "PATH": _tools_path(folder),
        # Paths the container image provides under /app/config and /home/argocd, here in the folder;
        # the askpass socket is /tmp/reposerver-ask-pass.sock by default, shared by every run.
        "ARGOCD_TLS_DATA_PATH": str(data / "tls"), "ARGOCD_SSH_DATA_PATH": str(data / "ssh"),
        "ARGOCD_GNUPGHOME": str(data / "gpg"), "ARGOCD_GPG_ENABLED": "false",
        "ARGOCD_PLUGINSOCKFILEPATH": str(data / "plugins"), "ARGOCD_ASK_PASS_SOCK": str(data / "askpass.sock"),
        # The in-cluster destination (https://kubernetes.default.svc) through KUBECONFIG rather than a
        # pod's service account, as Argo CD's own local development runs it (pkg/apis/application/
        # v1alpha1/cluster_constants.go).
        "ARGOCD_FAKE_IN_CLUSTER": "true",
    }
    redis_address = f"--redis=127.0.0.1:{redis}"
    daemons.start("argocd-repo-server", [
        binary, "--address=127.0.0.1", f"--port={repo_server}", "--metrics-address=127.0.0.1", f"--metrics-port={free_port()}",
        redis_address, "--disable-tls", "--logformat=json",
    ], env={**env, "ARGOCD_BINARY_NAME": "argocd-repo-server"}, cwd=data)
    controller = [
        binary, f"--kubeconfig={kubectl.kubeconfig}", f"--namespace={NAMESPACE}", f"--repo-server=127.0.0.1:{repo_server}",
        "--repo-server-plaintext", redis_address, f"--metrics-port={free_port()}", "--logformat=json",
    ]
    isolated = _isolated(daemons, data / "relays", [_api_port(kubectl), redis, repo_server], controller)
    daemons.start("argocd-application-controller", isolated, env={**env, "ARGOCD_BINARY_NAME": "argocd-application-controller"}, cwd=data)


def _api_port(kubectl: Kubectl) -> int:
    server = load_yaml(kubectl.kubeconfig.read_text())["clusters"][0]["cluster"]["server"]
    port = urllib.parse.urlsplit(server).port
    assert port is not None, server
    return port


def _namespace_prefix() -> list[str]:
    """unshare's arguments for a new network namespace: root makes one; anyone else makes it in a
    user namespace of their own (if this machine allows those)."""
    prefix = [require("unshare"), "--net"]
    return prefix if os.geteuid() == 0 else [*prefix, "--user", "--map-root-user"]


def _isolated(daemons: Daemons, relays: Path, ports: list[int], argv: list) -> list:
    """`argv` run in a network namespace of its own that reaches the host's 127.0.0.1 `ports`
    (and nothing else): the relays of generator/rehearse/relay.py."""
    probe = subprocess.run([*_namespace_prefix(), "true"], capture_output=True, text=True)
    if probe.returncode != 0:
        raise ClusterforgeError("Argo CD's application controller listens on 0.0.0.0 (hard-coded), so the rehearsal runs it "
                                "in a network namespace of its own, which this machine refuses: "
                                f"{probe.stderr.strip() or probe.returncode} (run as root, or allow user namespaces)")
    relays.mkdir()
    relay = [sys.executable, "-m", "generator.rehearse.relay"]
    daemons.start("relay-host", [*relay, "host", relays, *map(str, ports)])
    deadline = time.monotonic() + RELAY_LIMIT
    while not (relays / "ready").exists():
        daemons.check_alive()
        if time.monotonic() > deadline:
            raise ClusterforgeError(f"the relays to 127.0.0.1 did not start within {RELAY_LIMIT:.0f} s")
        time.sleep(0.05)
    return [*_namespace_prefix(), *relay, "inside", relays, *map(str, ports), "--", *argv]


def bootstrap(kubectl: Kubectl, work: Path) -> None:
    """The README's Argo CD step after the install: argocd-cm's key, then the root Application."""
    kubectl("apply", "--server-side", f"--field-manager={CM_FIELD_MANAGER}", "-f", str(work / layout.ARGOCD_CM))
    kubectl("apply", "-f", str(work / layout.ARGOCD_ROOT))


def expected(work: Path) -> list[str]:
    """The Applications the repository makes: the root and those of its apps folder."""
    names = [load_yaml((work / layout.ARGOCD_ROOT).read_text())["metadata"]["name"]]
    for path in sorted((work / layout.ARGOCD_APPS_DIR).glob("*.yaml")):
        names += [d["metadata"]["name"] for d in load_yaml_all(path.read_text()) if d.get("kind") == "Application"]
    return sorted(names)


def key(app: dict[str, Any]) -> str:
    return f"Application {app['metadata'].get('namespace', '')}/{app['metadata']['name']}"


def verdict(app: dict[str, Any]) -> tuple[bool | None, str]:
    """(True when Synced and Healthy, False on an error condition, a failed sync or a Degraded
    health, None while it is on its way; what Argo CD says about it)."""
    status = app.get("status", {})
    sync, health = status.get("sync", {}).get("status", "Unknown"), status.get("health", {}).get("status", "Unknown")
    errors = [f"{c['type']}: {c.get('message', '')}" for c in status.get("conditions", []) or [] if c.get("type", "").endswith(ERROR_SUFFIX)]
    operation = status.get("operationState", {}) or {}
    said = [f"{sync}, {health}", *errors]
    if operation.get("phase") in FAILED_PHASES:
        said.append(f"sync {operation['phase']}: {operation.get('message', '')}")
    message = "; ".join(said)
    if errors or operation.get("phase") in FAILED_PHASES or health == "Degraded":
        return False, message
    if sync == "Synced" and health == "Healthy":
        return True, message
    return None, message


def source_file(app: dict[str, Any]) -> str:
    name = app["metadata"]["name"]
    return layout.ARGOCD_ROOT if name == "root" else f"{layout.ARGOCD_APPS_DIR}/{name}.yaml"


def revisions(app: dict[str, Any]) -> list[str]:
    """The revisions an Application is synced to (one per source)."""
    sync = app.get("status", {}).get("sync", {})
    return list(sync.get("revisions") or []) or [sync.get("revision", "")]


def refresh_now(kubectl: Kubectl) -> None:
    """What `argocd app get --hard-refresh` does: ask every Application to read the repository again now."""
    kubectl("annotate", "--overwrite", "--namespace", NAMESPACE, APPLICATIONS, "--all", f"{REFRESH}=hard")


def inventory(kubectl: Kubectl) -> list[tuple[str, str]]:
    """What the Applications manage, as Flux's inventory ids (namespace_name_group_kind) and versions."""
    found = []
    for app in kubectl.items(APPLICATIONS):
        for r in app.get("status", {}).get("resources", []) or []:
            found.append((f"{r.get('namespace', '')}_{r['name']}_{r.get('group', '')}_{r['kind']}", r["version"]))
    return found
