"""clusterforge: one cluster.yaml in, a validated GitOps repository out."""

from __future__ import annotations


def __getattr__(name: str) -> str:
    """`__version__`, read from the installed metadata only when asked: importlib.metadata
    costs a third of `clusterforge check`."""
    if name != "__version__":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("clusterforge")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "0.0.0+source"
