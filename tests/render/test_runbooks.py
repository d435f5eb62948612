"""Day-2 runbooks: the order of each operation, the exact commands per node, the
shell they are written in, and the upstream tools' own words where they run here."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from generator import loader, versions, yamlio
from generator.model import Inventory
from generator.render import change_runbooks, cloudinit, layout, runbooks, tree

from .test_guide import _repository_path

EXAMPLE = Path("generator/data/cluster.example.yaml").read_text()
VARIANT = Path("tests/data/variant.yaml").read_text()
CHARTS = Path(__file__).resolve().parents[3] / "shared" / "charts"
WORKER3 = "  - {name: worker3,  role: worker,        ip: 192.168.100.98, host: nuc3}\n"


def inv(text: str, *replacements: tuple[str, str]) -> Inventory:
    for old, new in replacements:
        assert old in text, old
        text = text.replace(old, new)
    return loader.check_text(text).inventory


def commands(text: str) -> list[str]:
    """Every command line of the runbook's code blocks (not the expected outputs), in order."""
    lines = []
    for fence, body in re.findall(r"^```(sh|text)\n(.*?)^```$", text, re.S | re.M):
        before = text[: text.index(body)]
        if before.rstrip().endswith("Expected output (excerpt):"):
            continue
        lines += [line for line in body.splitlines() if line and not line.startswith("#")]
    return lines


def only(files: dict[str, str], prefix: str) -> str:
    (text,) = [text for path, text in files.items() if path.startswith(f"{layout.RUNBOOKS_DIR}/{prefix}") and not path.endswith(".ja.md")]
    return text


def test_kubernetes_minor_upgrade_in_kubeadms_order() -> None:
    old, new = inv(EXAMPLE, ('version: "1.35.4"', 'version: "1.34.4"')), inv(EXAMPLE)
    text = only(change_runbooks.for_change(old, new), "upgrade-kubernetes-1.34.4-to-1.35.4")
    lines = commands(text)
    # The apt source is where cloud-init put it, and it names the old minor's repository.
    user_data = yamlio.loader().load(tree.render(old)["nodes/cp1/user-data"])
    assert versions.pkgs_k8s_repo("1.34.4") in user_data["apt"]["sources"][cloudinit.APT_SOURCE_NAME]["source"]
    switch = f"sudo sed -i 's#https://pkgs.k8s.io/core:/stable:/v1.34/deb/#https://pkgs.k8s.io/core:/stable:/v1.35/deb/#' {change_runbooks.APT_SOURCE}"
    apply = lines.index("sudo kubeadm upgrade apply v1.35.4 --yes")
    assert lines.index(switch) < lines.index("sudo apt-get install -y kubeadm=1.35.4-1.1") < apply
    assert lines.index("sudo kubeadm upgrade plan v1.35.4") < apply
    order = [lines.index(f"kubectl uncordon {n.name}") for n in [*new.control_planes, *new.workers]]
    assert order == sorted(order)  # control planes first, workers last, one at a time
    for node in new.kubernetes_nodes:
        drain = lines.index(f"kubectl drain {node.name} --ignore-daemonsets --delete-emptydir-data")
        kubelet = lines.index("sudo apt-get install -y kubelet=1.35.4-1.1 kubectl=1.35.4-1.1", drain)
        assert drain < kubelet < lines.index("sudo systemctl restart kubelet", kubelet) < lines.index(f"kubectl uncordon {node.name}")
    assert lines.count("sudo kubeadm upgrade node") == len(new.kubernetes_nodes) - 1
    assert apply < lines.index("sudo kubeadm upgrade node")
    # After each node: the node's check; before: a fresh etcd snapshot.
    assert text.count("kubectl get nodes ") == len(new.kubernetes_nodes) + 2
    assert lines[0] == "sudo /usr/local/sbin/clusterforge-etcd-snapshot"
    assert "pause:3.10.1" not in text  # 1.34 and 1.35 share the pause image and containerd


