#!/usr/bin/env bash
# Makes sure the tests have what they need: a running Docker Engine, docker-compose, git, sshd, python3, a static
# busybox, and the busybox test image. Starts dockerd when it is installed but not running; installs
# Debian's packages when running as root on Debian; otherwise says what is missing and fails.
set -euo pipefail

TEST_IMAGE=${BERTH_TEST_IMAGE:-berth-test/busybox:latest}
. "$(dirname "$0")/lib.sh"

need=()
command -v git >/dev/null 2>&1 || need+=(git)
# An ssh server for the tests of deploys over ssh with an app's deploy key.
[ -x /usr/sbin/sshd ] || need+=(openssh-server)
command -v dockerd >/dev/null 2>&1 || need+=(docker.io)
# Compose v1, Debian's: the tests run it through `berth docker --socket`.
command -v docker-compose >/dev/null 2>&1 || need+=(docker-compose)
# A network namespace with its own firewall stands for a host behind NAT.
command -v ip >/dev/null 2>&1 || need+=(iproute2)
command -v iptables >/dev/null 2>&1 || need+=(iptables)
# Python's pty module gives the CLI's tests a real terminal.
command -v python3 >/dev/null 2>&1 || need+=(python3)
# Test images need a static busybox: the image has no libc.
if ! command -v busybox >/dev/null 2>&1 || ! { LC_ALL=C ldd "$(command -v busybox)" 2>&1 || true; } | grep -q 'not a dynamic'; then
  need+=(busybox-static)
fi
[ ${#need[@]} -gt 0 ] && apt_install "${need[@]}"

if ! docker info >/dev/null 2>&1; then
  if [ "$(id -u)" != 0 ]; then
    say "the Docker Engine is not reachable and only root can start dockerd here; start it (or add this user to the docker group)"
    exit 1
  fi
  say "starting dockerd"
  mkdir -p /var/log
  nohup dockerd >/var/log/berth-dockerd.log 2>&1 &
  for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && break
    sleep 0.5
  done
  if ! docker info >/dev/null 2>&1; then
    say "dockerd did not come up; its log follows"
    tail -n 20 /var/log/berth-dockerd.log >&2 || true
    exit 1
  fi
fi

if ! docker image inspect "$TEST_IMAGE" >/dev/null 2>&1; then
  say "building the test image $TEST_IMAGE from busybox-static"
  root=$(mktemp -d)
  mkdir -p "$root/bin" "$root/tmp" "$root/www"
  cp "$(command -v busybox)" "$root/bin/busybox"
  for applet in $("$root/bin/busybox" --list); do
    [ "$applet" = busybox ] || ln -sf busybox "$root/bin/$applet"
  done
  echo 'berth test page' >"$root/www/index.html"
  tar -C "$root" -c . | docker import -c 'ENV PATH=/bin' -c 'CMD ["/bin/sh"]' - "$TEST_IMAGE" >/dev/null
  rm -rf "$root"
fi
