/**
 * The checksums of the gateway's hot path from native/logfs-crc.c (scripts/build-native.sh builds
 * it into dist/native/logfs-crc.node), with the JavaScript versions when it is not built (or built
 * for another Node): the same results, more CPU.
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { crc32 } from 'node:zlib';

export interface NativeChecksums {
  /** CRC-32C, unsigned. */
  crc32c(bytes: Uint8Array): number;
  /** Fills in the checksum of every journal entry framed in bytes[start, end) (journal-segment.ts). */
  crc32Entries(bytes: Uint8Array, start: number, end: number): void;
  /** True when crc32c uses the CPU's crc32 instruction. */
  hardware(): boolean;
}

/** Where the build is, from this module in dist/gateway/. */
export const NATIVE_CHECKSUMS_PATH = path.resolve(import.meta.dirname, '../native/logfs-crc.node');

const require = createRequire(import.meta.url);

export function loadNativeChecksums(file = NATIVE_CHECKSUMS_PATH): NativeChecksums | undefined {
  if (!fs.existsSync(file)) return undefined;
  try {
    return require(file) as NativeChecksums;
  } catch {
    return undefined;
  }
}

export const nativeChecksums = loadNativeChecksums();

/** crc32Entries with zlib: one call per entry. */
export function crc32EntriesJs(bytes: Uint8Array, start: number, end: number): void {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let pos = start;
  while (pos < end) {
    if (end - pos < 8) throw new RangeError('crc32Entries: an entry header runs past the end');
    const len = view.getUint32(pos);
    if (end - pos - 8 < len) throw new RangeError('crc32Entries: an entry runs past the end');
    view.setUint32(pos + 4, crc32(bytes.subarray(pos + 8, pos + 8 + len)));
    pos += 8 + len;
  }
}

export const crc32Entries: (bytes: Uint8Array, start: number, end: number) => void = nativeChecksums?.crc32Entries ?? crc32EntriesJs;
