"""What every validator check is and returns.

A check is a small adapter around one real tool. It declares the files it
reads (so its result can be cached by a hash of their contents plus the tool's
version) and returns one Result per file (or per cross-file finding).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # a warm `validate` reads results without the model (pydantic) loaded
    from ..model import Inventory
    from .gitops import Discovery


def _no_secrets() -> Callable[[str], str]:
    from ..secrets import Redactor

    return Redactor()


@dataclass(frozen=True)
class Result:
    check: str  # e.g. "kubeconform", "haproxy -c"
    file: str  # repository-relative path the finding is about
    ok: bool
    message: str = ""  # the tool's own words on failure
    hint: str = ""  # what to do about it
    # Not judged: the checker (a Debian daemon) is not installed here. Not a failure
    # unless `validate --strict`; never cached.
    skipped: bool = False


@dataclass(frozen=True)
class Job:
    """One unit of validation work: a tool run over some files of the repository."""

    check: str
    inputs: tuple[str, ...]  # repository-relative paths whose content decides the result
    run: Callable[[], list[Result]]
    tool_version: str = ""  # part of the cache key
    extra_key: str = ""  # anything else that decides the result (flags, cache contents' hash)


@dataclass(frozen=True)
class Context:
    repo: Path
    inventory: Inventory
    cache_dir: Path  # $CLUSTERFORGE_CACHE_DIR or ~/.cache/clusterforge
    # Applied to every result before it is cached or shown: tools quote files, and a
    # secret pasted into one by hand must not spread into reports and caches.
    redact: Callable[[str], str] = field(default_factory=_no_secrets)

    @functools.cached_property
    def discovery(self) -> Discovery:
        """What the GitOps engine applies (gitops.discover), found once per run for every check."""
        from .gitops import discover

        return discover(self.repo, self.inventory)


# A check module exposes `jobs(ctx: Context) -> list[Job]`.
JobsFactory = Callable[[Context], list[Job]]
