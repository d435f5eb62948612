"""Offline validation of a generated repository with the real tools (see runner.run)."""
