"""kubectl against the rehearsal's API server: the pinned kubectl of the cluster's
version, through tools.run, JSON in and out."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import yamlio
from ..tools import Completed, run
from . import toolset


@dataclass(frozen=True)
class Kubectl:
    binary: Path
    kubeconfig: Path

    @classmethod
    def of(cls, kubeconfig: Path, kubernetes_version: str) -> Kubectl:
        return cls(toolset.kubernetes("kubectl", kubernetes_version), kubeconfig)

    def __call__(self, *args: str, input: str | None = None, timeout: float = 60, ok_codes: tuple[int, ...] = (0,)) -> Completed:
        return run([self.binary, "--kubeconfig", self.kubeconfig, *args], input=input, timeout=timeout, ok_codes=ok_codes)

    def apply(self, manifests: str, *extra: str) -> Completed:
        # Server-side apply: the API server's own validation, defaulting and field ownership.
        return self("apply", "--server-side", "--force-conflicts", "--field-manager", "clusterforge-rehearsal", "-f", "-", *extra, input=manifests)

    def items(self, resource: str, namespace: str | None = None) -> list[dict[str, Any]]:
        scope = ["--namespace", namespace] if namespace else ["--all-namespaces"]
        return json.loads(self("get", resource, *scope, "-o", "json").stdout)["items"]

    def get(self, resource: str, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        scope = ["--namespace", namespace] if namespace else []
        done = self("get", resource, name, *scope, "-o", "json", "--ignore-not-found")
        return json.loads(done.stdout) if done.stdout.strip() else None

    def env(self) -> dict[str, str]:
        """For programs (helm, the bootstrap script) that read KUBECONFIG."""
        return {"KUBECONFIG": str(self.kubeconfig)}


def load_yaml(text: str) -> Any:
    """A YAML document as plain Python data (dicts, lists, str, int...), as JSON would give it."""
    return json.loads(json.dumps(yamlio.loader().load(text)))
