#!/usr/bin/env bash
# README command 2: installs what the tests need (npm packages, libfuse, kcat, Python's msgpack,
# the Kafka jars), starts a local Kafka broker, runs the whole vitest suite (unit and integration
# against a real FUSE mount and a real broker), and stops the broker it started.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
scripts/setup.sh test
started=0
if ! scripts/kafka.sh status >/dev/null 2>&1; then started=1; fi
LOGFS_TEST_KAFKA=$(scripts/kafka.sh start | tail -1)
export LOGFS_TEST_KAFKA
cleanup() { if [ $started -eq 1 ]; then scripts/kafka.sh stop || true; fi; }
trap cleanup EXIT
npx --no-install vitest run "$@"
