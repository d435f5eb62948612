"""The Python side of the `cookiecutter-cluster` template.

Cookiecutter runs the template's hooks with this interpreter, so they import
this module: the pre-generation hook turns the answers (or an inventory given
verbatim) into cluster.yaml, built as data and checked exactly as `clusterforge
check` checks a file; the post-generation hook renders the repository, writes
the skeleton files that are YAML or JSON data, and optionally makes the first
commit. A hook that fails exits with the CLI's code and messages, and
cookiecutter removes the half-made project folder.
"""

from __future__ import annotations

import ipaddress
import json
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from jinja2 import Environment
from jinja2.ext import Extension

from . import __version__, cli, loader, repo, tools, writer, yamlio
from .errors import ClusterforgeError, InventoryError, Problem
from .model import Inventory
from .render import layout
from .toolpins import DEBIAN_TOOLS

ANSWERS = "answers"  # the source named in messages about an answer that cannot become cluster.yaml

# role -> (answer prefix, node name prefix), in the order nodes are listed.
ROLES = {
    "control-plane": ("control_plane", "cp"),
    "worker": ("worker", "worker"),
    "loadbalancer": ("load_balancer", "haproxy"),
}

WORKFLOW = ".github/workflows/validate.yaml"
PRE_COMMIT = ".pre-commit-config.yaml"
RENOVATE = "renovate.json"
SOPS = ".sops.yaml"
NOXFILE = "noxfile.py"


class VersionExtension(Extension):
    """Gives the template `clusterforge_version`: the generated repo pins the version that made it."""

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        environment.globals["clusterforge_version"] = __version__


# --- answers -> inventory ------------------------------------------------------


def inventory_text(answers: Mapping[str, Any]) -> str:
    return yamlio.dump(inventory_data(answers))


def inventory_data(answers: Mapping[str, Any]) -> dict[str, Any]:
    """The inventory the answers describe, as plain data in cluster.yaml's key order.

    Only answers that cannot even be put into the data (a count that is not a
    number, a malformed node list) are reported here; everything else is left
    to the loader and the rules, which name the cluster.yaml line and field.
    """
    problems: list[Problem] = []
    hosts = _list(answers["hosts"])
    if not hosts:
        problems.append(Problem(0, "hosts", "name at least one hypervisor host", ANSWERS))
    explicit = str(answers["explicit_nodes"]).strip()
    nodes = _explicit_nodes(explicit, problems) if explicit else _counted_nodes(answers, hosts, problems)
    bgp = _bgp(answers, problems) if answers["router_kind"] != "none" else None
    if problems:
        raise InventoryError(problems)
    data: dict[str, Any] = {
        "name": answers["cluster_name"],
        "kubernetes": {
            "version": answers["kubernetes_version"],
            "podCIDR": answers["pod_cidr"],
            "serviceCIDR": answers["service_cidr"],
        },
        "network": {
            "subnet": answers["node_subnet"],
            "gateway": answers["gateway"],
            "dns": _list(answers["dns_servers"]),
            "domain": answers["domain"],
            "interface": answers["interface"],
        },
        "apiServer": {"vip": answers["api_vip"], "port": 6443},
        "hosts": [{"name": host} for host in hosts],
        "nodes": nodes,
        "ssh": {"user": answers["ssh_user"], "authorizedKeys": _list(answers["ssh_authorized_keys"])},
        "cilium": {
            "version": answers["cilium_version"],
            "routingMode": answers["cilium_routing_mode"],
            "kubeProxyReplacement": True,
            "hubble": True,
        },
    }
    if bgp:
        data["bgp"] = bgp
    if pool := str(answers["lb_pool"]).strip():
        data["loadBalancerPools"] = [{"name": "default", "cidr": pool}]
    data["gitops"] = {"engine": answers["gitops_engine"], "repository": answers["git_repository"], "branch": answers["git_branch"]}
    data["docs"] = {"language": answers["docs_language"]}
    if recipients := _list(answers["age_recipients"]):
        data["secrets"] = {"ageRecipients": recipients}
    return data


def _bgp(answers: Mapping[str, Any], problems: list[Problem]) -> dict[str, Any]:
    """One router peer announcing the LoadBalancer IPs."""
    peer = {
        "name": answers["router_name"],
        "address": answers["router_address"],
        "asn": _integer(answers, "router_asn", problems),
        "router": answers["router_kind"],
    }
    local_asn = _integer(answers, "local_asn", problems)
    return {"localASN": local_asn, "peers": [peer], "advertise": {"loadBalancerIPs": True, "podCIDRs": False}}


def _list(answer: object) -> list[str]:
    """A comma-separated answer as its items."""
    return [item.strip() for item in str(answer).split(",") if item.strip()]


