from __future__ import annotations

import json
import os
import re
import subprocess
import tomllib
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from generator import pki, secrets, versions
from generator.loader import check_file, check_text
from generator.model import Inventory, Node
from generator.render import bootstrap, cilium, cloudinit, firewall, kubeadm, layout, loadbalancer

EXAMPLE_PATH = Path("generator/data/cluster.example.yaml")
EXAMPLE = check_file(EXAMPLE_PATH).inventory
CLOUD_CONFIG_SCHEMA = Path("/usr/lib/python3/dist-packages/cloudinit/config/schemas/schema-cloud-config-v1.json")


def variant() -> Inventory:
    """Argo CD, native routing, WireGuard, Geneve-free; a MAC-matched NIC and jumbo frames."""
    text = EXAMPLE_PATH.read_text()
    for old, new in (
        ("engine: flux ", "engine: argocd"),
        ("routingMode: tunnel ", "routingMode: native "),
        ("  hubble: true", "  hubble: true\n  encryption: wireguard"),
        ("  interface: ens160 ", "  interface: ens18\n  mtu: 9000 "),
        ("ip: 192.168.100.11, host: nuc1}", 'ip: 192.168.100.11, host: nuc1, mac: "52:54:00:AB:00:11"}'),
        ("user: ubuntu", "user: ops"),
    ):
        assert old in text, old
        text = text.replace(old, new)
    return check_text(text).inventory


VARIANT = variant()
INVENTORIES = {"example": EXAMPLE, "variant": VARIANT}
ALL_NODES = [(name, n) for name, inv in INVENTORIES.items() for n in inv.nodes]


def load(text: str):
    return YAML(typ="safe").load(text)


def load_all(text: str) -> list:
    return list(YAML(typ="safe").load_all(text))


def user_data(inv: Inventory, node: Node) -> dict:
    text = cloudinit.render(inv)[f"{layout.seed_dir(node)}/user-data"]
    assert text.startswith("#cloud-config\n")
    return load(text)


def files_of(data: dict) -> dict[str, dict]:
    return {f["path"]: f for f in data["write_files"]}


def schema_top_level_keys() -> set[str]:
    schema = json.loads(CLOUD_CONFIG_SCHEMA.read_text())
    keys: set[str] = set()
    for ref in schema["allOf"]:
        keys |= set(schema["$defs"][ref["$ref"].rsplit("/", 1)[1]].get("properties", {}))
    return keys


def test_every_node_gets_three_seed_files() -> None:
    for inv in INVENTORIES.values():
        files = cloudinit.render(inv)
        assert set(files) == {f"nodes/{n.name}/{f}" for n in inv.nodes for f in ("user-data", "meta-data", "network-config")}
        assert all(text.endswith("\n") for text in files.values())
        assert cloudinit.render(inv) == files  # deterministic


@pytest.mark.parametrize(("case", "node"), ALL_NODES, ids=[f"{c}-{n.name}" for c, n in ALL_NODES])
def test_user_data_basics(case: str, node: Node) -> None:
    inv = INVENTORIES[case]
    data = user_data(inv, node)
    assert data["hostname"] == node.name
    assert data["fqdn"] == f"{node.name}.{inv.network.domain}"
    (user,) = data["users"]
    assert user["name"] == inv.ssh.user and user["ssh_authorized_keys"] == inv.ssh.authorized_keys
    assert user["sudo"] and user["lock_passwd"] is True
    assert data["ssh_pwauth"] is False and data["disable_root"] is True
    assert data["package_update"] is True
    fw = files_of(data)[cloudinit.FIREWALL_SCRIPT]
    assert fw["permissions"] == "0755" and fw["content"] == firewall.script(inv, node)
    assert [cloudinit.FIREWALL_SCRIPT] in data["runcmd"]


