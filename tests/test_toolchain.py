"""`clusterforge tools install`: which versions, what counts as up to date, the Go build
(for real, on a small tool) and the checked download (from a loopback server with known
checksums: a mismatch, a cut download and a hostile archive install nothing)."""

from __future__ import annotations

import functools
import hashlib
import http.server
import io
import os
import re
import shutil
import subprocess
import sys
import tarfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from generator import cli, tools
from generator.errors import ClusterforgeError, InstallFailed
from generator.toolchain import fetch, gobuild, install, releases
from generator.toolpins import GO_TOOLS, KUBEADM_PACKAGE, KUBERNETES_VERSION, GoTool

IN_CI = os.environ.get("CI", "").lower() in ("true", "1")  # as tests/conftest.py: CI must run every test
NeedTool = Callable[..., Path]
SYSTEM, ARCH = fetch.platform_key()
EXAMPLE = cli.example_text()


def item(name: str) -> install.Pinned:
    return next(p for p in install.pinned([KUBERNETES_VERSION]) if p.name == name)


def leftovers(directory: Path) -> list[str]:
    """Staging folders and temporary files the installer must never leave behind."""
    return sorted(p.name for p in directory.iterdir() if p.name.startswith("."))


def script(path: Path, output: str) -> Path:
    """An executable that prints `output`: a binary that reports a version but carries no Go build info."""
    path.write_text(f"#!/bin/sh\necho '{output}'\n")
    path.chmod(0o755)
    return path


# --- which versions -----------------------------------------------------------------------


def test_versions_come_from_the_flags_then_cluster_yaml_then_the_pin(tmp_path: Path) -> None:
    assert install.kubernetes_versions([], tmp_path) == [KUBERNETES_VERSION]
    (tmp_path / "cluster.yaml").write_text(EXAMPLE.replace(f'version: "{KUBERNETES_VERSION}"', 'version: "1.34.4"'))
    assert install.kubernetes_versions([], tmp_path) == ["1.34.4"]
    assert install.kubernetes_versions(["v1.36.4", "1.34.4", "1.36.4"], tmp_path) == ["1.36.4", "1.34.4"]


def test_a_bad_version_or_inventory_is_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ClusterforgeError, match=r"^--kubernetes: '1\.35' is not an exact version"):
        install.kubernetes_versions(["1.35"], tmp_path)
    assert cli.main(["tools", "install", "--dir", str(tmp_path / "bin"), "--kubernetes", "1.35.4; rm -rf /"]) == 2
    assert "--kubernetes: '1.35.4; rm -rf /' is not an exact version" in capsys.readouterr().err
    (tmp_path / "cluster.yaml").write_text(EXAMPLE.replace(f'version: "{KUBERNETES_VERSION}"', 'version: "1.35"'))
    assert cli.main(["tools", "install", "-C", str(tmp_path), "--dir", str(tmp_path / "bin")]) == 2
    assert re.search(r"cluster\.yaml:\d+: kubernetes\.version: ", capsys.readouterr().err)
    assert not (tmp_path / "bin").exists()  # nothing done before the input is known good


def test_every_pinned_tool_is_installed_as_data(monkeypatch: pytest.MonkeyPatch) -> None:
    names = [p.name for p in install.pinned(["1.34.4", "1.36.4"])]
    assert names == [*GO_TOOLS, "kubeadm-v1.34.4", "kubeadm-v1.36.4"]
    monkeypatch.setitem(GO_TOOLS, "kwok", GoTool("kwok", "sigs.k8s.io/kwok/cmd/kwok", "v0.7.0"))
    assert "kwok" in [p.name for p in install.pinned([])]  # a new pin needs no code here


