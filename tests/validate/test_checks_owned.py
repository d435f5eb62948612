"""Deleted and changed files: every file the lock owns must be there and be what clusterforge
wrote, the lock must be there, and a folder the GitOps engine would apply must hold files."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pytest

from generator import cli
from generator import repo as repository
from generator.render import layout
from generator.validate import caches, gitops, runner
from generator.validate.base import Result
from generator.validate.checks import owned
from generator.validate.checks._common import RERENDER
from support import copy

from . import ctx_of, failures, run

WRITE_AGAIN = "run `clusterforge render` to write it again"


def test_the_reference_owns_every_file_it_wrote(reference: Path) -> None:
    results = run(reference, owned.jobs)
    lock = json.loads((reference / layout.LOCK_FILE).read_text())["files"]
    assert sorted(r.file for r in results) == sorted(lock)
    assert failures(results) == {}


@pytest.mark.parametrize(
    "path",
    [layout.README, "kubeadm/cp1-init.yaml", "loadbalancers/haproxy1/haproxy.cfg", "infrastructure/controllers/cilium/kustomization.yaml"],
)
def test_a_deleted_owned_file_fails(reference: Path, tmp_path: Path, path: str) -> None:
    root = copy(reference, tmp_path)
    (root / path).unlink()
    results = run(root, owned.jobs)
    assert failures(results) == {path: "missing: clusterforge wrote it (the lock owns it)"}
    assert next(r.hint for r in results if r.file == path) == WRITE_AGAIN


def test_a_changed_owned_file_fails(reference: Path, tmp_path: Path) -> None:
    root = copy(reference, tmp_path)
    with (root / layout.README).open("a") as f:
        f.write("a note\n")
    assert failures(run(root, owned.jobs)) == {layout.README: "changed since clusterforge wrote it (its sha256 is not the lock's)"}


def test_binary_garbage_in_an_owned_file_fails(reference: Path, tmp_path: Path) -> None:
    root = copy(reference, tmp_path)
    (root / "nodes/cp1/meta-data").write_bytes(bytes(range(256)))
    assert failures(run(root, owned.jobs)) == {"nodes/cp1/meta-data": "changed since clusterforge wrote it (its sha256 is not the lock's)"}


def test_a_deleted_lock_fails(reference: Path, tmp_path: Path) -> None:
    root = copy(reference, tmp_path)
    (root / layout.LOCK_FILE).unlink()
    results = run(root, owned.jobs)
    message = "the lock is missing: it records which files clusterforge owns, so nothing here is known to be what it wrote"
    assert failures(results) == {layout.LOCK_FILE: message}
    assert results[0].hint == WRITE_AGAIN


def test_a_lock_that_is_a_directory_fails(reference: Path, tmp_path: Path) -> None:
    root = copy(reference, tmp_path)
    (root / layout.LOCK_FILE).unlink()
    (root / layout.LOCK_FILE).mkdir()
    message = "the lock is not a file: it records which files clusterforge owns, so nothing here is known to be what it wrote"
    assert failures(run(root, owned.jobs)) == {layout.LOCK_FILE: message}


def test_a_damaged_lock_fails_with_the_writers_message(reference: Path, tmp_path: Path) -> None:
    root = copy(reference, tmp_path)
    (root / layout.LOCK_FILE).write_text("{not json\n")
    [(path, message)] = failures(run(root, owned.jobs)).items()
    assert path == layout.LOCK_FILE and "damaged" in message


def test_validate_fails_for_a_deleted_readme(reference: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """End to end, with only this check: a deletion every other check passed."""
    root = copy(reference, tmp_path)
    (root / layout.README).unlink()
    monkeypatch.setenv(caches.CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.setattr(runner, "check_modules", lambda: [owned.jobs])
    out = io.StringIO()
    assert cli.main(["validate", "-C", str(root)], out) == 1
    assert f"FAIL  owned files  {layout.README}\n    missing: clusterforge wrote it (the lock owns it)\n    hint: {WRITE_AGAIN}\n" in out.getvalue()


# --- units the engine applies -------------------------------------------------------------


def test_a_unit_folder_without_files_does_not_exist_for_the_engine(reference: Path, tmp_path: Path) -> None:
    """git keeps no empty folder: Flux's checkout has no infrastructure/configs to apply."""
    root = copy(reference, tmp_path)
    for path in (root / "infrastructure/configs").iterdir():
        path.unlink()
    discovery = gitops.discover(root, repository.load(root).inventory)
    assert discovery.problems == (("clusters/koedo-lab/infrastructure.yaml", "infrastructure/configs does not exist in the repository"),)


def test_a_unit_outside_the_repository_is_not_read(reference: Path, tmp_path: Path) -> None:
    root = copy(reference, tmp_path)
    outside = tmp_path / "outside"
    shutil.copytree(root / "infrastructure/configs", outside)
    entry = root / "clusters/koedo-lab/infrastructure.yaml"
    entry.write_text(entry.read_text().replace("./infrastructure/configs", "../outside"))
    discovery = gitops.discover(root, repository.load(root).inventory)
    assert discovery.problems == (("clusters/koedo-lab/infrastructure.yaml", "../outside is outside the repository"),)
    assert not any(file.startswith("..") or file.startswith("/") for file, _ in discovery.objects)


# --- each result whole: its check, file, verdict, message and hint; each job's cache key --------


def test_a_changed_file_s_result_whole(reference: Path, tmp_path: Path) -> None:
    root = copy(reference, tmp_path)
    (root / "nodes/cp1/meta-data").write_text("changed\n")
    (root / "nodes/cp2/meta-data").unlink()
    failed = [r for r in run(root, owned.jobs) if not r.ok]
    assert failed == [
        Result(owned.CHECK, "nodes/cp1/meta-data", False, "changed since clusterforge wrote it (its sha256 is not the lock's)", RERENDER),
        Result(owned.CHECK, "nodes/cp2/meta-data", False, "missing: clusterforge wrote it (the lock owns it)", WRITE_AGAIN),
    ]
    assert next(r for r in run(root, owned.jobs) if r.file == layout.README) == Result(owned.CHECK, layout.README, True)


def test_the_job_reads_the_lock_and_every_owned_file(reference: Path) -> None:
    [job] = owned.jobs(ctx_of(reference))
    lock = json.loads((reference / layout.LOCK_FILE).read_text())["files"]
    assert (job.check, job.inputs, job.tool_version, job.extra_key) == (owned.CHECK, (layout.LOCK_FILE, *sorted(lock)), "", "")


@pytest.mark.parametrize("damage", ["missing", "folder", "damaged"])
def test_a_lock_that_cannot_be_read_is_one_result_known_when_planning(reference: Path, tmp_path: Path, damage: str) -> None:
    root = copy(reference, tmp_path)
    lock = root / layout.LOCK_FILE
    lock.unlink()
    if damage == "folder":
        lock.mkdir()
    elif damage == "damaged":
        lock.write_text("{not json\n")
    [job] = owned.jobs(ctx_of(root))
    [result] = job.run()
    assert (result.check, result.file, result.ok) == (owned.CHECK, layout.LOCK_FILE, False)
    assert result.hint == ("" if damage == "damaged" else WRITE_AGAIN)
    # Cached by the message: the same lock file content could fail for another reason.
    assert (job.check, job.inputs, job.extra_key) == (owned.CHECK, (layout.LOCK_FILE,), result.message)
