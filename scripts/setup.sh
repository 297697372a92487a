#!/usr/bin/env bash
# Installs what logFS needs on this host, idempotently (a second run does nothing):
#   setup.sh runtime   Debian's libfuse2 + fuse3, a C compiler, liblz4-dev, the npm packages, the
#                      TypeScript build, logFS's native modules (scripts/build-native.sh), the mount
#                      helper (mount -t fuse.logfs); checks that fuse-native loads
#   setup.sh test      runtime + what the tests and benchmarks need: kcat, Python's msgpack, the
#                      Kafka jars, a C compiler, util-linux logger, openssl (TLS test certificates),
#                      rsyslog with omkafka (issue 4's interop test and benchmark comparison) and
#                      the lz4 tool (the LZ4 codec's test)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
what=${1:-runtime}

log() { printf 'setup: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo -n "$@" || die "need root for: $*"; fi; }

apt_updated=0
apt_install() {
  local missing=()
  for pkg in "$@"; do dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing Debian packages: ${missing[*]}"
  if [ $apt_updated -eq 0 ]; then as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q </dev/null >&2; apt_updated=1; fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" </dev/null >&2
}

runtime() {
  command -v node >/dev/null || die "Node.js 20 or newer is required"
  # gcc + libc6-dev build logFS's FUSE binding (native/logfs-fuse.c, the fast write path).
  # liblz4-dev: Kafka's LZ4 codec in the gateway's native module (compression: lz4).
  apt_install libfuse2 fuse3 gcc libc6-dev liblz4-dev
  [ -e /dev/fuse ] || as_root modprobe fuse || die "/dev/fuse is missing and the fuse module cannot be loaded"
  cd "$ROOT"
  # npm install only when the lock file changed since the last install.
  if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    log "installing npm packages"
    npm install --no-audit --no-fund --loglevel=error </dev/null >&2
  fi
  node -e "require('fuse-native')" 2>/dev/null || die "fuse-native does not load: $(node -e "require('fuse-native')" 2>&1 | tail -1)"
  # Build when any TypeScript source is newer than the last build.
  if [ ! -f dist/.built ] || [ -n "$(find core gateway daemon control cli bench types pipeline inputs -name '*.ts' -newer dist/.built 2>/dev/null | head -1)" ] || [ tsconfig.json -nt dist/.built ]; then
    log "building"
    npx --no-install tsc -p tsconfig.json
    touch dist/.built
  fi
  # logFS's build of the fuse-native binding, when native/logfs-fuse.c changed since. Without it
  # logfsd still runs, on stock fuse-native (the fast-writes test then fails, so CI notices).
  "$ROOT/scripts/build-native.sh" || log "warning: logFS's FUSE binding did not build; logfsd runs on stock fuse-native, with slower per-line writes (docs/filesystem.md, \"The fast write path\")"
  # The web console (console/ → dist/console), when its sources changed since its last build.
  "$ROOT/scripts/build-console.sh"
  "$ROOT/scripts/install-mount-helper.sh"
}

test_deps() {
  # (gcc + libc6-dev, for bench/writers/*.c and the tests' C helpers, come with runtime: gcc
  # alone, with --no-install-recommends, has no libc headers.) bsdutils is Debian's package for util-linux
  # `logger`. The tests and benchmarks run their own rsyslogd with a private config; on a host
  # with systemd, installing rsyslog also enables the system one (Debian's default syslog daemon).
  # chromium: the web console's browser test (driven by playwright-core, never a downloaded browser).
  # lz4: the reference LZ4 tool, which the codec test (test/unit/lz4.test.ts) checks logFS's against.
  apt_install kcat bsdutils openssl rsyslog rsyslog-kafka chromium lz4
  # For the `python3` on PATH (which need not be Debian's): msgpack for the interop test,
  # cryptography for the encryption test (it opens sealed records with AES-GCM on its own).
  for mod in msgpack cryptography; do
    python3 -c "import $mod" 2>/dev/null || { log "installing Python's $mod"; python3 -m pip install --quiet --disable-pip-version-check "$mod" </dev/null >&2; }
  done
  "$ROOT/scripts/kafka.sh" install
}

case $what in
  runtime) runtime ;;
  test) runtime; test_deps ;;
  *) die "usage: setup.sh runtime|test" ;;
esac
