"""`.clusterforge/lock` is tracked, so anyone who can push can write it: every entry
must name a file clusterforge renders, inside the repository, with a well-formed
hash; anything else is refused (exit 2) naming the entry, and nothing is deleted,
with or without --force."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from generator import writer
from generator.render import layout
from support import DAMAGED_LOCKS

from .writer_support import files, new_repo, run

REFUSED = 'restore the lock from git, or delete it and render with --force to take ownership again'


@pytest.fixture
def lab(tmp_path: Path) -> Path:
    return new_repo(tmp_path / "lab")


def set_lock(dest: Path, entries: dict[str, object], version: object = writer.LOCK_VERSION) -> Path:
    """Replace the lock's entries (the real ones stay, so the rendered files stay owned)."""
    path = dest / layout.LOCK_FILE
    lock = json.loads(path.read_text())
    path.write_text(json.dumps({"version": version, "files": {**lock["files"], **entries}}))
    return path


def refused(lock: Path, *lines: str) -> str:
    listed = "".join(f"  {line}\n" for line in lines)
    return (
        f"clusterforge: {lock}: refusing entries that are not files clusterforge renders inside the repository; "
        f"nothing was changed:\n{listed}{REFUSED}\n"
    )


def victim(tmp_path: Path) -> tuple[Path, str]:
    """A file outside the repository and the hash that makes the lock claim it unchanged."""
    path = tmp_path / "victim.txt"
    path.write_text("not clusterforge's\n")
    return path, writer.digest(path.read_text())


@pytest.mark.parametrize("force", [False, True], ids=["plain", "force"])
@pytest.mark.parametrize(
    ("entry", "reason"),
    [
        pytest.param("{victim}", "an absolute path", id="absolute"),
        pytest.param("../victim.txt", '".." leaves the repository', id="dot-dot"),
        pytest.param("nodes/../../victim.txt", '".." leaves the repository', id="dot-dot-inside"),
    ],
)
def test_an_entry_outside_the_repository_deletes_nothing(tmp_path, lab, capsys, entry, reason, force):
    target, claimed = victim(tmp_path)
    key = entry.format(victim=target)
    lock = set_lock(lab, {key: claimed})
    before = files(tmp_path)
    code, err = run(capsys, "render", "-C", str(lab), *(["--force"] if force else []))
    assert (code, err) == (2, refused(lock, f"{json.dumps(key)}: {reason}"))
    assert files(tmp_path) == before


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        pytest.param("", "an empty path", id="empty"),
        pytest.param("nodes//cp1/user-data", 'an empty or "." part', id="empty-part"),
        pytest.param("./README.md", 'an empty or "." part', id="dot-part"),
        pytest.param("nodes/cp1/", 'an empty or "." part', id="trailing-slash"),
        pytest.param("nodes\\cp1\\user-data", "a backslash or control character", id="backslash"),
        pytest.param("nodes/cp1/user-data\n", "a backslash or control character", id="newline"),
        pytest.param("README.md\x00", "a backslash or control character", id="nul"),
        pytest.param("cluster.yaml", "not a file clusterforge renders", id="inventory"),
        pytest.param(layout.SECRETS_FILE, "not a file clusterforge renders", id="secrets-file"),
        pytest.param(layout.LOCK_FILE, "not a file clusterforge renders", id="lock-itself"),
        pytest.param(".git/config", "not a file clusterforge renders", id="git-config"),
        pytest.param("nodes/cp1/notes.md", "not a file clusterforge renders", id="unknown-file"),
        pytest.param("nodes/cp1/user-data/x", "not a file clusterforge renders", id="below-a-file"),
        pytest.param("nodes/CP1/user-data", "not a file clusterforge renders", id="not-a-node-name"),
        pytest.param("nodes/c\u0440\u0031/user-data", "not a file clusterforge renders", id="non-ascii"),
    ],
)
def test_an_entry_that_is_no_rendered_file_is_refused(tmp_path, lab, capsys, key, reason):
    (lab / "nodes" / "cp1" / "notes.md").write_text("mine\n")
    lock = set_lock(lab, {key: "0" * 64})
    before = files(tmp_path)
    code, err = run(capsys, "render", "-C", str(lab), "--force")
    assert (code, err) == (2, refused(lock, f"{json.dumps(key)}: {reason}"))
    assert files(tmp_path) == before


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("0" * 63, id="short"),
        pytest.param("A" * 64, id="upper-case"),
        pytest.param("g" * 64, id="not-hex"),
        pytest.param("0" * 64 + "\n", id="trailing-newline"),
        pytest.param(64, id="number"),
        pytest.param(None, id="null"),
    ],
)
def test_a_malformed_hash_is_refused(tmp_path, lab, capsys, value):
    lock = set_lock(lab, {layout.README: value})
    before = files(tmp_path)
    code, err = run(capsys, "render", "-C", str(lab), "--force")
    assert (code, err) == (2, refused(lock, f'"README.md": hash {json.dumps(value)} is not 64 lowercase hex digits'))
    assert files(tmp_path) == before


def test_every_bad_entry_is_named_at_once(tmp_path, lab, capsys):
    """Sorted by entry; an entry can be wrong twice."""
    target, claimed = victim(tmp_path)
    lock = set_lock(lab, {"../victim.txt": claimed, str(target): claimed, "cluster.yaml": "x"})
    code, err = run(capsys, "render", "-C", str(lab))
    assert (code, err) == (2, refused(
        lock,
        '"../victim.txt": ".." leaves the repository',
        f'{json.dumps(str(target))}: an absolute path',
        '"cluster.yaml": not a file clusterforge renders',
        '"cluster.yaml": hash "x" is not 64 lowercase hex digits',
    ))
    assert target.exists()


def test_a_lock_of_another_format_version_is_refused(tmp_path, lab, capsys):
    lock = set_lock(lab, {}, version=2)
    before = files(tmp_path)
    code, err = run(capsys, "render", "-C", str(lab), "--force")
    assert (code, err) == (2, f"clusterforge: {lock}: lock format version 2, but this clusterforge reads version 1: "
                              "render with the clusterforge version that wrote it\n")
    assert files(tmp_path) == before


@pytest.mark.parametrize("text", DAMAGED_LOCKS)
def test_a_damaged_lock_is_refused(tmp_path, lab, capsys, text):
    lock = lab / layout.LOCK_FILE
    if isinstance(text, bytes):
        lock.write_bytes(text)
    else:
        lock.write_text(text)
    before = files(tmp_path)
    code, err = run(capsys, "render", "-C", str(lab), "--force")
    assert (code, err) == (2, f"clusterforge: {lock} is damaged; delete it and render with --force to take ownership again\n")
    assert files(tmp_path) == before