def test_kubernetes_node_packages_and_repository() -> None:
    data = user_data(EXAMPLE, EXAMPLE.workers[0])
    for name in ("kubelet", "kubeadm", "kubectl"):
        assert [name, "1.35.4-1.1"] in data["packages"]
    assert {"ufw", "conntrack", "curl", "gpg"} <= {p for p in data["packages"] if isinstance(p, str)}
    source = data["apt"]["sources"]["kubernetes"]["source"]
    assert source == f"deb [signed-by={cloudinit.KUBERNETES_KEYRING}] https://pkgs.k8s.io/core:/stable:/v1.35/deb/ /"
    ((shell, flag, script),) = data["bootcmd"]
    assert (shell, flag) == ("bash", "-c")
    assert "https://pkgs.k8s.io/core:/stable:/v1.35/deb/Release.key" in script
    assert f"fetch_key https://pkgs.k8s.io/core:/stable:/v1.35/deb/Release.key {cloudinit.KUBERNETES_KEYRING}\n" in script
    assert "gpg --dearmor" in script
    assert ["apt-mark", "hold", "containerd.io", "kubelet", "kubeadm", "kubectl"] in data["runcmd"]


def test_repository_follows_the_kubernetes_minor() -> None:
    inv = check_text(EXAMPLE_PATH.read_text().replace('version: "1.35.4"', 'version: "1.34.2"')).inventory
    data = user_data(inv, inv.control_planes[1])
    assert ["kubeadm", "1.34.2-1.1"] in data["packages"]
    assert "/core:/stable:/v1.34/deb/ /" in data["apt"]["sources"]["kubernetes"]["source"]


def test_kubernetes_node_prerequisites() -> None:
    data = user_data(EXAMPLE, EXAMPLE.control_planes[0])
    files = files_of(data)
    assert files["/etc/modules-load.d/k8s.conf"]["content"].split() == ["overlay", "br_netfilter"]
    sysctls = dict(line.split(" = ") for line in files["/etc/sysctl.d/99-kubernetes.conf"]["content"].splitlines())
    for key in ("net.ipv4.ip_forward", "net.bridge.bridge-nf-call-iptables", "net.bridge.bridge-nf-call-ip6tables"):
        assert sysctls[key] == "1"
    networkd = files["/etc/systemd/networkd.conf.d/99-cilium.conf"]["content"].splitlines()
    assert networkd == ["[Network]", "ManageForeignRoutes=no", "ManageForeignRoutingPolicyRules=no"]
    runcmd = data["runcmd"]
    assert runcmd[0] == ["swapoff", "-a"]
    assert ["modprobe", "-a", "overlay", "br_netfilter"] in runcmd
    assert runcmd.index(["modprobe", "-a", "overlay", "br_netfilter"]) < runcmd.index(["sysctl", "--system"])
    assert runcmd[-1] == [cloudinit.KERNEL_CHECK]


def test_swap_lines_are_commented_out(tmp_path: Path) -> None:
    (sed,) = [c for c in user_data(EXAMPLE, EXAMPLE.workers[0])["runcmd"] if c[0] == "sed"]
    fstab = tmp_path / "fstab"
    fstab.write_text("LABEL=cloudimg-rootfs / ext4 defaults 0 1\n/swap.img none swap sw 0 0\n# /old none swap sw 0 0\n")
    subprocess.run([*sed[:-1], fstab], check=True)
    assert fstab.read_text().splitlines() == ["LABEL=cloudimg-rootfs / ext4 defaults 0 1", "#/swap.img none swap sw 0 0", "# /old none swap sw 0 0"]


@pytest.mark.parametrize("major", [1, 2])
def test_containerd_config_uses_the_systemd_cgroup_driver(major: int) -> None:
    config = tomllib.loads(cloudinit.containerd_config(major, "registry.k8s.io/pause:3.10.1"))
    if major == 1:
        assert config["version"] == 2
        runc = config["plugins"]["io.containerd.grpc.v1.cri"]["containerd"]["runtimes"]["runc"]
    else:
        assert config["version"] == 3
        runc = config["plugins"]["io.containerd.cri.v1.runtime"]["containerd"]["runtimes"]["runc"]
    assert runc["runtime_type"] == "io.containerd.runc.v2"
    assert runc["options"]["SystemdCgroup"] is True


