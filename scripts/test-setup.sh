#!/usr/bin/env bash
# Everything `npm test` needs from this machine, brought up when missing and left alone when
# there (run by test/setup/integration.ts before the integration tests; usable by hand):
#  1. the Debian packages tests run for real (scripts/install-test-packages.sh);
#  2. a Docker daemon that answers: as root, an installed but stopped dockerd is started, or
#     Debian's docker.io installed and started (scripts/install-docker.sh). Not root and no
#     Docker: exit 3 at once (the caller prints how to get it);
#  3. one image per server kind (etcd, consul, zookeeper, redis), the first that works of:
#     KVKIT_<KIND>_IMAGE if set · the local build kvkit/<kind> if present · the official image
#     if present or pullable · else the local build, made now (root: scripts/build-images.sh,
#     which also refreshes a present local build whose recipe changed, in ~0.1 s when current).
# Prints the variables the integration tests read as `export NAME=value` lines on stdout (and
# writes them to ENV_FILE when given); progress goes to stderr.
# Usage: scripts/test-setup.sh [ENV_FILE]      eval "$(scripts/test-setup.sh)"
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ENV_FILE="${1:-}"
PULL_TIMEOUT_S="${KVKIT_PULL_TIMEOUT_S:-300}"

log() { printf '[test-setup] %s\n' "$*" >&2; }
root() { [ "$(id -u)" -eq 0 ]; }
t0=$(date +%s)

"$HERE/install-test-packages.sh"

if ! timeout 10 docker info >/dev/null 2>&1; then
  if ! root; then
    log "Docker is not reachable and this is not root: cannot start or install it"
    exit 3
  fi
  "$HERE/install-docker.sh"
fi

declare -A OFFICIAL=([etcd]=quay.io/coreos/etcd:v3.5.17 [consul]=hashicorp/consul:1.20
  [zookeeper]=zookeeper:3.8 [redis]=redis:7.0)
declare -A LOCAL=([etcd]=kvkit/etcd:3.4 [consul]=kvkit/consul:1.8.7
  [zookeeper]=kvkit/zookeeper:3.8 [redis]=kvkit/redis:7.0)
# Every image on this machine, listed once.
IMAGES="$(docker image ls --format '{{.Repository}}:{{.Tag}}')"
present() { printf '%s\n' "$IMAGES" | grep -qxF "$1"; }

exports=()
local_builds=()
for kind in etcd consul zookeeper redis; do
  var="KVKIT_${kind^^}_IMAGE"
  if [ -n "${!var:-}" ]; then
    image="${!var}"
  elif present "${LOCAL[$kind]}"; then
    image="${LOCAL[$kind]}"
  elif present "${OFFICIAL[$kind]}"; then
    image="${OFFICIAL[$kind]}"
  elif log "pulling ${OFFICIAL[$kind]}" && timeout "$PULL_TIMEOUT_S" docker pull -q "${OFFICIAL[$kind]}" >/dev/null 2>&1; then
    image="${OFFICIAL[$kind]}"
  else
    log "${OFFICIAL[$kind]} cannot be pulled: using the local build ${LOCAL[$kind]}"
    image="${LOCAL[$kind]}"
  fi
  [ "$image" = "${LOCAL[$kind]}" ] && local_builds+=("$kind")
  exports+=("export $var=$image")
done

if [ "${#local_builds[@]}" -gt 0 ]; then
  if root; then
    "$HERE/build-images.sh" "${local_builds[@]}"
  else
    for kind in "${local_builds[@]}"; do
      if ! docker image inspect "${LOCAL[$kind]}" >/dev/null 2>&1; then
        log "${LOCAL[$kind]} is not on this machine and building it needs root: sudo scripts/build-images.sh $kind"
        exit 4
      fi
    done
  fi
fi

exports+=("export TESTCONTAINERS_RYUK_DISABLED=true" "export TESTCONTAINERS_HOST_OVERRIDE=127.0.0.1")
[ -n "$ENV_FILE" ] && printf '%s\n' "${exports[@]}" >"$ENV_FILE"
printf '%s\n' "${exports[@]}"
log "ready in $(($(date +%s) - t0))s"
