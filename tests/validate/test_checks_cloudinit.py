"""cloud-init schema, our check of user-data's top-level keys, netplan generate and our
check of network-config against the inventory, on a rendered reference repository."""

from __future__ import annotations

from pathlib import Path

import pytest

from generator import loader
from generator.errors import ClusterforgeError
from generator.render import layout
from generator.validate.base import Context
from generator.validate.checks import cloudinit
from support import copy, edit

from . import NeedTool, failures, run

CP1 = "nodes/cp1"


def test_globs_match_layout(reference: Path) -> None:
    inv = loader.check_file(reference / layout.INVENTORY).inventory
    for node in inv.nodes:
        assert Path(f"{layout.seed_dir(node)}/user-data").match(cloudinit.USER_DATA_FILES)
        assert Path(f"{layout.seed_dir(node)}/network-config").match(cloudinit.NETWORK_CONFIG_FILES)


@pytest.mark.tools
def test_the_reference_seeds_pass_every_check(reference: Path, need_tool: NeedTool) -> None:
    need_tool("cloud-init")
    need_tool("netplan")
    results = run(reference, cloudinit.jobs)
    assert {(r.check, r.file) for r in results} >= {(c, f"{CP1}/{f}") for c, f in [
        (cloudinit.SCHEMA, "user-data"), (cloudinit.KEYS, "user-data"), (cloudinit.NETPLAN, "network-config"), (cloudinit.NETWORK, "network-config")]}
    assert failures(results) == {}


def test_schema_keys_come_from_the_schema() -> None:
    schema = {
        "$defs": {"a": {"properties": {"runcmd": {}}}, "b": {"allOf": [{"properties": {"write_files": {}}}]}},
        "allOf": [{"$ref": "#/$defs/a"}, {"$ref": "#/$defs/b"}],
    }
    assert cloudinit.schema_keys(schema) == {"runcmd", "write_files"}


@pytest.mark.tools
def test_a_misspelt_key_fails_ours(reference: Path, tmp_path: Path, need_tool: NeedTool) -> None:
    need_tool("cloud-init")
    root = copy(reference, tmp_path)
    edit(root, f"{CP1}/user-data", "\nruncmd:", "\nruncmdd:")
    failed = failures(run(root, cloudinit.key_jobs))
    assert list(failed) == [f"{CP1}/user-data"]
    assert "unknown top-level key 'runcmdd'" in failed[f"{CP1}/user-data"]
    assert "did you mean 'runcmd'" in failed[f"{CP1}/user-data"]


@pytest.mark.tools
def test_a_wrong_type_fails_cloud_init_schema(reference: Path, tmp_path: Path, need_tool: NeedTool) -> None:
    need_tool("cloud-init")
    root = copy(reference, tmp_path)
    edit(root, f"{CP1}/user-data", "\nhostname: cp1\n", "\nhostname: 5\n")
    failed = failures(run(root, cloudinit.schema_jobs))
    assert list(failed) == [f"{CP1}/user-data"]
    assert "hostname: 5 is not of type 'string'" in failed[f"{CP1}/user-data"]


def test_cloud_init_schema_runs_once_for_every_user_data(reference: Path) -> None:
    ctx = Context(reference, loader.check_file(reference / layout.INVENTORY).inventory, reference.parent / "cache")
    [job] = cloudinit.schema_jobs(ctx)
    assert set(job.inputs) == {p.relative_to(reference).as_posix() for p in reference.glob("nodes/*/user-data")}


def test_cloud_init_must_be_a_python_script(tmp_path: Path) -> None:
    """Its schema check runs in cloud-init's own interpreter, named by its shebang."""
    (tmp_path / "cloud-init").write_text("#!/bin/sh\nexec true\n")
    with pytest.raises(ClusterforgeError, match="is not a Python script"):
        cloudinit.python_of(tmp_path / "cloud-init")
    (tmp_path / "cloud-init").write_text("#!/usr/bin/env python3\nimport sys\n")
    assert cloudinit.python_of(tmp_path / "cloud-init") == ["/usr/bin/env", "python3"]


@pytest.mark.tools
def test_netplan_names_the_seed_line(reference: Path, tmp_path: Path, need_tool: NeedTool) -> None:
    need_tool("netplan")
    root = copy(reference, tmp_path)
    path = f"{CP1}/network-config"
    edit(root, path, "- 192.168.100.11/24", "- 192.168.100.11")
    line = next(n for n, text in enumerate((root / path).read_text().splitlines(), 1) if "192.168.100.11" in text)
    failed = failures(run(root, cloudinit.netplan_jobs))
    assert list(failed) == [path]
    assert f"{path}:{line}:" in failed[path]  # the seed's own line, not the wrapped copy's
    assert "missing /prefixlength" in failed[path]


@pytest.mark.parametrize(
    ("old", "new", "says"),
    [
        ("via: 192.168.100.1", "via: 192.168.100.254", "network.gateway is 192.168.100.1"),
        ("  ens160:", "  ens161:", "no ethernets entry for interface ens160"),
        ("- 192.168.100.11/24", "- 192.168.100.12/24", "192.168.100.11/24 is missing"),
        ("- 192.168.100.11/24", "- 192.168.100.11/24\n      - 10.0.0.5/8", "not inside network.subnet"),
        ("        - 192.168.100.1\n", "        - 9.9.9.9\n", "network.dns"),
    ],
)
def test_network_config_must_say_what_the_inventory_says(reference: Path, tmp_path: Path, old: str, new: str, says: str) -> None:
    root = copy(reference, tmp_path)
    edit(root, f"{CP1}/network-config", old, new)
    failed = failures(run(root, cloudinit.network_jobs))
    assert list(failed) == [f"{CP1}/network-config"]
    assert says in failed[f"{CP1}/network-config"]


def test_a_mac_matched_entry_counts_for_the_interface(reference: Path) -> None:
    inv = loader.check_file(reference / layout.INVENTORY).inventory
    node = inv.nodes[0].model_copy(update={"mac": "52:54:00:12:34:56"})
    entry = {
        "match": {"macaddress": "52:54:00:12:34:56"},
        "set-name": "ens160",
        "addresses": [f"{node.ip}/24"],
        "routes": [{"to": "default", "via": "192.168.100.1"}],
        "nameservers": {"addresses": ["192.168.100.1"]},
    }
    assert cloudinit.network_problems(inv, node, {"network": {"version": 2, "ethernets": {"nic0": entry}}}) == []
    wrong_mac = {**entry, "match": {"macaddress": "52:54:00:00:00:01"}}
    assert "match.macaddress" in cloudinit.network_problems(inv, node, {"version": 2, "ethernets": {"nic0": wrong_mac}})[0]
