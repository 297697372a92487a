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
mkdir -p test-artifacts
status=0
npx --no-install vitest run --reporter=default --reporter=json --outputFile.json=test-artifacts/vitest.json "$@" || status=$?
# One plain closing line, whatever the runner printed above it.
node -e '
const r = JSON.parse(require("fs").readFileSync("test-artifacts/vitest.json", "utf8"));
const skipped = r.numPendingTests + r.numTodoTests;
console.log(`${r.numPassedTests} passed, ${r.numFailedTests} failed` + (skipped ? `, ${skipped} skipped` : ""));
' || true
exit $status
