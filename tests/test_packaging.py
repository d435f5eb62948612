"""The wheel carries everything `clusterforge` needs outside a source checkout:
the example inventory, the cookiecutter template and the offline data (schemas and
chart archives the default validates with)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_new_works_from_the_wheel_alone(tmp_path):
    # From a clean copy: a build/ or *.egg-info left in the checkout would add files package-data misses.
    source = tmp_path / "source"
    junk = ("build", "dist", "*.egg-info", ".venv", ".nox", ".tools", ".git", "__pycache__", ".pytest_cache", ".hypothesis")
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(*junk))
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(tmp_path / "dist"), str(source)],
        check=True,
        cwd=tmp_path,
    )
    (wheel,) = (tmp_path / "dist").glob("clusterforge-*.whl")
    unpacked = tmp_path / "site"
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        archive.extractall(unpacked)
    assert "generator/template/cookiecutter.json" in names
    assert "generator/data/cluster.example.yaml" in names
    assert not [n for n in names if "__pycache__" in n]
    offline = ROOT / "generator" / "data" / "offline"
    assert {f"generator/data/offline/{p.relative_to(offline).as_posix()}" for p in offline.rglob("*") if p.is_file()} <= set(names)

    # Only the unpacked wheel on the path (dependencies from this environment), run from elsewhere.
    env = {**os.environ, "PYTHONPATH": str(unpacked)}
    code = "import sys, generator.cli; sys.exit(generator.cli.main(sys.argv[1:]))"
    done = subprocess.run(
        [sys.executable, "-c", code, "new", str(tmp_path / "lab"), "--example", "--no-input"],
        cwd=tmp_path, env=env, capture_output=True, text=True,
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "lab" / "noxfile.py").exists() and (tmp_path / "lab" / "cluster.yaml").exists()
    # The unpacked wheel's data passes its own digests: every packaged file is usable.
    counts = subprocess.run(
        [sys.executable, "-c", "from generator.validate import caches as c; print(c.PACKAGED, len(c.packaged_files('schemas')), len(c.packaged_files('charts')))"],
        cwd=tmp_path, env=env, capture_output=True, text=True, check=True,
    ).stdout.split()
    manifest = json.loads((offline / "manifest.json").read_text())
    assert counts == [str(unpacked / "generator" / "data" / "offline"), str(len(manifest["schemas"])), str(len(manifest["charts"]))]
    assert "generator/template" in subprocess.run(
        [sys.executable, "-c", "from generator import repo; print(repo.TEMPLATE_DIR.as_posix())"],
        cwd=tmp_path, env=env, capture_output=True, text=True, check=True,
    ).stdout
