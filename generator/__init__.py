"""clusterforge: one cluster.yaml in, a validated GitOps repository out."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("clusterforge")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+source"
