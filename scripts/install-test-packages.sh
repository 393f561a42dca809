#!/usr/bin/env bash
# Installs the Debian packages kvkit's tests run for real, when one is missing:
#   bind9-dnsutils (dig)  dnsmasq-base (dnsmasq)  dnsperf  redis-server  redis-tools (redis-cli)
# As root it runs `apt-get install` (after `apt-get update` when the package lists are empty or
# lack a package); services are never started by the install (a policy-rc.d says no while it
# runs). As another user it only says what is missing (the tests that need it then fail and say
# so). Quick when everything is there: one `command -v` per tool. Concurrent runs take turns.
set -euo pipefail

log() { printf '[install-test-packages] %s\n' "$*" >&2; }

# tool:package pairs.
NEEDED=(dig:bind9-dnsutils dnsmasq:dnsmasq-base dnsperf:dnsperf redis-server:redis-server redis-cli:redis-tools)

missing_packages() {
  local pair
  for pair in "${NEEDED[@]}"; do
    # dnsmasq lives in /usr/sbin, which a non-root PATH may lack.
    command -v "${pair%%:*}" >/dev/null 2>&1 || [ -x "/usr/sbin/${pair%%:*}" ] || echo "${pair#*:}"
  done
}

missing=($(missing_packages))
[ "${#missing[@]}" -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  log "missing: ${missing[*]} (tests that use them will fail); as root: apt-get install ${missing[*]}"
  exit 0
fi

exec 9>/var/lock/kvkit-install-test-packages.lock
flock 9
missing=($(missing_packages)) # another run may have installed them meanwhile
[ "${#missing[@]}" -eq 0 ] && exit 0

export DEBIAN_FRONTEND=noninteractive
# Installing redis-server must not start a Redis on 6379 (or dnsmasq on 53) on this machine.
policy=/usr/sbin/policy-rc.d
own_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 0755 "$policy" && own_policy=1
fi
trap '[ "$own_policy" = 1 ] && rm -f "$policy"' EXIT

install() { apt-get install -y -qq --no-install-recommends "$@" >/dev/null; }
log "installing ${missing[*]}"
if ! compgen -G '/var/lib/apt/lists/*_Packages*' >/dev/null || ! install "${missing[@]}" 2>/dev/null; then
  apt-get update -qq
  install "${missing[@]}"
fi
log "installed ${missing[*]}"
