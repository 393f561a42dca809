#!/usr/bin/env bash
# Removes every container the integration harness created (label kvkit.test=1) that is still
# around: Ryuk is disabled, so this is the safety net after a crashed or killed test run.
# Does nothing when Docker is not reachable. Run it when no integration test is running (it also
# removes the containers of a run in progress). Usage: cleanup-containers.sh [LABEL=VALUE]
set -euo pipefail
LABEL="${1:-kvkit.test=1}"
if ! timeout 10 docker info >/dev/null 2>&1; then
  echo "[cleanup-containers] docker not reachable; nothing to do" >&2
  exit 0
fi
ids="$(docker ps -aq --filter "label=$LABEL")"
if [ -n "$ids" ]; then
  # shellcheck disable=SC2086 # one id per word
  docker rm -f -v $ids >/dev/null
  echo "[cleanup-containers] removed $(echo "$ids" | wc -l) leftover container(s)" >&2
fi
