"""The one exception root. Anything derived from ClusterforgeError is a message
for the user; anything else reaching the CLI is a bug and shows a traceback
only with --debug."""

from __future__ import annotations

from dataclasses import dataclass


class ClusterforgeError(Exception):
    """An error whose message is meant for the user."""

    exit_code = 2


@dataclass(frozen=True, order=True)
class Problem:
    """One finding about the inventory, located by line and field path."""

    line: int
    path: str
    message: str
    source: str = "cluster.yaml"

    def __str__(self) -> str:
        where = f"{self.source}:{self.line}" if self.line else self.source
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class InventoryError(ClusterforgeError):
    """The inventory is invalid; carries every error found, sorted."""

    def __init__(self, problems: list[Problem], warnings: list[Problem] | None = None):
        self.problems = sorted(problems)
        self.warnings = sorted(warnings or [])
        super().__init__("\n".join(str(p) for p in self.problems))


class ToolMissing(ClusterforgeError):
    """An external tool the command needs is not installed."""

    exit_code = 1

    def __init__(self, tool: str, hint: str):
        self.tool, self.hint = tool, hint
        super().__init__(f"{tool} not found ({hint}); run `clusterforge doctor` to see every tool")


class ToolFailed(ClusterforgeError):
    """An external tool exited with an unexpected code (or timed out)."""

    exit_code = 1

    def __init__(self, argv: list[str], returncode: int | None, stdout: str, stderr: str):
        self.argv, self.returncode, self.stdout, self.stderr = argv, returncode, stdout, stderr
        what = "timed out" if returncode is None else f"exited {returncode}"
        detail = (stderr or stdout).strip()
        super().__init__(f"`{' '.join(argv)}` {what}" + (f":\n{detail}" if detail else ""))


class InstallFailed(ClusterforgeError):
    """A tool could not be installed (build failed, no verified download, checksum mismatch)."""

    exit_code = 1
