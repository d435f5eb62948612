"""tree.render refuses a path outside the layout (a renderer's bug: the writer trusts only such paths);
two renderers claiming one path: tests/render/test_docs_shapes.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from generator import loader
from generator.render import tree

EXAMPLE = Path(__file__).parents[2] / "generator" / "data" / "cluster.example.yaml"


def test_a_path_outside_the_layout_is_a_bug(monkeypatch: pytest.MonkeyPatch) -> None:
    inv = loader.check_file(EXAMPLE).inventory
    monkeypatch.setattr(tree, "RENDERERS", (*tree.RENDERERS, lambda inv: {"notes.md": ""}))
    with pytest.raises(RuntimeError, match="^notes.md is not in layout.RENDERED_FILES "):
        tree.render(inv)

