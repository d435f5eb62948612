"""Crash injection: `render` and `new` killed (os._exit in a forked child) just
before and just after each rename and each write they make, for every such point.
Each time, the files on disk must keep every secret in files git ignores (and
private), and running the command again must converge on the complete repository
with no temporary left over."""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from generator import cli, repo, yamlio
from generator.errors import ClusterforgeError
from generator.render import layout

from .writer_support import files, git, git_init, new_repo

KILLED = 137
SECRETS_HEADER = b"# Secrets of this cluster"
# The smallest cluster: one control plane, Argo CD, no BGP (14 rendered files).
TINY = """\
name: tiny
kubernetes: {version: "1.35.4", podCIDR: 10.244.0.0/16, serviceCIDR: 10.96.0.0/12}
network: {subnet: 192.168.100.0/24, gateway: 192.168.100.1, dns: [192.168.100.1], domain: home.arpa, interface: ens160}
apiServer: {vip: 192.168.100.4, port: 6443}
hosts: [{name: nuc1}]
nodes:
  - {name: cp1, role: control-plane, ip: 192.168.100.11, host: nuc1}
ssh:
  user: ubuntu
  authorizedKeys: [ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeKeyForTheExampleOnlyDoNotUse000000 admin@desktop]
cilium: {version: 1.19.6, routingMode: tunnel, kubeProxyReplacement: true, hubble: true}
gitops: {engine: argocd, repository: "ssh://git@github.com/example/tiny.git", branch: main}
"""
# Flux instead of Argo CD (files created and removed), a second node, and a BGP peer
# with a password (the secrets file is rewritten).
TINY_CHANGED = TINY.replace("engine: argocd", "engine: flux").replace(
    "  - {name: cp1, role: control-plane, ip: 192.168.100.11, host: nuc1}\n",
    "  - {name: cp1, role: control-plane, ip: 192.168.100.11, host: nuc1}\n"
    "  - {name: w1, role: worker, ip: 192.168.100.21, host: nuc1}\n",
) + """\
bgp:
  localASN: 64512
  peers: [{name: tor, address: 192.168.100.1, asn: 65001, router: frr, authSecretRef: bgp-tor}]
  advertise: {loadBalancerIPs: true, podCIDRs: false}
loadBalancerPools: [{name: default, cidr: 192.168.101.0/24}]
"""


