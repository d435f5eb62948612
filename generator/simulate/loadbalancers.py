"""The API path of the twin: the load balancers (the real keepalived and haproxy with
the rendered keepalived.conf, haproxy.cfg and check script), a stand-in API server on
every control plane, and a client calling https://VIP:PORT/healthz.

Each rendered file runs as rendered, except that the paths where cloud-init would
install the files point at this machine's copies, and haproxy's runtime paths
(stats socket, chroot, pid file) point into the machine's folder.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from ipaddress import IPv4Address
from pathlib import Path

from ruamel.yaml.error import YAMLError

from .. import tools, yamlio
from ..errors import ClusterforgeError
from ..model import Node
from ..render import layout, loadbalancer
from . import guard
from .namespaces import Daemon, Machine, Port, Topology
from .twin import Sources, Twin

READY_TIMEOUT = 10  # seconds for a stand-in API server to listen
SOCKET_TIMEOUT = 2
REQUEST_TIMEOUT = 3.0  # seconds for one request through the VIP: a client's patience, not a measurement
# Kernel settings of a load balancer's seed that belong to its network namespace.
NAMESPACED_SYSCTL = re.compile(r"net\.(ipv4|ipv6)\.[a-z0-9_.]+")
HAPROXY_RUNTIME = re.compile(r"^(\s*)(stats socket|chroot|pidfile)\s+(\S+)(.*)$", re.M)


@dataclass
class LoadBalancer:
    node: Node
    machine: Machine
    port: Port
    keepalived_conf: Path
    haproxy_cfg: Path
    stats_socket: Path
    files: dict[str, str]  # repository path -> the copy it runs as
    keepalived: Daemon | None = None
    haproxy: Daemon | None = None


@dataclass
class ControlPlane:
    node: Node
    machine: Machine
    server: Daemon | None = None


@dataclass
class LoadBalancerSide:
    """One copy of the API path: its own segment, load balancers, control planes and client."""

    topology: Topology
    twin: Twin
    sources: Sources
    label: str  # distinguishes copies in namespace names ("" for the first)
    lbs: dict[str, LoadBalancer] = field(default_factory=dict)
    cps: dict[str, ControlPlane] = field(default_factory=dict)
    client: Machine | None = None
    cert: Path | None = None
    key: Path | None = None

    @property
    def vip(self) -> IPv4Address:
        return self.twin.inventory.api_server.vip

    @property
    def api_port(self) -> int:
        return self.twin.inventory.api_server.port

    @property
    def url(self) -> str:
        return f"https://{self.vip}:{self.api_port}/healthz"

    # --- building (main thread: machines tie their life to the starting thread) ---------

    def build(self, segment: str | None = None) -> str:
        inv = self.twin.inventory
        interface, prefix = inv.network.interface, inv.network.subnet.prefixlen
        segment = segment or self.topology.segment(f"{self.label}lan")
        for node in inv.control_planes:
            machine = self.topology.machine(f"{self.label}{node.name}")
            self.topology.connect(machine, segment, interface, f"{node.ip}/{prefix}")
            self.cps[node.name] = ControlPlane(node, machine)
        for node in inv.loadbalancers:
            machine = self.topology.machine(f"{self.label}{node.name}")
            port = self.topology.connect(machine, segment, interface, f"{node.ip}/{prefix}")
            self.lbs[node.name] = self._prepare(node, machine, port)
        self.client = self.topology.machine(f"{self.label}client")
        self.topology.connect(self.client, segment, interface, f"{self.twin.client}/{prefix}")
        self.key, self.cert = self.topology.directory / "apiserver.key", self.topology.directory / "apiserver.crt"
        if not self.cert.exists():
            openssl = tools.find_tool("openssl") or "openssl"
            tools.run(
                [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=kube-apiserver",
                 "-keyout", self.key, "-out", self.cert],
            )
        return segment

    def _prepare(self, node: Node, machine: Machine, port: Port) -> LoadBalancer:
        directory = layout.loadbalancer_dir(node)
        names = (loadbalancer.KEEPALIVED_CONF, loadbalancer.HAPROXY_CFG, loadbalancer.CHECK_SCRIPT)
        files = {name: self.sources.get(f"{directory}/{name}") for name in names}
        guard.keepalived_conf(files[loadbalancer.KEEPALIVED_CONF])
        guard.haproxy_cfg(files[loadbalancer.HAPROXY_CFG])
        guard.check_script(files[loadbalancer.CHECK_SCRIPT])
        texts = {name: file.text for name, file in files.items()}
        copies = {name: machine.directory / name for name in names}
        for name, text in texts.items():
            # The installed paths (what cloud-init writes) become this machine's copies.
            for other, installed in loadbalancer.INSTALL_PATHS.items():
                text = text.replace(installed, str(copies[other]))
            if name == loadbalancer.HAPROXY_CFG:
                text = HAPROXY_RUNTIME.sub(lambda m: self._runtime_path(machine, m), text)
            copies[name].write_text(text, encoding="utf-8")
        copies[loadbalancer.CHECK_SCRIPT].chmod(0o755)  # keepalived's script security: root-owned, not writable by others
        machine.sysctl(self._seed_sysctls(node))
        return LoadBalancer(
            node, machine, port, copies[loadbalancer.KEEPALIVED_CONF], copies[loadbalancer.HAPROXY_CFG],
            machine.directory / "admin.sock", {f"{directory}/{n}": str(copies[n]) for n in names},
        )

    @staticmethod
    def _runtime_path(machine: Machine, match: re.Match[str]) -> str:
        indent, keyword, _path, rest = match.groups()
        target = {"stats socket": machine.directory / "admin.sock", "chroot": machine.directory, "pidfile": machine.directory / "haproxy.pid"}
        return f"{indent}{keyword} {target[keyword]}{rest}"

    def _seed_sysctls(self, node: Node) -> dict[str, str]:
        """The net.* settings the node's seed writes to /etc/sysctl.d (ip_nonlocal_bind for haproxy)."""
        path = f"{layout.seed_dir(node)}/user-data"
        try:
            data = yamlio.loader().load(self.sources.get(path).text)
        except YAMLError as e:
            raise ClusterforgeError(f"{path} is not YAML: {e}") from None
        settings: dict[str, str] = {}
        for entry in (data or {}).get("write_files") or []:
            if isinstance(entry, dict) and str(entry.get("path", "")).startswith("/etc/sysctl.d/"):
                for line in str(entry.get("content", "")).splitlines():
                    key, eq, value = line.partition("=")
                    if eq and NAMESPACED_SYSCTL.fullmatch(key.strip()):
                        settings[key.strip()] = value.strip()
        return settings

    # --- daemons ---------------------------------------------------------------------

    def start(self) -> None:
        for cp in self.cps:
            self.start_apiserver(cp)
        for lb in self.lbs:
            self.start_haproxy(lb)
            self.start_keepalived(lb)

    def start_apiserver(self, name: str) -> None:
        cp = self.cps[name]
        argv = [sys.executable, "-m", "generator.simulate.apiserver", str(cp.node.ip), str(self.api_port), str(self.cert), str(self.key)]
        cp.server = cp.machine.start("apiserver", argv)
        deadline = time.monotonic() + READY_TIMEOUT
        while "ready" not in cp.server.log.read_text(errors="replace"):
            if not cp.server.running or time.monotonic() > deadline:
                raise ClusterforgeError(f"the stand-in API server on {name} did not start:\n{cp.server.log_tail()}")
            time.sleep(0.02)

    def stop_apiserver(self, name: str) -> None:
        server = self.cps[name].server
        if server:
            server.stop()
            self.cps[name].server = None

    def start_haproxy(self, name: str) -> None:
        lb = self.lbs[name]
        lb.haproxy = lb.machine.start("haproxy", [tools.require("haproxy"), "-f", lb.haproxy_cfg, "-db"])

    def stop_haproxy(self, name: str) -> None:
        lb = self.lbs[name]
        if lb.haproxy:
            lb.haproxy.stop()
            lb.haproxy = None

    def start_keepalived(self, name: str) -> None:
        lb = self.lbs[name]
        d = lb.machine.directory
        argv = [
            tools.require("keepalived"), "--use-file", lb.keepalived_conf, "--vrrp", "--dont-fork", "--log-console",
            "--log-detail", "--no-syslog", "--pid", d / "keepalived.pid", "--vrrp_pid", d / "vrrp.pid", "--checkers_pid", d / "checkers.pid",
        ]
        lb.keepalived = lb.machine.start("keepalived", argv)

    def stop_keepalived(self, name: str) -> None:
        lb = self.lbs[name]
        if lb.keepalived:
            lb.keepalived.stop()
            lb.keepalived = None

    def set_link(self, name: str, up: bool) -> None:
        self.topology.set_port(self.lbs[name].port, up)

    # --- observing -------------------------------------------------------------------

    def holders(self) -> list[str]:
        """The load balancers whose interface holds the VIP now."""
        interface = self.twin.inventory.network.interface
        found = []
        for name, lb in self.lbs.items():
            out = lb.machine.ip("-4", "-o", "addr", "show", "dev", interface, "to", f"{self.vip}/32").stdout
            if out.strip():
                found.append(name)
        return found

    def backends(self, name: str) -> dict[str, str]:
        """haproxy's view of its API servers on one load balancer: server -> UP/DOWN/..."""
        rows = self._stats(self.lbs[name].stats_socket)
        return {row["svname"]: row["status"] for row in rows if row.get("svname") not in ("FRONTEND", "BACKEND")}

    @staticmethod
    def _stats(path: Path) -> list[dict[str, str]]:
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                s.settimeout(SOCKET_TIMEOUT)
                s.connect(str(path))
                s.sendall(b"show stat\n")
                data = b""
                while chunk := s.recv(65536):
                    data += chunk
        except OSError:
            return []
        lines = data.decode(errors="replace").splitlines()
        if not lines or not lines[0].startswith("# "):
            return []
        header = lines[0][2:].split(",")
        return [dict(zip(header, line.split(","))) for line in lines[1:] if line]

    def probe(self, rate: float, count: int, timeout: float = REQUEST_TIMEOUT) -> Probe:
        """Start the client's request loop (bounded: `count` requests at `rate` per second)."""
        assert self.client is not None
        argv = [sys.executable, "-m", "generator.simulate.probe", self.url, str(rate), str(count), str(timeout)]
        return Probe(subprocess.Popen(self.client._enter(argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True), count / rate + timeout + 10)


@dataclass(frozen=True)
class Request:
    sent: float  # CLOCK_MONOTONIC
    ok: bool
    error: str


class Probe:
    """A running request loop; results() waits for its end (bounded by its own length)."""

    def __init__(self, process: subprocess.Popen[str], limit: float):
        self.process, self.limit = process, limit
        assert process.stdout is not None
        if process.stdout.readline().strip() != "ready":
            process.kill()
            raise ClusterforgeError(f"the request loop did not start: {process.communicate(timeout=5)[1]}")

    def results(self) -> list[Request]:
        try:
            out, err = self.process.communicate(timeout=self.limit)
        except subprocess.TimeoutExpired:
            self.process.kill()
            out, err = self.process.communicate(timeout=5)
        requests = []
        for line in out.splitlines():
            data = json.loads(line)
            requests.append(Request(float(data["sent"]), bool(data["ok"]), str(data["error"])))
        return requests