def test_patch_upgrade_keeps_the_repository_and_a_containerd_major_change_replaces_nodes() -> None:
    text = only(change_runbooks.for_change(inv(EXAMPLE), inv(EXAMPLE, ('version: "1.35.4"', 'version: "1.35.9"'))), "upgrade-kubernetes")
    assert "sed -i" not in text and "kubeadm=1.35.9-1.1" in text
    newer = change_runbooks.for_change(inv(EXAMPLE), inv(EXAMPLE, ('version: "1.35.4"', 'version: "1.36.4"'), ("version: 1.19.6", "version: 1.20.0")))
    text = only(newer, "upgrade-kubernetes-1.35.4-to-1.36.4")
    assert "containerd 2.3.6 instead of 1.7.29" in text and "replace each node" in text
    assert only(newer, "upgrade-cilium-1.19.6-to-1.20.0")


def test_no_runbook_for_a_downgrade_or_a_skipped_minor() -> None:
    assert not change_runbooks.for_change(inv(EXAMPLE), inv(EXAMPLE, ('version: "1.35.4"', 'version: "1.34.4"')))
    old = inv(EXAMPLE, ('version: "1.35.4"', 'version: "1.33.9"'), ("version: 1.19.6", "version: 1.18.12"))
    assert list(change_runbooks.for_change(old, inv(EXAMPLE))) == [f"{layout.RUNBOOKS_DIR}/upgrade-cilium-1.18.12-to-1.19.6.md"]


def test_cilium_upgrade_has_the_preflight_check_and_the_notes_of_each_minor() -> None:
    old = inv(EXAMPLE, ("version: 1.19.6", "version: 1.18.12"), ('version: "1.35.4"', 'version: "1.33.9"'))
    new = inv(EXAMPLE, ("version: 1.19.6", "version: 1.20.0"), ('version: "1.35.4"', 'version: "1.33.9"'))
    text = only(change_runbooks.for_change(old, new), "upgrade-cilium-1.18.12-to-1.20.0")
    assert "https://docs.cilium.io/en/v1.19/operations/upgrade/#upgrade-notes" in text
    assert "https://docs.cilium.io/en/v1.20/operations/upgrade/#upgrade-notes" in text
    assert "CiliumBGPPeeringPolicy (the v1 BGP control plane) is removed" in text
    lines = commands(text)
    assert lines.index("kubectl create -f cilium-preflight.yaml") < lines.index("kubectl delete -f cilium-preflight.yaml")
    assert "cilium bgp peers" in lines


@pytest.mark.tools
def test_the_preflight_manifest_is_what_the_chart_renders(tmp_path: Path, need_tool) -> None:
    """The runbook's `helm template` (with the chart from the offline cache instead of --repo)
    makes the pre-flight DaemonSet it then checks for, and no agent."""
    helm = need_tool("helm")
    new = inv(EXAMPLE, ("version: 1.19.6", "version: 1.20.0"), ('version: "1.35.4"', 'version: "1.34.4"'))
    chart = CHARTS / f"cilium-{new.cilium.version}.tgz"
    if not chart.is_file():
        pytest.skip(f"no chart cache at {CHARTS}")
    (tmp_path / layout.CILIUM_VALUES).parent.mkdir(parents=True)
    (tmp_path / layout.CILIUM_VALUES).write_text(tree.render(new)[layout.CILIUM_VALUES])
    command = change_runbooks.preflight_commands(new)[0].split(" > ")[0].split()
    assert command[:3] == ["helm", "template", "cilium"] and command[4:6] == ["--repo", "https://helm.cilium.io"]
    argv = [str(helm), "template", "cilium", str(chart), *command[6:]]
    done = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    documents = [d for d in yamlio.loader().load_all(done.stdout) if d]
    daemonsets = [d["metadata"]["name"] for d in documents if d["kind"] == "DaemonSet"]
    assert daemonsets == ["cilium-pre-flight-check"]
    assert "kubectl --namespace kube-system get daemonset cilium cilium-pre-flight-check" in only(change_runbooks.for_change(inv(EXAMPLE), new), "upgrade-cilium")


