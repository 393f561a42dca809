#!/usr/bin/env bash
# Idempotent: makes a working Docker Engine available on a Debian (bookworm) machine.
#  - installs Debian's docker.io (engine 20.10) and docker-compose (v1) when missing;
#  - starts dockerd in the background when nothing answers on the socket;
#  - waits until `docker info` answers (DOCKER_WAIT_SECONDS, default 60).
# Must run as root (CI). No registry is needed: images are built locally by build-images.sh.
set -euo pipefail

LOG="${DOCKERD_LOG:-/var/log/kvkit-dockerd.log}"
WAIT="${DOCKER_WAIT_SECONDS:-60}"
PIDFILE="${KVKIT_DOCKERD_PIDFILE:-/var/run/docker.pid}"
# Extra dockerd arguments, e.g. a daemon of its own for testing this script next to the
# machine's (--data-root, --exec-root, --host matching DOCKER_HOST, --bridge).
DOCKERD_ARGS="${KVKIT_DOCKERD_ARGS:-}"

log() { printf '[install-docker] %s\n' "$*" >&2; }

# Two test runs starting at once must not install or start Docker twice.
if [ -w /var/lock ]; then
  exec 9>/var/lock/kvkit-install-docker.lock
  flock 9
fi

# A client may already exist (e.g. /usr/local/bin/docker); what matters is the daemon.
if ! command -v dockerd >/dev/null 2>&1 || ! command -v docker-compose >/dev/null 2>&1; then
  if [ "$(id -u)" -ne 0 ]; then
    log "dockerd/docker-compose missing and not root: run as root, or: sudo apt-get install docker.io docker-compose"
    exit 1
  fi
  log "installing docker.io docker-compose iproute2 from Debian"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends docker.io docker-compose iproute2 >/dev/null
fi

docker_answers() { timeout 10 docker info >/dev/null 2>&1; }

if docker_answers; then
  log "dockerd already answering"
  exit 0
fi

# procps (pgrep) may be missing on a minimal machine: go by dockerd's pid file.
dockerd_alive() { [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }

if ! dockerd_alive; then
  if [ "$(id -u)" -ne 0 ]; then
    log "dockerd is not running and we are not root: start it (sudo systemctl start docker)"
    exit 1
  fi
  # A stale pid file from an earlier, killed daemon stops dockerd from starting.
  rm -f "$PIDFILE"
  # A second dockerd must not share a network namespace with one that uses docker0: given another
  # bridge (--bridge X, or none) it deletes docker0 at start (seen here with 20.10), cutting every
  # container of the first daemon off; given none it fights over docker0's addresses and iptables.
  # Run it in a network namespace of its own (ip netns exec NAME ...), where docker0 is its own.
  if [ -n "$DOCKERD_ARGS" ] && [ -e /sys/class/net/docker0 ]; then
    echo "[install-docker] refusing: KVKIT_DOCKERD_ARGS starts a second dockerd, and this network namespace already has docker0 (another daemon's); run it in a network namespace of its own" >&2
    exit 2
  fi
  log "starting dockerd (log: $LOG)"
  mkdir -p "$(dirname "$LOG")"
  # setsid: the daemon must outlive this script and its process group.
  # 9>&-: the daemon and its children (containerd, docker-proxy) must not inherit the install
  # lock, or every later call of this script waits on it for as long as the daemon runs.
  # shellcheck disable=SC2086 # DOCKERD_ARGS is a list of words
  setsid nohup dockerd --pidfile "$PIDFILE" $DOCKERD_ARGS >>"$LOG" 2>&1 </dev/null 9>&- &
fi

start=$(date +%s)
until docker_answers; do
  if [ $(( $(date +%s) - start )) -ge "$WAIT" ]; then
    log "dockerd did not answer within ${WAIT}s; last log lines:"
    tail -n 30 "$LOG" >&2 || true
    exit 1
  fi
  sleep 0.5
done
log "dockerd ready after $(( $(date +%s) - start ))s ($(docker version --format '{{.Server.Version}}' 2>/dev/null))"