def test_containerd_config_of_an_unknown_major_is_a_bug() -> None:
    with pytest.raises(ValueError, match=r"^no containerd config for containerd 3\.x$"):
        cloudinit.containerd_config(3, "registry.k8s.io/pause:3.10.1")


def test_node_gets_the_config_of_the_containerd_it_installs() -> None:
    files = files_of(user_data(EXAMPLE, EXAMPLE.workers[0]))
    assert files[cloudinit.CONTAINERD_CONFIG]["content"] == cloudinit.containerd_config(1, "registry.k8s.io/pause:3.10.1")
    newer = check_text(EXAMPLE_PATH.read_text().replace('version: "1.35.4"', 'version: "1.36.4"').replace("version: 1.19.6", "version: 1.20.2")).inventory
    files = files_of(user_data(newer, newer.workers[0]))
    assert files[cloudinit.CONTAINERD_CONFIG]["content"] == cloudinit.containerd_config(2, "registry.k8s.io/pause:3.10.2")


@pytest.mark.parametrize("kubernetes", ["1.31.14", "1.33.9", "1.34.4", "1.35.4", "1.36.4", "1.37.1"])
def test_containerd_is_pinned_and_supported(kubernetes: str) -> None:
    """Kubernetes 1.35 is the last to support containerd 1.x, and 1.34/1.35 want >= 1.7.28
    (containerd RELEASES.md): the seed installs a pinned containerd.io that fits."""
    inv = EXAMPLE.model_copy(update={"kubernetes": EXAMPLE.kubernetes.model_copy(update={"version": kubernetes})})
    data = user_data(inv, inv.workers[0])
    (pinned,) = [p for p in data["packages"] if isinstance(p, list) and p[0] == "containerd.io"]
    release = pinned[1].split("-", 1)[0]
    assert pinned[1] == f"{release}-1~ubuntu.22.04~jammy"  # Docker's package for jammy
    major = versions.parse(release)[0]
    if versions.minor(kubernetes) >= (1, 36):
        assert major == 2
    else:
        assert major == 1 and versions.parse(release) >= versions.parse(versions.MIN_CONTAINERD_1[versions.minor(kubernetes)])
    assert "containerd" not in data["packages"]  # never Ubuntu's own, unpinned package
    assert ["apt-mark", "hold", "containerd.io", "kubelet", "kubeadm", "kubectl"] in data["runcmd"]
    assert data["apt"]["sources"]["docker"]["source"] == f"deb [signed-by={cloudinit.DOCKER_KEYRING}] https://download.docker.com/linux/ubuntu jammy stable"
    config = tomllib.loads(files_of(data)[cloudinit.CONTAINERD_CONFIG]["content"])
    assert config["version"] == (3 if major == 2 else 2)


def _sandbox_image(config: dict) -> str:
    if config["version"] == 2:
        return config["plugins"]["io.containerd.grpc.v1.cri"]["sandbox_image"]
    return config["plugins"]["io.containerd.cri.v1.images"]["pinned_images"]["sandbox"]


@pytest.mark.parametrize(
    ("kubernetes", "pause"),
    [("1.31.14", "3.10"), ("1.33.9", "3.10"), ("1.34.4", "3.10.1"), ("1.35.4", "3.10.1"), ("1.36.4", "3.10.2"), ("1.37.1", "3.10.2")],
)
def test_sandbox_image_is_the_one_kubeadm_expects(kubernetes: str, pause: str) -> None:
    """kubeadm's PauseVersion of that minor (cmd/kubeadm/app/constants/constants.go)."""
    inv = EXAMPLE.model_copy(update={"kubernetes": EXAMPLE.kubernetes.model_copy(update={"version": kubernetes})})
    for node in (inv.control_planes[0], inv.workers[0]):
        config = tomllib.loads(files_of(user_data(inv, node))[cloudinit.CONTAINERD_CONFIG]["content"])
        assert _sandbox_image(config) == f"registry.k8s.io/pause:{pause}"


