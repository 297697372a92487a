/**
 * The per-record work of the gateway's shipping path in C, from native/logfs-gateway.c
 * (scripts/build-native.sh builds it into dist/native/logfs-gateway.node): checksums, the framing of
 * lines, the encoding of produced record batches and Kafka's LZ4 codec. All but LZ4 compression have
 * a JavaScript version used when the build is missing (or is for another Node): the same bytes, more
 * CPU.
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { crc32 } from 'node:zlib';

/** encodeRecordBatch's arguments: the records (values in `source`, keys by index) and the producer's stamp. */
type RecordBatchArgs = [
  source: Uint8Array,
  starts: Int32Array,
  lengths: Int32Array,
  keyIndex: Int32Array,
  keys: Uint8Array[],
  timestamp: number,
  producerId: number,
  producerEpoch: number,
  baseSequence: number,
];

export interface NativeGateway {
  /** CRC-32C, unsigned. */
  crc32c(bytes: Uint8Array): number;
  /** Fills in the checksum of every journal entry framed in bytes[start, end) (journal-segment.ts). */
  crc32Entries(bytes: Uint8Array, start: number, end: number): void;
  /** -1 when every journal entry framed in bytes[start, end) is whole and matches its checksum, else the offset of the first that does not. */
  crc32Verify(bytes: Uint8Array, start: number, end: number): number;
  /** One Kafka RecordBatch v2 of records lying in `source` (kafka-wire/record-batch.ts, encodePackedRecordBatch). */
  encodeRecordBatch(...args: RecordBatchArgs): Buffer;
  /** encodeRecordBatch into `out`: the batch's size, or minus it when it does not fit (nothing written). */
  encodeRecordBatch(...args: [...RecordBatchArgs, out: Uint8Array]): number;
  /**
   * With `compression` 3, the records as Kafka's LZ4 frame (lz4.ts; only when lz4Compress exists).
   * Into `out` when it has room for the most the batch can take: its size, else minus that bound.
   */
  encodeRecordBatch(...args: [...RecordBatchArgs, out: Uint8Array | undefined, compression: 0 | 3]): Buffer | number;
  /** Kafka's LZ4 frame of `src` (lz4.ts); missing when built without liblz4. */
  lz4Compress?(src: Uint8Array): Buffer;
  /** The most bytes the LZ4 frames in `src` decompress to; missing when built without liblz4. */
  lz4DecompressBound?(src: Uint8Array): number;
  /** Decompresses the LZ4 frames in `src` into `dst`; returns the bytes written. */
  lz4Decompress?(src: Uint8Array, dst: Uint8Array): number;
  /** The complete lines at the start of src[start, end), up to one longer than maxLine: [how many, where they end]. */
  scanLines(src: Uint8Array, start: number, end: number, maxLine: number): [number, number];
  /** Frames the lines of src[start, end) as journal entries of plain lines into dst from `at` (logfs-gateway.c); returns where they end. */
  frameLines(src: Uint8Array, start: number, end: number, dst: Uint8Array, at: number, header: Uint8Array, prefix: Uint8Array, seq: number, ts: number): number;
  /** True when crc32c uses the CPU's crc32 instruction. */
  hardware(): boolean;
}

/** Where the build is, from this module in dist/gateway/ (or, run from source by the tests, in gateway/). */
export const NATIVE_GATEWAY_PATH = [
  path.resolve(import.meta.dirname, '../native/logfs-gateway.node'),
  path.resolve(import.meta.dirname, '../dist/native/logfs-gateway.node'),
].find((f) => fs.existsSync(f));

const require = createRequire(import.meta.url);

export function loadNativeGateway(file = NATIVE_GATEWAY_PATH): NativeGateway | undefined {
  if (file === undefined || !fs.existsSync(file)) return undefined;
  try {
    return require(file) as NativeGateway;
  } catch {
    return undefined;
  }
}

export const nativeGateway = loadNativeGateway();

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

export const crc32Entries: (bytes: Uint8Array, start: number, end: number) => void = nativeGateway?.crc32Entries ?? crc32EntriesJs;

/** crc32Verify with zlib: one call per entry. */
export function crc32VerifyJs(bytes: Uint8Array, start: number, end: number): number {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let pos = start;
  while (pos < end) {
    if (end - pos < 8) return pos;
    const len = view.getUint32(pos);
    if (end - pos - 8 < len || crc32(bytes.subarray(pos + 8, pos + 8 + len)) !== view.getUint32(pos + 4)) return pos;
    pos += 8 + len;
  }
  return -1;
}

export const crc32Verify: (bytes: Uint8Array, start: number, end: number) => number = nativeGateway?.crc32Verify ?? crc32VerifyJs;
