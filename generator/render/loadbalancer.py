"""HAProxy + keepalived on the load balancer VMs: the highly available API
endpoint VIP:port in front of every control plane (kubeadm's HA guide,
docs/ha-considerations.md, with its health checks made to really check).

keepalived moves the VIP between the LB VMs; HAProxy on each of them listens on
VIP:port (the backups can bind it because cloud-init sets
net.ipv4.ip_nonlocal_bind=1) and on the loopback address for the health check,
and forwards TCP to the API servers it finds healthy. Nothing here is a secret.
"""

from __future__ import annotations

import zlib

from ..model import Inventory, Node
from . import layout

HAPROXY_CFG = "haproxy.cfg"
KEEPALIVED_CONF = "keepalived.conf"
CHECK_SCRIPT = "check_apiserver.sh"

# Where each rendered file is installed on an LB VM (cloud-init writes them there).
INSTALL_PATHS = {
    HAPROXY_CFG: "/etc/haproxy/haproxy.cfg",
    KEEPALIVED_CONF: "/etc/keepalived/keepalived.conf",
    CHECK_SCRIPT: "/etc/keepalived/check_apiserver.sh",
}

FRONTEND = "kube-apiserver"
BACKEND = "control-planes"
VRRP_INSTANCE = "kube_apiserver_vip"
MASTER_PRIORITY = 101
APISERVER_CHECK_WEIGHT = -2  # kubeadm's HA guide: enough to hand the VIP to the next LB
# Where every LB's own haproxy also listens, for check_apiserver.sh.
LOOPBACK = "127.0.0.1"

INDENT = "    "


def render(inv: Inventory) -> dict[str, str]:
    """Three files per LB node; none when the inventory has no load balancers."""
    files: dict[str, str] = {}
    for node in inv.loadbalancers:
        directory = layout.loadbalancer_dir(node)
        files[f"{directory}/{HAPROXY_CFG}"] = haproxy_cfg(inv)
        files[f"{directory}/{KEEPALIVED_CONF}"] = keepalived_conf(inv, node)
        files[f"{directory}/{CHECK_SCRIPT}"] = check_script(inv)
    return files


def _file(*paragraphs: list[str]) -> str:
    """Paragraphs of lines, separated by one blank line, ending with a newline."""
    return "\n\n".join("\n".join(p) for p in paragraphs) + "\n"


def _section(header: str, body: list[str]) -> list[str]:
    """An HAProxy section: a header line and its indented keywords."""
    return [header, *(INDENT + line for line in body)]


def _block(header: str, body: list[str]) -> list[str]:
    """A keepalived block: `header {`, indented body, `}`."""
    return [f"{header} {{", *(INDENT + line for line in body), "}"]


# --- HAProxy -------------------------------------------------------------------


def haproxy_cfg(inv: Inventory) -> str:
    port = inv.api_server.port
    return _file(
        [
            f"# {INSTALL_PATHS[HAPROXY_CFG]} on every load balancer of {inv.name}.",
            "# Rendered by clusterforge from cluster.yaml: edit that and re-render.",
        ],
        _section(
            "global",
            [
                "log /dev/log local0",
                "log /dev/log local1 notice",
                "chroot /var/lib/haproxy",
                "stats socket /run/haproxy/admin.sock mode 660 level admin",
                "stats timeout 30s",
                "user haproxy",
                "group haproxy",
                "daemon",
                "maxconn 4000",
            ],
        ),
        _section(
            "defaults",
            [
                "log global",
                "# Plain TCP: TLS stays end to end between the clients and the API servers.",
                "mode tcp",
                "option tcplog",
                "option dontlognull",
                "retries 3",
                "timeout connect 5s",
                "# Watches, logs -f, exec and port-forward keep a connection open and may be",
                "# idle for minutes: the HA guide's 20s would cut them.",
                "timeout client 1h",
                "timeout server 1h",
                "timeout check 3s",
            ],
        ),
        _section(
            f"frontend {FRONTEND}",
            [
                f"bind {inv.api_server.vip}:{port}",
                "# For check_apiserver.sh: each load balancer checks its own haproxy here.",
                f"bind {LOOPBACK}:{port}",
                f"default_backend {BACKEND}",
            ],
        ),
        _section(
            f"backend {BACKEND}",
            [
                "balance roundrobin",
                "# GET /healthz over TLS (check-ssl on each server): the HA guide's",
                "# ssl-hello-chk only proves that something speaks TLS.",
                "option httpchk",
                "http-check send meth GET uri /healthz",
                "http-check expect status 200",
                *(f"server {cp.name} {cp.ip}:{port} check check-ssl verify none inter 3s fall 3 rise 2" for cp in inv.control_planes),
            ],
        ),
    )


