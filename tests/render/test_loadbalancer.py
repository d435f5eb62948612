from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from generator import tools
from generator.errors import ToolFailed
from generator.loader import check_file, check_text
from generator.model import Inventory, Node
from generator.render import layout, loadbalancer
from generator.validate import netns as validate_netns

EXAMPLE = Path("generator/data/cluster.example.yaml")
HAPROXY2_LINE = "  - {name: haproxy2, role: loadbalancer,  ip: 192.168.100.3,  host: nuc2}\n"
NeedTool = Callable[..., Path]


@pytest.fixture(scope="module")
def inv() -> Inventory:
    return check_file(EXAMPLE).inventory


@pytest.fixture(scope="module")
def three_lbs() -> Inventory:
    extra = "  - {name: haproxy3, role: loadbalancer,  ip: 192.168.100.5,  host: nuc3}\n"
    return check_text(EXAMPLE.read_text().replace(HAPROXY2_LINE, HAPROXY2_LINE + extra)).inventory


def block(text: str, header: str) -> list[str]:
    """The stripped lines inside `header { ... }` of a keepalived config (no nesting)."""
    m = re.search(rf"^\s*{re.escape(header)} {{\n(.*?)^\s*}}", text, re.M | re.S)
    assert m, header
    return [line.strip() for line in m.group(1).splitlines() if not line.strip().startswith("!")]


def keyword(text: str, name: str) -> str:
    m = re.search(rf"^\s*{name} (.+)$", text, re.M)
    assert m, name
    return m.group(1)


def test_files_per_loadbalancer(inv: Inventory) -> None:
    tree = loadbalancer.render(inv)
    expected = {f"{layout.loadbalancer_dir(lb)}/{f}" for lb in inv.loadbalancers for f in ("haproxy.cfg", "keepalived.conf", "check_apiserver.sh")}
    assert set(tree) == expected
    assert all(text.endswith("\n") and not text.endswith("\n\n") for text in tree.values())
    assert loadbalancer.render(inv) == tree  # deterministic


def test_nothing_without_loadbalancers() -> None:
    text = EXAMPLE.read_text()
    without = "".join(line for line in text.splitlines(keepends=True) if "role: loadbalancer" not in line)
    assert loadbalancer.render(check_text(without).inventory) == {}


def test_haproxy_balances_over_every_control_plane(three_lbs: Inventory) -> None:
    cfg = loadbalancer.haproxy_cfg(three_lbs)
    assert re.findall(r"^\s*bind (\S+)$", cfg, re.M) == ["192.168.100.4:6443", f"{loadbalancer.LOOPBACK}:6443"]
    servers = re.findall(r"^\s*server (\S+) (\S+) (.*)$", cfg, re.M)
    assert [(name, addr) for name, addr, _ in servers] == [(cp.name, f"{cp.ip}:6443") for cp in three_lbs.control_planes]
    # /healthz really checked over TLS: HTTP check + check-ssl on every server.
    assert all({"check", "check-ssl"} <= set(opts.split()) for _, _, opts in servers)
    assert "http-check send meth GET uri /healthz" in cfg and "option httpchk" in cfg
    assert re.search(r"^\s*mode tcp$", cfg, re.M)


def test_keepalived_roles_priorities_and_peers(three_lbs: Inventory) -> None:
    lbs = three_lbs.loadbalancers
    confs = {lb.name: loadbalancer.keepalived_conf(three_lbs, lb) for lb in lbs}
    assert [keyword(confs[lb.name], "state") for lb in lbs] == ["MASTER", "BACKUP", "BACKUP"]
    priorities = [int(keyword(confs[lb.name], "priority")) for lb in lbs]
    assert priorities == [101, 100, 99]
    for lb in lbs:
        conf = confs[lb.name]
        assert keyword(conf, "router_id") == lb.name
        assert keyword(conf, "unicast_src_ip") == str(lb.ip)
        assert sorted(block(conf, "unicast_peer")) == sorted(str(o.ip) for o in lbs if o != lb)
        assert block(conf, "virtual_ipaddress") == ["192.168.100.4/24 dev ens160"]
        assert keyword(conf, "interface") == "ens160"
        assert block(conf, "track_script") == ["check_apiserver", "chk_haproxy"]
        assert not re.search(r"^\s*(authentication|auth_pass)\b", conf, re.M)
    assert len({keyword(c, "virtual_router_id") for c in confs.values()}) == 1


