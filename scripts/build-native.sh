#!/usr/bin/env bash
# Builds logFS's FUSE binding (native/logfs-fuse.c: fuse-native's binding plus the fast write
# path) into dist/native/logfs-fuse.node, when the source is newer than the build. Needs a C
# compiler and Node's headers (the nodejs package installs them in <prefix>/include/node).
# Without it logfsd runs on stock fuse-native and says so in its log (docs/filesystem.md, "The fast write path").
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
src="$ROOT/native/logfs-fuse.c"
out="$ROOT/dist/native/logfs-fuse.node"
[ -f "$out" ] && [ "$out" -nt "$src" ] && exit 0

node_include=$(node -p "require('path').resolve(process.execPath, '../../include/node')")
[ -f "$node_include/node_api.h" ] || { echo "build-native: Node's headers are not in $node_include" >&2; exit 1; }
napi_macros=$(cd "$ROOT" && node -p "require('path').dirname(require.resolve('napi-macros/napi-macros.h'))")
# The module prints the directory (binding.gyp's way of asking).
fuse_include=$(cd "$ROOT" && node -e "require('fuse-shared-library/include')")
libfuse=/lib/x86_64-linux-gnu/libfuse.so.2
[ -f "$libfuse" ] || libfuse=$(ldconfig -p | awk '/libfuse\.so\.2 /{print $NF; exit}')
[ -n "$libfuse" ] && [ -f "$libfuse" ] || { echo "build-native: libfuse.so.2 not found (apt-get install libfuse2)" >&2; exit 1; }

mkdir -p "$(dirname "$out")"
tmp="$out.$$.tmp"
cc -O2 -g -Wall -fPIC -shared -D_FILE_OFFSET_BITS=64 \
  -I"$node_include" -I"$napi_macros" -I"$fuse_include" \
  -o "$tmp" "$src" "$libfuse" -lpthread
mv "$tmp" "$out"
echo "build-native: built $out" >&2
