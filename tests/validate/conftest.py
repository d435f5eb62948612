"""Fixtures shared by the validation tests: rendered repositories, once per test module."""

from __future__ import annotations

from pathlib import Path

import pytest

from generator import repo


@pytest.fixture(scope="module")
def variant(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two FRR peers and a BIRD peer, podCIDRs advertised, two pools."""
    path = tmp_path_factory.mktemp("variant") / "rack"
    repo.new(path, (Path(__file__).parents[1] / "data" / "variant.yaml").read_text())
    return path
