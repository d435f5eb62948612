"""Renderers: pure functions from the inventory to file contents (see tree.render)."""
