"""Kubernetes label selectors (matchLabels and matchExpressions), evaluated as the API
machinery does, to say which nodes and Services a rendered selector picks."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def matches(selector: Mapping[str, Any] | None, labels: Mapping[str, str], *, empty_matches: bool = True) -> bool:
    """Whether `labels` satisfy `selector`. An absent or empty selector matches everything
    unless `empty_matches` is False (Cilium's Service advertisements select nothing then)."""
    if not selector or not (selector.get("matchLabels") or selector.get("matchExpressions")):
        return empty_matches
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for e in selector.get("matchExpressions") or []:
        key, op, values = e["key"], e["operator"], e.get("values") or []
        ok = {
            "In": key in labels and labels[key] in values,
            "NotIn": key not in labels or labels[key] not in values,
            "Exists": key in labels,
            "DoesNotExist": key not in labels,
        }.get(op, False)
        if not ok:
            return False
    return True
