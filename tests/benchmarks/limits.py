"""An inventory at every limit of generator/model.py at once, and what it costs.

    python tests/benchmarks/limits.py

Prints the CPU seconds of check, of rendering the tree, of `new` (check, render,
write) and of `render` on the unchanged repository for it. tests/test_errors.py builds the same inventory to
prove it is accepted and that one entry more on any list is refused; times are
measured here, never asserted in tests.
"""

from __future__ import annotations

import ipaddress
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from generator import loader, model, repo, yamlio
from generator.render import tree

EXAMPLE = Path(__file__).resolve().parents[2] / "generator" / "data" / "cluster.example.yaml"
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeKeyForTheExampleOnlyDoNotUse000000"
RECIPIENT = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"

# Every bounded list, by its path in cluster.yaml, and its limit.
LIMITS: dict[str, int] = {
    "hosts": model.MAX_HOSTS,
    "nodes": model.MAX_CLUSTER_NODES,
    "network.dns": model.MAX_DNS_SERVERS,
    "apiServer.extraCertSans": model.MAX_CERT_SANS,
    "apiServer.allowedSources": model.MAX_ALLOWED_SOURCES,
    "ssh.authorizedKeys": model.MAX_SSH_KEYS,
    "ssh.allowedSources": model.MAX_ALLOWED_SOURCES,
    "bgp.peers": model.MAX_PEERS,
    "loadBalancerPools": model.MAX_POOLS,
    "loadBalancerPools.0.serviceSelector": model.MAX_SELECTOR_LABELS,
    "secrets.ageRecipients": model.MAX_AGE_RECIPIENTS,
}


def _address(base: str, offset: int) -> str:
    return str(ipaddress.IPv4Address(base) + offset)


def inventory_at_limits(over: str | None = None) -> dict[str, Any]:
    """The reference lab grown to every limit (with `over`, that list one entry past its limit)."""
    n = {path: limit + (path == over) for path, limit in LIMITS.items()}
    data = json.loads(json.dumps(yamlio.loader().load(EXAMPLE.read_text(encoding="utf-8"))))
    data["network"] |= {"subnet": "10.0.0.0/16", "gateway": "10.0.0.1", "dns": [_address("10.0.3.0", i + 1) for i in range(n["network.dns"])]}
    data["apiServer"] |= {
        "vip": "10.0.0.4",
        "extraCertSans": [f"api{i}.example.org" for i in range(n["apiServer.extraCertSans"])],
        "allowedSources": [f"172.16.{i}.0/24" for i in range(n["apiServer.allowedSources"])],
    }
    data["hosts"] = [{"name": f"host{i}"} for i in range(n["hosts"])]
    roles = ["control-plane"] * 7 + ["loadbalancer"] * 2
    roles += ["worker"] * (n["nodes"] - len(roles))
    data["nodes"] = [
        {"name": f"node{i}", "role": role, "ip": _address("10.0.1.0", i + 1), "host": f"host{i % n['hosts']}"} for i, role in enumerate(roles)
    ]
    data["ssh"] |= {
        "authorizedKeys": [f"{KEY} admin{i}@desktop" for i in range(n["ssh.authorizedKeys"])],
        "allowedSources": [f"172.17.{i}.0/24" for i in range(n["ssh.allowedSources"])],
    }
    # FRR and BIRD: Yamaha RTX takes at most 32 neighbors.
    data["bgp"]["peers"] = [
        {"name": f"router{i}", "address": _address("10.0.2.0", i + 1), "asn": 64512, "router": ("frr", "bird")[i % 2]} for i in range(n["bgp.peers"])
    ]
    data["loadBalancerPools"] = [
        {"name": f"pool{i}", "cidr": f"10.{200 + i // 256}.{i % 256}.0/24", "serviceSelector": {"pool": f"pool{i}"}} for i in range(n["loadBalancerPools"])
    ]
    selector = {f"label{i}": "on" for i in range(n["loadBalancerPools.0.serviceSelector"] - 1)}
    data["loadBalancerPools"][0]["serviceSelector"] |= selector
    data["secrets"] = {"ageRecipients": [RECIPIENT] * n["secrets.ageRecipients"]}
    return data


def cpu_seconds(fn: Any) -> float:
    started = time.process_time()
    fn()
    return time.process_time() - started


def main() -> None:
    data = inventory_at_limits()
    text = yamlio.dump(data)
    inventory = loader.check_text(text).inventory
    # SOPS would need an age identity to decrypt on re-render: the repository keeps its secrets in plain text.
    del data["secrets"]
    with tempfile.TemporaryDirectory() as tmp:
        lab = Path(tmp) / "lab"
        results = {
            "nodes": len(inventory.nodes),
            "files": len(tree.render(inventory)),
            "check": cpu_seconds(lambda: loader.check_text(text)),
            "render tree": cpu_seconds(lambda: tree.render(inventory)),
            "new": cpu_seconds(lambda: repo.new(lab, yamlio.dump(data))),
            "render unchanged": cpu_seconds(lambda: repo.render_repo(lab)),
        }
    print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in results.items()}))


if __name__ == "__main__":
    main()
