#!/usr/bin/env bash
# Removes every container the integration harness created (label kvkit.test=1) that is still
# around: Ryuk is disabled, so this is the safety net after a crashed or killed test run.
# Safe to run any time; does nothing when Docker is not reachable.
set -euo pipefail
if ! timeout 10 docker info >/dev/null 2>&1; then
  echo "[cleanup-containers] docker not reachable; nothing to do" >&2
  exit 0
fi
ids="$(docker ps -aq --filter label=kvkit.test=1)"
if [ -n "$ids" ]; then
  # shellcheck disable=SC2086 # one id per word
  docker rm -f -v $ids >/dev/null
  echo "[cleanup-containers] removed $(echo "$ids" | wc -l) leftover container(s)" >&2
fi