# --- keepalived ----------------------------------------------------------------


def virtual_router_id(inv: Inventory) -> int:
    """The VRRP router id (1-255), a stable hash of the cluster name: two clusters on one
    L2 segment must not share it (they would fight over each other's VIP), and it must
    not change between renders (the LBs of one cluster must agree)."""
    return zlib.crc32(inv.name.encode()) % 255 + 1


def priority(inv: Inventory, node: Node) -> int:
    """101 for the first LB, then 100, 99, ...: distinct, so the VIP's home is never a tie."""
    return MASTER_PRIORITY - inv.loadbalancers.index(node)


def haproxy_check_weight(inv: Inventory) -> int:
    """Large enough that an LB without haproxy ranks below every other LB, even one whose
    API check fails: more than the whole priority spread plus the API check's weight."""
    spread = len(inv.loadbalancers) - 1
    return -(spread - APISERVER_CHECK_WEIGHT + 1)


def _vrrp_script(name: str, script: str, *, interval: int, weight: int, fall: int, rise: int) -> list[str]:
    return _block(f"vrrp_script {name}", [f'script "{script}"', f"interval {interval}", f"weight {weight}", f"fall {fall}", f"rise {rise}"])


def keepalived_conf(inv: Inventory, node: Node) -> str:
    iface = inv.network.interface
    peers = [str(lb.ip) for lb in inv.loadbalancers if lb != node]
    return _file(
        [
            f"! {INSTALL_PATHS[KEEPALIVED_CONF]} on {node.name} ({inv.name}).",
            "! Rendered by clusterforge from cluster.yaml: edit that and re-render.",
        ],
        _block("global_defs", [f"router_id {node.name}", "enable_script_security", "script_user root"]),
        [
            "! The API path through this LB (check_apiserver.sh), with the HA guide's timing.",
            *_vrrp_script("check_apiserver", INSTALL_PATHS[CHECK_SCRIPT], interval=3, weight=APISERVER_CHECK_WEIGHT, fall=10, rise=2),
        ],
        [
            "! haproxy itself: without it this LB cannot serve the VIP at all.",
            *_vrrp_script("chk_haproxy", "/usr/bin/pidof haproxy", interval=2, weight=haproxy_check_weight(inv), fall=2, rise=2),
        ],
        _block(
            f"vrrp_instance {VRRP_INSTANCE}",
            [
                f"state {'MASTER' if node == inv.loadbalancers[0] else 'BACKUP'}",
                f"interface {iface}",
                f"virtual_router_id {virtual_router_id(inv)}",
                f"priority {priority(inv, node)}",
                "advert_int 1",
                "! Unicast: hypervisor virtual switches often filter multicast VRRP.",
                f"unicast_src_ip {node.ip}",
                *_block("unicast_peer", peers),
                "! No authentication block: its password would be a secret in git, and VRRPv2",
                "! PASS auth travels in clear text in every advertisement, so it protects nothing.",
                *_block("virtual_ipaddress", [f"{inv.api_server.vip}/{inv.network.subnet.prefixlen} dev {iface}"]),
                *_block("track_script", ["check_apiserver", "chk_haproxy"]),
            ],
        ),
    )


# --- health check script -------------------------------------------------------


def check_script(inv: Inventory) -> str:
    """The kubeadm HA guide's check_apiserver.sh (docs/ha-considerations.md): GET the API
    through this LB's own haproxy on the loopback address. Every LB checks the same thing,
    so when no API server is healthy (before `kubeadm init`, or all of them down) all LBs
    lose the same weight together and the VIP stays put; a check that differed between
    the VIP holder and the backups would hand the VIP back and forth."""
    return _file(
        [
            "#!/usr/bin/env bash",
            f"# keepalived's check_apiserver on the load balancers of {inv.name}; rendered by clusterforge.",
            "# As in the kubeadm HA guide, every load balancer asks its own haproxy (bound on the",
            "# loopback address as well as the VIP) for a healthy API server. The holder of the VIP",
            "# and the backups check the same thing: when no API server is healthy they all lose",
            "# the same priority together, so the VIP stays where it is instead of flapping.",
            "set -euo pipefail",
        ],
        [
            f"port={inv.api_server.port}",
        ],
        [
            'fail() { echo "check_apiserver: $*" >&2; exit 1; }',
        ],
        [
            f'curl --silent --show-error --fail --insecure --max-time 2 --output /dev/null "https://{LOOPBACK}:$port/healthz" \\',
            f'    || fail "GET https://{LOOPBACK}:$port/healthz through this load balancer\'s haproxy failed"',
        ],
    )
