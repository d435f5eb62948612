"""`clusterforge rehearse`: start the local control plane and kwok nodes, run the
bootstrap, start Cilium's operator and the GitOps engine, wait for convergence, assert,
and take everything down again on every way out (normal end, failure, Ctrl-C, SIGTERM).
`--keep` leaves the daemons running with a kubeconfig to look around."""

from __future__ import annotations

import atexit
import shutil
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from .. import repo as repository
from .. import toolpins, yamlio
from ..errors import ClusterforgeError
from ..model import Inventory
from ..render import cilium as cilium_render
from ..render import layout
from ..simulate.run import _signals_raise_interrupt
from ..validate.base import Result
from . import argocd, bootstrap, checks, cilium, controlplane, flux, gitrepo, nodes, record, serve, toolset, update
from .kube import Kubectl, load_yaml
from .processes import Daemon, Daemons

CONVERGE_LIMIT = 300.0  # seconds for the engine to make every Kustomization and HelmRelease Ready (Application Synced and Healthy)
POLL = 1.0
SETTLE = 20.0  # seconds of unchanged, definite verdicts that end the wait
REHEARSAL = "0. rehearsal"
CONTROL_PLANE = "1. control plane"
NODES = "2. nodes"
BOOTSTRAP = "3. bootstrap"
ENGINE = "4. GitOps engine"
UPDATE = "8. git-driven update"
UPDATE_LIMIT = 180.0  # seconds for the engine to apply a new commit
NOT_REHEARSED = (
    "not rehearsed: the nodes' kubelets and containers (kwok runs every pod as Running and Ready without running it); "
    "Cilium's agents and datapath (the operator runs; the agents' CiliumNode objects are written for them); "
    "the kube-proxy and CoreDNS addons"
)


