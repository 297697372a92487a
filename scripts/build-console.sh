#!/usr/bin/env bash
# Builds the web console (console/ → dist/console, served by the control service at /) when any of
# its sources, or the installed packages, changed since the last build (stamp: dist/console/.built).
# Run by `npm install` (prepare) and scripts/setup.sh; `npm run build:console` builds regardless.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
stamp=dist/console/.built
if [ -f "$stamp" ] && [ -z "$(find console package-lock.json -type f -newer "$stamp" 2>/dev/null | head -1)" ]; then
  exit 0
fi
printf 'setup: building the web console\n' >&2
npx --no-install vite build --config console/vite.config.ts --logLevel warn </dev/null >&2
touch "$stamp"