def _integer(answers: Mapping[str, Any], key: str, problems: list[Problem], minimum: int = 0) -> int:
    text = str(answers[key]).strip()
    if text.isascii() and text.isdigit() and int(text) >= minimum:
        return int(text)
    problems.append(Problem(0, key, f"{text!r} is not a whole number of at least {minimum}", ANSWERS))
    return minimum


def _counted_nodes(answers: Mapping[str, Any], hosts: list[str], problems: list[Problem]) -> list[dict[str, str]]:
    """cp1..N, worker1..N, haproxy1..N: addresses counted up from each role's first
    address by its step, hosts assigned round-robin within each role."""
    nodes = []
    for role, (key, prefix) in ROLES.items():
        count = _integer(answers, f"{key}_count", problems)
        step = _integer(answers, f"{key}_ip_step", problems, minimum=1)
        try:
            first = ipaddress.IPv4Address(str(answers[f"{key}_first_ip"]).strip())
        except ipaddress.AddressValueError as exc:
            problems.append(Problem(0, f"{key}_first_ip", f"not an IPv4 address: {exc}", ANSWERS))
            continue
        last = int(first) + (count - 1) * step
        if count and last > int(ipaddress.IPv4Address("255.255.255.255")):
            problems.append(Problem(0, f"{key}_count", f"{count} addresses {step} apart from {first} run past 255.255.255.255", ANSWERS))
            continue
        for index in range(count):
            host = hosts[index % len(hosts)] if hosts else ""
            nodes.append({"name": f"{prefix}{index + 1}", "role": role, "ip": str(first + index * step), "host": host})
    return nodes


def _explicit_nodes(spec: str, problems: list[Problem]) -> list[dict[str, str]]:
    """`name:role:ip:host,...` -> nodes; role and address are checked by the model."""
    nodes = []
    for index, item in enumerate(_list(spec)):
        parts = [part.strip() for part in item.split(":")]
        if len(parts) != 4 or not all(parts):
            problems.append(Problem(0, f"explicit_nodes[{index}]", f"{item!r} is not name:role:ip:host", ANSWERS))
            continue
        name, role, ip, host = parts
        nodes.append({"name": name, "role": role, "ip": ip, "host": host})
    return nodes


# --- skeleton files ------------------------------------------------------------


def skeleton_files(inv: Inventory) -> dict[str, str]:
    """The repository's own tooling that is data (the noxfile is a template file)."""
    files = {WORKFLOW: workflow(inv), PRE_COMMIT: pre_commit_config(), RENOVATE: renovate_config()}
    if inv.secrets.age_recipients:
        files[SOPS] = sops_config(inv)
    return files


def workflow(inv: Inventory) -> str:
    """GitHub Actions: build the pinned tools (cached), then the repo's own nox sessions."""
    packages = sorted(tool.apt for tool in DEBIAN_TOOLS.values() if not tool.optional)
    steps = [
        # The job needs no token after the checkout: none is left in .git/config for the tools it runs.
        {"uses": "actions/checkout@v5", "with": {"persist-credentials": False}},
        {"uses": "actions/setup-python@v6", "with": {"python-version": "3.11"}},
        # `nox -s tools` builds the tools with Go (GoBGP and age have no checked download); there is no go.sum to key setup-go's own cache on.
        {"uses": "actions/setup-go@v6", "with": {"go-version": "stable", "cache": False}},
        {
            "name": "Cache the pinned tools, charts and schemas",
            "uses": "actions/cache@v4",
            "with": {
                "path": "~/.cache/clusterforge\n",  # tools/bin (clusterforge tools install), charts, schemas
                "key": "clusterforge-${{ runner.os }}-${{ hashFiles('noxfile.py', 'cluster.yaml') }}",
                "restore-keys": "clusterforge-${{ runner.os }}-",
            },
        },
        {
            "name": "Install the daemons whose own checkers validate the configs",
            "run": f"sudo apt-get update -qq\nsudo apt-get install -y -qq --no-install-recommends {' '.join(packages)}\n",
        },
        {"run": "pipx run nox -s tools render_check validate"},
    ]
    return yamlio.dump(
        {
            "name": "validate",
            "on": {"push": {"branches": [inv.gitops.branch]}, "pull_request": None},
            "permissions": {"contents": "read"},
            "jobs": {"validate": {"runs-on": "ubuntu-24.04", "steps": steps}},
        }
    )


def pre_commit_config() -> str:
    """Local hooks running the clusterforge on PATH (`unsupported`, formerly `system`: pre-commit
    provides no environment); CI runs the pinned one through nox."""

    def hook(hook_id: str, name: str, entry: str) -> dict[str, Any]:
        return {"id": hook_id, "name": name, "entry": entry, "language": "unsupported", "pass_filenames": False, "always_run": True}

    hooks = [
        hook("clusterforge-render-check", "rendered files match cluster.yaml", "clusterforge render --check"),
        # --strict: a commit is never checked with a daemon missing (install it, or skip the hook).
        hook("clusterforge-validate", "the real tools accept the rendered files", "clusterforge validate --strict"),
    ]
    return yamlio.dump({"minimum_pre_commit_version": "4.4.0", "repos": [{"repo": "local", "hooks": hooks}]})