def test_adding_nodes() -> None:
    old = inv(EXAMPLE)
    new = inv(EXAMPLE, (WORKER3, WORKER3 + "  - {name: worker4,  role: worker,        ip: 192.168.100.99, host: nuc3}\n"))
    lines = commands(only(change_runbooks.for_change(old, new), "add-node-worker4"))
    assert lines.index("clusterforge seed worker4 seeds/worker4 --iso") > lines.index("sudo kubeadm token create TOKEN")
    assert "sudo kubeadm join --config /etc/clusterforge/kubeadm.yaml" in lines
    assert not any("upload-certs" in line or "haproxy" in line for line in lines)  # a worker needs neither
    cp4 = inv(EXAMPLE.replace("3 control planes", ""), (WORKER3, WORKER3 + "  - {name: cp4, role: control-plane, ip: 192.168.100.14, host: nuc3}\n  - {name: cp5, role: control-plane, ip: 192.168.100.15, host: nuc2}\n"))
    text = only(change_runbooks.for_change(old, cp4), "add-node-cp4")
    lines = commands(text)
    assert "sudo kubeadm init phase upload-certs --upload-certs --config /etc/clusterforge/kubeadm.yaml" in lines
    assert "sudo systemctl reload haproxy keepalived" in lines  # their backends changed
    assert "member list --write-out=table" in text and "| started | cp5  |" in text
    auto = inv(EXAMPLE + "\nbootstrap:\n  mode: auto\n", (WORKER3, WORKER3 + "  - {name: worker4,  role: worker,        ip: 192.168.100.99, host: nuc3}\n"))
    old_auto = inv(EXAMPLE + "\nbootstrap:\n  mode: auto\n")
    lines = commands(only(change_runbooks.for_change(old_auto, auto), "add-node-worker4"))
    assert "sudo kubeadm join --config /etc/clusterforge/kubeadm.yaml" not in lines  # it joins by itself


def test_removing_nodes_clears_etcd_and_the_routers() -> None:
    old = inv(EXAMPLE)
    text = only(change_runbooks.for_change(old, inv(EXAMPLE, (WORKER3, ""))), "remove-node-worker3")
    lines = commands(text)
    assert lines.index("kubectl drain worker3 --ignore-daemonsets --delete-emptydir-data") < lines.index("sudo kubeadm reset --force") < lines.index("kubectl delete node worker3")
    # The RTX file numbers neighbors by position: all six old ones go before the new file is applied.
    assert [line for line in lines if line.startswith("no bgp neighbor")] == [f"no bgp neighbor {i}" for i in range(1, 7)]
    assert "```text\nno bgp neighbor 1" in text  # router CLI, not shell
    rack_old = inv(VARIANT)
    rack_new = inv(VARIANT, ("  - {name: cp5, role: control-plane, ip: 198.51.100.25, host: pve5}\n", ""), ("  - {name: cp4, role: control-plane, ip: 198.51.100.24, host: pve4}\n", ""))
    text = only(change_runbooks.for_change(rack_old, rack_new), "remove-node-cp5")
    lines = commands(text)
    assert any(line.endswith("member remove MEMBER_ID") for line in lines)
    assert "sudo vtysh -c 'configure terminal' -c 'router bgp 65001' -c 'no neighbor 198.51.100.25'" in lines
    assert "sudo sed -i '/^protocol bgp cilium_cp5 /,/^}/d' /etc/bird/bird.conf" in lines
    assert "sudo systemctl reload haproxy keepalived" in lines


def test_change_runbooks_parse_and_say_the_same_in_both_languages(need_tool) -> None:
    shellcheck = need_tool("shellcheck")
    old = inv(VARIANT, ('version: "1.34.4"', 'version: "1.33.9"'), ("version: 1.19.6", "version: 1.18.12"))
    new = inv(VARIANT, ("  - {name: w3, role: worker, ip: 198.51.100.33, host: pve3, vm: {cpus: 8, memoryGiB: 32, diskGiB: 200}}\n", "  - {name: w4, role: worker, ip: 198.51.100.34, host: pve3}\n"))
    files = change_runbooks.for_change(old, new)
    assert len(files) == 8  # Kubernetes, Cilium, w4 added, w3 removed; each in English and Japanese
    repository = tree.render(new)
    top = {p.split("/")[0] for p in repository} | {layout.SEEDS_DIR}
    for text in files.values():
        for line in commands(text):
            for token in line.split():
                rel = _repository_path(token, top)
                if rel and rel.split("/")[0] != layout.SEEDS_DIR:
                    assert rel in repository, f"{token!r} names no file of the repository"
    for path, text in files.items():
        script = "\n".join(body for fence, body in re.findall(r"^```(\S*)\n(.*?)^```$", text, re.S | re.M) if fence == "sh")
        done = subprocess.run([str(shellcheck), "--shell=bash", "-"], input=script, capture_output=True, text=True)
        assert done.returncode == 0, f"{path}:\n{done.stdout}"
        if not path.endswith(".ja.md"):
            ja = files[layout.localized(path, "ja")]
            assert re.findall(r"^#+ [0-9.]*", text, re.M) == re.findall(r"^#+ [0-9.]*", ja, re.M)
            assert commands(text) == commands(ja)