@pytest.mark.tools
def test_sandbox_image_matches_kubeadm_itself(need_tool) -> None:
    """The kubeadm of the reference version lists the pause image it will preflight."""
    version = EXAMPLE.kubernetes.version
    kubeadm = need_tool("kubeadm", kubernetes_version=version)
    listed = subprocess.run([kubeadm, "config", "images", "list", "--kubernetes-version", f"v{version}"], capture_output=True, text=True, check=True).stdout.split()
    (pause,) = [image for image in listed if image.startswith("registry.k8s.io/pause:")]
    config = tomllib.loads(files_of(user_data(EXAMPLE, EXAMPLE.workers[0]))[cloudinit.CONTAINERD_CONFIG]["content"])
    assert _sandbox_image(config) == pause


def _fetch_key(script: str) -> str:
    """The script's fetch_key function alone, to run it against scratch paths."""
    return script[script.index("fetch_key() {") : script.index("\n}\n") + 3]


@pytest.mark.tools
def test_docker_key_must_have_dockers_fingerprint(need_tool, tmp_path: Path) -> None:
    gpg, bash = need_tool("gpg"), need_tool("bash")
    home = tmp_path / "gnupg"
    home.mkdir(mode=0o700)
    env = {**os.environ, "GNUPGHOME": str(home)}
    subprocess.run([gpg, "--batch", "--passphrase", "", "--quick-gen-key", "cf-test <cf@example.invalid>", "ed25519", "sign", "1d"], env=env, check=True, capture_output=True)
    armored = subprocess.run([gpg, "--armor", "--export"], env=env, check=True, capture_output=True).stdout
    (tmp_path / "key.asc").write_bytes(armored)
    listing = subprocess.run([gpg, "--with-colons", "--list-keys"], env=env, check=True, capture_output=True, text=True).stdout
    fingerprint = next(line.split(":")[9] for line in listing.splitlines() if line.startswith("fpr:"))
    function = _fetch_key(cloudinit.apt_key_script(EXAMPLE, helm=False))
    for wanted, code in ((cloudinit.DOCKER_KEY_FINGERPRINT, 1), (fingerprint, 0)):
        keyring = tmp_path / f"keyring-{code}"
        done = subprocess.run([bash, "-c", f"set -euo pipefail\n{function}\nfetch_key file://{tmp_path}/key.asc {keyring} {wanted}"], env=env, capture_output=True, text=True)
        assert done.returncode == code, done.stderr
        assert keyring.exists() == (code == 0)


def test_kubeadm_config_is_installed_private() -> None:
    for node in EXAMPLE.kubernetes_nodes:
        entry = files_of(user_data(EXAMPLE, node))[cloudinit.KUBEADM_CONFIG]
        assert entry["permissions"] == "0600"
        assert entry["content"] == kubeadm.config(EXAMPLE, node)


def test_kernel_options_follow_the_features() -> None:
    tunnel = cloudinit.kernel_options(EXAMPLE)
    assert "CONFIG_VXLAN" in tunnel and "CONFIG_WIREGUARD" not in tunnel and "CONFIG_BPF" in tunnel
    native = cloudinit.kernel_options(VARIANT)
    assert "CONFIG_VXLAN" not in native and "CONFIG_WIREGUARD" in native
    geneve = EXAMPLE.model_copy(update={"cilium": EXAMPLE.cilium.model_copy(update={"tunnel_protocol": "geneve"})})
    assert "CONFIG_GENEVE" in cloudinit.kernel_options(geneve)
    script = files_of(user_data(VARIANT, VARIANT.workers[0]))[cloudinit.KERNEL_CHECK]
    assert script["permissions"] == "0755" and "CONFIG_WIREGUARD" in script["content"]


