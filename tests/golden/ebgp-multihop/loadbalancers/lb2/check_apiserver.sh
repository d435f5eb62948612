#!/usr/bin/env bash
# keepalived's check_apiserver on the load balancers of edge-rack; rendered by clusterforge.
# As in the kubeadm HA guide, every load balancer asks its own haproxy (bound on the
# loopback address as well as the VIP) for a healthy API server. The holder of the VIP
# and the backups check the same thing: when no API server is healthy they all lose
# the same priority together, so the VIP stays where it is instead of flapping.
set -euo pipefail

port=6443

fail() { echo "check_apiserver: $*" >&2; exit 1; }

curl --silent --show-error --fail --insecure --max-time 2 --output /dev/null "https://127.0.0.1:$port/healthz" \
    || fail "GET https://127.0.0.1:$port/healthz through this load balancer's haproxy failed"
