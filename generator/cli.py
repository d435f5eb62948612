"""The `clusterforge` command. One handler turns ClusterforgeError into a message
and its exit code; only --debug shows a traceback."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from collections.abc import Callable, Sequence
from importlib import resources
from pathlib import Path
from typing import TextIO

from typing import TYPE_CHECKING

from .errors import ClusterforgeError, InventoryError
from .toolpins import KUBERNETES_VERSION
from .validate.report import FORMATS

if TYPE_CHECKING:
    from .model import Inventory

# Each command imports what it needs when it runs: `check` must not pay for the validators,
# nor a warm `validate` for the model (see validate/commands.py).
CATALOG_URL = "https://raw.githubusercontent.com/datreeio/CRDs-catalog/main"  # caches.CATALOG_URL (a test holds them equal)

Handler = Callable[[argparse.Namespace, TextIO], int]


def example_text() -> str:
    return resources.files("generator").joinpath("data/cluster.example.yaml").read_text(encoding="utf-8")


def cmd_example(args: argparse.Namespace, out: TextIO) -> int:
    out.write(example_text())
    return 0


def cmd_schema(args: argparse.Namespace, out: TextIO) -> int:
    from .render import meta

    out.write(json.dumps(meta.inventory_schema(), indent=2, sort_keys=True) + "\n")
    return 0


def cmd_check(args: argparse.Namespace, out: TextIO) -> int:
    from . import loader

    checked = loader.check_file(Path(args.file))
    for warning in checked.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    print(summary(checked.inventory, Path(args.file)), file=out)
    return 0


def summary(inv: Inventory, path: Path) -> str:
    bgp = "off"
    if inv.bgp:
        peers = ", ".join(
            f"{p.name} {p.address} AS{p.asn} ({'iBGP' if p.asn == inv.bgp.local_asn else 'eBGP'}, {p.router})" for p in inv.bgp.peers
        )
        bgp = f"AS{inv.bgp.local_asn} to {peers}"
    pools = ", ".join(f"{p.name} {p.cidr}" for p in inv.load_balancer_pools) or "none"
    lines = [
        f"{path}: cluster {inv.name} is valid",
        f"  Kubernetes {inv.kubernetes.version}  pods {inv.kubernetes.pod_cidr}  services {inv.kubernetes.service_cidr}",
        f"  API        {inv.api_endpoint} ({inv.api_dns_name})",
        f"  nodes      {len(inv.control_planes)} control planes, {len(inv.workers)} workers, {len(inv.loadbalancers)} load balancers on {len(inv.hosts)} hosts",
        f"  network    {inv.network.subnet} via {inv.network.gateway} on {inv.network.interface}",
        f"  Cilium     {inv.cilium.version}, {inv.cilium.routing_mode} routing, kube-proxy replacement {'on' if inv.cilium.kube_proxy_replacement else 'off'}",
        f"  BGP        {bgp}",
        f"  LB pools   {pools}",
        f"  GitOps     {inv.gitops.engine} from {inv.gitops.repository} ({inv.gitops.branch})",
    ]
    return "\n".join(lines)


def cmd_render(args: argparse.Namespace, out: TextIO) -> int:
    from . import repo

    directory = Path(args.directory)
    plan = repo.render_repo(directory, check=args.check, force=args.force)
    if args.check:
        for path in plan.stale:
            print(f"stale: {path}", file=out)
        print(f"{len(plan.stale)} stale file(s)" if plan.stale else "up to date", file=out)
        return 1 if plan.stale else 0
    _report_plan(plan, out)
    return 0


def _report_plan(plan, out: TextIO) -> None:
    for label, paths in (("created", plan.create), ("updated", plan.update), ("removed", plan.remove), ("forced", plan.conflicts)):
        for path in paths:
            print(f"{label:>8} {path}", file=out)
    print(f"{len(plan.create)} created, {len(plan.update)} updated, {len(plan.remove)} removed, {len(plan.unchanged)} unchanged", file=out)


def cmd_plan(args: argparse.Namespace, out: TextIO) -> int:
    from . import plan

    result = plan.plan(Path(args.directory))
    if not result.diff:
        print("nothing to change: the repository is what cluster.yaml renders to", file=out)
        return 0
    out.write(result.diff)
    print("\nThen, outside git:" if result.steps else "\nNothing to do outside git.", file=out)
    for number, step in enumerate(result.steps, 1):
        print(f"{number}. {step}", file=out)
    for path in plan.write_runbooks(Path(args.directory), result):
        print(f"runbook written: {path}", file=out)
    return 0


def cmd_new(args: argparse.Namespace, out: TextIO) -> int:
    from . import loader, repo
    from .render import layout

    text, source = None, layout.INVENTORY
    if args.inventory:
        text, source = loader.read_text(Path(args.inventory)), Path(args.inventory).name
    elif args.example:
        text = example_text()
    dest = Path(args.directory)
    repo.scaffold(dest, inventory_text=text, source=source, no_input=args.no_input, git_init=args.git_init)
    files = sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file() and ".git" not in p.relative_to(dest).parts)
    for path in files:
        print(f"  {path}", file=out)
    print(f"new cluster repository in {dest}: {len(files)} files", file=out)
    return 0


def cmd_seed(args: argparse.Namespace, out: TextIO) -> int:
    from . import repo

    for path in repo.write_seed(Path(args.directory), args.node, Path(args.outdir), iso=args.iso):
        print(path, file=out)
    return 0


def cmd_bgp_secrets(args: argparse.Namespace, out: TextIO) -> int:
    from . import repo

    out.write(repo.bgp_secret_manifests(Path(args.directory)))
    return 0


def cmd_validate(args: argparse.Namespace, out: TextIO) -> int:
    from .validate import commands as validate_commands

    dirs = [Path(d) for d in args.repositories] or [Path(args.directory)]
    return validate_commands.validate_many(dirs, args.format, args.no_cache, out, args.strict, args.verbose)


def cmd_simulate(args: argparse.Namespace, out: TextIO) -> int:
    from .simulate import run as simulate  # only this command needs it

    return simulate.simulate_command(Path(args.directory), args.format, args.keep, out)


def cmd_rehearse(args: argparse.Namespace, out: TextIO) -> int:
    from .rehearse import run as rehearse  # only this command needs it

    return rehearse.rehearse_command(Path(args.directory), args.format, args.keep, out, verbose=args.verbose)


def cmd_schemas_pull(args: argparse.Namespace, out: TextIO) -> int:
    from .validate import commands as validate_commands

    return validate_commands.schemas_pull(args.source, out, repo=Path(args.directory), refresh=args.refresh)


def cmd_charts_pull(args: argparse.Namespace, out: TextIO) -> int:
    from .validate import commands as validate_commands

    return validate_commands.charts_pull(Path(args.directory), args.mirror, out, refresh=args.refresh)


def cmd_explain(args: argparse.Namespace, out: TextIO) -> int:
    from .explain import answer as explain_answer

    repository = explain_answer.open_repository(Path(args.directory))
    language = args.language or (repository.inventory.docs.language if repository else "en")
    out.write(explain_answer.explain(args.target, repository, language))
    return 0


def cmd_tools_install(args: argparse.Namespace, out: TextIO) -> int:
    from .toolchain import install  # only this command needs it

    versions = install.kubernetes_versions(args.kubernetes, Path(args.directory))
    go = shutil.which("go")
    install.install(args.tools_dir or install.tools_dir(), install.pinned(versions), out, Path(go) if go else None)
    return 0


def cmd_doctor(args: argparse.Namespace, out: TextIO) -> int:
    from . import tools
    from .render import layout
    from .toolchain import install

    try:
        versions = install.kubernetes_versions(args.kubernetes, Path(args.directory))
        broken = None
    except InventoryError as exc:  # doctor still lists the tools: its verdict counts the inventory too
        versions, broken = [KUBERNETES_VERSION], exc
    statuses = tools.doctor(versions)
    width = max(len(s.name) for s in statuses)
    missing = False
    for status in statuses:
        if status.ok:
            state = "ok"
        elif status.path is None:
            state = "optional, missing" if status.optional else "MISSING"
        else:
            state = "WRONG VERSION"
        missing |= not status.ok and not status.optional
        found = status.version or "-"
        pinned = status.pinned or "any"
        line = f"{status.name:<{width}}  {state:<17} found {found:<12} pinned {pinned:<10} {status.path or ''}"
        if not status.ok:
            line += f"\n{'':<{width}}  -> {status.hint}"
        print(line.rstrip(), file=out)
    if broken is not None:
        report_error(broken, sys.stderr)
        print(f"{layout.INVENTORY} is not valid (see above): kubeadm checked for the default Kubernetes {KUBERNETES_VERSION}", file=out)
    return 1 if missing or broken is not None else 0


class _Version(argparse.Action):
    """argparse's "version" action, reading the version only when asked (see generator.__init__)."""

    def __call__(self, parser, namespace, values, option_string=None) -> None:  # type: ignore[no-untyped-def]
        from . import __version__

        print(f"clusterforge {__version__}")  # on stdout, as argparse's own action
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="clusterforge", description="One cluster.yaml in, a validated GitOps-ready cluster repository out.")
    parser.add_argument("--version", action=_Version, nargs=0, help="show the version and exit")
    parser.add_argument("--debug", action="store_true", help="show a traceback on errors")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, handler: Handler, help: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help, description=help)
        sub.set_defaults(handler=handler)
        return sub

    command("example", cmd_example, "print the reference inventory (a home lab)")
    command("schema", cmd_schema, "print the JSON Schema of cluster.yaml")
    check = command("check", cmd_check, "validate an inventory only")
    check.add_argument("file", nargs="?", default="cluster.yaml", help="inventory file (default: ./cluster.yaml)")
    new = command("new", cmd_new, "create a cluster repository with the cookiecutter template (prompts for the cluster) and render it")
    new.add_argument("directory", metavar="DIR")
    source = new.add_mutually_exclusive_group()
    source.add_argument("--inventory", metavar="FILE", help="use this cluster.yaml verbatim (no prompts)")
    source.add_argument("--example", action="store_true", help="use the reference home lab inventory (no prompts)")
    new.add_argument("--no-input", action="store_true", help="never prompt: take the template's defaults (the reference home lab)")
    new.add_argument("--git-init", action="store_true", help="make the first git commit (the secrets file stays ignored)")
    render_cmd = command("render", cmd_render, "(re)generate the repository from its cluster.yaml")
    render_cmd.add_argument("-C", dest="directory", default=".", metavar="DIR", help="repository (default: .)")
    render_cmd.add_argument("--check", action="store_true", help="change nothing; exit 1 if any file is stale")
    render_cmd.add_argument("--force", action="store_true", help="overwrite files edited by hand")
    plan_cmd = command("plan", cmd_plan, "what `render` would change, as a file diff and as operator steps")
    plan_cmd.add_argument("-C", dest="directory", default=".", metavar="DIR", help="repository (default: .)")
    seed = command("seed", cmd_seed, "build a node's NoCloud seed with its secrets (never commit the output)")
    seed.add_argument("node", metavar="NODE")
    seed.add_argument("outdir", metavar="OUTDIR")
    seed.add_argument("-C", dest="directory", default=".", metavar="DIR", help="repository (default: .)")
    seed.add_argument("--iso", action="store_true", help="also write seed.iso (needs cloud-localds or genisoimage)")
    bgp_secrets = command("bgp-secrets", cmd_bgp_secrets, "print the BGP password Secrets for `kubectl apply -f -` (never commit them)")
    bgp_secrets.add_argument("-C", dest="directory", default=".", metavar="DIR", help="repository (default: .)")
    validate = command("validate", cmd_validate, "run every validator offline and print one report")
    validate.add_argument("-C", dest="directory", default=".", metavar="DIR", help="repository (default: .)")
    validate.add_argument(
        "repositories", nargs="*", metavar="DIR",
        help="repositories to validate in one process (instead of -C); a folder without cluster.yaml: each DIR/*/ or DIR/clusters/*/ holding one",
    )
    validate.add_argument("--format", choices=FORMATS, default="text", help="report format (default: text)")
    validate.add_argument("--no-cache", action="store_true", help="run every check again (results are still stored)")
    validate.add_argument("-v", "--verbose", action="store_true", help="show every result in full, the passes too (text format)")
    validate.add_argument("--strict", action="store_true", help="fail when a check is skipped because its tool (a Debian daemon) is missing; CI uses it")
    simulate = command("simulate", cmd_simulate, "prove the cluster's network in network namespaces with the real daemons (Linux, root)")
    simulate.add_argument("-C", dest="directory", default=".", metavar="DIR", help="repository (default: .)")
    simulate.add_argument("--format", choices=FORMATS, default="text", help="report format (default: text)")
    simulate.add_argument("--keep", action="store_true", help="leave the namespaces and daemons running and print how to enter and remove them")
    rehearse = command("rehearse", cmd_rehearse, "run the bootstrap and the real GitOps controllers and Cilium operator against a local control plane")
    rehearse.add_argument("-C", dest="directory", default=".", metavar="DIR", help="repository (default: .)")
    rehearse.add_argument("--format", choices=FORMATS, default="text", help="report format (default: text)")
    rehearse.add_argument("--keep", action="store_true", help="leave the control plane and controllers running and print a kubeconfig")
    rehearse.add_argument("-v", "--verbose", action="store_true", help="show every result in full, the passes too (text format)")
    schemas_pull = _pull_command(commands, "schemas", "the CRD schema cache", "fill the CRD schema cache from a catalog folder or URL")
    schemas_pull.set_defaults(handler=cmd_schemas_pull)
    schemas_pull.add_argument("--from", dest="source", metavar="URL|DIR", help=f"catalog folder or URL (default: {CATALOG_URL})")
    schemas_pull.add_argument("-C", dest="directory", default=".", metavar="DIR", help="repository whose kinds a URL pull fetches (default: .)")
    charts_pull = _pull_command(commands, "charts", "the Helm chart cache", "download every chart the repository's releases use")
    charts_pull.set_defaults(handler=cmd_charts_pull)
    charts_pull.add_argument("-C", dest="directory", default=".", metavar="DIR", help="repository (default: .)")
    charts_pull.add_argument("--mirror", metavar="URL", help="a Helm repository serving the same charts (replaces each release's repository URL)")
    explain = command("explain", cmd_explain, "which cluster.yaml fields made a generated file or line, why, and the upstream source")
    explain.add_argument("target", nargs="?", metavar="PATH[:LINE]|TOPIC", help="a generated file (and line), or a topic; none lists the topics")
    explain.add_argument("-C", dest="directory", default=".", metavar="DIR", help="repository (default: .)")
    explain.add_argument("--language", choices=["en", "ja"], help="answer in this language (default: the repository's docs.language)")
    doctor = command("doctor", cmd_doctor, "list the external tools, their versions and how to install missing ones")
    _kubernetes_options(doctor, "check kubeadm for")
    tools_install = commands.add_parser("tools", help="the pinned external tools", description="the pinned external tools")
    tools_install = tools_install.add_subparsers(dest="action", required=True, metavar="ACTION").add_parser(
        "install",
        help="install the pinned tools and kubeadm into the per-user tools folder",
        description="install the pinned tools and kubeadm into the per-user tools folder: built from their Go modules "
        "when Go is on PATH, else the upstream release binaries checked against their published SHA-256",
    )
    tools_install.set_defaults(handler=cmd_tools_install)
    _kubernetes_options(tools_install, "install kubeadm for")
    tools_install.add_argument(
        "--dir", dest="tools_dir", type=Path, metavar="DIR",
        help="tools folder (default: $CLUSTERFORGE_TOOLS_DIR, else $XDG_CACHE_HOME/clusterforge/tools/bin)",
    )
    return parser