def test_kernel_check_reports_each_missing_option(tmp_path: Path) -> None:
    script = tmp_path / "check"
    script.write_text(cloudinit.kernel_check_script(VARIANT))
    config = tmp_path / "config"
    wanted = cloudinit.kernel_options(VARIANT)
    config.write_text("".join(f"{opt}={'m' if i % 2 else 'y'}\n" for i, opt in enumerate(wanted)))
    env = {**os.environ, "CLUSTERFORGE_KERNEL_CONFIG": str(config)}
    assert subprocess.run(["bash", script], env=env, capture_output=True).returncode == 0
    config.write_text("".join(f"{opt}=y\n" for opt in wanted if opt not in ("CONFIG_WIREGUARD", "CONFIG_BPF_JIT")) + "# CONFIG_BPF_JIT is not set\n")
    result = subprocess.run(["bash", script], env=env, capture_output=True, text=True)
    assert result.returncode == 1
    assert re.findall(r"(CONFIG_\w+) is not enabled", result.stderr) == ["CONFIG_BPF_JIT", "CONFIG_WIREGUARD"]


def test_load_balancer_user_data() -> None:
    lb = EXAMPLE.loadbalancers[1]
    data = user_data(EXAMPLE, lb)
    assert {"haproxy", "keepalived", "ufw"} <= set(data["packages"])
    assert "apt" not in data and not any(isinstance(p, list) for p in data["packages"])
    files = files_of(data)
    paths = loadbalancer.INSTALL_PATHS
    assert files[paths[loadbalancer.HAPROXY_CFG]]["content"] == loadbalancer.haproxy_cfg(EXAMPLE)
    assert files[paths[loadbalancer.KEEPALIVED_CONF]]["content"] == loadbalancer.keepalived_conf(EXAMPLE, lb)
    check = files[paths[loadbalancer.CHECK_SCRIPT]]
    assert check["content"] == loadbalancer.check_script(EXAMPLE) and check["permissions"] == "0755"
    assert files[cloudinit.LOADBALANCER_SYSCTL_FILE]["content"] == "net.ipv4.ip_nonlocal_bind = 1\n"
    runcmd = data["runcmd"]
    assert runcmd.index(["sysctl", "--system"]) < runcmd.index(["systemctl", "restart", "haproxy", "keepalived"])
    assert ["systemctl", "enable", "haproxy", "keepalived"] in runcmd


def test_network_config() -> None:
    plain = load(cloudinit.render(EXAMPLE)["nodes/cp1/network-config"])
    assert plain == {
        "version": 2,
        "ethernets": {
            "ens160": {
                "dhcp4": False,
                "addresses": ["192.168.100.11/24"],
                "routes": [{"to": "0.0.0.0/0", "via": "192.168.100.1"}],
                "nameservers": {"addresses": ["192.168.100.1"], "search": ["home.arpa"]},
            }
        },
    }
    matched = load(cloudinit.render(VARIANT)["nodes/cp1/network-config"])["ethernets"]["ens18"]
    assert matched["match"] == {"macaddress": "52:54:00:ab:00:11"} and matched["set-name"] == "ens18"
    assert matched["mtu"] == 9000
    assert "match" not in load(cloudinit.render(VARIANT)["nodes/cp2/network-config"])["ethernets"]["ens18"]


def test_meta_data_instance_id_follows_the_seed() -> None:
    files = cloudinit.render(EXAMPLE)
    ids = {}
    for node in EXAMPLE.nodes:
        meta = load(files[f"nodes/{node.name}/meta-data"])
        assert meta["local-hostname"] == node.name
        assert meta["instance-id"].startswith(f"koedo-lab-{node.name}-")
        ids[node.name] = meta["instance-id"]
    assert len(set(ids.values())) == len(ids)
    cp1 = EXAMPLE.control_planes[0]
    seed = files["nodes/cp1/user-data"]
    assert load(cloudinit.meta_data(EXAMPLE, cp1, seed))["instance-id"] == ids["cp1"]
    assert load(cloudinit.meta_data(EXAMPLE, cp1, seed + "# changed\n"))["instance-id"] != ids["cp1"]


