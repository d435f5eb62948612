"""cloud-init NoCloud seeds for every VM: `user-data`, `meta-data` and
`network-config` in `nodes/<name>/`.

Kubernetes nodes get what kubeadm needs on Ubuntu 22.04 (swap off, kernel
modules and sysctls, containerd pinned from Docker's apt repository with the
systemd cgroup driver, kubelet, kubeadm and kubectl from the per-minor pkgs.k8s.io
repository, all held), the
systemd-networkd settings Cilium needs, a kernel check and the node's kubeadm
config; load balancers get HAProxy and keepalived. Every node gets its host
firewall (firewall.py). No secret goes in: the seed builder adds those to
`user_data()` when it builds a node's seed.

cloud-init's stages fix the order: bootcmd and write_files run before the
packages are installed (so packages start with our configs, and the apt key is
there before `apt-get update`), runcmd after.
"""

from __future__ import annotations

import hashlib
from shlex import quote
from typing import Any

from .. import pki, toolpins, versions, yamlio
from ..model import Inventory, Node
from ..secrets import ClusterSecrets
from . import bootstrap, cilium, etcdbackup, firewall, kubeadm, layout, loadbalancer

USER_DATA = "user-data"
META_DATA = "meta-data"
NETWORK_CONFIG = "network-config"

# containerd comes pinned from Docker's apt repository (versions.containerd says
# which release for which Kubernetes); 1.x reads config version 2, 2.x version 3
# with other plugin names (containerd docs/cri/config.md).
CONTAINERD_CONFIG = "/etc/containerd/config.toml"
CONTAINERD_PACKAGE = "containerd.io"  # Docker's package: containerd and runc
DOCKER_REPOSITORY = "https://download.docker.com/linux/ubuntu"
DOCKER_KEYRING = "/etc/apt/keyrings/docker.gpg"
DOCKER_APT_SOURCE_NAME = "docker"  # /etc/apt/sources.list.d/docker.list
# Docker's release key, as Docker's install docs give it; the bootcmd refuses any other.
DOCKER_KEY_FINGERPRINT = "9DC858229FC7DD38854AE2D88D81803C0EBFCD88"
# Helm's apt repository (helm.sh/docs/intro/install, "From Apt"), for the first control
# plane's own Cilium install in bootstrap.mode auto.
HELM_REPOSITORY = "https://packages.buildkite.com/helm-linux/helm-debian/any/"
HELM_KEYRING = "/etc/apt/keyrings/helm.gpg"
HELM_APT_SOURCE_NAME = "helm"
# The Helm clusterforge validates the chart with installs it, pinned and held like the
# Kubernetes packages; Helm's apt packages are Debian revision 1 (helm=3.9.4-1, helm/helm#11434).
HELM_PACKAGE = ["helm", f"{toolpins.GO_TOOLS['helm'].version.removeprefix('v')}-1"]

# pkgs.k8s.io builds every release as Debian revision 1.1 (kubeadm=1.35.4-1.1).
PKGS_K8S_DEBIAN_REVISION = "1.1"
KUBERNETES_PACKAGES = ("kubelet", "kubeadm", "kubectl")  # kubeadm pulls in cri-tools (Depends)
KUBERNETES_KEYRING = "/etc/apt/keyrings/kubernetes-apt-keyring.gpg"
APT_SOURCE_NAME = "kubernetes"  # /etc/apt/sources.list.d/kubernetes.list

KERNEL_MODULES = ("overlay", "br_netfilter")
MODULES_FILE = "/etc/modules-load.d/k8s.conf"
KUBERNETES_SYSCTL_FILE = "/etc/sysctl.d/99-kubernetes.conf"
KUBERNETES_SYSCTLS = {
    "net.ipv4.ip_forward": 1,
    "net.bridge.bridge-nf-call-iptables": 1,
    "net.bridge.bridge-nf-call-ip6tables": 1,
    # Ubuntu's defaults (128 instances) run out with many pods tailing logs or watching files.
    "fs.inotify.max_user_instances": 8192,
    "fs.inotify.max_user_watches": 524288,
}
LOADBALANCER_SYSCTL_FILE = "/etc/sysctl.d/99-loadbalancer.conf"
# HAProxy on a backup binds the VIP it does not hold (yet).
LOADBALANCER_SYSCTLS = {"net.ipv4.ip_nonlocal_bind": 1}
NETWORKD_FILE = "/etc/systemd/networkd.conf.d/99-cilium.conf"