def test_a_dead_haproxy_always_moves_the_vip(three_lbs: Inventory) -> None:
    """The LB that lost haproxy ranks below every other LB, even one whose API check fails."""
    lbs = three_lbs.loadbalancers
    conf = loadbalancer.keepalived_conf(three_lbs, lbs[0])
    api_weight = int(block(conf, "vrrp_script check_apiserver")[2].split()[1])
    haproxy_weight = int(block(conf, "vrrp_script chk_haproxy")[2].split()[1])
    for dead in lbs:
        for other in lbs:
            if other != dead:
                assert loadbalancer.priority(three_lbs, dead) + haproxy_weight < loadbalancer.priority(three_lbs, other) + api_weight
    # A failed API check alone hands the VIP from the master to the next LB.
    assert loadbalancer.priority(three_lbs, lbs[0]) + api_weight < loadbalancer.priority(three_lbs, lbs[1])


def test_haproxy_check_runs_the_program_it_names(inv: Inventory) -> None:
    """keepalived's script security runs a script's resolved path with that path as argv[0]:
    Debian's and Ubuntu's /usr/bin/pidof is a link to killall5, which then acts as killall5
    and always fails, so a dead haproxy never moved the VIP (found by `clusterforge simulate`)."""
    conf = loadbalancer.keepalived_conf(inv, inv.loadbalancers[0])
    program = Path(block(conf, "vrrp_script chk_haproxy")[0].split('"')[1].split()[0])
    assert program.is_file()
    assert program.resolve().name == program.name


def test_vip_port_and_interface_agree_everywhere(inv: Inventory) -> None:
    text = EXAMPLE.read_text().replace("  port: 6443", "  port: 8443").replace("interface: ens160", "interface: eth1")
    variant = check_text(text).inventory
    script = loadbalancer.check_script(variant)
    assert "port=8443" in script.splitlines()
    assert "bind 192.168.100.4:8443" in loadbalancer.haproxy_cfg(variant)
    assert f"bind {loadbalancer.LOOPBACK}:8443" in loadbalancer.haproxy_cfg(variant)
    assert all(s.endswith(":8443 check check-ssl verify none inter 3s fall 3 rise 2") for s in re.findall(r"^\s*server .*", loadbalancer.haproxy_cfg(variant), re.M))
    conf = loadbalancer.keepalived_conf(variant, variant.loadbalancers[1])
    assert block(conf, "virtual_ipaddress") == ["192.168.100.4/24 dev eth1"]
    assert "6443" not in script + conf + loadbalancer.haproxy_cfg(variant)


def test_virtual_router_id_is_stable_and_differs_per_cluster(inv: Inventory) -> None:
    vrid = loadbalancer.virtual_router_id(inv)
    again = check_file(EXAMPLE).inventory
    assert loadbalancer.virtual_router_id(again) == vrid == 48  # pinned: a change would split running pairs
    other = inv.model_copy(update={"name": "office-rack"})
    assert loadbalancer.virtual_router_id(other) != vrid
    ids = {loadbalancer.virtual_router_id(inv.model_copy(update={"name": f"lab-{i}"})) for i in range(2000)}
    assert min(ids) == 1 and max(ids) == 255  # the whole VRRP range, nothing outside it


# --- the daemons' own checkers -------------------------------------------------


