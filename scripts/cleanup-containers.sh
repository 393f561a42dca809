#!/usr/bin/env bash
# Removes integration-test containers (label kvkit.test=1) left behind: Ryuk is disabled, so
# this is the safety net after a crashed or killed test run. On a machine shared by several
# people running tests, it never touches a container of a run that is still going:
#   cleanup-containers.sh              containers whose creating process (label kvkit.pid) is gone
#   cleanup-containers.sh --run ID     every container of run ID (label kvkit.run=ID), e.g. at the
#                                      end of that run (`.ci/run`'s trap, the end of `npm test`)
#   cleanup-containers.sh --all        every test container, whoever made it (only when no one
#                                      else is testing on this machine)
# Does nothing when Docker is not reachable.
set -euo pipefail
log() { printf '[cleanup-containers] %s\n' "$*" >&2; }

mode="${1:-orphans}"
if ! timeout 10 docker info >/dev/null 2>&1; then
  log "docker not reachable; nothing to do"
  exit 0
fi

case "$mode" in
  --run)
    [ -n "${2:-}" ] || { log "usage: $0 --run ID"; exit 2; }
    ids="$(docker ps -aq --filter label=kvkit.test=1 --filter "label=kvkit.run=$2")"
    ;;
  --all)
    ids="$(docker ps -aq --filter label=kvkit.test=1)"
    ;;
  orphans)
    ids=""
    while read -r id pid; do
      [ -n "$id" ] || continue
      # No pid label: made before runs were labelled; left alone (use --all).
      if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null && [ ! -d "/proc/$pid" ]; then ids+="$id"$'\n'; fi
    done < <(docker ps -a --filter label=kvkit.test=1 --format '{{.ID}} {{.Label "kvkit.pid"}}')
    ;;
  *)
    log "usage: $0 [--run ID | --all]"
    exit 2
    ;;
esac

ids="$(printf '%s' "$ids" | sed '/^$/d')"
if [ -n "$ids" ]; then
  # shellcheck disable=SC2086 # one id per word
  docker rm -f -v $ids >/dev/null
  log "removed $(printf '%s\n' "$ids" | wc -l) leftover container(s)"
fi
