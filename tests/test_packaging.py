"""The wheel carries everything `clusterforge` needs outside a source checkout:
the example inventory and the cookiecutter template."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_new_works_from_the_wheel_alone(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(tmp_path / "dist"), str(ROOT)],
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

    # Only the unpacked wheel on the path (dependencies from this environment), run from elsewhere.
    env = {**os.environ, "PYTHONPATH": str(unpacked)}
    code = "import sys, generator.cli; sys.exit(generator.cli.main(sys.argv[1:]))"
    done = subprocess.run(
        [sys.executable, "-c", code, "new", str(tmp_path / "lab"), "--example", "--no-input"],
        cwd=tmp_path, env=env, capture_output=True, text=True,
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "lab" / "noxfile.py").exists() and (tmp_path / "lab" / "cluster.yaml").exists()
    assert "generator/template" in subprocess.run(
        [sys.executable, "-c", "from generator import repo; print(repo.TEMPLATE_DIR.as_posix())"],
        cwd=tmp_path, env=env, capture_output=True, text=True, check=True,
    ).stdout
