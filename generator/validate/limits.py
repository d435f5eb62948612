"""Bounds on what `validate` reads, checked before any file is parsed or any tool runs.

The tools' time grows with their input: a 50 MB manifest or user-data keeps them
busy for a minute, a 10,000-document manifest for minutes, before their timeouts.
No generated file comes near these limits (the largest is a few kB); a file over
them is refused with its name and the limit instead.
"""

from __future__ import annotations

import re
from pathlib import Path

from ..errors import ClusterforgeError

MAX_FILE_BYTES = 5_000_000
MAX_DOCUMENTS = 1_000  # YAML documents in one file
YAML_SUFFIXES = (".yaml", ".yml")
_DOCUMENT_START = re.compile(rb"^---(?=[ \t\r\n]|$)", re.M)
_CONTENT = re.compile(rb"^[ \t]*[^#%\s]", re.M)  # a line that is neither blank, a comment nor a directive


class InputTooLarge(ClusterforgeError):
    """Files over the limits: nothing was validated."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        listed = "\n".join(f"  {p}" for p in problems)
        super().__init__(f"refusing to validate: files over the limits of what validate reads\n{listed}")


def over_limits(repo: Path, files: list[str]) -> list[str]:
    """`PATH: what` for every file over a limit."""
    problems = []
    for rel in files:
        path = repo / rel
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            problems.append(f"{rel}: {size} bytes (at most {MAX_FILE_BYTES} per file)")
        elif rel.endswith(YAML_SUFFIXES):
            documents = count_documents(path.read_bytes())
            if documents > MAX_DOCUMENTS:
                problems.append(f"{rel}: {documents} YAML documents (at most {MAX_DOCUMENTS} per file)")
    return problems


def count_documents(data: bytes) -> int:
    """The documents of a YAML stream, without parsing it: a `---` opens each one,
    except a first document that has content before any `---`."""
    starts = [m.start() for m in _DOCUMENT_START.finditer(data)]
    head = data[: starts[0]] if starts else data
    return len(starts) + (1 if _CONTENT.search(head) else 0)


class LinkedInput(ClusterforgeError):
    """Symbolic links in the repository: nothing was read through them."""

    def __init__(self, links: list[str]):
        listed = "\n".join(f"  {link}" for link in links)
        super().__init__(
            "refusing to validate: symbolic links in the repository (validate reads no file through a link, "
            f"which could point outside the repository; clusterforge renders none)\n{listed}"
        )


def check(repo: Path) -> None:
    """Raise LinkedInput naming every symbolic link meant for git, then InputTooLarge
    naming every file meant for git that is over a limit."""
    from .checks import _common  # not for MAX_FILE_BYTES alone (see runs.py)

    links = _common.committed_links(repo)
    if links:
        raise LinkedInput(links)
    problems = over_limits(repo, _common.committed_files(repo))
    if problems:
        raise InputTooLarge(problems)
