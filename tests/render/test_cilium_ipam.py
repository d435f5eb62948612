"""Cilium's IPAM values for each mode, exactly as the chart reads them."""

from __future__ import annotations

from pathlib import Path

import pytest

from generator.loader import check_text
from generator.render import cilium

EXAMPLE = Path("generator/data/cluster.example.yaml")


@pytest.mark.parametrize(
    ("mode", "ipam"),
    [
        ("kubernetes", {"mode": "kubernetes"}),
        ("cluster-pool", {"mode": "cluster-pool", "operator": {"clusterPoolIPv4PodCIDRList": ["10.244.0.0/16"]}}),
        (
            "multi-pool",
            {"mode": "multi-pool", "operator": {"autoCreateCiliumPodIPPools": {"default": {"ipv4": {"cidrs": ["10.244.0.0/16"], "maskSize": 24}}}}},
        ),
    ],
)
def test_ipam_values(mode: str, ipam: dict) -> None:
    text = EXAMPLE.read_text().replace("  hubble: true\n", f"  hubble: true\n  ipam: {mode}\n", 1)
    assert cilium.values(check_text(text).inventory)["ipam"] == ipam