KERNEL_CHECK = "/usr/local/sbin/clusterforge-kernel-check"
FIREWALL_SCRIPT = "/usr/local/sbin/clusterforge-firewall"
KUBEADM_CONFIG = "/etc/clusterforge/kubeadm.yaml"

# Cilium's Documentation/operations/system_requirements.rst; built-in or module
# are both fine. FIB_RULES is listed under "Tunneling and Routing" for policy routing.
CILIUM_KERNEL_OPTIONS = (
    "CONFIG_BPF",
    "CONFIG_BPF_SYSCALL",
    "CONFIG_NET_CLS_BPF",
    "CONFIG_BPF_JIT",
    "CONFIG_NET_CLS_ACT",
    "CONFIG_NET_SCH_INGRESS",
    "CONFIG_CRYPTO_SHA1",
    "CONFIG_CRYPTO_USER_API_HASH",
    "CONFIG_CGROUPS",
    "CONFIG_CGROUP_BPF",
    "CONFIG_PERF_EVENTS",
    "CONFIG_SCHEDSTATS",
    "CONFIG_FIB_RULES",
)
TUNNEL_KERNEL_OPTIONS = {"vxlan": "CONFIG_VXLAN", "geneve": "CONFIG_GENEVE"}
WIREGUARD_KERNEL_OPTION = "CONFIG_WIREGUARD"

Document = dict[str, Any]


def render(inv: Inventory) -> dict[str, str]:
    files: dict[str, str] = {}
    for node in inv.nodes:
        directory = layout.seed_dir(node)
        user_data_text = dump_user_data(user_data(inv, node))
        files[f"{directory}/{USER_DATA}"] = user_data_text
        files[f"{directory}/{META_DATA}"] = meta_data(inv, node, user_data_text)
        files[f"{directory}/{NETWORK_CONFIG}"] = network_config(inv, node)
    return files


def seed(inv: Inventory, node: Node, secrets: ClusterSecrets) -> dict[str, str]:
    """The node's seed as it goes onto the VM: the rendered one with its kubeadm
    config carrying the secrets, and on the first control plane the cluster's CAs
    where `kubeadm init` looks for them (never written into the repository).

    The other control planes get no CA key: `kubeadm init --upload-certs` hands them
    the control-plane certificates, encrypted with the certificate key, through a
    Secret that kubeadm deletes after two hours. A seed then holds a key that is
    useless after those two hours instead of the cluster's root keys for ten years
    (seed images tend to stay on hypervisor datastores)."""
    data = user_data(inv, node)
    if node.role != "loadbalancer":
        for entry in data["write_files"]:
            if entry["path"] == KUBEADM_CONFIG:
                entry["content"] = kubeadm.with_secrets(inv, node, secrets)
    if node == inv.control_planes[0]:
        data["write_files"] += [_file(f"{pki.PKI_DIR}/{name}", text, "0600") for name, text in sorted(secrets.pki.items())]
    user_data_text = dump_user_data(data)
    return {
        USER_DATA: user_data_text,
        META_DATA: meta_data(inv, node, user_data_text),
        NETWORK_CONFIG: network_config(inv, node),
    }


# --- meta-data and network-config ----------------------------------------------


def meta_data(inv: Inventory, node: Node, user_data_text: str) -> str:
    """The instance-id changes whenever the seed does, so cloud-init runs again on
    the next boot of a VM whose seed was rebuilt. The seed builder calls this with
    the final user-data (secrets included)."""
    seed = (user_data_text + network_config(inv, node)).encode()
    digest = hashlib.sha256(seed).hexdigest()[:12]
    return yamlio.dump({"instance-id": f"{inv.name}-{node.name}-{digest}", "local-hostname": node.name})


def network_config(inv: Inventory, node: Node) -> str:
    """cloud-init network config version 2 (netplan's format): one static NIC."""
    net = inv.network
    nic: Document = {}
    if node.mac:
        # Pin the name to the NIC, whatever the kernel calls it.
        nic["match"] = {"macaddress": node.mac}
        nic["set-name"] = net.interface
    nic["dhcp4"] = False
    nic["addresses"] = [f"{node.ip}/{net.subnet.prefixlen}"]
    # 0.0.0.0/0 rather than netplan's `default`, which cloud-init's own v2 parser
    # (used for the non-netplan renderers and by `net-convert`) rejects in 22.4.
    nic["routes"] = [{"to": "0.0.0.0/0", "via": str(net.gateway)}]
    nic["nameservers"] = {"addresses": [str(a) for a in net.dns], "search": [net.domain]}
    if net.mtu != 1500:
        nic["mtu"] = net.mtu
    return yamlio.dump({"version": 2, "ethernets": {net.interface: nic}})


