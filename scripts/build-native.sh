#!/usr/bin/env bash
# Builds logFS's native modules, each when its source is newer than its build. Needs a C compiler
# and Node's headers (the nodejs package installs them in <prefix>/include/node).
#  - native/logfs-fuse.c → dist/native/logfs-fuse.node: fuse-native's binding plus the fast write
#    path. Without it logfsd runs on stock fuse-native and says so in its log (docs/filesystem.md,
#    "The fast write path").
#  - native/logfs-gateway.c → dist/native/logfs-gateway.node: checksums, line framing, Kafka batch
#    encoding and Kafka's LZ4 codec (gateway/native.ts). Without it the JavaScript versions are used
#    and LZ4 compression cannot be configured.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
node_include=$(node -p "require('path').resolve(process.execPath, '../../include/node')")
[ -f "$node_include/node_api.h" ] || { echo "build-native: Node's headers are not in $node_include" >&2; exit 1; }
mkdir -p "$ROOT/dist/native"

# build NAME CC-ARGS...: native/NAME.c → dist/native/NAME.node unless that is newer and was built
# with the same arguments (liblz4 installed since, for one).
build() {
  local name=$1
  shift
  local src="$ROOT/native/$name.c" out="$ROOT/dist/native/$name.node" args="$ROOT/dist/native/$name.args"
  [ -f "$out" ] && [ "$out" -nt "$src" ] && [ "$(cat "$args" 2>/dev/null)" = "$*" ] && return 0
  local tmp="$out.$$.tmp"
  cc -O2 -g -Wall -fPIC -shared -I"$node_include" -o "$tmp" "$src" "$@"
  mv "$tmp" "$out"
  printf '%s' "$*" > "$args"
  echo "build-native: built $out" >&2
}

# Kafka's LZ4 codec when liblz4's headers are there (Debian's liblz4-dev, which setup installs);
# without them the module lacks it, and configuring compression lz4 is refused.
if [ -f /usr/include/lz4.h ]; then
  build logfs-gateway -DLOGFS_LZ4 -lpthread -llz4
else
  echo "build-native: lz4.h not found (apt-get install liblz4-dev): building without LZ4 compression" >&2
  build logfs-gateway -lpthread
fi

napi_macros=$(cd "$ROOT" && node -p "require('path').dirname(require.resolve('napi-macros/napi-macros.h'))")
# The module prints the directory (binding.gyp's way of asking).
fuse_include=$(cd "$ROOT" && node -e "require('fuse-shared-library/include')")
libfuse=/lib/x86_64-linux-gnu/libfuse.so.2
[ -f "$libfuse" ] || libfuse=$(ldconfig -p | awk '/libfuse\.so\.2 /{print $NF; exit}')
[ -n "$libfuse" ] && [ -f "$libfuse" ] || { echo "build-native: libfuse.so.2 not found (apt-get install libfuse2)" >&2; exit 1; }
build logfs-fuse -D_FILE_OFFSET_BITS=64 -I"$napi_macros" -I"$fuse_include" "$libfuse" -lpthread
