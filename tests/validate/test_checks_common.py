"""What the checks share (checks/_common.py), on small trees: finding files, reading them,
the files meant for git without git, a tool's verdict in its own words, one Job per file."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from generator import toolpins, tools
from generator.errors import ToolFailed, ToolMissing
from generator.validate.base import Context, Result
from generator.validate.checks import _common
from support import program


def tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def ctx_of(root: Path) -> Context:
    return Context(root, None, root / ".cache")  # type: ignore[arg-type]  # the helpers never read the inventory


def test_repo_files_are_relative_sorted_files_of_any_pattern(tmp_path: Path) -> None:
    root = tree(tmp_path, {"b/x.yaml": "", "a/x.yaml": "", "a/y.txt": "", "a/sub/z.yaml": ""})
    (root / "c.yaml").mkdir()  # a folder is no file
    assert _common.repo_files(ctx_of(root), "*/x.yaml", "a/*.txt", "*.yaml") == ["a/x.yaml", "a/y.txt", "b/x.yaml"]
    assert _common.repo_files(ctx_of(root), "a/**/*.yaml") == ["a/sub/z.yaml", "a/x.yaml"]


def test_read_replaces_bytes_that_are_not_utf8(tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes("é\xff".encode("latin-1") + "é".encode())
    assert _common.read(ctx_of(tmp_path), "f") == "\ufffd\ufffdé"


def test_tool_output_joins_stderr_then_stdout_and_renames_scratch_paths() -> None:
    assert _common.tool_output("  out\n", "\nerr /tmp/x/conf: bad\n", {"/tmp/x/conf": "lb/keepalived.conf"}) == "err lb/keepalived.conf: bad\nout"
    assert _common.tool_output("out", "  \n") == "out"
    assert _common.tool_output("", "") == ""


def script(body: str) -> list[str]:
    return [sys.executable, "-c", body]


def test_verdict_passes_on_exit_0() -> None:
    assert _common.verdict("c", "f", script("print('fine')"), "hint") == Result("c", "f", True)


def test_verdict_fails_in_the_tools_words_on_a_fail_code(tmp_path: Path) -> None:
    body = "import os, sys; print(os.getcwd()); print('[NOTICE] v1\\nbad ' + os.environ['CF_X'], file=sys.stderr); sys.exit(5)"
    result = _common.verdict("c", "f", script(body), "hint", cwd=tmp_path, fail_codes=(5,), renames={str(tmp_path): "repo"}, drop=r"^\[NOTICE\]", env={"CF_X": "x"})
    assert result == Result("c", "f", False, "bad x\nrepo", "hint")


def test_verdict_without_output_gives_the_exit_code() -> None:
    assert _common.verdict("c", "f", script("raise SystemExit(1)"), "hint") == Result("c", "f", False, "exit code 1", "hint")


def test_verdict_raises_when_the_tool_could_not_judge() -> None:
    """Another exit code is no verdict on the file: ToolFailed, which the runner does not cache."""
    with pytest.raises(ToolFailed, match="exited 2"):
        _common.verdict("c", "f", script("raise SystemExit(2)"), "hint")
    with pytest.raises(ToolFailed, match="exited 1"):
        _common.verdict("c", "f", script("raise SystemExit(1)"), "hint", fail_codes=(5,))


def test_verdict_times_out_after_a_minute() -> None:
    assert _common.TIMEOUT == 60


def test_a_tool_that_hangs_is_stopped_at_the_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    """A tool that does not finish is no verdict on the file: ToolFailed (timed out) at TIMEOUT,
    here made a fraction of the 20 seconds the stand-in would take."""
    monkeypatch.setattr(_common, "TIMEOUT", 0.2)
    argv = script("import time; time.sleep(20)")
    with pytest.raises(ToolFailed) as failed:
        _common.verdict("c", "f", argv, "hint")
    assert (failed.value.argv, failed.value.returncode, str(failed.value)) == (argv, None, f"`{' '.join(argv)}` timed out")


def test_find_a_missing_tool(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(tools.TOOLS_DIR_ENV, "")  # PATH only: not the checkout's .tools/bin either
    monkeypatch.setenv("PATH", str(tmp_path))
    tool = _common.find("shellcheck")
    assert (tool.name, tool.path, tool.version, tool.install) == ("shellcheck", None, "", tools.install_hint("shellcheck"))
    with pytest.raises(ToolMissing, match="shellcheck not found"):
        tool.require()


def test_find_identifies_a_tool_by_its_path_and_stamp(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(tools.TOOLS_DIR_ENV, str(tmp_path))
    program(tmp_path / "shellcheck", "#!/bin/sh\n")
    tool = _common.find("shellcheck")
    assert tool.path == tmp_path / "shellcheck" and tool.require() == tool.path
    assert tool.version.startswith(f"{tmp_path / 'shellcheck'} ") and len(tool.version) > len(str(tool.path)) + 1


def test_find_kubeadm_names_the_versioned_binary(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(tools.TOOLS_DIR_ENV, "")  # PATH only: not the checkout's .tools/bin either
    monkeypatch.setenv("PATH", str(tmp_path))
    tool = _common.find("kubeadm", kubernetes_version="1.34.2")
    assert (tool.name, tool.path) == (toolpins.kubeadm_binary("1.34.2"), None)
    assert tool.install == tools.install_hint("kubeadm", "1.34.2")
    assert _common.find("kubeadm").name == toolpins.kubeadm_binary(toolpins.KUBERNETES_VERSION)


def test_file_jobs_one_per_file_with_its_extra_inputs_and_key(tmp_path: Path) -> None:
    tool = _common.Tool("t", tmp_path, "v1", "install t")
    jobs = _common.file_jobs("c", tool, ["a", "b"], lambda p: Result("c", p, True), extra_inputs=lambda p: [p + ".sh"], extra_key="k")
    assert [(j.check, j.inputs, j.tool_version, j.extra_key) for j in jobs] == [("c", ("a", "a.sh"), "v1", "k"), ("c", ("b", "b.sh"), "v1", "k")]
    assert [j.run() for j in jobs] == [[Result("c", "a", True)], [Result("c", "b", True)]]


def test_file_jobs_of_a_missing_tool_raise_when_run(tmp_path: Path) -> None:
    [job] = _common.file_jobs("c", _common.Tool("t", None, "", "install t"), ["a"], lambda p: Result("c", p, True))
    assert (job.inputs, job.extra_key) == (("a",), "")
    with pytest.raises(ToolMissing, match=r"t not found \(install t\)"):
        job.run()


# --- the files meant for git, without git: the repository's own .gitignore -----------------

IGNORE = "# comment\n  # indented comment\n/secrets.yaml\n  build/  \n*.tmp\nsub/anchored.txt\nskip.me\nXdata/\n\n"


def test_committed_entries_without_git_follow_the_gitignore(tmp_path: Path) -> None:
    root = tree(tmp_path, {
        ".gitignore": IGNORE, "secrets.yaml": "", "a/secrets.yaml": "", "build/x": "", "a/build/y": "", "build.txt": "",
        "x.tmp": "", "a/y.tmp": "", "sub/anchored.txt": "", "a/sub/anchored.txt": "", "keep.txt": "", "# comment": "",
        "c/build": "",  # a file: `build/` ignores folders only
        "a/b/skip.me": "",  # a pattern without a slash matches the name at any depth
        "# indented comment": "", "Xdata/f": "", "a/Xdata/g": "",
    })
    (root / "linked").symlink_to(root / "a", target_is_directory=True)
    (root / "link.txt").symlink_to(root / "keep.txt")
    assert _common.committed_entries(root) == [
        "# comment", "# indented comment", ".gitignore", "a/secrets.yaml", "a/sub/anchored.txt", "build.txt", "c/build", "keep.txt", "link.txt", "linked",
    ]
    assert _common.committed_files(root) == ["# comment", "# indented comment", ".gitignore", "a/secrets.yaml", "a/sub/anchored.txt", "build.txt", "c/build", "keep.txt", "link.txt"]
    assert _common.committed_links(root) == ["link.txt", "linked"]


def test_a_gitignore_that_is_not_utf8_still_applies(tmp_path: Path) -> None:
    """A byte that is no UTF-8 (git reads the file as bytes) stops no other pattern applying."""
    root = tree(tmp_path, {"a.tmp": "", "b.txt": ""})
    (root / ".gitignore").write_bytes(b"*.tmp\n\xff.bak\n")
    assert _common.committed_entries(root) == [".gitignore", "b.txt"]


def test_a_nested_git_folder_is_never_committed_without_git(tmp_path: Path) -> None:
    assert _common.committed_entries(tree(tmp_path, {"a/.git/config": "", "a/f": "", "f": ""})) == ["a/f", "f"]


def test_without_a_gitignore_every_file_counts(tmp_path: Path) -> None:
    root = tree(tmp_path, {"a/b": "", "c": ""})
    assert _common.committed_entries(root) == ["a/b", "c"]


def test_in_a_git_work_tree_git_decides(tmp_path: Path) -> None:
    root = tree(tmp_path, {".gitignore": "*.tmp\n", "a.txt": "", "b.tmp": "", "staged.tmp": "", "dir/c": ""})
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid"]
    subprocess.run([*git, "init", "-q"], cwd=root, check=True)
    subprocess.run([*git, "add", "-f", "staged.tmp"], cwd=root, check=True)  # tracked, though ignored
    os.symlink("dir", root / "dirlink")
    assert _common.committed_entries(root) == [".gitignore", "a.txt", "dir/c", "dirlink", "staged.tmp"]
    assert _common.committed_files(root) == [".gitignore", "a.txt", "dir/c", "staged.tmp"]
    assert _common.committed_links(root) == ["dirlink"]