# --- user-data -----------------------------------------------------------------


def dump_user_data(data: Document) -> str:
    return "#cloud-config\n" + yamlio.dump(data)


def user_data(inv: Inventory, node: Node) -> Document:
    """The cloud-config of `node` as data, before dumping: the seed builder adds
    the secret parts to it."""
    data: Document = {
        "hostname": node.name,
        "fqdn": f"{node.name}.{inv.network.domain}",
        "prefer_fqdn_over_hostname": False,  # the Kubernetes node name is the short name
        "manage_etc_hosts": True,
        "users": [
            {
                "name": inv.ssh.user,
                "groups": ["sudo"],
                "shell": "/bin/bash",
                "sudo": "ALL=(ALL) NOPASSWD:ALL",
                "lock_passwd": True,
                "ssh_authorized_keys": list(inv.ssh.authorized_keys),
            }
        ],
        "ssh_pwauth": False,
        "disable_root": True,
        # Time sync: Ubuntu's systemd-timesyncd is on by default; the timezone stays UTC.
    }
    role = _loadbalancer if node.role == "loadbalancer" else _kubernetes_node
    data.update(role(inv, node))
    return data


def _file(path: str, content: str, permissions: str = "0644") -> Document:
    return {"path": path, "owner": "root:root", "permissions": permissions, "content": content}


def _lines(*lines: str) -> str:
    return "\n".join(lines) + "\n"


def _sysctl_conf(settings: dict[str, int]) -> str:
    return _lines(*(f"{key} = {value}" for key, value in settings.items()))


def _installs_cilium(inv: Inventory, node: Node) -> bool:
    """In bootstrap.mode auto the first control plane installs Cilium itself."""
    return inv.bootstrap.mode == "auto" and node == inv.control_planes[0]


def _kubernetes_node(inv: Inventory, node: Node) -> Document:
    package_version = f"{inv.kubernetes.version}-{PKGS_K8S_DEBIAN_REVISION}"
    sources = {
        APT_SOURCE_NAME: {"source": f"deb [signed-by={KUBERNETES_KEYRING}] {versions.pkgs_k8s_repo(inv.kubernetes.version)} /"},
        DOCKER_APT_SOURCE_NAME: {"source": f"deb [signed-by={DOCKER_KEYRING}] {DOCKER_REPOSITORY} jammy stable"},
    }
    if _installs_cilium(inv, node):
        sources[HELM_APT_SOURCE_NAME] = {"source": f"deb [signed-by={HELM_KEYRING}] {HELM_REPOSITORY} any main"}
    data: Document = {
        # Before `apt-get update` (final stage), or the new source would fail it.
        "bootcmd": [["bash", "-c", apt_key_script(inv, helm=_installs_cilium(inv, node))]],
        "apt": {"sources": sources},
        "package_update": True,
        # apt-transport-https is left out: a transitional dummy package since apt 1.5.
        "packages": [
            "ca-certificates",
            "curl",
            "gpg",
            "conntrack",
            "ufw",
            # --force-confold (cloud-init's apt-get) keeps our config.toml over the package's.
            [CONTAINERD_PACKAGE, versions.containerd_package_version(inv.kubernetes.version)],
            *([name, package_version] for name in KUBERNETES_PACKAGES),
        ],
        "write_files": [
            _file(MODULES_FILE, _lines(*KERNEL_MODULES)),
            _file(KUBERNETES_SYSCTL_FILE, _sysctl_conf(KUBERNETES_SYSCTLS)),
            _file(CONTAINERD_CONFIG, containerd_config(containerd_major(inv), versions.pause_image(inv.kubernetes.version))),
            _file(NETWORKD_FILE, networkd_conf()),
            _file(KUBEADM_CONFIG, kubeadm.config(inv, node), "0600"),
            _file(KERNEL_CHECK, kernel_check_script(inv), "0755"),
            _file(FIREWALL_SCRIPT, firewall.script(inv, node), "0755"),
        ],
        "runcmd": [
            ["swapoff", "-a"],
            # Comment out every swap entry of fstab, so swap stays off after reboots.
            ["sed", "-ri", r"/^[^#]\S*\s+\S+\s+swap\s/s/^/#/", "/etc/fstab"],
            ["modprobe", "-a", *KERNEL_MODULES],
            ["sysctl", "--system"],
            # The running networkd must drop its claim on Cilium's routes too, not only the next one.
            ["systemctl", "restart", "systemd-networkd"],
            ["apt-mark", "hold", CONTAINERD_PACKAGE, *KUBERNETES_PACKAGES],
            [FIREWALL_SCRIPT],
            *(_etcd_snapshot_commands() if node.role == "control-plane" else []),
            # Last of the node's setup, so a kernel that lacks what Cilium needs marks
            # cloud-init's run as failed (the auto bootstrap checks it again first).
            [KERNEL_CHECK],
        ],
    }
    if node.role == "control-plane":
        data["write_files"] += [
            _file(etcdbackup.SCRIPT, etcdbackup.script(), "0755"),
            _file(etcdbackup.SERVICE_FILE, etcdbackup.service()),
            _file(etcdbackup.TIMER_FILE, etcdbackup.timer()),
        ]
    if inv.bootstrap.mode == "auto":
        _bootstrap_itself(inv, node, data)
    return data


