from __future__ import annotations

import os
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest

from generator import tools, versions
from generator.errors import ToolMissing

IN_CI = os.environ.get("CI", "").lower() in ("true", "1")


@pytest.fixture
def need_tool() -> Callable[..., Path]:
    """`need_tool(name, **kw)` -> the tool's path (kw as for tools.require). A missing tool
    skips the test on a developer machine but fails it in CI, where every tool must be installed."""

    def need(name: str, **kw: str) -> Path:
        try:
            return tools.require(name, **kw)
        except ToolMissing as e:
            if IN_CI:
                pytest.fail(f"CI must provide every tool: {e}")
            pytest.skip(str(e))

    return need


# The day this suite's expectations were written for: end-of-life warnings depend
# on "today", and no test may change its verdict as the calendar moves on.
TODAY = date(2026, 11, 28)


@pytest.fixture(autouse=True)
def fixed_today(monkeypatch: pytest.MonkeyPatch) -> date:
    monkeypatch.setattr(versions, "today", lambda: TODAY)
    return TODAY


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The repository rendered from the reference home lab's inventory (copy it before breaking it)."""
    from generator import cli, repo

    path = tmp_path_factory.mktemp("reference") / "lab"
    repo.new(path, cli.example_text())
    return path