def run_killed(action: Callable[[], int], point: int | None, when: str) -> tuple[int, int]:
    """Run `action` in a forked child that dies (exit KILLED, no cleanup) just `when`
    ("before"/"after") its `point`-th call of os.replace or os.write. Returns the
    child's exit status and, when it was not killed, how many such calls it made."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        try:
            os.close(read_end)
            calls = 0
            real_replace, real_write = os.replace, os.write

            def dies_around(real):
                def call(*args, **kwargs):
                    nonlocal calls
                    calls += 1
                    if calls == point and when == "before":
                        os._exit(KILLED)
                    result = real(*args, **kwargs)
                    if calls == point and when == "after":
                        os._exit(KILLED)
                    return result

                return call

            os.replace, os.write = dies_around(real_replace), dies_around(real_write)
            code = action()
            os.replace, os.write = real_replace, real_write
            os.write(write_end, str(calls).encode())
            os._exit(code)
        except BaseException:  # noqa: BLE001 - any escape is a failure the parent reports
            os._exit(99)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        reported = pipe.read()
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), int(reported or 0)


def secret_values(root: Path) -> set[str]:
    """Every secret value in any secrets file or temporary below root (ignored or not)."""
    values = set()
    for path in _regular_files(root):
        data = path.read_bytes()
        if data.startswith(SECRETS_HEADER):
            loaded = yamlio.loader().load(data.decode())
            values |= {loaded["bootstrapToken"], loaded["certificateKey"], *loaded["bgpPasswords"].values()}
    return values


def _regular_files(root: Path) -> list[Path]:
    found = []
    for folder, dirs, names in os.walk(root):
        dirs[:] = [d for d in dirs if d != ".git"]
        found += [Path(folder, n) for n in names if stat.S_ISREG(Path(folder, n).lstat().st_mode)]
    return found


def assert_secrets_kept_out_of_git(work_tree: Path) -> None:
    """Files holding secrets are ignored by git and private; no file git would add holds one."""
    for path in _regular_files(work_tree):
        if path.read_bytes().startswith(SECRETS_HEADER):
            assert git(work_tree, "check-ignore", "-q", str(path), ok=(0, 1)).returncode == 0, f"{path} is not ignored"
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, f"{path} is readable by others"
    values = secret_values(work_tree)
    listed = git(work_tree, "ls-files", "-z", "--others", "--cached", "--exclude-standard").stdout
    for rel in filter(None, listed.split("\0")):
        text = (work_tree / rel).read_bytes().decode(errors="replace")
        assert not [v for v in values if v in text], f"{rel}, which git would add, holds a secret"


def kill_points(action: Callable[[], int]) -> list[tuple[int, str]]:
    code, calls = run_killed(action, None, "before")
    assert code == 0 and calls > 0
    return [(point, when) for point in range(1, calls + 1) for when in ("before", "after")]


def test_killed_render_keeps_secrets_ignored_and_converges(tmp_path):
    base = new_repo(tmp_path / "base", TINY)
    git_init(base)
    (base / "cluster.yaml").write_text(repo.SCHEMA_LINE + TINY_CHANGED)
    reference = shutil.copytree(base, tmp_path / "reference", symlinks=True)
    assert cli.main(["render", "-C", str(reference)]) == 0
    expected = sorted(files(reference))

    lab = shutil.copytree(base, tmp_path / "lab", symlinks=True)

    def render() -> int:
        return cli.main(["render", "-C", str(lab)])

    points = kill_points(render)
    assert len(points) > 40
    for point, when in points:
        shutil.rmtree(lab)
        shutil.copytree(base, lab, symlinks=True)
        assert run_killed(render, point, when)[0] == KILLED
        assert_secrets_kept_out_of_git(lab)
        assert cli.main(["render", "-C", str(lab)]) == 0, (point, when)
        assert cli.main(["render", "-C", str(lab), "--check"]) == 0, (point, when)
        assert sorted(files(lab)) == expected, (point, when)
        assert_secrets_kept_out_of_git(lab)


@pytest.mark.parametrize("command", ["new", "new-with-template"])
def test_killed_new_keeps_secrets_ignored_and_converges(tmp_path, command):
    """`new` inside a git work tree (a monorepo of clusters): whatever it leaves is ignored;
    a second `new` finishes the job or finds it done, and removes what the first left."""
    work = tmp_path / "work"
    work.mkdir()
    git_init(work)
    inventory = tmp_path / "cluster.yaml"
    inventory.write_text(TINY)
    dest = work / "lab"

    def new() -> int:
        if command == "new-with-template":  # renders in the template's hook: only the move into place is a kill point
            return cli.main(["new", str(dest), "--inventory", str(inventory)])
        try:  # in-process: every write of the rendering is a kill point
            repo.new(dest, TINY)
        except ClusterforgeError as exc:
            return exc.exit_code
        return 0

    assert new() == 0
    expected = sorted(files(dest))
    shutil.rmtree(dest)
    for point, when in kill_points(new):
        shutil.rmtree(dest, ignore_errors=True)
        assert run_killed(new, point, when)[0] == KILLED
        assert_secrets_kept_out_of_git(work)
        done = dest.exists()  # killed after the repository was moved into place
        assert new() == (2 if done else 0), (point, when)
        assert cli.main(["render", "-C", str(dest), "--check"]) == 0, (point, when)
        assert sorted(files(dest)) == expected, (point, when)
        assert sorted(p.name for p in work.iterdir()) == [".git", "lab"], (point, when)
        assert_secrets_kept_out_of_git(work)