def _etcd_snapshot_commands() -> list[list[str]]:
    """The daily etcd snapshot (etcdbackup.py); its service skips a day without etcd."""
    return [["systemctl", "daemon-reload"], ["systemctl", "enable", "--now", etcdbackup.TIMER]]


def _bootstrap_itself(inv: Inventory, node: Node, data: Document) -> None:
    """bootstrap.mode auto: the unit that runs kubeadm (and on the first control plane
    the Cilium install, with Helm), started when cloud-init is done with the node."""
    files = [
        _file(bootstrap.UNIT_FILE, bootstrap.unit()),
        _file(bootstrap.SCRIPT, bootstrap.script(inv, node, KUBEADM_CONFIG, KERNEL_CHECK), "0755"),
    ]
    if _installs_cilium(inv, node):
        data["packages"].append(HELM_PACKAGE)
        next(c for c in data["runcmd"] if c[:2] == ["apt-mark", "hold"]).append("helm")
        files += [
            # The repository's values file, as the GitOps release reads it.
            _file(bootstrap.CILIUM_VALUES, yamlio.dump(cilium.values(inv))),
            _file(bootstrap.CILIUM_INSTALL, bootstrap.cilium_install(inv), "0755"),
        ]
    data["write_files"] += files
    data["runcmd"] += [["systemctl", "daemon-reload"], ["systemctl", "start", "--no-block", bootstrap.UNIT]]


def _loadbalancer(inv: Inventory, node: Node) -> Document:
    paths = loadbalancer.INSTALL_PATHS
    return {
        "package_update": True,
        "packages": ["haproxy", "keepalived", "curl", "ufw"],
        "write_files": [
            _file(LOADBALANCER_SYSCTL_FILE, _sysctl_conf(LOADBALANCER_SYSCTLS)),
            _file(paths[loadbalancer.HAPROXY_CFG], loadbalancer.haproxy_cfg(inv)),
            _file(paths[loadbalancer.KEEPALIVED_CONF], loadbalancer.keepalived_conf(inv, node)),
            _file(paths[loadbalancer.CHECK_SCRIPT], loadbalancer.check_script(inv), "0755"),
            _file(FIREWALL_SCRIPT, firewall.script(inv, node), "0755"),
        ],
        "runcmd": [
            ["sysctl", "--system"],
            # The packages started them before ip_nonlocal_bind was applied: restart.
            ["systemctl", "enable", "haproxy", "keepalived"],
            ["systemctl", "restart", "haproxy", "keepalived"],
            [FIREWALL_SCRIPT],
        ],
    }


# --- file contents ---------------------------------------------------------------


def containerd_major(inv: Inventory) -> int:
    return versions.parse(versions.containerd(inv.kubernetes.version))[0]


