"""`bootstrap.mode: auto`: each Kubernetes node bootstraps itself from its seed,
as Cluster API's kubeadm bootstrap does, with no one logging in.

- The first control plane runs `kubeadm init` with the CAs its seed put in
  /etc/kubernetes/pki (pki.py) and uploads the control-plane certificates
  (encrypted with the certificate key), then installs Cilium with the same
  command as bootstrap/install-cilium.sh.
- Every other node waits until the API answers through the VIP, then runs
  `kubeadm join`; a failed attempt is reset and retried, within a bounded time.

The script runs as a oneshot systemd unit that cloud-init starts at the end of
its run (not inside it, so `cloud-init status --wait` does not hang on joins),
and logs every step with a timestamp to LOG_FILE and the journal. Nothing here
is a secret: the token, the certificate key and the CAs are in the seed only.
"""

from __future__ import annotations

from shlex import quote

from ..model import Inventory, Node
from . import cilium

SCRIPT = "/usr/local/sbin/clusterforge-bootstrap"
UNIT = "clusterforge-bootstrap.service"
UNIT_FILE = f"/etc/systemd/system/{UNIT}"
LOG_FILE = "/var/log/clusterforge-bootstrap.log"
DONE_MARKER = "/var/lib/clusterforge/bootstrap-done"
CILIUM_VALUES = "/etc/clusterforge/cilium-values.yaml"
CILIUM_INSTALL = "/usr/local/sbin/clusterforge-install-cilium"
ADMIN_KUBECONFIG = "/etc/kubernetes/admin.conf"
# Bounded waits. The bootstrap token lives 24 h (kubeadm.TOKEN_TTL) and the uploaded
# certificates 2 h (kubeadm's default): a node that waits this long has a problem
# a person must look at, and the log says which.
API_WAIT_SECONDS = 3600
JOIN_ATTEMPTS = 5
RETRY_SECONDS = 30


def follow_command() -> str:
    """How to watch a node bootstrap itself (the README shows it)."""
    return f"sudo tail -f {LOG_FILE}"


def unit() -> str:
    return "\n".join(
        [
            "[Unit]",
            "Description=clusterforge bootstrap: kubeadm init or join (and Cilium on the first control plane)",
            "Wants=network-online.target containerd.service",
            "After=network-online.target containerd.service",
            f"ConditionPathExists=!{DONE_MARKER}",
            "",
            "[Service]",
            "Type=oneshot",
            f"ExecStart={SCRIPT}",
            "RemainAfterExit=yes",
            "",
        ]
    )


def script(inv: Inventory, node: Node, kubeadm_config: str, kernel_check: str) -> str:
    first = node == inv.control_planes[0]
    vip = f"https://{inv.api_endpoint}/healthz"
    lines = [
        "#!/usr/bin/env bash",
        f"# Bootstrap of {node.name} ({'kubeadm init, then Cilium' if first else 'kubeadm join'}), rendered by clusterforge",
        f"# for bootstrap.mode auto. Each step is logged to {LOG_FILE} and the journal.",
        "set -euo pipefail",
        "",
        f"exec > >(tee -a {LOG_FILE}) 2>&1  # and to the journal, through the unit's stdout",
        'step() { echo "$(date -Is) $*"; }',
        'fail() { step "FAILED: $*"; exit 1; }',
        "",
        f"[[ -e {DONE_MARKER} ]] && {{ step 'already bootstrapped'; exit 0; }}",
        'step "checking the kernel for Cilium"',
        f"{kernel_check} || fail 'the kernel lacks what Cilium needs (see above)'",
        "",
    ]
    if first:
        lines += [
            'step "kubeadm init (with the cluster CAs from the seed; control-plane certificates uploaded for the other control planes)"',
            f"kubeadm init --config {kubeadm_config} --upload-certs || fail 'kubeadm init'",
            f"export KUBECONFIG={ADMIN_KUBECONFIG}",
            *_wait_for_api(vip),
            'step "installing Cilium"',
            f"{CILIUM_INSTALL} || fail 'the Cilium install'",
        ]
    else:
        lines += [
            *_wait_for_api(vip),
            f"for attempt in $(seq 1 {JOIN_ATTEMPTS}); do",
            f'    step "kubeadm join, attempt $attempt of {JOIN_ATTEMPTS}"',
            f"    if kubeadm join --config {kubeadm_config}; then",
            "        break",
            "    fi",
            f"    (( attempt < {JOIN_ATTEMPTS} )) || fail 'kubeadm join: no attempt succeeded'",
            '    step "kubeadm join failed: resetting before the next attempt"',
            "    kubeadm reset --force || true",
            f"    sleep {RETRY_SECONDS}",
            "done",
        ]
    lines += [
        "",
        f"mkdir -p \"$(dirname {DONE_MARKER})\" && touch {DONE_MARKER}",
        'step "done"',
    ]
    return "\n".join(lines) + "\n"


def _wait_for_api(url: str) -> list[str]:
    """Until the API answers through the VIP (HAProxy and a healthy API server), bounded."""
    return [
        f"url={quote(url)}",
        'step "waiting for the API at $url"',
        f"deadline=$((SECONDS + {API_WAIT_SECONDS}))",
        'until curl --silent --fail --insecure --max-time 5 --output /dev/null "$url"; do',
        f'    (( SECONDS < deadline )) || fail "the API did not answer at $url within {API_WAIT_SECONDS} s"',
        f"    sleep {RETRY_SECONDS // 3}",
        "done",
        'step "the API answers"',
    ]


def cilium_install(inv: Inventory) -> str:
    """bootstrap/install-cilium.sh as the first control plane runs it: the values file
    its seed carries, the admin kubeconfig of `kubeadm init`."""
    return cilium.bootstrap_script(inv, values_file=CILIUM_VALUES)