@dataclass
class Rehearsal:
    repo: Path
    keep: bool = False
    converge_limit: float = CONVERGE_LIMIT
    update: bool = True  # also rehearse a git-driven change (tests of breakage skip it)
    results: list[Result] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    folder: Path | None = None
    kubectl: Kubectl | None = None
    _start: float = field(default_factory=time.monotonic)
    _stage: str = REHEARSAL  # the report line a failure on the way is written to

    def elapsed(self) -> float:
        return time.monotonic() - self._start

    def run(self, err: TextIO) -> list[Result]:
        inv = repository.load(self.repo).inventory
        toolset.require_all(inv.kubernetes.version, inv.cilium.version, inv.gitops.engine)
        folder = self.folder = Path(tempfile.mkdtemp(prefix="clusterforge-rehearse-"))  # mode 0700
        (folder / "logs").mkdir()
        daemons = Daemons(folder / "logs", keep=self.keep)
        restore = _signals_raise_interrupt()

        def teardown() -> None:
            daemons.stop_all()
            shutil.rmtree(folder, ignore_errors=True)

        if not self.keep:
            atexit.register(teardown)
        try:
            with ExitStack() as servers:
                self._rehearse(inv, folder, daemons, servers)
        except ClusterforgeError as e:
            # A failure on the way is a failing report line, with the logs' ends, not a traceback.
            self.results.append(Result(self._stage, "cluster.yaml", False, f"{e}{self._logs(daemons)}"))
        finally:
            restore()
            if self.keep:
                print(self.keep_instructions(daemons), file=err)
            else:
                teardown()
                atexit.unregister(teardown)
        self.results.insert(0, Result(REHEARSAL, "cluster.yaml", True, "\n".join([*self.notes, NOT_REHEARSED])))
        return self.results

    def _logs(self, daemons: Daemons) -> str:
        dead = [d for d in daemons.running if d.process.poll() is not None]
        return "".join(f"\n{d.name} exited with code {d.process.returncode}:\n{d.tail()}" for d in dead)

    def _rehearse(self, inv: Inventory, folder: Path, daemons: Daemons, servers: ExitStack) -> None:
        self._stage = CONTROL_PLANE
        plane = controlplane.start(daemons, folder, inv.kubernetes.version, inv.kubernetes.service_cidr, inv.kubernetes.pod_cidr)
        kubectl = self.kubectl = Kubectl.of(plane.kubeconfig, inv.kubernetes.version)
        self.results.append(Result(CONTROL_PLANE, "cluster.yaml", True,
                                   f"etcd {toolpins.ETCD.version.removeprefix('v')} and Kubernetes {inv.kubernetes.version} "
                                   f"(kube-apiserver, controller manager, scheduler) at {plane.url}, ready after {self.elapsed():.1f} s"))

        self._stage = NODES
        nodes.start_kwok(daemons, kubectl, inv, folder)
        first, joining = nodes.first_and_joining(inv)
        nodes.register(kubectl, inv, first)
        self.results.append(Result(NODES, "cluster.yaml", True, f"{first[0].name} (the first control plane) Ready under kwok after {self.elapsed():.1f} s"))

        self._stage = BOOTSTRAP
        charts = bootstrap.chart_folder(inv, folder)
        chart_url = servers.enter_context(serve.chart_server(charts))
        bootstrap.index_charts(charts, chart_url, bootstrap.helm_env(folder))
        served = gitrepo.create(folder, self.repo, inv.gitops.branch)
        redirected = gitrepo.redirect_charts(served, cilium_render.CHART_REPOSITORY, chart_url)
        served.commit("rehearsal: charts from the loopback chart server")
        git_url = servers.enter_context(serve.git_server(served.bare.parent)) + f"/{gitrepo.REPOSITORY}"
        self.notes.append(f"repository {inv.gitops.repository} served as {git_url} (branch {inv.gitops.branch})")
        self.notes.append(f"chart repository {cilium_render.CHART_REPOSITORY} served as {chart_url} from the offline chart cache; "
                          f"URL changed in the served copy: {', '.join(redirected)}")
        if inv.gitops.engine == "argocd":  # the Applications name the repositories themselves
            sources = self._redirect_argocd(inv, served, git_url, chart_url)
            served.commit("rehearsal: Applications read from the loopback git and chart servers")
            self.notes.append(f"Argo CD's sources (the repository and the chart repository) changed to those loopback URLs in the "
                              f"served copy: {', '.join(sources)}")
        bootstrap.run_script(served.work, kubectl, folder, inv.kubernetes.version)
        self.results.append(Result(BOOTSTRAP, layout.CILIUM_BOOTSTRAP, True,
                                   f"install-cilium.sh installed Cilium {inv.cilium.version} and its rollouts finished after {self.elapsed():.1f} s"))
        nodes.register(kubectl, inv, joining)
        self.results.append(Result(NODES, "cluster.yaml", True, f"{len(joining)} more nodes joined, Ready after {self.elapsed():.1f} s: "
                                   + ", ".join(f"{n.name} ({n.role})" for n in joining)))

        self._stage = ENGINE
        operator = cilium.start(daemons, kubectl, inv, folder)
        cilium.write_cilium_nodes(kubectl, inv)
        self.notes.append(cilium.AGENT_STAND_IN)
        installed: list[dict[str, Any]] = []
        if inv.gitops.engine == "argocd":
            installed = bootstrap.release_objects(kubectl, folder, cilium_render.RELEASE_NAME, cilium_render.NAMESPACE)
            argocd.start(daemons, kubectl, folder)
            argocd.bootstrap(kubectl, served.work)
            self.notes.append(f"Argo CD {toolpins.ARGOCD.version}: application controller and repo server, redis-server from Debian; "
                              f"Cilium operator {inv.cilium.version}")
            self.notes.append(argocd.CONTROLLER_ISOLATED)
            self._converge_argocd(daemons, kubectl, argocd.expected(served.work))
        else:
            flux.start(daemons, kubectl, folder)
            kubectl.apply(yamlio.dump_all(flux.bootstrap_objects(inv, git_url)))
            self.notes.append(f"Flux {toolpins.FLUX_VERSION}: " + ", ".join(f"{b.name} {b.version}" for b in toolpins.FLUX_CONTROLLERS)
                              + f"; Cilium operator {inv.cilium.version}")
            self._converge(daemons, kubectl)
        self._assert(inv, served, kubectl, installed)
        if self.update and all(r.ok for r in self.results):
            self._stage = UPDATE
            self._update(inv, served, kubectl, daemons, charts, chart_url, git_url, operator)

    def _redirect_argocd(self, inv: Inventory, served: gitrepo.ServedRepository, git_url: str, chart_url: str) -> list[str]:
        return gitrepo.redirect_argocd(served, {inv.gitops.repository: git_url, cilium_render.CHART_REPOSITORY: chart_url})

    def _converge_argocd(self, daemons: Daemons, kubectl: Kubectl, expected: list[str]) -> None:
        """Wait until every Application the repository makes is Synced and Healthy, or one has
        failed (an error condition, a failed sync, Degraded) and the verdicts stayed the same
        for SETTLE seconds, or time runs out; a report line per Application."""
        became: dict[str, float] = {}
        deadline = time.monotonic() + self.converge_limit
        last: tuple[tuple[str, bool | None, str], ...] = ()
        since = time.monotonic()
        while True:
            daemons.check_alive()
            apps = kubectl.items(argocd.APPLICATIONS)
            verdicts = tuple(sorted((argocd.key(a), *argocd.verdict(a)) for a in apps))
            for key, ok, _ in verdicts:
                if ok:
                    became.setdefault(key, self.elapsed())
            if verdicts != last:
                last, since = verdicts, time.monotonic()
            done = sorted(a["metadata"]["name"] for a in apps) == expected and all(ok for _, ok, _ in verdicts)
            settled = any(ok is False for _, ok, _ in verdicts) and time.monotonic() - since >= SETTLE
            if done or settled or time.monotonic() > deadline:
                break
            time.sleep(POLL)
        for app in sorted(apps, key=argocd.key):
            ok, message = argocd.verdict(app)
            when = f"Synced and Healthy after {became[argocd.key(app)]:.1f} s" if ok else f"not Synced and Healthy after {self.elapsed():.1f} s"
            applied = len(app.get("status", {}).get("resources", []) or [])
            self.results.append(Result(ENGINE, argocd.source_file(app), bool(ok), f"{argocd.key(app)}: {when}; {applied} objects: {message}"))
        missing = sorted(set(expected) - {a["metadata"]["name"] for a in apps})
        if missing:
            self.results.append(Result(ENGINE, layout.ARGOCD_ROOT, False, f"Applications never created: {', '.join(missing)}"))

    def _converge(self, daemons: Daemons, kubectl: Kubectl) -> None:
        """Wait until every Kustomization and HelmRelease is Ready, or the engine has settled
        on a failure, or time runs out; a report line per object.

        Settled: the verdicts unchanged for SETTLE seconds while one is a failure (Ready False
        for another reason than a dependency not being Ready yet) or while every object that is
        not Ready waits for dependencies none of which is Ready (a dependsOn cycle), or one
        object stalled."""
        became: dict[str, float] = {}
        deadline = time.monotonic() + self.converge_limit
        last: tuple[tuple[str, bool | None, str, str], ...] = ()
        since = time.monotonic()
        while True:
            daemons.check_alive()
            objs = [o for o in flux.objects(kubectl) if o["kind"] in ("Kustomization", "HelmRelease")]
            by_key = {_key(o): o for o in objs}
            verdicts = tuple(sorted((_key(o), *flux.ready(o), flux.reason(o)) for o in objs))
            for key, ok, _, _ in verdicts:
                if ok:
                    became.setdefault(key, self.elapsed())
            if verdicts != last:
                last, since = verdicts, time.monotonic()
            waiting = [v for v in verdicts if not v[1]]
            failed = any(ok is False and why != flux.DEPENDENCY_NOT_READY for _, ok, _, why in waiting)
            # Waiting on dependencies none of which is Ready: a dependsOn cycle, or a chain ending in one.
            ready_keys = {key for key, ok, _, _ in verdicts if ok}
            deadlock = bool(waiting) and all(
                ok is False and why == flux.DEPENDENCY_NOT_READY and not ready_keys & set(flux.dependencies(by_key[key]))
                for key, ok, _, why in waiting
            )
            settled = (failed or deadlock) and time.monotonic() - since >= SETTLE
            stalled = any(c["type"] == "Stalled" and c["status"] == "True" for o in objs for c in o.get("status", {}).get("conditions", []))
            # The cluster folder's Kustomization applies the others: all Ready before they exist is not the end.
            if (verdicts and not waiting and len(verdicts) > 1) or settled or stalled or time.monotonic() > deadline:
                break
            time.sleep(POLL)
        for o in sorted(objs, key=_key):
            ok, message = flux.ready(o)
            when = f"Ready after {became[_key(o)]:.1f} s" if ok else f"not Ready after {self.elapsed():.1f} s"
            applied = len(o.get("status", {}).get("inventory", {}).get("entries", []) or [])
            detail = f"; {applied} objects applied" if o["kind"] == "Kustomization" and ok else ""
            self.results.append(Result(ENGINE, _source_file(o), bool(ok), f"{_key(o)}: {when}{detail}: {message}"))

    def _probe(self, inv: Inventory, kubectl: Kubectl) -> list[dict[str, Any]]:
        """Apply one LoadBalancer Service per pool and wait (bounded) for their addresses."""
        services = checks.probe_services(inv)
        kubectl.apply(yamlio.dump_all(services))
        start = time.monotonic()
        live: list[dict[str, Any]] = []
        while time.monotonic() - start < 60:
            live = [kubectl.get("service", s["metadata"]["name"], "default") or {} for s in services]
            if all(s.get("status", {}).get("loadBalancer", {}).get("ingress") for s in live):
                break
            time.sleep(POLL)
        return live

    def _update(self, inv: Inventory, served: gitrepo.ServedRepository, kubectl: Kubectl, daemons: Daemons, charts: Path,
                chart_url: str, git_url: str, operator: Daemon) -> None:
        """Change cluster.yaml, render, commit, and show the engine converges to it with nothing
        else changed: a pool more, and (when a patch release is pinned) Cilium's version bumped,
        its chart served beside the offline cache's, the release upgraded and rolled out, the
        operator restarted at the new version. Argo CD applies the new chart's objects itself: the
        Helm release keeps its one revision."""
        assert self.folder is not None
        argo = inv.gitops.engine == "argocd"
        inventory = argocd.inventory if argo else update.flux_inventory
        bump = toolpins.cilium_bump(inv.cilium.version)
        change = update.changed_repository(self.repo, inv, self.folder / "updated", bump)
        release_before = bootstrap.helm_manifest(kubectl, self.folder, cilium_render.RELEASE_NAME, cilium_render.NAMESPACE)
        before = update.snapshot(kubectl, [*inventory(kubectl), *update.release_entries(release_before, cilium_render.NAMESPACE)])
        history_before = bootstrap.helm_history(kubectl, self.folder, cilium_render.RELEASE_NAME, cilium_render.NAMESPACE)
        if bump:
            built = toolset.cilium_chart(bump)
            bootstrap.add_chart(charts, built.archive)
            bootstrap.index_charts(charts, chart_url, bootstrap.helm_env(self.folder))
            if not argo:  # Argo CD's hard refresh below reads the index again
                flux.refetch_chart_index(kubectl, f"cilium-{bump}", UPDATE_LIMIT)
            self.notes.append(f"chart {cilium_render.CHART} {bump} for the update: packaged from {built.module} "
                              f"({toolpins.CILIUM_CHART[1]}) by {built.packaged_by}, served beside the offline cache's; "
                              "it names Cilium's own images by tag only (the release workflow adds their digests to the published chart)")
        gitrepo.refresh(served, self.folder / "updated")
        gitrepo.redirect_charts(served, cilium_render.CHART_REPOSITORY, chart_url)
        if argo:
            self._redirect_argocd(inv, served, git_url, chart_url)
        revision = served.commit(f"clusterforge rehearse: {change.description}")
        start = self.elapsed()
        if argo:
            argocd.refresh_now(kubectl)
        else:
            flux.reconcile_now(kubectl, revision)
        if not self._applied(kubectl, daemons, revision, bump, argo):
            self.results.append(Result(UPDATE, "cluster.yaml", False, f"{change.description}: commit {revision[:12]} not applied within {UPDATE_LIMIT:.0f} s"))
            return
        applied = self.elapsed()
        updated = repository.load(self.folder / "updated").inventory
        release_after = bootstrap.helm_manifest(kubectl, self.folder, cilium_render.RELEASE_NAME, cilium_render.NAMESPACE)
        chart = None
        extra: list[Result] = []
        if bump:
            chart, extra = self._upgraded(inv, kubectl, charts, history_before, bump, daemons, operator, argo)
        entries = {*inventory(kubectl), *update.release_entries(release_before, cilium_render.NAMESPACE),
                   *update.release_entries(release_after, cilium_render.NAMESPACE)}
        after = update.snapshot(kubectl, sorted(entries))
        changes = list(dict.fromkeys(update.differences(before, after)))  # an object in both inventories once
        explained, problems = update.explain(changes, update.rendered_changes(self.repo, self.folder / "updated"), chart, bump)
        history = bootstrap.helm_history(kubectl, self.folder, cilium_render.RELEASE_NAME, cilium_render.NAMESPACE)
        helm_untouched = argo or not bump
        if helm_untouched and len(history) != len(history_before):
            problems.append(f"the Cilium release got {len(history) - len(history_before)} new revision(s)")
        engine_objects = "Application" if argo else "Kustomization"
        lines = [change.description, f"commit {revision[:12]} applied by every {engine_objects} {applied - start:.1f} s after the push",
                 f"what changed in the cluster (the {engine_objects}s' objects and the Helm release's):", *(f"  {c}" for c in explained or ["nothing"]),
                 f"Helm release cilium: {len(history)} revisions (unchanged)" if helm_untouched else "", *problems]
        self.results.append(Result(UPDATE, "cluster.yaml", not problems, "\n".join(line for line in lines if line)))
        self.results += extra
        self.results += checks.lb_addresses(updated, self._probe(updated, kubectl), self.elapsed(), check=UPDATE)

    def _applied(self, kubectl: Kubectl, daemons: Daemons, revision: str, bump: str | None, argo: bool) -> bool:
        """Wait until every Kustomization (Application) applied the commit and is Ready (Synced and
        Healthy) and, with a bump, the HelmRelease is Ready at the new chart version."""
        deadline = time.monotonic() + UPDATE_LIMIT
        while time.monotonic() < deadline:
            daemons.check_alive()
            if argo:
                apps = kubectl.items(argocd.APPLICATIONS)
                done = all(revision in argocd.revisions(a) and argocd.verdict(a)[0] for a in apps)
                if done and bump:
                    done = any(a["metadata"]["name"] == cilium_render.RELEASE_NAME and bump in argocd.revisions(a) for a in apps)
            else:
                done = all(k.get("status", {}).get("lastAppliedRevision", "").endswith(revision) and flux.ready(k)[0]
                           for k in kubectl.items("kustomizations.kustomize.toolkit.fluxcd.io"))
            if done and bump and not argo:
                release = kubectl.get("helmrelease", cilium_render.RELEASE_NAME, cilium_render.NAMESPACE) or {}
                done = release.get("status", {}).get("lastAttemptedRevision") == bump and bool(flux.ready(release)[0])
            if done:
                return True
            time.sleep(POLL)
        return False

    def _upgraded(self, inv: Inventory, kubectl: Kubectl, charts: Path, history_before: list[dict[str, Any]], bump: str,
                  daemons: Daemons, operator: Daemon, argo: bool) -> tuple[update.ChartChanges, list[Result]]:
        """The release upgraded to the bumped chart with the same values (Flux; Argo CD leaves the
        release alone), its workloads rolled out at the new images, the operator restarted at the
        new version; what the chart changes."""
        assert self.folder is not None
        name, namespace = cilium_render.RELEASE_NAME, cilium_render.NAMESPACE
        history = bootstrap.helm_history(kubectl, self.folder, name, namespace)
        if argo:  # the Application renders the chart with the values file; the release keeps the bootstrap's
            values_before = load_yaml((self.folder / "updated" / layout.CILIUM_VALUES).read_text())
            results = []
        else:
            values_before = bootstrap.helm_values(kubectl, self.folder, name, namespace, revision=history_before[-1]["revision"])
            values_after = bootstrap.helm_values(kubectl, self.folder, name, namespace, revision=history[-1]["revision"])
            results = [checks.release_upgraded(history, name, namespace, bump, values_before, values_after, UPDATE)]

        def template(version: str) -> str:
            return bootstrap.helm_template(self.folder, charts / f"{cilium_render.CHART}-{version}.tgz", name, namespace,
                                           values_before, inv.kubernetes.version)

        old, new = template(inv.cilium.version), template(bump)
        chart = update.chart_changes(old, template(inv.cilium.version), new, namespace)
        workloads = [(kind, workload) for verb, kind, workload in (c.split(" ") for c in chart.by_version)
                     if verb == "changed" and kind in ("DaemonSet", "Deployment")]
        for kind, workload in workloads:
            kubectl("rollout", "status", "--namespace", namespace, f"{kind.lower()}/{workload}", f"--timeout={UPDATE_LIMIT:.0f}s", timeout=UPDATE_LIMIT + 30)
        live = [kubectl.get(kind.lower(), workload, namespace) or {} for kind, workload in workloads]
        # What sets the chart's version: the HelmRelease, or Argo CD's Cilium Application.
        source = argocd.source_file({"metadata": {"name": name}}) if argo else f"{layout.CILIUM_DIR}/helmrelease.yaml"
        results += checks.rollouts(live, update.manifest_objects(new), kubectl.items("pods", namespace), bump, UPDATE, source)
        # The operator runs out of cluster, for its Deployment's pod: the new pod replaces the old.
        old_pid = operator.process.pid
        daemons.stop(operator)
        restarted = cilium.start(daemons, kubectl, inv, self.folder, version=bump)
        results.append(Result(UPDATE, source, True,
                              f"cilium-operator {inv.cilium.version} (pid {old_pid}) stopped, {bump} (pid {restarted.process.pid}, "
                              f"{toolpins.cilium_operator_binary(bump)}) running and healthy after {self.elapsed():.1f} s: the rehearsal runs "
                              "the operator as a local process standing for the Deployment cilium-operator's pod; the probe Services below "
                              "are created after the restart"))
        return chart, results

    def _assert(self, inv: Inventory, served: gitrepo.ServedRepository, kubectl: Kubectl, installed: list[dict[str, Any]]) -> None:
        """`installed`: the objects of the bootstrap's Helm release before Argo CD started (none with Flux)."""
        if not all(r.ok for r in self.results):
            return  # the checks below read what the engine applied
        if inv.gitops.engine == "argocd":
            live = bootstrap.release_objects(kubectl, self.folder, cilium_render.RELEASE_NAME, cilium_render.NAMESPACE)
            history = bootstrap.helm_history(kubectl, self.folder, cilium_render.RELEASE_NAME, cilium_render.NAMESPACE)
            self.results.append(checks.application_adoption(installed, live, history, cilium_render.RELEASE_NAME, argocd.TRACKING, self.elapsed()))
        elif kubectl.get("helmrelease", cilium_render.RELEASE_NAME, cilium_render.NAMESPACE) is not None:
            history = bootstrap.helm_history(kubectl, self.folder, cilium_render.RELEASE_NAME, cilium_render.NAMESPACE)
            values_file = load_yaml((served.work / layout.CILIUM_VALUES).read_text())
            adopted = bootstrap.helm_values(kubectl, self.folder, cilium_render.RELEASE_NAME, cilium_render.NAMESPACE, revision=2)
            self.results.append(checks.helm_history(history, cilium_render.RELEASE_NAME, cilium_render.NAMESPACE, values_file, adopted, self.elapsed()))
        if inv.load_balancer_pools:
            self.results += checks.lb_addresses(inv, self._probe(inv, kubectl), self.elapsed())
            self.results += checks.pools(kubectl.items("ciliumloadbalancerippools.cilium.io"))
        if inv.bgp:
            all_services = kubectl.items("services")
            self.results += checks.advertisements(kubectl.items("ciliumbgpadvertisements.cilium.io"), all_services)
            node_objs = kubectl.items("nodes")
            cluster_configs = kubectl.items("ciliumbgpclusterconfigs.cilium.io")
            start = time.monotonic()
            found = []
            while time.monotonic() - start < 60:
                found = kubectl.items("ciliumbgpnodeconfigs.cilium.io")
                if len(found) >= len(node_objs):
                    break
                time.sleep(POLL)
            verdicts = checks.node_configs(inv, node_objs, cluster_configs, found, self.elapsed())
            self.results += verdicts
            if all(r.ok for r in verdicts):
                saved = record.save(self.repo, found)
                self.notes.append(f"CiliumBGPNodeConfig objects saved for `clusterforge simulate`: {saved}")

    def keep_instructions(self, daemons: Daemons) -> str:
        lines = [f"kept: the rehearsal's files are in {self.folder}", f"  export KUBECONFIG={self.folder}/kubeconfig"]
        lines += [f"  {d.name}: pid {d.process.pid}, log {d.log}" for d in daemons.running]
        pids = " ".join(f"-{d.process.pid}" for d in daemons.running)
        lines.append(f"remove it all: kill -- {pids}; rm -rf {self.folder}" if pids else f"remove it: rm -rf {self.folder}")
        lines.append("(the git and chart servers stopped with this command: the engine's next fetch fails)")
        return "\n".join(lines)


def _key(obj: dict[str, Any]) -> str:
    return f"{obj['kind']} {obj['metadata'].get('namespace', '')}/{obj['metadata']['name']}"


def _source_file(obj: dict[str, Any]) -> str:
    if obj["kind"] == "HelmRelease":
        return f"{layout.CILIUM_DIR}/helmrelease.yaml"
    return "cluster.yaml"


def rehearse_command(repo: Path, fmt: str, keep: bool, out: TextIO, err: TextIO | None = None, verbose: bool = False) -> int:
    from ..validate import report

    results = Rehearsal(repo, keep).run(err or sys.stderr)
    out.write(report.render(results, fmt, verbose=verbose))
    return report.exit_code(results)
