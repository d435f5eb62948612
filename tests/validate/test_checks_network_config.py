"""Our check of network-config against the inventory (cloudinit.network_problems and its
job), message by message, on the rendered seed of cp1 edited the ways a person might."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from generator import loader, yamlio
from generator.render import layout
from generator.validate.base import Context, Result
from generator.validate.checks import cloudinit
from generator.validate.checks._common import RERENDER
from support import copy

SEED = "nodes/cp1/network-config"
E = "ethernets.ens160: "


def problems(reference: Path, old: str = "", new: str = "", *, wrap: bool = False) -> list[str]:
    inv = loader.check_file(reference / layout.INVENTORY).inventory
    text = (reference / SEED).read_text()
    assert old in text
    text = text.replace(old, new, 1)
    data: Any = yamlio.loader().load(text)
    return cloudinit.network_problems(inv, inv.nodes[0], {"network": data} if wrap else data)


def test_the_rendered_seed_says_what_the_inventory_says(reference: Path) -> None:
    assert problems(reference) == [] == problems(reference, wrap=True)


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("version: 2", "version: 1", ["version is 1, not 2 (network-config v2, netplan's format)"]),
        ("version: 2\n", "", ["version is None, not 2 (network-config v2, netplan's format)"]),
        ("  ens160:", "  ens161:", ["no ethernets entry for interface ens160 (by name, or by `match: macaddress` with `set-name: ens160`)"]),
        ("      - 192.168.100.11/24", "      - 192.168.100.12/24", [E + "the node's address 192.168.100.11/24 is missing (addresses: ['192.168.100.12/24'])"]),
        ("      - 192.168.100.11/24", "      - 192.168.100.11/16",
         [E + "address 192.168.100.11/16 is not inside network.subnet 192.168.100.0/24",
          E + "the node's address 192.168.100.11/24 is missing (addresses: ['192.168.100.11/16'])"]),
        ("      - 192.168.100.11/24", "      - 192.168.100.11",
         [E + "address '192.168.100.11' has no prefix length", E + "address 192.168.100.11/32 is not inside network.subnet 192.168.100.0/24",
          E + "the node's address 192.168.100.11/24 is missing (addresses: ['192.168.100.11/32'])"]),
        ("      - 192.168.100.11/24", "      - 192.168.100.11/24\n      - fe80::1/64",
         [E + "address 'fe80::1/64' is not IPv4 address/prefix-length"]),
        ("      - 192.168.100.11/24", "      - fe80::1/64\n      - 192.168.100.11/24",
         [E + "address 'fe80::1/64' is not IPv4 address/prefix-length"]),  # and the addresses after it still count
        ("    routes:\n", "    routes:\n      - 10.0.0.0/8\n", []),  # not a route mapping: not a default route either
        ("    nameservers:\n      addresses:\n        - 192.168.100.1\n      search:\n        - home.arpa\n", "    nameservers: [192.168.100.1]\n",
         [E + "nameservers.addresses are [], network.dns is ['192.168.100.1']"]),
        ("    addresses:\n      - 192.168.100.11/24\n", "", [E + "the node's address 192.168.100.11/24 is missing (addresses: [])"]),
        ("via: 192.168.100.1", "via: 192.168.100.254", [E + "the default route goes via 192.168.100.254, network.gateway is 192.168.100.1"]),
        ("to: 0.0.0.0/0", "to: default", []),
        ("to: 0.0.0.0/0", "to: 10.0.0.0/8", [E + "no default route (routes: [{to: default, via: 192.168.100.1}])"]),
        ("    routes:\n      - to: 0.0.0.0/0\n        via: 192.168.100.1\n", "    gateway4: 192.168.100.1\n", []),
        ("    routes:\n      - to: 0.0.0.0/0\n        via: 192.168.100.1\n", "    gateway4: 192.168.100.9\n",
         [E + "the default route goes via 192.168.100.9, network.gateway is 192.168.100.1"]),
        ("        via: 192.168.100.1", "        via: 192.168.100.1\n    gateway4: gw",
         [E + "the default route goes via gw, network.gateway is 192.168.100.1"]),
        ("        - 192.168.100.1\n      search:", "        - 9.9.9.9\n      search:",
         [E + "nameservers.addresses are ['9.9.9.9'], network.dns is ['192.168.100.1']"]),
        ("        - 192.168.100.1\n      search:", "        - dns.home.arpa\n      search:",
         [E + "nameservers.addresses are ['dns.home.arpa'], network.dns is ['192.168.100.1']"]),
        ("    nameservers:\n      addresses:\n        - 192.168.100.1\n", "    nameservers:\n",
         [E + "nameservers.addresses are [], network.dns is ['192.168.100.1']"]),
        ("    dhcp4: false", "    dhcp4: false\n    mtu: 9000", [E + "mtu is 9000, network.mtu is 1500"]),
        ("    dhcp4: false", "    dhcp4: false\n    mtu: 1500", []),
        ("    dhcp4: false", "    dhcp4: false\n    match:\n      macaddress: 52:54:00:aa:bb:cc",
         [E + "match.macaddress is '52:54:00:aa:bb:cc', the node's mac is None"]),
        ("    dhcp4: false", "    dhcp4: false\n    match: [1]", [E + "match.macaddress is None, the node's mac is None"]),
    ],
)
def test_each_difference_exactly(reference: Path, old: str, new: str, expected: list[str]) -> None:
    assert problems(reference, old, new) == expected


def test_not_a_mapping(reference: Path) -> None:
    inv = loader.check_file(reference / layout.INVENTORY).inventory
    for data in (["a"], "text", None, {"network": ["a"]}):
        assert cloudinit.network_problems(inv, inv.nodes[0], data) == ["not a YAML mapping"]


def test_ethernets_that_are_not_a_mapping(reference: Path) -> None:
    inv = loader.check_file(reference / layout.INVENTORY).inventory
    missing = "no ethernets entry for interface ens160 (by name, or by `match: macaddress` with `set-name: ens160`)"
    for ethernets in (["ens160"], {"ens160": "up"}, None):
        assert cloudinit.network_problems(inv, inv.nodes[0], {"version": 2, "ethernets": ethernets}) == [missing]
    assert cloudinit.network_problems(inv, inv.nodes[0], {"version": 3}) == ["version is 3, not 2 (network-config v2, netplan's format)", missing]


def test_a_mac_in_capitals_is_the_node_s(reference: Path) -> None:
    inv = loader.check_file(reference / layout.INVENTORY).inventory
    node = inv.nodes[0].model_copy(update={"mac": "52:54:00:ab:cd:ef"})
    data: Any = yamlio.loader().load((reference / SEED).read_text())
    entry = data["ethernets"].pop("ens160")
    data["ethernets"]["nic0"] = {**entry, "match": {"macaddress": "52:54:00:ab:cd:ef".upper()}, "set-name": "ens160"}
    assert cloudinit.network_problems(inv, node, data) == []
    data["ethernets"]["nic0"]["mtu"] = 9000
    assert cloudinit.network_problems(inv, node, data) == ["ethernets.nic0: mtu is 9000, network.mtu is 1500"]


def test_the_job_and_its_results(reference: Path, tmp_path: Path) -> None:
    root = copy(reference, tmp_path)
    (root / SEED).write_text((root / SEED).read_text().replace("version: 2", "version: 1").replace("    dhcp4: false", "    dhcp4: false\n    mtu: 9000"))
    (root / "nodes/cp2/network-config").write_text("a: [\n")
    (root / "nodes/stray").mkdir()
    (root / "nodes/stray/network-config").write_text((root / SEED).read_text())
    ctx = Context(root, loader.check_file(root / layout.INVENTORY).inventory, tmp_path / "cache")
    jobs = {j.inputs[0]: j for j in cloudinit.network_jobs(ctx)}
    assert (jobs[SEED].check, jobs[SEED].inputs, jobs[SEED].extra_key) == (cloudinit.NETWORK, (SEED, layout.INVENTORY), "")
    hint = f"the node's network settings must match {layout.INVENTORY}; {RERENDER}"
    assert jobs[SEED].run() == [Result(cloudinit.NETWORK, SEED, False, f"version is 1, not 2 (network-config v2, netplan's format)\n{E}mtu is 9000, network.mtu is 1500", hint)]
    [broken] = jobs["nodes/cp2/network-config"].run()
    assert (broken.check, broken.ok, broken.hint) == (cloudinit.NETWORK, False, hint) and broken.message.startswith("nodes/cp2/network-config")
    assert jobs["nodes/stray/network-config"].run() == [
        Result(cloudinit.NETWORK, "nodes/stray/network-config", False, f"no node in {layout.INVENTORY} has its seed in nodes/stray", hint)
    ]
    assert jobs["nodes/cp3/network-config"].run() == [Result(cloudinit.NETWORK, "nodes/cp3/network-config", True)]


def test_an_mtu_left_out_is_1500(reference: Path) -> None:
    inv = loader.check_file(reference / layout.INVENTORY).inventory
    jumbo = inv.model_copy(update={"network": inv.network.model_copy(update={"mtu": 9000})})
    data: Any = yamlio.loader().load((reference / SEED).read_text())
    assert cloudinit.network_problems(jumbo, jumbo.nodes[0], data) == [E + "mtu is 1500, network.mtu is 9000"]