def apt_key_script(inv: Inventory, *, helm: bool) -> str:
    """Fetch the signing keys into the keyrings the apt sources name (the kubeadm,
    Docker and Helm install docs' steps): pkgs.k8s.io's for this minor, Docker's, which
    must have Docker's published fingerprint, and with `helm` Helm's. They cannot be
    fetched at render time; a keyring is replaced only by a complete, checked download,
    and kept once there."""
    kubernetes_key = versions.pkgs_k8s_repo(inv.kubernetes.version) + "Release.key"
    return _lines(
        "#!/usr/bin/env bash",
        "set -euo pipefail",
        "# fetch_key URL KEYRING [FINGERPRINT]",
        "fetch_key() {",
        '    local url="$1" keyring="$2" fingerprint="${3:-}" tmp',
        '    [[ -s "$keyring" ]] && return 0',
        '    install -d -m 0755 "$(dirname "$keyring")"',
        '    tmp="$(mktemp)"',
        '    curl -fsSL --retry 5 --retry-delay 3 --retry-all-errors "$url" | gpg --dearmor --batch --yes -o "$tmp"',
        '    if [[ -n "$fingerprint" ]] && ! gpg --show-keys --with-colons "$tmp" | grep -qx "fpr:::::::::${fingerprint}:"; then',
        '        echo "the key from $url is not the one with fingerprint $fingerprint" >&2',
        '        rm -f "$tmp"',
        "        exit 1",
        "    fi",
        '    install -m 0644 "$tmp" "$keyring"',
        '    rm -f "$tmp"',
        "}",
        f"fetch_key {quote(kubernetes_key)} {KUBERNETES_KEYRING}",
        f"fetch_key {DOCKER_REPOSITORY}/gpg {DOCKER_KEYRING} {DOCKER_KEY_FINGERPRINT}",
        *([f"fetch_key {HELM_REPOSITORY.removesuffix('any/')}gpgkey {HELM_KEYRING}"] if helm else []),
    )


def containerd_config(major: int, pause_image: str) -> str:
    """The runc runtime with the systemd cgroup driver (kubeadm's kubelet default) and
    the sandbox (pause) image kubeadm expects; every other setting keeps containerd's
    defaults."""
    if major == 1:
        version, cri, quote = 2, '"io.containerd.grpc.v1.cri"', '"'
        runc = f"plugins.{cri}.containerd.runtimes.runc"
        sandbox = [f"[plugins.{cri}]", f"  sandbox_image = {quote}{pause_image}{quote}"]
    elif major == 2:
        version, quote = 3, "'"
        runc = "plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc"
        sandbox = ["[plugins.'io.containerd.cri.v1.images'.pinned_images]", f"  sandbox = {quote}{pause_image}{quote}"]
    else:
        raise ValueError(f"no containerd config for containerd {major}.x")
    return _lines(
        f"# {CONTAINERD_CONFIG}, rendered by clusterforge for containerd {major}.x.",
        f"version = {version}",
        "",
        *sandbox,
        "",
        f"[{runc}]",
        f"  runtime_type = {quote}io.containerd.runc.v2{quote}",
        "",
        f"[{runc}.options]",
        "  SystemdCgroup = true",
    )


def networkd_conf() -> str:
    # Otherwise systemd-networkd deletes the routes and rules Cilium installs
    # whenever it reconfigures a link (Cilium's system requirements, Ubuntu 22.04).
    return _lines("[Network]", "ManageForeignRoutes=no", "ManageForeignRoutingPolicyRules=no")


def kernel_options(inv: Inventory) -> list[str]:
    options = list(CILIUM_KERNEL_OPTIONS)
    if inv.cilium.routing_mode == "tunnel":
        options.append(TUNNEL_KERNEL_OPTIONS[inv.cilium.tunnel_protocol])
    if inv.cilium.encryption == "wireguard":
        options.append(WIREGUARD_KERNEL_OPTION)
    return options


def kernel_check_script(inv: Inventory) -> str:
    """Report every kernel option Cilium needs that the running kernel lacks, to the
    journal (`logger -t clusterforge`) and stderr; exit 1 if any is missing."""
    return _lines(
        "#!/usr/bin/env bash",
        f"# Does the running kernel have what Cilium {inv.cilium.version} needs with this cluster's features?",
        "set -euo pipefail",
        "",
        "# CLUSTERFORGE_KERNEL_CONFIG checks another kernel's config, e.g. before booting it.",
        'config="${CLUSTERFORGE_KERNEL_CONFIG:-/boot/config-$(uname -r)}"',
        "report() {",
        '    echo "clusterforge-kernel-check: $1" >&2',
        '    logger -t clusterforge -p "user.$2" -- "$1" || true',
        "}",
        'if [[ ! -r "$config" ]]; then',
        '    report "cannot read $config: the kernel options Cilium needs are unchecked" err',
        "    exit 1",
        "fi",
        "missing=0",
        f"for option in {' '.join(kernel_options(inv))}; do",
        '    if ! grep -Eq "^${option}=(y|m)$" "$config"; then',
        '        report "$option is not enabled in $config (Cilium needs it)" err',
        "        missing=$((missing + 1))",
        "    fi",
        "done",
        "if ((missing > 0)); then",
        '    report "$missing kernel option(s) missing: Cilium will not work on this kernel" err',
        "    exit 1",
        "fi",
        'report "every kernel option Cilium needs is enabled in $config" info',
    )
