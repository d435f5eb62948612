"""`clusterforge tools install`: the pinned tools (generator/toolpins.py) and kubeadm per
Kubernetes version, built from their Go modules when Go is present, otherwise downloaded
as upstream release binaries checked against their published SHA-256 (releases.py)."""