def renovate_config() -> str:
    """Renovate bumps the versions in cluster.yaml and the clusterforge pin (which pins every
    tool); its built-in github-actions manager keeps the workflow's actions current."""

    def manager(description: str, file: str, key: str, **templates: str) -> dict[str, Any]:
        # The version line anywhere inside the top-level `key:` block, quoted or not.
        match = f'(?:^|\\n){key}:\\n(?:[ \\t]+.*\\n)*?[ \\t]+version:[ \\t]*"?(?<currentValue>\\d+\\.\\d+\\.\\d+)"?'
        return {"customType": "regex", "description": description, "managerFilePatterns": [file], "matchStrings": [match], **templates}

    kubernetes = manager(
        "Kubernetes version in cluster.yaml", "/^cluster\\.yaml$/", "kubernetes",
        datasourceTemplate="github-releases", depNameTemplate="kubernetes/kubernetes", extractVersionTemplate="^v(?<version>.+)$",
    )
    cilium = manager(
        "Cilium version in cluster.yaml", "/^cluster\\.yaml$/", "cilium",
        datasourceTemplate="helm", registryUrlTemplate="https://helm.cilium.io", depNameTemplate="cilium",
    )
    clusterforge = {
        "customType": "regex",
        "description": "clusterforge (and with it the pinned tools) in noxfile.py",
        "managerFilePatterns": ["/^noxfile\\.py$/"],
        "matchStrings": ['"clusterforge==(?<currentValue>[^"]+)"'],
        "datasourceTemplate": "pypi",
        "depNameTemplate": "clusterforge",
    }
    config = {
        "$schema": "https://docs.renovatebot.com/renovate-schema.json",
        "extends": ["config:recommended"],
        "customManagers": [kubernetes, cilium, clusterforge],
        # A new Kubernetes minor is an upgrade on the machines (kubeadm upgrade): ask first.
        "packageRules": [{"matchDepNames": ["kubernetes/kubernetes"], "matchUpdateTypes": ["major", "minor"], "dependencyDashboardApproval": True}],
    }
    return json.dumps(config, indent=2) + "\n"


def sops_config(inv: Inventory) -> str:
    """So `sops edit` and `sops updatekeys` use the recipients cluster.yaml names."""
    secrets_file = layout.SECRETS_FILE.replace(".", "\\.")
    rule = {"path_regex": f"(^|/){secrets_file}$", "age": ",".join(inv.secrets.age_recipients)}
    return yamlio.dump({"creation_rules": [rule]})


# --- hooks ---------------------------------------------------------------------


def pre_gen(context: Mapping[str, Any], project_dir: Path) -> int:
    """Write cluster.yaml into the new project folder, or report why not (exit 2)."""
    try:
        text = context["_inventory"] or inventory_text(context)
        checked = loader.check_text(text, layout.INVENTORY)
        for warning in checked.warnings:
            print(f"warning: {warning}", file=sys.stderr)
        with _reported_as_error():
            repo.write_inventory(project_dir, text)
    except ClusterforgeError as exc:
        return cli.report_error(exc, sys.stderr)
    return 0


def post_gen(context: Mapping[str, Any], project_dir: Path) -> int:
    """Render the repository, add the skeleton files, and commit when asked."""
    try:
        with _reported_as_error():
            plan = repo.render_repo(project_dir)
            inv = repo.load(project_dir).inventory
            with writer.session(project_dir) as disk:
                for rel, text in skeleton_files(inv).items():
                    disk.write_file(rel, text)
            if context["git_init"]:
                first_commit(project_dir)
    except ClusterforgeError as exc:
        return cli.report_error(exc, sys.stderr)
    print(f"rendered {len(plan.create)} files for cluster {inv.name}", file=sys.stderr)
    return 0


@contextmanager
def _reported_as_error() -> Iterator[None]:
    """A hook's own process has no CLI around it: the system's refusal (a path too long,
    a full disk) becomes a message like every other, never a traceback."""
    try:
        yield
    except OSError as exc:
        raise ClusterforgeError(f"cannot write {exc.filename}: {exc.strerror}") from None


def first_commit(project_dir: Path) -> None:
    """`git init` and commit everything; the rendered .gitignore keeps the secrets file out."""
    tools.run(["git", "init", "--quiet"], cwd=project_dir)
    tools.run(["git", "add", "--all"], cwd=project_dir)
    tools.run(["git", "commit", "--quiet", "-m", f"Initial cluster repository (clusterforge {__version__})"], cwd=project_dir)
