#!/usr/bin/env bash
# keepalived's check_apiserver on the load balancers of koedo-lab; rendered by clusterforge.
# No API server runs on this VM. The VIP holder checks the whole path clients take
# (VIP -> this haproxy -> a healthy API server); a backup checks that its haproxy
# listens on the VIP, ready for the moment the VIP arrives.
set -euo pipefail

vip=192.168.100.4
port=6443
iface=ens160

fail() { echo "check_apiserver: $*" >&2; exit 1; }

if [[ -n "$(ip -o -4 addr show dev "$iface" to "$vip/32")" ]]; then
    curl --silent --show-error --fail --insecure --max-time 2 --output /dev/null "https://$vip:$port/healthz" \
        || fail "GET https://$vip:$port/healthz through haproxy failed"
elif [[ -z "$(ss -H -l -t -n src "$vip" sport = ":$port")" ]]; then
    fail "haproxy is not listening on $vip:$port"
fi