def test_no_secret_in_any_seed() -> None:
    for inv in INVENTORIES.values():
        generated = secrets.generate(inv)
        for text in cloudinit.render(inv).values():
            assert generated.bootstrap_token not in text and generated.certificate_key not in text


# --- the real tools ------------------------------------------------------------


def write_seeds(inv: Inventory, root: Path) -> list[Path]:
    paths = []
    for rel, text in cloudinit.render(inv).items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        paths.append(path)
    return paths


@pytest.mark.tools
def test_no_unknown_top_level_key(need_tool) -> None:
    """`cloud-init schema` accepts unknown top-level keys (a typo such as `runcmdd`): check them here."""
    need_tool("cloud-init")
    known = schema_top_level_keys()
    assert {"runcmd", "write_files", "bootcmd", "apt"} <= known and "runcmdd" not in known
    for case, node in ALL_NODES:
        assert set(user_data(INVENTORIES[case], node)) <= known, node.name


@pytest.mark.tools
@pytest.mark.parametrize("case", INVENTORIES)
def test_cloud_init_schema_accepts_every_user_data(need_tool, tmp_path: Path, case: str) -> None:
    cloud_init = need_tool("cloud-init")
    seeds = [p for p in write_seeds(INVENTORIES[case], tmp_path) if p.name == "user-data"]
    assert len(seeds) == len(INVENTORIES[case].nodes)
    for path in seeds:
        result = subprocess.run([cloud_init, "schema", "--config-file", path], capture_output=True, text=True)
        assert result.returncode == 0, f"{path}: {result.stdout}{result.stderr}"
    # The checker does catch a wrong type in the same file.
    broken = tmp_path / "broken"
    broken.write_text(seeds[0].read_text().replace("disable_root: true", "disable_root: [true]"))
    assert subprocess.run([cloud_init, "schema", "--config-file", broken], capture_output=True).returncode != 0


