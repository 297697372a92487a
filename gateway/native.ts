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
  /**
   * Frames the lines of src[start, end) as journal entries of plain lines, checksums filled in,
   * into dst from `at` (logfs-gateway.c); returns where they end. With `ends`, where each entry
   * ends goes into it (a RangeError when it is too short).
   */
  frameLines(src: Uint8Array, start: number, end: number, dst: Uint8Array, at: number, header: Uint8Array, prefix: Uint8Array, seq: number, ts: number, ends?: Int32Array): number;
  /**
   * The framing walk of readSegmentRun over bytes[0, got) (logfs-gateway.c, scanEntries): payload
   * places into starts/lengths, each wanted entry's checksum checked; result = [count, position
   * after, bytes needed, 1 if past limit, position of the first entry whose checksum does not match
   * or -1].
   */
  scanEntries(bytes: Uint8Array, got: number, limit: number, skip: number, maxEntries: number, maxBytes: number, starts: Int32Array, lengths: Int32Array, result: Int32Array): void;
  /**
   * Moves each journal entry's place onto its record and numbers its distinct headers
   * (logfs-gateway.c, groupEntries); returns how many, or -1 when more than headers can hold.
   */
  groupEntries(bytes: Uint8Array, starts: Int32Array, lengths: Int32Array, count: number, group: Int32Array, headers: Int32Array): number;
  /** True when crc32c uses the CPU's crc32 instruction. */
  hardware(): boolean;
  /** Gives the C heap's free pages back to the system (glibc's malloc_trim); whether any were. */
  trimHeap(): boolean;
  /** Starts writing fd's dirty pages in [offset, offset + length) to disk, without waiting (sync_file_range); Linux only. */
  startWriteback?(fd: number, offset: number, length: number): Promise<void>;
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

/** scanEntries in JavaScript (the same walk, one entry at a time, checksums with zlib). */
export function scanEntriesJs(bytes: Uint8Array, got: number, limit: number, skip: number, maxEntries: number, maxBytes: number, starts: Int32Array, lengths: Int32Array, result: Int32Array): void {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const max = Math.min(maxEntries, starts.length);
  let pos = 0;
  let skipped = 0;
  let payload = 0;
  let need = 0;
  let count = 0;
  let past = 0;
  let bad = -1;
  while (pos < got && count < max) {
    if (pos + 8 > got) {
      need = pos + 8;
      break;
    }
    const len = view.getUint32(pos);
    if (pos + 8 + len > limit) {
      past = 1;
      break;
    }
    if (pos + 8 + len > got) {
      need = pos + 8 + len;
      break;
    }
    if (skipped < skip) skipped++;
    else {
      if (count > 0 && payload + len > maxBytes) break;
      if (crc32(bytes.subarray(pos + 8, pos + 8 + len)) !== view.getUint32(pos + 4)) {
        bad = pos;
        break;
      }
      starts[count] = pos + 8;
      lengths[count] = len;
      count++;
      payload += len;
    }
    pos += 8 + len;
  }
  result[0] = count;
  result[1] = pos;
  result[2] = Math.min(need, 0x7fffffff);
  result[3] = past;
  result[4] = bad;
}

export const scanEntries = nativeGateway?.scanEntries ?? scanEntriesJs;

/** groupEntries in JavaScript. */
export function groupEntriesJs(bytes: Uint8Array, starts: Int32Array, lengths: Int32Array, count: number, group: Int32Array, headers: Int32Array): number {
  const maxGroups = Math.min(headers.length >> 1, 4096);
  let groups = 0;
  let last = -1;
  const same = (a: number, b: number, n: number): boolean => {
    for (let k = 0; k < n; k++) if (bytes[a + k] !== bytes[b + k]) return false;
    return true;
  };
  for (let i = 0; i < count; i++) {
    const s = starts[i]!;
    const l = lengths[i]!;
    let hl = 0;
    if (l >= 11 && bytes[s] === 1 && 3 + bytes[s + 1]! <= l) hl = 3 + bytes[s + 1]! + bytes[s + 2 + bytes[s + 1]!]!;
    if (hl === 0 || hl + 8 > l) {
      group[i] = -1;
      continue;
    }
    let g = -1;
    if (last >= 0 && headers[2 * last + 1] === hl && same(headers[2 * last]!, s, hl)) g = last;
    else {
      for (let k = 0; k < groups; k++) {
        if (headers[2 * k + 1] === hl && same(headers[2 * k]!, s, hl)) {
          g = k;
          break;
        }
      }
      if (g < 0) {
        if (groups === maxGroups) return -1;
        headers[2 * groups] = s;
        headers[2 * groups + 1] = hl;
        g = groups++;
      }
    }
    group[i] = g;
    last = g;
  }
  for (let i = 0; i < count; i++) {
    const g = group[i]!;
    if (g < 0) continue;
    const hl = headers[2 * g + 1]!;
    starts[i]! += hl + 8;
    lengths[i]! -= hl + 8;
  }
  return groups;
}

export const groupEntries = nativeGateway?.groupEntries ?? groupEntriesJs;
