"""Every file the lock owns exists and holds what clusterforge wrote (the sha256 the
lock records), and the lock itself exists. The other checks only see the files that
are there: a deleted README.md, kubeadm config, haproxy.cfg or kustomization would
pass them all, and a file that is not what clusterforge wrote was not checked by
the tests of its renderer."""

from __future__ import annotations

from ... import writer
from ...errors import ClusterforgeError
from ...render import layout
from .. import caches
from ..base import Context, Job, Result
from ._common import RERENDER

CHECK = "owned files"
WRITE_AGAIN = "run `clusterforge render` to write it again"


def jobs(ctx: Context) -> list[Job]:
    lock = ctx.repo / layout.LOCK_FILE
    if not lock.is_file():
        what = "is not a file" if lock.exists() else "is missing"
        message = f"the lock {what}: it records which files clusterforge owns, so nothing here is known to be what it wrote"
        return [_fixed(Result(CHECK, layout.LOCK_FILE, False, message, WRITE_AGAIN))]
    try:
        owned = writer.read_lock(ctx.repo)
    except ClusterforgeError as e:
        return [_fixed(Result(CHECK, layout.LOCK_FILE, False, str(e)))]

    def run() -> list[Result]:
        return [_owned_file(ctx, rel, digest) for rel, digest in sorted(owned.items())]

    return [Job(CHECK, (layout.LOCK_FILE, *sorted(owned)), run)]


def _owned_file(ctx: Context, rel: str, digest: str) -> Result:
    path = ctx.repo / rel
    if not path.is_file():
        return Result(CHECK, rel, False, "missing: clusterforge wrote it (the lock owns it)", WRITE_AGAIN)
    if caches.file_digest(path) != digest:
        return Result(CHECK, rel, False, "changed since clusterforge wrote it (its sha256 is not the lock's)", RERENDER)
    return Result(CHECK, rel, True)


def _fixed(result: Result) -> Job:
    """A Job whose result is known when planning; the message is part of its key."""
    return Job(CHECK, (result.file,), lambda: [result], extra_key=result.message)