def test_the_tools_folder(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(tools.TOOLS_DIR_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert install.tools_dir() == tools.user_tools_dir() == tmp_path / "xdg" / "clusterforge" / "tools" / "bin"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/cache")  # the XDG spec says: ignore it
    assert tools.user_tools_dir() == Path.home() / ".cache" / "clusterforge" / "tools" / "bin"
    monkeypatch.setenv(tools.TOOLS_DIR_ENV, str(tmp_path / "mine"))
    assert install.tools_dir() == tmp_path / "mine"


def test_lookup_order_puts_the_per_user_folder_before_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env_dir, user_dir, path_dir = tmp_path / "env", tmp_path / "xdg" / "clusterforge" / "tools" / "bin", tmp_path / "path"
    for d in (env_dir, user_dir, path_dir):
        d.mkdir(parents=True)
        script(d / "cf-fake-tool", str(d))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("PATH", str(path_dir))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(tools.TOOLS_DIR_ENV, str(env_dir))
    assert tools.find_tool("cf-fake-tool") == env_dir / "cf-fake-tool"
    monkeypatch.delenv(tools.TOOLS_DIR_ENV)
    assert tools.find_tool("cf-fake-tool") == user_dir / "cf-fake-tool"
    monkeypatch.setenv(tools.TOOLS_DIR_ENV, "")  # empty: PATH only, the per-user folder too is hidden
    assert tools.find_tool("cf-fake-tool") == path_dir / "cf-fake-tool"


def test_doctor_names_the_install_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv(tools.TOOLS_DIR_ENV, "")
    monkeypatch.setenv("PATH", str(tmp_path))  # nothing at all
    (tmp_path / "cluster.yaml").write_text(EXAMPLE.replace(f'version: "{KUBERNETES_VERSION}"', 'version: "1.34.4"'))
    assert cli.main(["doctor", "-C", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert re.search(r"^kubeconform +MISSING .*\n +-> clusterforge tools install$", out, re.M), out
    assert re.search(r"^kubeadm-v1\.34\.4 +MISSING .*\n +-> clusterforge tools install --kubernetes 1\.34\.4$", out, re.M), out


def test_doctor_lists_the_tools_when_the_inventory_is_broken(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """doctor is what an operator runs when something is wrong: a broken cluster.yaml is one more
    finding (exit 1, as the CLI contract says), not a reason to list nothing (exit 2)."""
    monkeypatch.setenv(tools.TOOLS_DIR_ENV, "")
    monkeypatch.setenv("PATH", str(tmp_path))
    (tmp_path / "cluster.yaml").write_text(EXAMPLE.replace(f'version: "{KUBERNETES_VERSION}"', 'version: "one.two"'))
    assert cli.main(["doctor", "-C", str(tmp_path)]) == 1
    captured = capsys.readouterr()
    assert re.search(rf"^kubeadm-v{re.escape(KUBERNETES_VERSION)} +MISSING ", captured.out, re.M), captured.out
    assert f"cluster.yaml is not valid (see above): kubeadm checked for the default Kubernetes {KUBERNETES_VERSION}" in captured.out
    assert re.search(r"^cluster\.yaml:[0-9]+: kubernetes\.version: .*one\.two", captured.err, re.M), captured.err


# --- up to date -----------------------------------------------------------------------------


@pytest.mark.tools
def test_up_to_date_reads_the_build_info_or_the_reported_version(tmp_path: Path, need_tool: NeedTool) -> None:
    age_keygen = item("age-keygen")
    real = shutil.copy(need_tool("age-keygen"), tmp_path / "age-keygen")
    assert install.installed_version(Path(real), age_keygen) == "v1.3.2"  # from the build info, not run
    assert install.up_to_date(Path(real), age_keygen)
    assert not install.up_to_date(Path(real), install.Pinned("age-keygen", "age-keygen", age_keygen.package, "v1.3.1"))
    kubeadm = item(f"kubeadm-v{KUBERNETES_VERSION}")
    assert install.up_to_date(script(tmp_path / "kubeadm", f"v{KUBERNETES_VERSION}"), kubeadm)  # a release build's own report
    assert not install.up_to_date(script(tmp_path / "kubeadm", "v1.34.4"), kubeadm)
    assert not install.up_to_date(tmp_path / "missing", kubeadm)
    (tmp_path / "not-executable").write_bytes(Path(real).read_bytes())
    assert not install.up_to_date(tmp_path / "not-executable", age_keygen)
    garbage = tmp_path / "garbage"
    garbage.write_bytes(b"\x00\x01 not a program")
    garbage.chmod(0o755)
    assert not install.up_to_date(garbage, kubeadm)  # Exec format error: not installed, no traceback


# --- the Go build -----------------------------------------------------------------------------


def test_binary_names_and_the_scratch_module() -> None:
    assert gobuild.binary_name("sigs.k8s.io/kustomize/kustomize/v5") == "kustomize"
    assert gobuild.binary_name("filippo.io/age/cmd/age-keygen") == "age-keygen"
    assert gobuild.is_kubernetes_command(KUBEADM_PACKAGE) and not gobuild.is_kubernetes_command(GO_TOOLS["helm"].package)
    upstream = "module k8s.io/kubernetes\n\ngo 1.25.0\n\ngodebug default=go1.25\n\nreplace (\n\tk8s.io/api => ./staging/src/k8s.io/api\n\tk8s.io/client-go => ./staging/src/k8s.io/client-go\n)\n"
    assert gobuild.render_go_mod("1.36.4", upstream) == (
        "module clusterforge.local/kubernetes-build\n\ngo 1.25.0\ngodebug default=go1.25\n\nrequire k8s.io/kubernetes v1.36.4\n\n"
        "replace (\n\tk8s.io/api => k8s.io/api v0.36.4\n\tk8s.io/client-go => k8s.io/client-go v0.36.4\n)\n"
    )
    with pytest.raises(ValueError, match="no staging replace"):
        gobuild.render_go_mod("1.36.4", "module k8s.io/kubernetes\n")
    assert "-X k8s.io/component-base/version.gitVersion=v1.34.4 " in gobuild.ldflags("1.34.4")


def need_go() -> Path:
    go = shutil.which("go")
    if go is None:
        if IN_CI:
            pytest.fail("CI must provide go: `clusterforge tools install` builds with it")
        pytest.skip("needs go")
    return Path(go)


@pytest.mark.tools
def test_go_builds_a_tool_into_the_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """age-keygen for real, through the machine's Go module proxy and caches."""
    go = need_go()
    monkeypatch.setenv("GOFLAGS", "-mod=mod")
    folder, out = tmp_path / "bin", io.StringIO()
    install.install(folder, [item("age-keygen")], out, go)
    lines = out.getvalue().splitlines()
    assert lines[1:] == ["age-keygen v1.3.2: go install filippo.io/age/cmd/age-keygen@v1.3.2", "age-keygen v1.3.2: installed", f"1 tools ready in {folder}"]
    assert subprocess.run([folder / "age-keygen", "--version"], capture_output=True, text=True, check=True).stdout.strip() == "v1.3.2"
    assert leftovers(folder) == []
    again = io.StringIO()
    install.install(folder, [item("age-keygen")], again, go)
    assert again.getvalue().splitlines()[1] == "age-keygen v1.3.2: up to date"


@pytest.mark.tools
def test_a_failed_build_installs_nothing_and_says_why(tmp_path: Path) -> None:
    go = need_go()
    folder, out = tmp_path / "bin", io.StringIO()
    broken = install.Pinned("age-keygen", "age-keygen", "filippo.io/age/cmd/age-keygen", "v0.0.0-no-such-version")
    with pytest.raises(InstallFailed, match=r"^1 of 1 tools not installed in .*: age-keygen$"):
        install.install(folder, [broken], out, go)
    assert re.search(r"^age-keygen v0\.0\.0-no-such-version: FAILED: `.*go install filippo\.io/age/cmd/age-keygen@v0\.0\.0-no-such-version` exited 1", out.getvalue(), re.M)
    assert list(folder.iterdir()) == []


# --- the checked download ------------------------------------------------------------------


class _Releases(http.server.SimpleHTTPRequestHandler):
    """The release hosts, laid out as HOST/PATH under a folder; paths in `cut` stop halfway."""

    cut: set[str] = set()

    def do_GET(self) -> None:  # noqa: N802 (the base class's name)
        if self.path in self.cut:
            body = (Path(self.directory) / self.path.lstrip("/")).read_bytes()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[: len(body) // 2])  # then the connection closes
            self.close_connection = True
            return
        super().do_GET()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


@pytest.fixture
def mirror(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A loopback server standing for the release hosts (CLUSTERFORGE_TOOLS_MIRROR); yields its folder."""
    root = tmp_path / "mirror"
    root.mkdir()
    _Releases.cut = set()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Releases, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv(fetch.MIRROR_ENV, f"http://127.0.0.1:{server.server_address[1]}/")
    try:
        yield root
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def publish(mirror: Path, monkeypatch: pytest.MonkeyPatch, tool: str, version: str, data: bytes, *, sha256: str | None = None) -> releases.Artifact:
    """Serve `data` where the recorded artifact's URL points, and record its SHA-256 (or `sha256`)."""
    key = (tool, version, SYSTEM, ARCH)
    recorded = releases.ARTIFACTS.get(key) or releases.ARTIFACTS[(tool, version, "linux", "amd64")]
    path = mirror / fetch.source_url(recorded.url).split("/", 3)[3]  # HOST/PATH, as the mirror lays it out
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    artifact = releases.Artifact(recorded.url, sha256 or hashlib.sha256(data).hexdigest(), recorded.member)
    monkeypatch.setitem(releases.ARTIFACTS, key, artifact)
    return artifact


def tar_gz(*members: tuple[str, bytes | str]) -> bytes:
    """A .tar.gz of regular files (bytes) and symbolic links (str: the link target)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, content in members:
            info = tarfile.TarInfo(name)
            if isinstance(content, str):
                info.type, info.linkname = tarfile.SYMTYPE, content
                tar.addfile(info)
            else:
                info.size, info.mode = len(content), 0o755
                tar.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


@pytest.mark.tools
def test_download_installs_the_checked_release_binaries(mirror: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, need_tool: NeedTool) -> None:
    """The real kubeconform in a .tar.gz at its release path, the real sops as a plain file."""
    kubeconform, sops = need_tool("kubeconform").read_bytes(), need_tool("sops").read_bytes()
    publish(mirror, monkeypatch, "kubeconform", "v0.7.0", tar_gz(("LICENSE", b"Apache-2.0"), ("kubeconform", kubeconform)))
    publish(mirror, monkeypatch, "sops", "v3.13.3", sops)
    folder, out = tmp_path / "bin", io.StringIO()
    install.install(folder, [item("kubeconform"), item("sops")], out, None)
    lines = out.getvalue().splitlines()
    assert lines[0] == f"tools folder {folder} (no Go on PATH: release binaries checked against their published SHA-256)"
    assert lines[1].startswith("kubeconform v0.7.0: downloading http://127.0.0.1:") and lines[1].endswith(
        "/github.com/yannh/kubeconform/releases/download/v0.7.0/kubeconform-linux-amd64.tar.gz".replace("linux-amd64", f"{SYSTEM}-{ARCH}")
    )
    assert lines[2] == "kubeconform v0.7.0: installed" and lines[3].startswith("sops v3.13.3: downloading http://127.0.0.1:")
    assert lines[4:] == ["sops v3.13.3: installed", f"2 tools ready in {folder}"]
    assert (folder / "kubeconform").read_bytes() == kubeconform and (folder / "sops").read_bytes() == sops
    assert os.access(folder / "sops", os.X_OK) and leftovers(folder) == []
    again = io.StringIO()
    install.install(folder, [item("kubeconform"), item("sops")], again, None)
    assert again.getvalue().splitlines()[1:3] == ["kubeconform v0.7.0: up to date", "sops v3.13.3: up to date"]


def test_a_checksum_mismatch_installs_nothing(mirror: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    folder = tmp_path / "bin"
    folder.mkdir()
    old = script(folder / "kubeconform", "v0.6.7")  # what was there stays as it was
    publish(mirror, monkeypatch, "kubeconform", "v0.7.0", tar_gz(("kubeconform", b"#!/bin/sh\necho v0.7.0\n")), sha256="0" * 64)
    out = io.StringIO()
    with pytest.raises(InstallFailed, match="1 of 1 tools not installed"):
        install.install(folder, [item("kubeconform")], out, None)
    assert re.search(r"^kubeconform v0\.7\.0: FAILED: http://127\.0\.0\.1:\d+/\S+: SHA-256 [0-9a-f]{64} is not the published 0{64}; nothing installed$", out.getvalue(), re.M)
    assert old.read_text() == "#!/bin/sh\necho 'v0.6.7'\n" and leftovers(folder) == []


def test_a_folder_in_the_way_is_a_failure_not_a_traceback(mirror: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    publish(mirror, monkeypatch, "sops", "v3.13.3", b"#!/bin/sh\necho 'sops 3.13.3'\n")
    folder, out = tmp_path / "bin", io.StringIO()
    (folder / "sops").mkdir(parents=True)
    with pytest.raises(InstallFailed):
        install.install(folder, [item("sops")], out, None)
    assert f"sops v3.13.3: FAILED: Is a directory: {folder / 'sops'}\n" in out.getvalue()
    assert [p.name for p in folder.iterdir()] == ["sops"] and not list((folder / "sops").iterdir())


def test_a_cut_download_leaves_nothing_behind(mirror: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    data = b"#!/bin/sh\necho 'sops 3.13.3'\n" + b"#" * 100_000
    artifact = publish(mirror, monkeypatch, "sops", "v3.13.3", data)
    _Releases.cut.add("/" + fetch.source_url(artifact.url).split("/", 3)[3])
    folder, out = tmp_path / "bin", io.StringIO()
    with pytest.raises(InstallFailed):
        install.install(folder, [item("sops")], out, None)
    assert re.search(rf"^sops v3\.13\.3: FAILED: \S+: download cut short \({len(data) // 2} of {len(data)} bytes\); nothing installed$", out.getvalue(), re.M), out.getvalue()
    assert list(folder.iterdir()) == []


@pytest.mark.parametrize(
    ("members", "message"),
    [
        ((("../kubeconform", b"#!/bin/sh\necho v0.7.0\n"), ("kubeconform", b"#!/bin/sh\necho v0.7.0\n")), "unsafe path '../kubeconform' in the archive"),
        ((("/tmp/kubeconform", b"x"), ("kubeconform", b"#!/bin/sh\necho v0.7.0\n")), "unsafe path '/tmp/kubeconform' in the archive"),
        ((("kubeconform", "/bin/sh"),), "kubeconform in the archive is not a regular file (a link?)"),
        ((("bin/kubeconform", b"#!/bin/sh\necho v0.7.0\n"),), "the archive has no kubeconform"),
    ],
    ids=["parent", "absolute", "symlink", "elsewhere"],
)
def test_a_hostile_archive_installs_nothing(members, message, mirror: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Checksum right (the archive is what was recorded), contents refused all the same."""
    publish(mirror, monkeypatch, "kubeconform", "v0.7.0", tar_gz(*members))
    folder, out = tmp_path / "work" / "bin", io.StringIO()
    with pytest.raises(InstallFailed):
        install.install(folder, [item("kubeconform")], out, None)
    assert f": {message}; nothing installed" in out.getvalue()
    assert list(folder.iterdir()) == [] and sorted(p.name for p in (tmp_path / "work").iterdir()) == ["bin"]


def test_a_tool_without_a_verified_download_asks_for_go(mirror: Path, tmp_path: Path) -> None:
    out = io.StringIO()
    with pytest.raises(InstallFailed):
        install.install(tmp_path / "bin", [item("gobgp"), item(f"kubeadm-v{KUBERNETES_VERSION}")] + [install.Pinned("kubeadm-v1.31.14", "kubeadm", KUBEADM_PACKAGE, "v1.31.14")], out, None)
    text = out.getvalue()
    assert (
        "gobgp v3.37.0: FAILED: no verified release binary (GoBGP's release SHA-256 file could not be read when the data was recorded); "
        "install Go (>= 1.25) and run `clusterforge tools install` again to build it from github.com/osrg/gobgp/v3/cmd/gobgp@v3.37.0"
    ) in text
    assert f"kubeadm-v1.31.14: FAILED: no verified release binary (no published SHA-256 of kubeadm v1.31.14 for {SYSTEM}/{ARCH} is recorded)" in text


def test_the_command_exits_1_when_a_tool_cannot_be_installed(mirror: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """No Go on PATH and a mirror that has none of the files: every tool fails, each says why."""
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    folder = tmp_path / "bin"
    assert cli.main(["tools", "install", "-C", str(tmp_path), "--dir", str(folder)]) == 1
    captured = capsys.readouterr()
    assert captured.err == f"clusterforge: {len(GO_TOOLS) + 1} of {len(GO_TOOLS) + 1} tools not installed in {folder}: {', '.join(GO_TOOLS)}, kubeadm-v{KUBERNETES_VERSION}\n"
    assert len(re.findall(r": FAILED: ", captured.out)) == len(GO_TOOLS) + 1
    assert list(folder.iterdir()) == []


# --- the recorded release data -----------------------------------------------------------------


def test_release_data_matches_the_pins() -> None:
    """A pin bumped without its release data fails here, not on a user's machine."""
    kubeadm_versions = {"v1.34.4", "v1.35.4", "v1.36.4"}
    for (tool, version, system, arch), artifact in releases.ARTIFACTS.items():
        assert version in kubeadm_versions if tool == "kubeadm" else version == GO_TOOLS[tool].version, (tool, version)
        assert (system, arch) in {("linux", "amd64"), ("linux", "arm64")}
        assert re.fullmatch(r"[0-9a-f]{64}", artifact.sha256) and artifact.url.startswith("https://")
        assert arch in artifact.url and version.removeprefix("v") in artifact.url
    for tool in {*GO_TOOLS, "kubeadm"} - set(releases.UNAVAILABLE):
        assert tool in releases.CHECKSUM_SOURCES
    for tool in GO_TOOLS:
        assert (tool, GO_TOOLS[tool].version, "linux", "amd64") in releases.ARTIFACTS or tool in releases.UNAVAILABLE, tool
    assert f"v{KUBERNETES_VERSION}" in kubeadm_versions


# --- a pipx user ---------------------------------------------------------------------------------

ROOT = Path(__file__).resolve().parents[1]
JUNK = ("build", "dist", "*.egg-info", ".venv", ".nox", ".tools", ".git", "__pycache__", ".pytest_cache", ".hypothesis")


@pytest.mark.tools
@pytest.mark.slow
def test_a_pipx_install_gets_every_tool_for_1_34_and_1_36(tmp_path: Path) -> None:
    """clusterforge alone in a fresh venv, no source checkout, no .tools folder: `tools install`
    puts every pinned tool and kubeadm 1.34.4 and 1.36.4 (the patches versions.py was checked
    against) in the per-user folder, where doctor and a repository on 1.34 find them.
    Minutes: kubeadm is built twice from k8s.io/kubernetes (about 2 min each with Go's caches warm)."""
    go = need_go()
    source = tmp_path / "source"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(*JUNK))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", venv], check=True)
    subprocess.run([venv / "bin" / "pip", "install", "--quiet", source], check=True, cwd=tmp_path)
    home_cache = subprocess.run([go, "env", "GOCACHE"], capture_output=True, text=True, check=True).stdout.strip()
    env = {k: v for k, v in os.environ.items() if k != tools.TOOLS_DIR_ENV}
    env |= {
        "PATH": os.pathsep.join([str(venv / "bin"), str(go.parent), "/usr/local/sbin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"]),
        "XDG_CACHE_HOME": str(tmp_path / "xdg"),
        "GOCACHE": home_cache,  # Go too would move its build cache under XDG_CACHE_HOME: keep the warm one
    }
    work = tmp_path / "work"
    work.mkdir()

    def clusterforge(*args: str, cwd: Path = work) -> subprocess.CompletedProcess[str]:
        return subprocess.run([venv / "bin" / "clusterforge", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=3600)

    done = clusterforge("tools", "install", "--kubernetes", "1.34.4", "--kubernetes", "1.36.4")
    assert done.returncode == 0, done.stdout + done.stderr
    folder = tmp_path / "xdg" / "clusterforge" / "tools" / "bin"
    assert done.stdout.splitlines()[0] == f"tools folder {folder} (building with {go})"
    assert sorted(p.name for p in folder.iterdir()) == sorted([*GO_TOOLS, "kubeadm-v1.34.4", "kubeadm-v1.36.4"])
    for version in ("1.34.4", "1.36.4"):
        assert subprocess.run([folder / f"kubeadm-v{version}", "version", "-o", "short"], capture_output=True, text=True).stdout == f"v{version}\n"

    doctor = clusterforge("doctor", "--kubernetes", "1.34.4", "--kubernetes", "1.36.4")
    assert doctor.returncode == 0, doctor.stdout
    for name in (*GO_TOOLS, "kubeadm-v1.34.4", "kubeadm-v1.36.4"):
        assert re.search(rf"^{re.escape(name)} +ok .* {re.escape(str(folder / name))}$", doctor.stdout, re.M), doctor.stdout

    lab = tmp_path / "lab"
    lab.mkdir()
    (lab / "cluster.yaml").write_text(EXAMPLE.replace(f'version: "{KUBERNETES_VERSION}"', 'version: "1.34.4"'))
    again = clusterforge("tools", "install", cwd=lab)  # the version of ./cluster.yaml, already there
    assert again.returncode == 0 and "kubeadm-v1.34.4: up to date" in again.stdout and ": installed" not in again.stdout, again.stdout