def _kubernetes_options(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument(
        "--kubernetes", action="append", default=[], metavar="VERSION",
        help=f"{what} this Kubernetes version (repeatable; default: the version in cluster.yaml, else {KUBERNETES_VERSION})",
    )
    parser.add_argument("-C", dest="directory", default=".", metavar="DIR", help="repository whose cluster.yaml names the version (default: .)")


def _pull_command(commands, name: str, help: str, pull_help: str) -> argparse.ArgumentParser:
    group = commands.add_parser(name, help=help, description=help)
    pull = group.add_subparsers(dest="action", required=True, metavar="ACTION").add_parser("pull", help=pull_help, description=pull_help)
    pull.add_argument("--refresh", action="store_true", help="pull again what the caches (or the package's own data) already hold")
    return pull


def report_error(exc: ClusterforgeError, err: TextIO, redact: Callable[[str], str] | None = None) -> int:
    """Print a user error as every command does (the template's hooks too) and return its exit code.
    `redact` is the last line of defence: a message may quote a tool or a file that holds a secret
    (default: the secret patterns alone)."""
    if redact is None:
        from .secrets import Redactor

        redact = Redactor()
    if isinstance(exc, InventoryError):
        for warning in exc.warnings:
            print(redact(f"warning: {warning}"), file=err)
        for problem in exc.problems:
            print(redact(str(problem)), file=err)
        print(f"{len(exc.problems)} error{'s' if len(exc.problems) != 1 else ''}", file=err)
    else:
        print(redact(f"clusterforge: {exc}"), file=err)
    return exc.exit_code


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.handler(args, out)
    except ClusterforgeError as exc:
        if args.debug:
            raise
        # The secrets of the repository the command works on, whatever it read so far.
        directory = getattr(args, "directory", None)
        from . import secrets
        from .render import layout

        redact = secrets.redactor(Path(directory) / layout.SECRETS_FILE) if directory else secrets.Redactor()
        return report_error(exc, sys.stderr, redact)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
