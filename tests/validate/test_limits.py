"""validate refuses files over its size and document limits before parsing any file or
running any tool, naming each file and the limit."""

from __future__ import annotations

import io
import subprocess
from pathlib import Path

import pytest

from generator import cli
from generator.validate import caches, limits
from support import copy


MANIFEST = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c{i}\n"


def validate(root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str], str]:
    monkeypatch.setenv(caches.CACHE_ENV, str(tmp_path / "cache"))
    out = io.StringIO()
    code = cli.main(["validate", "-C", str(root)], out)
    return code, capsys.readouterr().err.splitlines(), out.getvalue()


def test_a_file_over_the_size_limit_is_refused_before_any_tool_runs(
    reference: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    root = copy(reference, tmp_path)
    big = root / "infrastructure/configs/big.yaml"
    big.write_text(MANIFEST.format(i=0) + "data:\n  x: " + "a" * limits.MAX_FILE_BYTES + "\n")
    size = big.stat().st_size
    assert size > limits.MAX_FILE_BYTES
    (root / "nodes/cp1/user-data").write_text("#cloud-config\n" + "#" * limits.MAX_FILE_BYTES + "\n")
    code, err, out = validate(root, tmp_path, monkeypatch, capsys)
    assert (code, out) == (2, "")
    assert err == [
        "clusterforge: refusing to validate: files over the limits of what validate reads",
        f"  infrastructure/configs/big.yaml: {size} bytes (at most {limits.MAX_FILE_BYTES} per file)",
        f"  nodes/cp1/user-data: {limits.MAX_FILE_BYTES + 15} bytes (at most {limits.MAX_FILE_BYTES} per file)",
    ]
    assert not caches.results_dir(tmp_path / "cache").exists()  # no check ran


def test_a_file_over_the_document_limit_is_refused(
    reference: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    root = copy(reference, tmp_path)
    many = root / "infrastructure/configs/many.yaml"
    many.write_text("".join("---\n" + MANIFEST.format(i=i) for i in range(limits.MAX_DOCUMENTS + 1)))
    code, err, _ = validate(root, tmp_path, monkeypatch, capsys)
    assert (code, err) == (
        2,
        [
            "clusterforge: refusing to validate: files over the limits of what validate reads",
            f"  infrastructure/configs/many.yaml: {limits.MAX_DOCUMENTS + 1} YAML documents (at most {limits.MAX_DOCUMENTS} per file)",
        ],
    )


def test_files_at_the_limits_pass_them(tmp_path: Path) -> None:
    (tmp_path / "exact.yaml").write_text(MANIFEST.format(i=0) + "#" * (limits.MAX_FILE_BYTES - len(MANIFEST.format(i=0)) - 1) + "\n")
    assert (tmp_path / "exact.yaml").stat().st_size == limits.MAX_FILE_BYTES
    # The first document needs no `---`.
    (tmp_path / "many.yaml").write_text(MANIFEST.format(i=0) + "".join("---\n" + MANIFEST.format(i=i) for i in range(1, limits.MAX_DOCUMENTS)))
    assert limits.over_limits(tmp_path, ["exact.yaml", "many.yaml"]) == []


@pytest.mark.parametrize(
    ("text", "documents"),
    [
        ("", 0),
        ("# only a comment\n", 0),
        ("a: 1\n", 1),
        ("---\na: 1\n", 1),
        ("a: 1\n---\nb: 2\n", 2),
        ("# head\n%YAML 1.2\n---\na: 1\n--- \nb: 2\n", 2),
        ("a: |\n  ---\n", 1),  # indented: inside a block scalar, no document start
        ("---a: 1\n", 1),
    ],
)
def test_documents_are_counted_without_parsing(text: str, documents: int) -> None:
    assert limits.count_documents(text.encode()) == documents


def test_the_readme_states_the_limits() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    assert f"a file over {limits.MAX_FILE_BYTES:,} bytes or a YAML file of over {limits.MAX_DOCUMENTS:,} documents" in readme


@pytest.mark.parametrize("in_git", [False, True], ids=["plain folder", "git work tree"])
def test_symbolic_links_are_refused_before_anything_is_read_through_them(
    reference: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], in_git: bool
) -> None:
    """A pull request may add links; validate in its CI must not print what they point at."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "token").write_text("FAKE-not-a-secret-but-outside-the-repository\n")
    root = copy(reference, tmp_path)
    (root / "infrastructure/configs/leak.yaml").symlink_to(outside / "token")
    (root / "infrastructure/linked").symlink_to(outside, target_is_directory=True)
    if in_git:
        subprocess.run(["git", "init", "-q", str(root)], check=True)
    code, err, out = validate(root, tmp_path, monkeypatch, capsys)
    assert (code, out) == (2, "")
    assert err == [
        "clusterforge: refusing to validate: symbolic links in the repository (validate reads no file through a link, "
        "which could point outside the repository; clusterforge renders none)",
        "  infrastructure/configs/leak.yaml",
        "  infrastructure/linked",
    ]
    assert not caches.results_dir(tmp_path / "cache").exists()  # no check ran


def test_a_linked_inventory_is_refused_before_it_is_read(
    reference: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    root = copy(reference, tmp_path)
    (tmp_path / "passwd").write_text("root:x:0:0:FAKE:/root:/bin/sh\n")
    (root / "cluster.yaml").unlink()
    (root / "cluster.yaml").symlink_to(tmp_path / "passwd")
    code, err, _ = validate(root, tmp_path, monkeypatch, capsys)
    assert code == 2
    assert "root:x" not in "\n".join(err)
    assert err[-1] == "  cluster.yaml"
