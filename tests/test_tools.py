from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from generator import tools
from generator.errors import ToolFailed, ToolMissing
from generator.toolpins import DEBIAN_TOOLS, GO_TOOLS, KUBERNETES_VERSION, buildinfo_version

NeedTool = Callable[..., Path]


def fake_tool(directory: Path, name: str) -> Path:
    """An executable that only says where it lives: discovery tests need no real tool."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(f"#!/bin/sh\necho {directory}\n")
    path.chmod(0o755)
    return path


@pytest.fixture
def three_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path, Path]:
    """$CLUSTERFORGE_TOOLS_DIR, a working tree's .tools/bin (cwd is a subdir of the tree), PATH."""
    env_dir, tree, path_dir = tmp_path / "env", tmp_path / "tree", tmp_path / "path"
    (tree / "sub").mkdir(parents=True)
    (tree / ".tools" / "bin").mkdir(parents=True)
    path_dir.mkdir()
    monkeypatch.setenv(tools.TOOLS_DIR_ENV, str(env_dir))
    monkeypatch.setenv("PATH", str(path_dir))
    monkeypatch.chdir(tree / "sub")
    return env_dir, tree / ".tools" / "bin", path_dir


def test_discovery_order(three_dirs: tuple[Path, Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    env_dir, tree_bin, path_dir = three_dirs
    for d in three_dirs:
        fake_tool(d, "cf-fake-tool")
    assert tools.find_tool("cf-fake-tool") == env_dir / "cf-fake-tool"
    (env_dir / "cf-fake-tool").unlink()
    assert tools.find_tool("cf-fake-tool") == tree_bin / "cf-fake-tool"
    monkeypatch.delenv(tools.TOOLS_DIR_ENV)
    monkeypatch.chdir(path_dir)  # outside the tree: only PATH is left
    assert tools.find_tool("cf-fake-tool") == path_dir / "cf-fake-tool"
    assert tools.find_tool("cf-no-such-tool") is None


def test_kubeadm_prefers_exact_then_same_minor(three_dirs: tuple[Path, Path, Path]) -> None:
    env_dir, tree_bin, _ = three_dirs
    fake_tool(env_dir, "kubeadm-v1.99.3")
    fake_tool(tree_bin, "kubeadm-v1.99.1")
    assert tools.find_kubeadm("1.99.1") == tree_bin / "kubeadm-v1.99.1"  # exact beats search order
    assert tools.find_kubeadm("v1.99.2") == env_dir / "kubeadm-v1.99.3"  # same minor
    assert tools.find_kubeadm("1.98.0") is None  # kubeadm N cannot deploy N-2
    with pytest.raises(ToolMissing, match=r"kubeadm-v1\.98\.0 not found \(clusterforge tools install --kubernetes 1\.98\.0\)"):
        tools.require("kubeadm", kubernetes_version="1.98.0")


def test_require_hints(three_dirs: tuple[Path, Path, Path]) -> None:
    with pytest.raises(ToolMissing, match=r"\(apt-get install frr\)"):
        tools.require("vtysh")  # not on the PATH of three_dirs
    assert tools.install_hint("kustomize") == "clusterforge tools install"
    assert tools.install_hint("kubeadm", "v1.34.4") == "clusterforge tools install --kubernetes 1.34.4"


def test_run_captures_output() -> None:
    done = tools.run(["sh", "-c", 'echo "$CF_X"; cat'], env={"CF_X": "from env"}, input="from stdin")
    assert (done.returncode, done.stdout, done.stderr) == (0, "from env\nfrom stdin", "")
    assert tools.run(["sh", "-c", "exit 3"], ok_codes=(0, 3)).returncode == 3


def test_run_output_that_is_not_utf8() -> None:
    """haproxy quotes a line of the file up to a column, which may cut a character in two."""
    done = tools.run(["sh", "-c", r"printf 'a\331b'; printf '\377' >&2"])
    assert (done.stdout, done.stderr) == ("a\ufffdb", "\ufffd")


def test_run_failure_carries_argv_and_output() -> None:
    argv = ["sh", "-c", "echo out; echo err >&2; exit 3"]
    with pytest.raises(ToolFailed) as e:
        tools.run(argv)
    assert (e.value.argv, e.value.returncode, e.value.stdout, e.value.stderr) == (argv, 3, "out\n", "err\n")
    assert "exited 3" in str(e.value) and "err" in str(e.value)


def test_run_timeout() -> None:
    with pytest.raises(ToolFailed) as e:
        tools.run([sys.executable, "-c", "import time; print('started', flush=True); time.sleep(10)"], timeout=1)
    assert e.value.returncode is None and "timed out" in str(e.value)
    assert e.value.stdout == "started\n"


def test_run_missing_binary() -> None:
    with pytest.raises(ToolMissing, match="helm not found"):
        tools.run(["/nonexistent/helm", "version"])


def marking_tool(directory: Path, name: str) -> tuple[Path, Path]:
    """An executable that leaves a mark when it runs: proof that nothing ran without one."""
    directory.mkdir(parents=True, exist_ok=True)
    path, mark = directory / name, directory / f"{name}.ran"
    path.write_text(f'#!/bin/sh\necho "$@" > "{mark}"\n')
    path.chmod(0o755)
    return path, mark


# The checkers' own command lines with their check-only flag garbled or dropped, as a
# mutant of daemons.py once did: keepalived then started for real and stayed running.
REFUSED = [
    ("haproxy", ["-f", "haproxy.cfg"]),
    ("haproxy", ["XX-cXX", "-f", "haproxy.cfg"]),
    ("keepalived", ["XX--config-testXX", "-f", "keepalived.conf"]),
    ("keepalived", ["-f", "keepalived.conf"]),
    ("bird", ["-c", "bird.conf"]),
    ("bird", ["XX-pXX", "-c", "bird.conf"]),
    ("gobgpd", ["-f", "gobgpd.yaml"]),
    ("vtysh", ["-f", "frr.conf"]),
]


@pytest.mark.parametrize(("name", "args"), REFUSED, ids=[" ".join([n, *a]) for n, a in REFUSED])
@pytest.mark.parametrize("wrapper", [[], ["ip", "netns", "exec", "cf-x"], ["nsenter", "-t", "1", "-n", "--"]], ids=["direct", "netns", "nsenter"])
def test_run_refuses_a_daemon_without_its_check_only_flag(name: str, args: list[str], wrapper: list[str], tmp_path: Path) -> None:
    daemon, mark = marking_tool(tmp_path, name)
    with pytest.raises(tools.DaemonRefused, match=f"refusing to run .*{name} runs here only with one of "):
        tools.run([*wrapper, daemon, *args])
    assert not mark.exists()


ALLOWED = [
    ("haproxy", ["-c", "-f", "haproxy.cfg"]),
    ("haproxy", ["-v"]),
    ("keepalived", ["--config-test", "-f", "keepalived.conf"]),
    ("keepalived", ["--version"]),
    ("bird", ["-p", "-c", "bird.conf"]),
    ("bird", ["--version"]),
    ("gobgpd", ["--version"]),
    ("vtysh", ["--dryrun", "-f", "frr.conf"]),
    ("vtysh", ["--vty_socket", "/tmp/x", "-c", "show bgp summary"]),
    ("vtysh", ["--help"]),
]


@pytest.mark.parametrize(("name", "args"), ALLOWED, ids=[" ".join([n, *a]) for n, a in ALLOWED])
def test_run_lets_a_daemon_check_a_file_or_print_its_version(name: str, args: list[str], tmp_path: Path) -> None:
    daemon, mark = marking_tool(tmp_path, name)
    tools.run([daemon, *args])
    assert mark.read_text() == " ".join(args) + "\n"


def test_run_names_a_file_like_a_daemon_freely(tmp_path: Path) -> None:
    """Only the program's own name counts: haproxy.cfg or a folder named bird is no daemon."""
    assert tools.run(["echo", "haproxy.cfg", str(tmp_path / "bird")]).stdout == f"haproxy.cfg {tmp_path / 'bird'}\n"


def test_buildinfo_version() -> None:
    go_install = "x: go1.26.8\n\tpath\thelm.sh/helm/v3/cmd/helm\n\tmod\thelm.sh/helm/v3\tv3.22.0\th1:x=\n"
    assert buildinfo_version(go_install, "helm.sh/helm/v3/cmd/helm") == "v3.22.0"
    scratch = (
        "x: go1.26.8\n\tpath\tk8s.io/kubernetes/cmd/kubeadm\n\tmod\tclusterforge.local/kubeadm-build\t(devel)\n"
        "\tdep\tk8s.io/kubernetes\tv1.35.4\th1:x=\n\tdep\tk8s.io/api\tv0.0.0\n\t=>\tk8s.io/api\tv0.35.4\th1:y=\n"
    )
    assert buildinfo_version(scratch, "k8s.io/kubernetes/cmd/kubeadm") == "v1.35.4"
    assert buildinfo_version(scratch, "k8s.io/api/core/v1") == "v0.35.4"
    assert buildinfo_version(scratch, "clusterforge.local/kubeadm-build") is None  # (devel)
    assert buildinfo_version(go_install, "k8s.io/kubernetes/cmd/kubeadm") is None


@pytest.mark.tools
@pytest.mark.parametrize("name", list(GO_TOOLS))
def test_probe_go_tool_at_pin(name: str, need_tool: NeedTool) -> None:
    need_tool(name)
    status = tools.probe(name)
    assert status.ok, status
    assert status.version is not None and status.version.removeprefix("v") == GO_TOOLS[name].version[1:]


@pytest.mark.tools
@pytest.mark.parametrize("name", [n for n, t in DEBIAN_TOOLS.items() if not t.optional])
def test_probe_debian_tool(name: str, need_tool: NeedTool) -> None:
    path = need_tool(name)
    status = tools.probe(name)
    assert status.ok and status.path == path and status.pinned is None, status
    if tools.VERSION_PROBES[name] is not None:  # some (netplan) print no version at all
        assert status.version and re.match(r"\d+\.\d+", status.version), status


@pytest.mark.tools
def test_probe_redis_server(need_tool: NeedTool) -> None:
    """Only the Argo CD rehearsal needs it (optional), and CI installs it."""
    need_tool("redis-server")
    status = tools.probe("redis-server")
    assert status.ok and status.version and re.fullmatch(r"[0-9]+\.[0-9]+\.[0-9]+", status.version), status


@pytest.mark.tools
def test_kubeadm_reports_its_kubernetes_version(need_tool: NeedTool) -> None:
    kubeadm = need_tool("kubeadm", kubernetes_version=KUBERNETES_VERSION)
    assert tools.run([kubeadm, "version", "-o", "short"]).stdout.strip() == f"v{KUBERNETES_VERSION}"
    assert tools.probe("kubeadm").ok


@pytest.mark.tools
def test_kubeadm_validates_v1beta4_config(need_tool: NeedTool, tmp_path: Path) -> None:
    kubeadm = need_tool("kubeadm")
    config = tmp_path / "kubeadm.yaml"
    config.write_text(
        "apiVersion: kubeadm.k8s.io/v1beta4\nkind: InitConfiguration\n"
        "localAPIEndpoint: {advertiseAddress: 10.0.0.11, bindPort: 6443}\n---\n"
        "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\n"
        f"kubernetesVersion: v{KUBERNETES_VERSION}\ncontrolPlaneEndpoint: api.demo.example:8443\n"
        "networking: {podSubnet: 10.244.0.0/16, serviceSubnet: 10.96.0.0/12}\n"
    )
    assert tools.run([kubeadm, "config", "validate", "--config", config]).stdout.strip() == "ok"
    config.write_text(config.read_text().replace("/16", "/33"))
    with pytest.raises(ToolFailed, match="podSubnet"):
        tools.run([kubeadm, "config", "validate", "--config", config])


@pytest.mark.tools
def test_helm_through_sh(need_tool: NeedTool, tmp_path: Path) -> None:
    need_tool("helm")
    assert tools.helm("version", "--template", "{{.GoVersion}}").startswith("go1.")
    with pytest.raises(ToolFailed) as e:
        tools.helm("lint", str(tmp_path / "no-chart"))
    assert e.value.returncode == 1 and e.value.argv[1:] == ["lint", str(tmp_path / "no-chart")]


def test_doctor_lists_every_tool() -> None:
    statuses = {s.name: s for s in tools.doctor(("1.34.4", KUBERNETES_VERSION))}
    assert set(statuses) == {*GO_TOOLS, *DEBIAN_TOOLS, "kubeadm-v1.34.4", f"kubeadm-v{KUBERNETES_VERSION}"}
    assert statuses["kubeadm-v1.34.4"].pinned == "v1.34.4"
    assert statuses["genisoimage"].optional and statuses["cloud-localds"].optional and statuses["redis-server"].optional
    assert not statuses["haproxy"].optional


def test_an_empty_tools_dir_variable_means_path_only(three_dirs: tuple[Path, Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    """Set but empty, $CLUSTERFORGE_TOOLS_DIR hides every tools folder, the working tree's and the checkout's too."""
    _, tree_bin, path_dir = three_dirs
    fake_tool(tree_bin, "cf-fake-tool")
    fake_tool(path_dir, "cf-fake-tool")
    monkeypatch.setenv(tools.TOOLS_DIR_ENV, "")
    assert tools.search_dirs() == [path_dir]
    assert tools.find_tool("cf-fake-tool") == path_dir / "cf-fake-tool"
    monkeypatch.delenv(tools.TOOLS_DIR_ENV)  # unset: the tools folders count again
    assert tools.find_tool("cf-fake-tool") == tree_bin / "cf-fake-tool"


# --- Go build info, read without Go --------------------------------------------------------

SENTINEL = b"0123456789abcdef"  # 16 bytes each side of the module info, as cmd/go frames it
MODINFO = "path\texample.com/cmd/x\nmod\texample.com\tv1.2.3\th1:x=\n"


def varint(n: int) -> bytes:
    out = bytearray()
    while n >= 0x80:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    return bytes([*out, n])


def blob(modinfo: bytes, *, flags: int = 0x2, version: bytes = b"go1.26.8", lead: bytes = b"") -> bytes:
    header = tools.BUILDINFO_MAGIC + bytes([8, flags]) + bytes(16)
    framed = SENTINEL + modinfo + b"\n"[: 0 if modinfo.endswith(b"\n") else 1] + SENTINEL
    return lead + header + varint(len(version)) + version + varint(len(framed)) + framed


def test_build_info_blob_is_parsed() -> None:
    assert tools.parse_build_info(blob(MODINFO.encode())) == MODINFO
    assert tools.parse_build_info(blob(MODINFO.encode(), lead=bytes(32))) == MODINFO  # found at a 16-byte boundary
    long = MODINFO + "".join(f"dep\texample.com/d{i}\tv0.0.{i}\th1:y=\n" for i in range(100))
    assert len(long) > 127 and tools.parse_build_info(blob(long.encode())) == long  # a two-byte length


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"no magic here" * 10,
        blob(MODINFO.encode(), flags=0x0),  # Go < 1.18: pointers, not inline strings
        blob(MODINFO.encode(), lead=bytes(8)),  # magic off the 16-byte alignment
        blob(MODINFO.encode())[:-20],  # truncated
        tools.BUILDINFO_MAGIC + bytes([8, 2]) + bytes(16) + b"\xff" * 12,  # a varint that never ends
        tools.BUILDINFO_MAGIC + bytes([8, 2]) + bytes(16) + varint(8) + b"go1.26.8" + varint(5) + b"short",  # no framing
    ],
)
def test_damaged_build_info_is_none(data: bytes) -> None:
    assert tools.parse_build_info(data) is None


def test_build_info_of_files_that_are_not_go_binaries(tmp_path: Path) -> None:
    script = fake_tool(tmp_path, "script")
    truncated_elf = tmp_path / "elf"
    truncated_elf.write_bytes(b"\x7fELF\x02\x01\x01" + bytes(20))
    for path in (script, truncated_elf, tmp_path / "missing", tmp_path):
        assert tools.go_build_info(path) is None


@pytest.mark.tools
@pytest.mark.parametrize("name", list(GO_TOOLS))
def test_build_info_is_what_go_version_m_prints(name: str, need_tool: NeedTool) -> None:
    path = need_tool(name)
    go = shutil.which("go")
    if go is None:
        pytest.skip("needs go to compare with")  # the pinned tools are built with go: CI has it
    printed = subprocess.run([go, "version", "-m", str(path)], check=True, capture_output=True, text=True).stdout
    assert tools.go_build_info(path) == "".join(line.removeprefix("\t") + "\n" for line in printed.splitlines()[1:])


@pytest.mark.tools
@pytest.mark.parametrize("name", list(GO_TOOLS))
def test_probe_go_tool_at_pin_without_go(name: str, need_tool: NeedTool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`go install` builds of kubeconform and helm print "development" and "v3.22": the
    version comes from their build info, which needs no go on PATH."""
    found = need_tool(name)
    monkeypatch.setenv(tools.TOOLS_DIR_ENV, str(found.parent))
    monkeypatch.setenv("PATH", str(tmp_path))  # no go, nothing else
    assert shutil.which("go") is None
    status = tools.probe(name)
    assert status.ok and status.version is not None and status.version.removeprefix("v") == GO_TOOLS[name].version[1:], status


@pytest.mark.tools
def test_helm_output_that_is_not_utf8(need_tool: NeedTool, tmp_path: Path) -> None:
    """A chart's file name is not always UTF-8, and helm quotes it in its `# Source:` lines."""
    need_tool("helm")
    chart = tmp_path / "chart"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: x\nversion: 0.1.0\n")
    with open(os.fsencode(chart / "templates") + b"/c\xd9.yaml", "w") as f:
        f.write("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n")
    assert "# Source: x/templates/c\ufffd.yaml\n" in tools.helm("template", "x", str(chart))
