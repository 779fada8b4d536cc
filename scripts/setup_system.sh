#!/usr/bin/env bash
# Installs and starts what the sandbox backends need on a Debian machine:
#   bubblewrap (default backend), the Docker engine and the codealign sandbox image;
#   PostgreSQL's server binaries (the service's tests start their own server with initdb/pg_ctl);
#   Chromium for the dashboard's browser tests.
# Idempotent: each step is skipped when already done. Needs root for apt and dockerd;
# as an ordinary user it only checks and says what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v bwrap >/dev/null || need+=(bubblewrap)
command -v setpriv >/dev/null || need+=(util-linux)
[ -x /usr/bin/python3 ] || need+=(python3)   # the interpreter inside the bwrap sandbox
command -v dockerd >/dev/null || need+=(docker.io)
command -v debootstrap >/dev/null || need+=(debootstrap)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
command -v runuser >/dev/null || need+=(util-linux)
[ -x /usr/bin/chromium ] || need+=(chromium)      # the dashboard's browser tests (Playwright drives it)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "setup_system: missing ${need[*]}; install them as root (apt-get install ${need[*]})" >&2
    exit 1
  fi
  echo "setup_system: installing ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

# The Docker engine, without bridge or iptables (sandbox containers have no network).
# Storage: overlay2 where the kernel and the backing filesystem allow it (a new sandbox
# container in ~0.3 s), else vfs, which works everywhere but copies the whole image for
# every container (1-5 s each). CODEALIGN_DOCKER_STORAGE overrides the order.
start_dockerd() {
  nohup dockerd --storage-driver="$1" --iptables=false --bridge=none \
    >>/var/log/codealign-dockerd.log 2>&1 &
  local pid=$!
  for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && return 0
    kill -0 "$pid" 2>/dev/null || return 1     # refused this driver and exited
    sleep 1
  done
  kill "$pid" 2>/dev/null || true
  return 1
}
if ! docker info >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    mkdir -p /var/log
    for driver in ${CODEALIGN_DOCKER_STORAGE:-overlay2 vfs}; do
      echo "setup_system: starting dockerd (storage driver $driver)"
      start_dockerd "$driver" && break
    done
    docker info >/dev/null 2>&1 || { echo "setup_system: dockerd did not start; see /var/log/codealign-dockerd.log" >&2; exit 1; }
  else
    echo "setup_system: no Docker engine reachable; the docker backend's tests will be skipped" >&2
  fi
fi

# The sandbox image (offline, from Debian; cached, so a rerun takes a second).
if docker info >/dev/null 2>&1 && [ -x docker/build_sandbox_image.sh ]; then
  if [ "$(id -u)" = 0 ]; then
    docker/build_sandbox_image.sh
  elif ! docker image inspect codealign-sandbox:latest >/dev/null 2>&1; then
    echo "setup_system: the sandbox image codealign-sandbox:latest is missing; build it as root" \
         "with docker/build_sandbox_image.sh (the docker backend's tests will be skipped)" >&2
  fi
fi