@pytest.mark.tools
def test_haproxy_accepts_the_config(inv: Inventory, need_tool: NeedTool, tmp_path: Path) -> None:
    """haproxy -c parses without binding, so the VIP need not exist here."""
    haproxy = need_tool("haproxy")
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text(loadbalancer.haproxy_cfg(inv))
    done = tools.run([haproxy, "-c", "-f", cfg])
    assert "Configuration file is valid" in done.stdout
    assert "WARNING" not in done.stdout + done.stderr
    cfg.write_text(loadbalancer.haproxy_cfg(inv).replace("balance roundrobin", "balanse roundrobin"))
    with pytest.raises(ToolFailed, match="unknown keyword 'balanse'"):
        tools.run([haproxy, "-c", "-f", cfg])


@pytest.mark.tools
def test_check_script_passes_shellcheck(inv: Inventory, need_tool: NeedTool, tmp_path: Path) -> None:
    script = tmp_path / "check_apiserver.sh"
    script.write_text(loadbalancer.check_script(inv))
    tools.run([need_tool("shellcheck"), "--shell=bash", script])


@pytest.fixture
def netns(need_tool: NeedTool, inv: Inventory) -> Iterator[str]:
    """A scratch network namespace holding an interface named like the inventory's NIC, up."""
    need_tool("ip")
    try:
        with validate_netns.scratch([inv.network.interface], up=True) as ns:
            yield ns.name
    except validate_netns.NetnsUnavailable as e:
        if os.environ.get("CI", "").lower() in ("true", "1"):
            pytest.fail(f"CI must allow network namespaces: {e}")
        pytest.skip(f"cannot create a network namespace here: {e}")


def in_netns(ns: str, *argv: str | os.PathLike[str], ok_codes: tuple[int, ...] = (0,)) -> tools.Completed:
    return tools.run([tools.require("ip"), "netns", "exec", ns, *argv], ok_codes=ok_codes, timeout=30)


def keepalived_files(inv: Inventory, node: Node, tmp_path: Path) -> Path:
    """keepalived.conf with the check script's path pointing at an executable copy."""
    tmp_path.mkdir(exist_ok=True)
    script = tmp_path / "check_apiserver.sh"
    script.write_text(loadbalancer.check_script(inv))
    script.chmod(0o755)
    conf = tmp_path / "keepalived.conf"
    conf.write_text(loadbalancer.keepalived_conf(inv, node).replace(loadbalancer.INSTALL_PATHS["check_apiserver.sh"], str(script)))
    return conf


@pytest.mark.tools
@pytest.mark.netns
def test_keepalived_accepts_every_config(three_lbs: Inventory, need_tool: NeedTool, netns: str, tmp_path: Path) -> None:
    keepalived = need_tool("keepalived")
    for lb in three_lbs.loadbalancers:
        conf = keepalived_files(three_lbs, lb, tmp_path / lb.name)
        done = in_netns(netns, keepalived, "--config-test", "-f", conf)
        assert "WARNING" not in done.stdout + done.stderr and "Disabling" not in done.stderr, done.stderr


@pytest.mark.tools
@pytest.mark.netns
def test_keepalived_config_test_can_fail(inv: Inventory, need_tool: NeedTool, netns: str, tmp_path: Path) -> None:
    """Exit 5 on an unknown keyword, and on a tracked script that is not there."""
    keepalived = need_tool("keepalived")
    conf = keepalived_files(inv, inv.loadbalancers[0], tmp_path)
    bad = tmp_path / "bad.conf"
    bad.write_text(conf.read_text().replace("advert_int 1", "advert_intx 1"))
    done = in_netns(netns, keepalived, "--config-test", "-f", bad, ok_codes=(5,))
    assert "Unknown keyword 'advert_intx'" in done.stderr
    (tmp_path / "check_apiserver.sh").unlink()
    done = in_netns(netns, keepalived, "--config-test", "-f", conf, ok_codes=(5,))
    assert "Disabling track script check_apiserver" in done.stderr