@pytest.mark.tools
def test_kubeadm_says_what_the_runbooks_expect(need_tool) -> None:
    new = inv(EXAMPLE)
    kubeadm = need_tool("kubeadm", kubernetes_version=new.kubernetes.version)
    binary = kubeadm.read_bytes()
    text = only(change_runbooks.for_change(inv(EXAMPLE, ('version: "1.35.4"', 'version: "1.34.4"')), new), "upgrade-kubernetes")
    for line in (
        '[upgrade] SUCCESS! A control plane node of your cluster was upgraded to "v1.35.4".',
        "[upgrade/kubelet-config] The kubelet configuration for this node was successfully upgraded!",
    ):
        assert line in text
        assert line.replace('"v1.35.4"', "%q").encode() in binary
    listed = subprocess.run([str(kubeadm), "config", "images", "list", "--kubernetes-version", f"v{new.kubernetes.version}"], capture_output=True, text=True, check=True)
    assert len([line for line in listed.stdout.splitlines() if "/etcd:" in line]) == 1  # what restore-etcd picks with grep
    restore = tree.render(new)[layout.runbook("restore-etcd")]
    assert f'image="$(kubeadm config images list --kubernetes-version v{new.kubernetes.version} | grep /etcd:)"' in restore
    assert subprocess.run([str(kubeadm), "certs", "check-expiration", "--help"], capture_output=True).returncode == 0


def test_standing_runbooks() -> None:
    lab = tree.render(inv(EXAMPLE))
    assert sorted(p for p in lab if p.startswith(layout.RUNBOOKS_DIR)) == [layout.runbook("renew-certificates"), layout.runbook("restore-etcd")]
    rack = tree.render(inv(VARIANT))
    rotate = rack[layout.runbook("rotate-bgp-password")]
    assert "sudo vtysh -c 'configure terminal' -c 'router bgp 65001' -c 'neighbor CILIUM password <PASSWORD>'" in rotate
    assert "tor-b" not in rotate  # only tor-a has a password
    restore = rack[layout.runbook("restore-etcd")]
    assert "--name cp1 --initial-cluster cp1=https://198.51.100.21:2380 --initial-advertise-peer-urls https://198.51.100.21:2380" in restore
    assert restore.index("sudo kubeadm reset --force") > restore.index("etcdutl snapshot restore")
    assert layout.runbook("restore-etcd", "ja") in rack


def test_standing_runbooks_without_bgp() -> None:
    """A cluster without BGP has no password to rotate, and renewing the certificates and
    restoring etcd do not depend on BGP: the same two runbooks as the lab's (no BGP password)."""
    bgp = EXAMPLE[EXAMPLE.index("\nbgp:\n") : EXAMPLE.index("\nloadBalancerPools:")]
    without = inv(EXAMPLE, (bgp, ""))
    assert without.bgp is None
    files = runbooks.render(without)
    assert list(files) == [layout.runbook("renew-certificates"), layout.runbook("restore-etcd")]
    assert files == runbooks.render(inv(EXAMPLE))


def test_nodes_check_shows_the_inventorys_version() -> None:
    """The old inventory's before an upgrade, the new one's after it (the change runbooks pass either)."""
    example = inv(EXAMPLE)
    upgraded = example.model_copy(update={"kubernetes": example.kubernetes.model_copy(update={"version": "1.36.2"})})
    for shown, version in ((example, example.kubernetes.version), (upgraded, "1.36.2")):
        check = runbooks.nodes_check(shown, shown.control_planes[:1])
        assert check.expected == ["NAME   STATUS   ROLES           AGE   VERSION", f"cp1    Ready    control-plane   5m    v{version}"]
        assert check.look_for("en") == f"`Ready` and VERSION v{version}."

