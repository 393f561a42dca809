#!/usr/bin/env bash
# One step for CI (as root on Debian bookworm): Docker Engine up, local server images built, and
# the variables the integration tests need written to a file to source.
# Usage:  scripts/ci-integration-setup.sh [ENV_FILE]   (default: $KVKIT_ENV_FILE or /tmp/kvkit-integration.env)
#         . "$ENV_FILE"
# The exports are also printed on stdout, so `eval "$(scripts/ci-integration-setup.sh)"` works.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ENV_FILE="${1:-${KVKIT_ENV_FILE:-/tmp/kvkit-integration.env}}"

t0=$(date +%s)
"$HERE/install-docker.sh" >&2
"$HERE/build-images.sh" >&2

cat >"$ENV_FILE" <<ENV
export KVKIT_ETCD_IMAGE=kvkit/etcd:3.4
export KVKIT_CONSUL_IMAGE=kvkit/consul:1.8.7
export KVKIT_ZOOKEEPER_IMAGE=kvkit/zookeeper:3.8
export TESTCONTAINERS_RYUK_DISABLED=true
export TESTCONTAINERS_HOST_OVERRIDE=127.0.0.1
ENV
echo "[ci-integration-setup] ready in $(( $(date +%s) - t0 ))s; variables in $ENV_FILE" >&2
cat "$ENV_FILE"
