#!/usr/bin/env bash
# Installs /sbin/mount.fuse.logfs so an administrator can mount with the conventional command:
#   mount -t fuse.logfs logfs /dev/logFS -o data=/var/lib/logfs[,kafka=host:port][,instance=ID]
# or an fstab line:
#   logfs  /dev/logFS  fuse.logfs  data=/var/lib/logfs,_netdev  0  0
# mount(8) runs the helper as `mount.fuse.logfs SOURCE DIR -o OPTIONS`; it starts logfsd in the
# background and returns once the filesystem is mounted. Skipped (with a note) when not root.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
target=/sbin/mount.fuse.logfs
if [ "$(id -u)" -ne 0 ]; then
  printf 'setup: not root; skipping the mount helper %s\n' "$target" >&2
  exit 0
fi
tmp=$(mktemp)
sed -e "s#@ROOT@#$ROOT#g" -e "s#@NODE@#$(command -v node)#g" "$ROOT/scripts/mount.fuse.logfs.in" >"$tmp"
if ! cmp -s "$tmp" "$target" 2>/dev/null; then
  install -m 0755 "$tmp" "$target"
  printf 'setup: installed %s\n' "$target" >&2
fi
rm -f "$tmp"
