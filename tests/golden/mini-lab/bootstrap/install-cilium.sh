#!/usr/bin/env bash
# Installs Cilium 1.19.6 with plain Helm: the CNI must run before Flux or
# Argo CD can start a pod. Run it once, right after `kubeadm init`, wherever kubectl
# reaches the cluster: the first control plane is then the only node.
# What that one tainted node can hold is set on top of the values file (--set):
#   operator.replicas=1: the chart keeps one operator per node (required anti-affinity)
#   hubble.relay.enabled=false: Relay tolerates no control-plane taint and would stay Pending
# Flux's HelmRelease has the same release name, namespace, chart, version and values
# file without those overrides: its first sync upgrades this release in place to the
# inventory's replicas once the other nodes have joined.
# It waits only for what the cluster needs now: the agent (the CNI) and the operator.
set -euo pipefail

for tool in helm kubectl; do
  command -v "$tool" >/dev/null || { echo "$tool is needed on PATH" >&2; exit 1; }
done

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

helm upgrade --install cilium cilium \
  --repo https://helm.cilium.io \
  --version 1.19.6 \
  --namespace kube-system \
  --values "${repo_root}/infrastructure/controllers/cilium/values.yaml" \
  --set operator.replicas=1 \
  --set hubble.relay.enabled=false

kubectl --namespace kube-system rollout status daemonset/cilium --timeout=10m
kubectl --namespace kube-system rollout status deployment/cilium-operator --timeout=10m

echo "Cilium 1.19.6 is running. To verify:"
echo "  every node Ready:     kubectl get nodes -o wide"
echo "  agent healthy:        kubectl --namespace kube-system exec daemonset/cilium -c cilium-agent -- cilium-dbg status --brief"