@pytest.mark.tools
@pytest.mark.parametrize("case", INVENTORIES)
def test_cloud_init_reads_every_network_config(need_tool, tmp_path: Path, case: str) -> None:
    cloud_init = need_tool("cloud-init")
    inv = INVENTORIES[case]
    for node in inv.nodes:
        path = tmp_path / node.name
        path.write_text(cloudinit.network_config(inv, node))
        out = tmp_path / f"{node.name}.out"
        argv = [cloud_init, "devel", "net-convert", "-p", path, "-k", "yaml", "-O", "networkd", "-D", "ubuntu", "-d", out]
        result = subprocess.run(argv, capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
        (network,) = out.rglob("*.network")
        text = network.read_text()
        assert f"Address={node.ip}/{inv.network.subnet.prefixlen}" in text
        assert f"Gateway={inv.network.gateway}" in text and f"Domains={inv.network.domain}" in text
        if node.mac:
            assert f"MACAddress={node.mac}" in text
        if inv.network.mtu != 1500:
            assert f"MTUBytes={inv.network.mtu}" in text


@pytest.mark.tools
def test_embedded_scripts_pass_shellcheck(need_tool, tmp_path: Path) -> None:
    shellcheck = need_tool("shellcheck")
    scripts = {}
    for case, inv in INVENTORIES.items():
        scripts[f"{case}-kernel-check"] = cloudinit.kernel_check_script(inv)
        scripts[f"{case}-apt-key"] = cloudinit.apt_key_script(inv, helm=False)
        scripts[f"{case}-apt-key-helm"] = cloudinit.apt_key_script(inv, helm=True)
        # What a worker's bootcmd runs is exactly the script checked here (with helm: the first control plane's in bootstrap mode auto).
        assert user_data(inv, inv.workers[0])["bootcmd"] == [["bash", "-c", scripts[f"{case}-apt-key"]]]
    for name, text in scripts.items():
        assert text.startswith("#!/usr/bin/env bash\n") and "set -euo pipefail\n" in text
        path = tmp_path / name
        path.write_text(text)
        result = subprocess.run([shellcheck, path], capture_output=True, text=True)
        assert result.returncode == 0, result.stdout


# --- seeds with their secrets, in both bootstrap modes ---------------------------------

AUTO = check_text(EXAMPLE_PATH.read_text() + "\nbootstrap:\n  mode: auto\n").inventory
MODES = {"manual": EXAMPLE, "auto": AUTO}
SECRETS = {mode: secrets.generate(inv) for mode, inv in MODES.items()}


def seeds(mode: str) -> dict[str, dict[str, str]]:
    inv = MODES[mode]
    return {n.name: cloudinit.seed(inv, n, SECRETS[mode]) for n in inv.nodes}


def seed_data(mode: str, name: str) -> dict:
    return load(seeds(mode)[name]["user-data"])


@pytest.mark.parametrize("mode", MODES)
def test_join_configs_pin_the_generated_ca(mode: str) -> None:
    inv, values = MODES[mode], SECRETS[mode]
    want = pki.ca_cert_hash(values.pki["ca.crt"])
    for node in inv.kubernetes_nodes[1:]:
        (join,) = load_all(files_of(seed_data(mode, node.name))[cloudinit.KUBEADM_CONFIG]["content"])
        assert join["discovery"]["bootstrapToken"]["caCertHashes"] == [want], node.name


@pytest.mark.parametrize("mode", MODES)
def test_only_the_first_control_plane_gets_the_cas(mode: str) -> None:
    inv, values = MODES[mode], SECRETS[mode]
    cp1 = files_of(seed_data(mode, "cp1"))
    for name, text in values.pki.items():
        entry = cp1[f"/etc/kubernetes/pki/{name}"]
        assert entry["content"] == text and entry["permissions"] == "0600"
    for node in inv.nodes[1:]:
        text = seeds(mode)[node.name]["user-data"]
        written = files_of(seed_data(mode, node.name))
        assert not [path for path in written if path.startswith("/etc/kubernetes/pki/")], node.name
        assert "PRIVATE KEY" not in text, node.name
    # The committed seeds hold none of it.
    for text in cloudinit.render(inv).values():
        assert "PRIVATE KEY" not in text and values.ca_cert_hash not in text


def test_auto_mode_starts_the_bootstrap_when_cloud_init_is_done() -> None:
    for node in AUTO.kubernetes_nodes:
        data = seed_data("auto", node.name)
        files = files_of(data)
        assert files[bootstrap.SCRIPT]["permissions"] == "0755"
        assert f"ExecStart={bootstrap.SCRIPT}" in files[bootstrap.UNIT_FILE]["content"]
        assert data["runcmd"][-3:] == [[cloudinit.KERNEL_CHECK], ["systemctl", "daemon-reload"], ["systemctl", "start", "--no-block", bootstrap.UNIT]]
        script = files[bootstrap.SCRIPT]["content"]
        if node == AUTO.control_planes[0]:
            assert f"kubeadm init --config {cloudinit.KUBEADM_CONFIG} --upload-certs" in script and bootstrap.CILIUM_INSTALL in script
            assert ["helm", "3.22.0-1"] in data["packages"] and "helm" in data["apt"]["sources"]
            assert ["apt-mark", "hold", cloudinit.CONTAINERD_PACKAGE, *cloudinit.KUBERNETES_PACKAGES, "helm"] in data["runcmd"]
            assert files[bootstrap.CILIUM_VALUES]["content"] == cilium.render(AUTO)[layout.CILIUM_VALUES]
            assert f"--values {bootstrap.CILIUM_VALUES}" in files[bootstrap.CILIUM_INSTALL]["content"]
        else:
            assert f"kubeadm join --config {cloudinit.KUBEADM_CONFIG}" in script and "kubeadm init" not in script
            assert not any("helm" in p for p in data["packages"]) and bootstrap.CILIUM_VALUES not in files
    for node in EXAMPLE.kubernetes_nodes:  # manual: nothing runs by itself
        assert bootstrap.SCRIPT not in files_of(seed_data("manual", node.name))


@pytest.mark.tools
@pytest.mark.parametrize("mode", MODES)
def test_every_seed_passes_cloud_init_schema(need_tool, tmp_path: Path, mode: str) -> None:
    """The seeds as they go onto the VMs (secrets, CAs and bootstrap included)."""
    cloud_init = need_tool("cloud-init")
    known = schema_top_level_keys()
    for name, seed in seeds(mode).items():
        path = tmp_path / f"{name}-user-data"
        path.write_text(seed["user-data"])
        result = subprocess.run([cloud_init, "schema", "--config-file", path], capture_output=True, text=True)
        assert result.returncode == 0, f"{name}: {result.stdout}{result.stderr}"
        assert set(load(seed["user-data"])) <= known, name


@pytest.mark.tools
def test_bootstrap_scripts_pass_shellcheck(need_tool, tmp_path: Path) -> None:
    shellcheck = need_tool("shellcheck")
    for node in (AUTO.control_planes[0], AUTO.control_planes[1], AUTO.workers[0]):
        files = files_of(seed_data("auto", node.name))
        for path in (bootstrap.SCRIPT, *([bootstrap.CILIUM_INSTALL] if node == AUTO.control_planes[0] else [])):
            script = tmp_path / f"{node.name}-{Path(path).name}"
            script.write_text(files[path]["content"])
            result = subprocess.run([shellcheck, script], capture_output=True, text=True)
            assert result.returncode == 0, result.stdout


FAKE = """#!/usr/bin/env bash
echo "$(basename "$0") $*" >> "{log}"
count="{state}/$(basename "$0")-$1"
n=$(( $(cat "$count" 2>/dev/null || echo 0) + 1 )); echo "$n" > "$count"
(( n > {fail_first} ))
"""


@pytest.mark.tools
def test_join_waits_for_the_api_and_retries_a_failed_join(need_tool, tmp_path: Path) -> None:
    """The worker's script against stand-ins that fail at first: the API answers on the
    third poll, the first join fails (reset, retried), the second succeeds; every step logged."""
    bash = need_tool("bash")
    calls, state, bin_dir = tmp_path / "calls", tmp_path / "state", tmp_path / "bin"
    state.mkdir(), bin_dir.mkdir()
    for name, fail_first in (("curl", 2), ("kubeadm", 1), ("sleep", 0), ("check-kernel", 0)):
        (bin_dir / name).write_text(FAKE.format(log=calls, state=state, fail_first=fail_first))
        (bin_dir / name).chmod(0o755)
    text = files_of(seed_data("auto", "worker1"))[bootstrap.SCRIPT]["content"]
    log, marker = tmp_path / "bootstrap.log", tmp_path / "done"
    for old, new in ((bootstrap.LOG_FILE, log), (bootstrap.DONE_MARKER, marker), (cloudinit.KERNEL_CHECK, bin_dir / "check-kernel")):
        text = text.replace(old, str(new))
    script = tmp_path / "bootstrap"
    script.write_text(text)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run([bash, script], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    kubeadm_calls = [line for line in calls.read_text().splitlines() if line.startswith("kubeadm")]
    assert kubeadm_calls == [f"kubeadm join --config {cloudinit.KUBEADM_CONFIG}", "kubeadm reset --force", f"kubeadm join --config {cloudinit.KUBEADM_CONFIG}"]
    assert sum(line.startswith("curl") for line in calls.read_text().splitlines()) == 3
    steps = log.read_text()
    assert "waiting for the API at https://192.168.100.4:6443/healthz" in steps and "kubeadm join, attempt 2 of" in steps
    assert steps.rstrip().endswith("done") and marker.exists()
    # Once done, a rerun (a reboot) does nothing.
    again = subprocess.run([bash, script], env=env, capture_output=True, text=True, timeout=60)
    assert again.returncode == 0 and "already bootstrapped" in log.read_text()
