"""Files that make the generated tree a working repository: the ignore rules
that keep secrets and seeds out of git, the inventory's JSON Schema that
editors use through cluster.yaml's `yaml-language-server` line, and the snapshot
of the inventory the tree was rendered from."""

from __future__ import annotations

import json

from ..model import Inventory
from . import layout


def inventory_schema() -> dict:
    schema = Inventory.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema


def gitignore() -> str:
    return "\n".join(
        [
            "# Written by clusterforge. Secrets and seeds never belong in git.",
            f"/{layout.SECRETS_FILE}",
            f"/{layout.CACHE_DIR}/",
            f"/{layout.SCRATCH_DIR}/",  # the writer's temporary files
            f"/{layout.SEEDS_DIR}/",
            "*.iso",
            ".nox/",
            "/.tools/",  # a tools folder in the tree, which clusterforge looks in before the per-user one
            "",
        ]
    )


def inventory_snapshot(inv: Inventory) -> str:
    """The inventory this tree is rendered from, every default filled in: what `clusterforge
    plan` compares the edited cluster.yaml with to write the runbooks of a change."""
    return json.dumps(inv.model_dump(mode="json", by_alias=True), indent=2, sort_keys=True) + "\n"


def render(inv: Inventory) -> dict[str, str]:
    return {
        layout.GITIGNORE: gitignore(),
        layout.SCHEMA_FILE: json.dumps(inventory_schema(), indent=2, sort_keys=True) + "\n",
        layout.INVENTORY_SNAPSHOT: inventory_snapshot(inv),
    }
