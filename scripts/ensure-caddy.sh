#!/usr/bin/env bash
# Makes sure the tests of domains and HTTPS have what they need: Debian's caddy (the front door
# the agent drives), pebble and pebble-challtestsrv (the ACME server and its DNS) and openssl (for
# Pebble's own certificate); with --bench also wrk. The tests start their own Caddy on free
# loopback ports, so a Caddy service the package would start is stopped and disabled.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

# A host that runs Caddy for Berth sets this (docs/agent.md): without it the kernel resets the
# connections that arrive while Caddy loads a config, and every deploy's switch is a load.
if [ -w /proc/sys/net/ipv4/tcp_migrate_req ] && [ "$(cat /proc/sys/net/ipv4/tcp_migrate_req)" = 0 ]; then
  echo 1 > /proc/sys/net/ipv4/tcp_migrate_req
  say "set net.ipv4.tcp_migrate_req=1 (Caddy's config loads reset no connection)"
fi

need=()
command -v caddy >/dev/null 2>&1 || need+=(caddy)
command -v pebble >/dev/null 2>&1 && command -v pebble-challtestsrv >/dev/null 2>&1 || need+=(pebble)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
if [ "${1:-}" = --bench ]; then command -v wrk >/dev/null 2>&1 || need+=(wrk); fi
[ ${#need[@]} -eq 0 ] && exit 0

apt_install "${need[@]}"
# Only a freshly installed Caddy: one the host already ran as a service is the host's own.
if [[ " ${need[*]} " == *" caddy "* ]] && [ -d /run/systemd/system ]; then
  systemctl disable --now caddy.service caddy-api.service >/dev/null 2>&1 || true
fi
