#!/bin/sh
# proxy-init: run once, as the first init container of a meshed pod (added by the control plane's admission
# webhook), before the app and its sidecar start. Redirects inbound TCP for the app's ports to the sidecar
# proxy's port, like linkerd-init and istio-init. Only PREROUTING (traffic arriving from outside the pod) is
# redirected: the proxy's own connections to the app over loopback are untouched, so they do not loop.
# Needs NET_ADMIN and NET_RAW. Environment:
#   ROAM_PROXY_PORT     the proxy's inbound port (e.g. 4143)
#   ROAM_INBOUND_PORTS  the app ports to redirect, comma-separated (e.g. 8080 or 8080,9090)
#   ROAM_IPTABLES       iptables binary: iptables (nf_tables, default) or iptables-legacy, as the node uses
set -eu

: "${ROAM_PROXY_PORT:?ROAM_PROXY_PORT must be set}"
: "${ROAM_INBOUND_PORTS:?ROAM_INBOUND_PORTS must be set}"
ipt="${ROAM_IPTABLES:-iptables}"
chain=ROAM_INBOUND

# Idempotent: a restarted init container rebuilds the chain instead of stacking duplicate rules.
if "$ipt" -t nat -N "$chain" 2>/dev/null; then
  "$ipt" -t nat -A PREROUTING -p tcp -j "$chain"
else
  "$ipt" -t nat -F "$chain"
fi

for port in $(echo "$ROAM_INBOUND_PORTS" | tr ',' ' '); do
  case "$port" in
    ''|*[!0-9]*) echo "proxy-init: \"$port\" in ROAM_INBOUND_PORTS is not a port number" >&2; exit 2 ;;
  esac
  "$ipt" -t nat -A "$chain" -p tcp --dport "$port" -j REDIRECT --to-ports "$ROAM_PROXY_PORT"
done

echo "proxy-init: inbound tcp ports $ROAM_INBOUND_PORTS -> $ROAM_PROXY_PORT"
"$ipt" -t nat -S "$chain"
