/**
 * logFS's build of fuse-native's binding (native/logfs-fuse.c, built by scripts/build-native.sh into
 * dist/native/logfs-fuse.node): fuse-native's own C code plus the fast write path, which answers
 * write requests in C and hands their bytes to JavaScript in batches (see the top of the C file).
 *
 * fuse-native's index.js calls its binding through one module-level object, looked up at each call,
 * so installing ours is replacing that object's functions before the first mount. When our build is
 * missing (no C compiler or Node headers at setup), logfsd runs on stock fuse-native: slower
 * per-line writes, nothing else changes; the daemon logs which one it runs on.
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

/** The fast write path's functions; `thread` is fuse-native's per-mount state buffer. */
export interface FastWriteBinding {
  fuse_native_fastwrite_enable(thread: Buffer, capacity: number, wake: () => void): void;
  fuse_native_fastwrite_disable(thread: Buffer): void;
  /**
   * Copies the entries [fh u32 LE][length u32 LE][bytes] written since the last call into `target`
   * (at least the capacity, reused by the caller) and returns their length (0: none).
   */
  fuse_native_fastwrite_take(thread: Buffer, target: Buffer): number;
  /** Later writes on fh take the stock path; 0 when the table of diverted handles is full. */
  fuse_native_fastwrite_divert(thread: Buffer, fh: number): number;
  /** fh's writes take the fast path again. */
  fuse_native_fastwrite_forget(thread: Buffer, fh: number): void;
  /** [writes answered by the fast path, writes that waited for room]. */
  fuse_native_fastwrite_stats(thread: Buffer): [number, number];
}

export const FAST_WRITE_ENTRY_HEADER = 8;

/** Where scripts/build-native.sh puts the binding, relative to this module in dist/daemon/. */
export const NATIVE_BINDING_PATH = path.resolve(import.meta.dirname, '../native/logfs-fuse.node');

let installed: { binding: FastWriteBinding | undefined; reason: string } | undefined;

/**
 * Installs logFS's binding under fuse-native once per process (before any mount). Returns it, or
 * undefined with the reason when stock fuse-native stays.
 */
export function installFuseBinding(): { binding: FastWriteBinding | undefined; reason: string } {
  if (installed) return installed;
  if (!fs.existsSync(NATIVE_BINDING_PATH)) {
    installed = { binding: undefined, reason: `${NATIVE_BINDING_PATH} is not built (scripts/build-native.sh)` };
    return installed;
  }
  const require = createRequire(import.meta.url);
  try {
    const fuseNativeDir = path.dirname(require.resolve('fuse-native/package.json'));
    // The very object fuse-native's index.js holds: node-gyp-build caches the module it loads.
    const nodeGypBuild = createRequire(path.join(fuseNativeDir, 'index.js'))('node-gyp-build') as (dir: string) => Record<string, unknown>;
    const stock = nodeGypBuild(fuseNativeDir);
    const ours = require(NATIVE_BINDING_PATH) as Record<string, unknown>;
    for (const name of Object.keys(ours)) {
      if (!name.startsWith('fuse_native_fastwrite_') && !(name in stock)) {
        throw new Error(`the binding exports ${name}, which fuse-native does not know: built for another fuse-native version`);
      }
    }
    Object.assign(stock, ours);
    installed = { binding: ours as unknown as FastWriteBinding, reason: 'logFS build of the fuse-native binding' };
  } catch (err) {
    installed = { binding: undefined, reason: `cannot load ${NATIVE_BINDING_PATH}: ${(err as Error).message}` };
  }
  return installed;
}
