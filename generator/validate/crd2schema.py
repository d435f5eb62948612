"""CustomResourceDefinition -> JSON schemas kubeconform can use, in the catalog
layout (<group>/<kind>_<version>.json), like datreeio's openapi2jsonschema, but
walking only schema positions (never `default` or `example` data) and stricter
at the root: apiVersion and kind are pinned with enums.

Strict like kubectl: an object that declares properties allows no others,
unless it says `x-kubernetes-preserve-unknown-fields` or sets additionalProperties.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

Schema = dict[str, Any]

_SCHEMA_MAPS = ("properties", "patternProperties", "definitions")  # name -> schema
_SCHEMA_LISTS = ("allOf", "anyOf", "oneOf")
_SCHEMA_VALUES = ("not", "additionalItems")
_INT_OR_STRING = [{"type": "string"}, {"type": "integer"}]


def is_crd(doc: Any) -> bool:
    return (
        isinstance(doc, dict)
        and doc.get("kind") == "CustomResourceDefinition"
        and str(doc.get("apiVersion", "")).startswith("apiextensions.k8s.io/")
    )


def _strict(node: Schema) -> Schema:
    out: Schema = {}
    for key, value in node.items():
        if key in _SCHEMA_MAPS and isinstance(value, dict):
            out[key] = {name: _strict(s) if isinstance(s, dict) else s for name, s in value.items()}
        elif key in _SCHEMA_LISTS and isinstance(value, list):
            out[key] = [_strict(s) if isinstance(s, dict) else s for s in value]
        elif key in (*_SCHEMA_VALUES, "additionalProperties") and isinstance(value, dict):
            out[key] = _strict(value)
        elif key == "items":
            out[key] = [_strict(s) for s in value] if isinstance(value, list) else _strict(value)
        else:
            out[key] = value
    if out.get("nullable") is True and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    if (out.get("x-kubernetes-int-or-string") is True or out.get("format") == "int-or-string") and "type" not in out:
        out.setdefault("anyOf", _INT_OR_STRING)
    if "properties" in out and "additionalProperties" not in out and not out.get("x-kubernetes-preserve-unknown-fields"):
        out["additionalProperties"] = False
    return out


def version_schema(crd: dict[str, Any], version: dict[str, Any]) -> Schema:
    """The JSON schema of one served version of a CRD."""
    spec = crd["spec"]
    group, kind = spec["group"], spec["names"]["kind"]
    root = dict(version.get("schema", {}).get("openAPIV3Schema") or {"type": "object"})
    properties = dict(root.get("properties") or {})
    properties["apiVersion"] = {"type": "string", "enum": [f"{group}/{version['name']}"]}
    properties["kind"] = {"type": "string", "enum": [kind]}
    properties.setdefault("metadata", {"type": "object"})
    root["properties"] = properties
    return _strict(root)


def convert(crd: dict[str, Any]) -> dict[str, Schema]:
    """{catalog-relative path: schema} for every version of the CRD that has a schema."""
    spec = crd["spec"]
    group, kind = spec["group"], spec["names"]["kind"].lower()
    return {
        f"{group}/{kind}_{v['name']}.json": version_schema(crd, v)
        for v in spec.get("versions") or []
        if v.get("served", True) and (v.get("schema") or {}).get("openAPIV3Schema")
    }


def write_schemas(crds: Iterable[dict[str, Any]], dest: Path) -> list[str]:
    """Write the schemas of the CRDs below dest; returns the relative paths written."""
    written = []
    for crd in crds:
        for rel, schema in convert(crd).items():
            path = dest / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(schema, indent=1, sort_keys=True) + "\n", encoding="utf-8")
            written.append(rel)
    return sorted(written)


def api_versions(crds: Iterable[dict[str, Any]]) -> set[str]:
    """What the CRDs add to the API, in both forms Helm's Capabilities.APIVersions knows:
    group/version and group/version/Kind."""
    out = set()
    for crd in crds:
        spec = crd["spec"]
        for v in spec.get("versions") or []:
            if v.get("served", True):
                gv = f"{spec['group']}/{v['name']}"
                out |= {gv, f"{gv}/{spec['names']['kind']}"}
    return out
