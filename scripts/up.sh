#!/usr/bin/env bash
# README command 1: installs what is missing and runs logFS on this host with embedded defaults
# (mount /dev/logFS, data /var/lib/logfs, no Kafka) until Ctrl-C. Extra arguments go to
# `logfsctl up` (for example --kafka 127.0.0.1:19092 or --mount DIR).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$ROOT/scripts/setup.sh" runtime
exec node "$ROOT/bin/logfsctl.js" up "$@"
