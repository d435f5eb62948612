"""A daily etcd snapshot on every control plane: a script and a systemd timer that
the control planes' seeds install (cloudinit.py), and what the restore runbook
reads back.

kubeadm runs etcd as a static pod, and the nodes have no etcdctl of their own:
the script runs the etcdctl of the running etcd container (crictl exec), which
writes into the data directory it shares with the host; the snapshot is then
moved out of it, and only the newest KEEP are kept.
"""

from __future__ import annotations

from . import kubeadm

SCRIPT = "/usr/local/sbin/clusterforge-etcd-snapshot"
UNIT = "clusterforge-etcd-snapshot"
SERVICE_FILE = f"/etc/systemd/system/{UNIT}.service"
TIMER_FILE = f"/etc/systemd/system/{UNIT}.timer"
TIMER = f"{UNIT}.timer"
SNAPSHOT_DIR = "/var/backups/etcd"
KEEP = 7  # a week of daily snapshots
ETCD_DATA_DIR = "/var/lib/etcd"  # kubeadm's default, shared between the etcd container and the host
ETCD_PKI = "/etc/kubernetes/pki/etcd"
ETCD_MANIFEST = "/etc/kubernetes/manifests/etcd.yaml"


def crictl() -> str:
    return f"crictl --runtime-endpoint {kubeadm.CRI_SOCKET}"


def etcdctl(arguments: str) -> str:
    """etcdctl inside the etcd container, with the certificates kubeadm made for it ($container set before)."""
    return (
        f'{crictl()} exec "$container" etcdctl --endpoints=https://127.0.0.1:2379 '
        f"--cacert={ETCD_PKI}/ca.crt --cert={ETCD_PKI}/server.crt --key={ETCD_PKI}/server.key {arguments}"
    )


def find_container() -> list[str]:
    return [
        f"container=\"$({crictl()} ps --name '^etcd$' --state running --quiet | head -n 1)\"",
        '[[ -n "$container" ]] || { echo "no running etcd container on this node" >&2; exit 1; }',
    ]


def script() -> str:
    return "\n".join(
        [
            "#!/usr/bin/env bash",
            f"# Saves an etcd snapshot of this control plane into {SNAPSHOT_DIR}, keeping the newest {KEEP};",
            f"# run daily by {TIMER}. Rendered by clusterforge.",
            "set -euo pipefail",
            "",
            *find_container(),
            'name="etcd-$(hostname)-$(date -u +%Y%m%dT%H%M%SZ).db"',
            etcdctl(f'snapshot save "{ETCD_DATA_DIR}/$name"'),
            f"install -d -m 0700 {SNAPSHOT_DIR}",
            f'mv "{ETCD_DATA_DIR}/$name" "{SNAPSHOT_DIR}/$name"',
            f'chmod 0600 "{SNAPSHOT_DIR}/$name"',
            f"find {SNAPSHOT_DIR} -maxdepth 1 -name 'etcd-*.db' -printf '%T@ %p\\n' | sort -rn | tail -n +{KEEP + 1} | cut -d ' ' -f 2- | xargs -r rm -f --",
            f'echo "saved {SNAPSHOT_DIR}/$name"',
            "",
        ]
    )


def service() -> str:
    return "\n".join(
        [
            "[Unit]",
            "Description=etcd snapshot of this control plane (clusterforge)",
            f"ConditionPathExists={ETCD_MANIFEST}",
            "",
            "[Service]",
            "Type=oneshot",
            f"ExecStart={SCRIPT}",
            "",
        ]
    )


def timer() -> str:
    return "\n".join(
        [
            "[Unit]",
            "Description=Daily etcd snapshot of this control plane (clusterforge)",
            "",
            "[Timer]",
            "OnCalendar=daily",
            "# Not all control planes at once.",
            "RandomizedDelaySec=1h",
            "Persistent=true",
            "",
            "[Install]",
            "WantedBy=timers.target",
            "",
        ]
    )
