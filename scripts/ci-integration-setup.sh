#!/usr/bin/env bash
# Kept for old instructions: the same as scripts/test-setup.sh, writing the variables to a file.
# Usage:  scripts/ci-integration-setup.sh [ENV_FILE]   (default: $KVKIT_ENV_FILE or /tmp/kvkit-integration.env)
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
exec "$HERE/test-setup.sh" "${1:-${KVKIT_ENV_FILE:-/tmp/kvkit-integration.env}}"
