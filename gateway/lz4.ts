/**
 * Kafka's LZ4 codec (record batch compression type 3): the records of a batch as one LZ4 frame
 * (https://github.com/lz4/lz4/blob/dev/doc/lz4_Frame_format.md). Compression is the gateway's
 * native module, built with liblz4 (native/logfs-gateway.c); it writes what Kafka's own producer
 * writes: independent 64 KiB blocks, no content or block checksums. Decompression takes any frame
 * Kafka clients write (linked or independent blocks, any block size, checksums present or not) and
 * has a JavaScript version for when the native module is missing, so that every consumer in logFS
 * reads LZ4 batches whatever produced them.
 */
import { LogfsError } from '../core/errors.js';
import { nativeGateway } from './native.js';

/** True when this process can compress with LZ4 (the native module was built with liblz4). */
export const lz4Available = typeof nativeGateway?.lz4Compress === 'function';

/** Why lz4Available is false, for configuration errors. */
export const LZ4_UNAVAILABLE =
  'compression "lz4" needs logFS\'s native gateway module built with liblz4 (apt-get install liblz4-dev, then scripts/build-native.sh; scripts/setup.sh does both)';

/** Kafka's LZ4 frame of `src`. */
export function lz4Compress(src: Uint8Array): Buffer {
  if (!lz4Available) throw new LogfsError('LOGFS_E_CONFIG', LZ4_UNAVAILABLE);
  return nativeGateway!.lz4Compress!(src);
}

/** The bytes of the LZ4 frames in `src` (skippable frames are skipped). */
export function lz4Decompress(src: Uint8Array): Buffer {
  const native = nativeGateway;
  if (native?.lz4Decompress === undefined || native.lz4DecompressBound === undefined) return lz4DecompressJs(src);
  const out = Buffer.allocUnsafe(native.lz4DecompressBound(src));
  return out.subarray(0, native.lz4Decompress(src, out));
}

function corrupt(what: string): never {
  throw new LogfsError('LOGFS_E_KAFKA', `lz4: ${what}`);
}

const FRAME_MAGIC = 0x184d2204;

/** lz4Decompress in JavaScript. Checksums are skipped unchecked, as in C: the batch's CRC covers these bytes. */
export function lz4DecompressJs(src: Uint8Array): Buffer {
  const view = new DataView(src.buffer, src.byteOffset, src.byteLength);
  // The most the frames can take, then the output: every compressed block can fill its maximum.
  let bound = 0;
  for (const frame of frames(src, view)) for (const b of frame.blocks) bound += b.raw ? b.size : frame.blockMax;
  const out = Buffer.allocUnsafe(bound);
  let o = 0;
  for (const frame of frames(src, view)) {
    const frameStart = o;
    for (const b of frame.blocks) {
      if (b.raw) {
        out.set(src.subarray(b.at, b.at + b.size), o);
        o += b.size;
      } else {
        o = decodeBlock(src, b.at, b.at + b.size, out, o, frame.independent ? o : frameStart, o + frame.blockMax);
      }
    }
  }
  return out.subarray(0, o);
}

interface Block { at: number; size: number; raw: boolean }
interface Frame { blockMax: number; independent: boolean; blocks: Block[] }

function* frames(src: Uint8Array, view: DataView): Generator<Frame> {
  const len = src.length;
  let pos = 0;
  while (pos < len) {
    if (len - pos < 4) corrupt('truncated frame header');
    const magic = view.getUint32(pos, true);
    if ((magic & 0xfffffff0) >>> 0 === 0x184d2a50) {
      if (len - pos < 8 || len - pos - 8 < view.getUint32(pos + 4, true)) corrupt('truncated skippable frame');
      pos += 8 + view.getUint32(pos + 4, true);
      continue;
    }
    if (magic !== FRAME_MAGIC) corrupt('not an LZ4 frame (bad magic number)');
    if (len - pos < 7) corrupt('truncated frame header');
    const flg = src[pos + 4]!;
    const bd = src[pos + 5]!;
    if (flg >> 6 !== 1) corrupt('unsupported frame version');
    if (flg & 0x01) corrupt('frames with a dictionary ID are not supported');
    const bsid = (bd >> 4) & 7;
    if (bsid < 4) corrupt('invalid block maximum size');
    const blockMax = 2 ** (2 * bsid + 8);
    const blockSums = (flg & 0x10) !== 0;
    pos += 7 + (flg & 0x08 ? 8 : 0);
    if (pos > len) corrupt('truncated frame header');
    const blocks: Block[] = [];
    for (;;) {
      if (len - pos < 4) corrupt('truncated block');
      const bs = view.getUint32(pos, true);
      pos += 4;
      if (bs === 0) break;
      const size = bs & 0x7fffffff;
      if (size > blockMax || len - pos < size + (blockSums ? 4 : 0)) corrupt('block larger than the frame allows or truncated');
      blocks.push({ at: pos, size, raw: bs >= 0x80000000 });
      pos += size + (blockSums ? 4 : 0);
    }
    if (flg & 0x04) {
      if (len - pos < 4) corrupt('truncated content checksum');
      pos += 4;
    }
    yield { blockMax, independent: (flg & 0x20) !== 0, blocks };
  }
}

/**
 * One LZ4 block (https://github.com/lz4/lz4/blob/dev/doc/lz4_Block_format.md) of src[ip, end) into
 * out from `o`, where matches may reach back to `lowest` and the output must stay below `limit`;
 * returns where the output ends.
 */
function decodeBlock(src: Uint8Array, ip: number, end: number, out: Buffer, o: number, lowest: number, limit: number): number {
  for (;;) {
    if (ip >= end) corrupt('corrupt compressed block');
    const token = src[ip++]!;
    let lit = token >> 4;
    if (lit === 15) {
      let b: number;
      do {
        if (ip >= end) corrupt('corrupt compressed block');
        b = src[ip++]!;
        lit += b;
      } while (b === 255);
    }
    if (end - ip < lit || limit - o < lit) corrupt('corrupt compressed block');
    out.set(src.subarray(ip, ip + lit), o);
    ip += lit;
    o += lit;
    if (ip === end) return o; // the last sequence has literals only
    if (end - ip < 2) corrupt('corrupt compressed block');
    const offset = src[ip]! | (src[ip + 1]! << 8);
    ip += 2;
    let match = (token & 15) + 4;
    if (match === 19) {
      let b: number;
      do {
        if (ip >= end) corrupt('corrupt compressed block');
        b = src[ip++]!;
        match += b;
      } while (b === 255);
    }
    if (offset === 0 || o - offset < lowest || limit - o < match) corrupt('corrupt compressed block');
    let from = o - offset;
    if (offset >= match) {
      out.copyWithin(o, from, from + match);
      o += match;
    } else {
      // Overlapping: the match repeats the last `offset` bytes.
      for (let k = 0; k < match; k++) out[o++] = out[from++]!;
    }
  }
}