def serve(ip: Path, ns: str, program: str, *args: str) -> subprocess.Popen[str]:
    """Run a Python snippet in the namespace and wait until it says it is ready."""
    proc = subprocess.Popen([ip, "netns", "exec", ns, sys.executable, "-c", program, *args], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    return proc


def test_every_load_balancer_checks_the_same_thing(three_lbs: Inventory) -> None:
    """The kubeadm HA guide's check: nothing in it depends on which LB holds the VIP, so
    when no API server is healthy every LB loses the same weight and the VIP stays put."""
    script = loadbalancer.check_script(three_lbs)
    assert str(three_lbs.api_server.vip) not in script and three_lbs.network.interface not in script
    assert not re.search(r"^\s*(if|elif)\b", script, re.M)
    # Each LB's own haproxy, which listens there too, is what the check asks.
    assert f"https://{loadbalancer.LOOPBACK}:$port/healthz" in script
    assert f"bind {loadbalancer.LOOPBACK}:6443" in loadbalancer.haproxy_cfg(three_lbs)
    # Failing together keeps the order: the master stays above every backup.
    weight = loadbalancer.APISERVER_CHECK_WEIGHT
    ranks = [loadbalancer.priority(three_lbs, lb) + weight for lb in three_lbs.loadbalancers]
    assert ranks == sorted(ranks, reverse=True) and len(set(ranks)) == len(ranks)


@pytest.mark.tools
@pytest.mark.netns
def test_check_script_behaviour(inv: Inventory, need_tool: NeedTool, netns: str, tmp_path: Path) -> None:
    """Passes only when https://127.0.0.1:port/healthz (this LB's haproxy) answers 200, and
    gives the same verdict whether or not this LB holds the VIP."""
    bash, ip, openssl = need_tool("bash"), need_tool("ip"), need_tool("openssl")
    need_tool("curl")  # what the script itself runs
    script = tmp_path / "check_apiserver.sh"
    script.write_text(loadbalancer.check_script(inv))
    vip, port, loopback = str(inv.api_server.vip), str(inv.api_server.port), loadbalancer.LOOPBACK
    address = [f"{vip}/{inv.network.subnet.prefixlen}", "dev", inv.network.interface]

    def verdicts() -> tuple[int, int]:
        """The check's exit code on a backup, then on the VIP holder."""
        backup = in_netns(netns, bash, script, ok_codes=(0, 1)).returncode
        tools.run([ip, "-n", netns, "addr", "add", *address])
        holder = in_netns(netns, bash, script, ok_codes=(0, 1)).returncode
        tools.run([ip, "-n", netns, "addr", "del", *address])
        return backup, holder

    # Before `kubeadm init`: no API server anywhere. Both fail: the VIP does not move.
    assert verdicts() == (1, 1)
    failed = in_netns(netns, bash, script, ok_codes=(1,))
    assert f"GET https://{loopback}:{port}/healthz through this load balancer's haproxy failed" in failed.stderr
    listener = serve(ip, netns, LISTEN, loopback, port)
    try:
        assert verdicts() == (1, 1)  # a bare TCP listener is no API server
    finally:
        listener.kill()
        listener.wait()

    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    tools.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=cf-test", "-days", "1", "-keyout", key, "-out", cert])
    healthz = serve(ip, netns, HEALTHZ, loopback, port, str(cert), str(key))
    try:
        assert verdicts() == (0, 0)
    finally:
        healthz.kill()
        healthz.wait()


# Listens on argv[1]:argv[2] and says so.
LISTEN = """
import socket, sys, time
s = socket.socket()
s.bind((sys.argv[1], int(sys.argv[2])))
s.listen()
print("ready", flush=True)
time.sleep(60)
"""

# Answers GET /healthz with 200 "ok" over TLS on argv[1]:argv[2], as an API server would.
HEALTHZ = """
import http.server, ssl, sys

class Healthz(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200 if self.path == "/healthz" else 404)
        self.end_headers()
        self.wfile.write(b"ok")

server = http.server.HTTPServer((sys.argv[1], int(sys.argv[2])), Healthz)
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(sys.argv[3], sys.argv[4])
server.socket = context.wrap_socket(server.socket, server_side=True)
print("ready", flush=True)
server.serve_forever()
"""
