/**
 * Kafka RecordBatch v2 (magic 2, https://kafka.apache.org/documentation/#recordbatch) built in
 * one exactly sized buffer from records that are already encoded: no headers, every record with the
 * batch's timestamp; uncompressed, or (encodePackedRecordBatch, in C) LZ4-compressed. The CRC-32C
 * covers everything from `attributes` on.
 */
import { crc32c } from '../kafkajs-crc32c.js';
import { LogfsError } from '../../core/errors.js';
import { lz4Available, LZ4_UNAVAILABLE } from '../lz4.js';
import { nativeGateway } from '../native.js';

/** Bytes of the batch header in front of the first record. */
export const BATCH_HEADER_BYTES = 61;
const CRC_OFFSET = 17;
const ATTRIBUTES_OFFSET = 21;

export interface BatchProducer {
  producerId: number;
  producerEpoch: number;
  /** Sequence number of the first record (per partition, KIP-98). */
  baseSequence: number;
}

/** Zig-zag encoding of a signed 32-bit value (varint fields of a record). */
export function zigzag32(n: number): number {
  return ((n << 1) ^ (n >> 31)) >>> 0;
}

export function uvarintSize(u: number): number {
  return u < 0x80 ? 1 : u < 0x4000 ? 2 : u < 0x200000 ? 3 : u < 0x10000000 ? 4 : 5;
}

export function writeUVarint(buf: Buffer, o: number, u: number): number {
  while (u >= 0x80) {
    buf[o++] = (u & 0x7f) | 0x80;
    u >>>= 7;
  }
  buf[o++] = u;
  return o;
}

/** Bytes of one record's body (after its length prefix) with timestampDelta 0 and no headers. */
function bodySize(offsetDelta: number, keyLen: number, valueLen: number): number {
  return 1 + 1 + uvarintSize(zigzag32(offsetDelta)) + uvarintSize(zigzag32(keyLen)) + keyLen + uvarintSize(zigzag32(valueLen)) + valueLen + 1;
}

/** Body sizes of the records being encoded, kept between batches. */
let bodies = new Int32Array(16 * 1024);

/**
 * One RecordBatch of `values`, all with key `key` or with `keys[i]` (a record's key is its
 * instance ID; a partition's records usually share a handful).
 */
export function encodeRecordBatch(keys: Buffer[], values: Buffer[], timestamp: number, producer: BatchProducer): Buffer {
  const n = values.length;
  if (bodies.length < n) bodies = new Int32Array(Math.max(n, 2 * bodies.length));
  let size = BATCH_HEADER_BYTES;
  for (let i = 0; i < n; i++) {
    const body = bodySize(i, (keys[i] as Buffer).length, (values[i] as Buffer).length);
    bodies[i] = body;
    size += uvarintSize(zigzag32(body)) + body;
  }
  const buf = Buffer.allocUnsafe(size);
  buf.writeBigInt64BE(0n, 0); // baseOffset: the broker assigns offsets
  buf.writeInt32BE(size - 12, 8); // batchLength: bytes after this field
  buf.writeInt32BE(-1, 12); // partitionLeaderEpoch: set by the broker
  buf.writeInt8(2, 16); // magic
  buf.writeInt16BE(0, ATTRIBUTES_OFFSET); // no compression, create time, not transactional
  buf.writeInt32BE(n - 1, 23); // lastOffsetDelta
  buf.writeBigInt64BE(BigInt(timestamp), 27); // baseTimestamp
  buf.writeBigInt64BE(BigInt(timestamp), 35); // maxTimestamp
  buf.writeBigInt64BE(BigInt(producer.producerId), 43);
  buf.writeInt16BE(producer.producerEpoch, 51);
  buf.writeInt32BE(producer.baseSequence, 53);
  buf.writeInt32BE(n, 57);
  let o = BATCH_HEADER_BYTES;
  for (let i = 0; i < n; i++) {
    const key = keys[i] as Buffer;
    const value = values[i] as Buffer;
    o = writeUVarint(buf, o, zigzag32(bodies[i]!));
    buf[o++] = 0; // attributes
    buf[o++] = 0; // timestampDelta 0
    o = writeUVarint(buf, o, zigzag32(i));
    o = writeUVarint(buf, o, zigzag32(key.length));
    // TypedArray set: a builtin, where Buffer.copy is a call into C++ per piece.
    buf.set(key, o);
    o += key.length;
    o = writeUVarint(buf, o, zigzag32(value.length));
    buf.set(value, o);
    o += value.length;
    buf[o++] = 0; // no headers
  }
  buf.writeUInt32BE(crc32c(buf.subarray(ATTRIBUTES_OFFSET)), CRC_OFFSET);
  return buf;
}

/**
 * A copy of an encoded batch for another producer id, epoch and base sequence (after the broker
 * lost our producer state): the same records, so the records' source need not be kept to retry.
 * The copy, as the original may still lie in a socket's queue.
 */
export function restampRecordBatch(batch: Buffer, producer: BatchProducer): Buffer {
  const buf = Buffer.from(batch);
  buf.writeBigInt64BE(BigInt(producer.producerId), 43);
  buf.writeInt16BE(producer.producerEpoch, 51);
  buf.writeInt32BE(producer.baseSequence, 53);
  buf.writeUInt32BE(crc32c(buf.subarray(ATTRIBUTES_OFFSET)), CRC_OFFSET);
  return buf;
}

/** The sequence number after `n` records from `seq`: Kafka wraps it at 2^31 (KIP-98). */
export function nextSequence(seq: number, n: number): number {
  return (seq + n) % 2 ** 31;
}

/**
 * Records whose values lie in one buffer: record i is source[starts[i], starts[i] + lengths[i]) with
 * key keys[keyIndex[i]] (a partition's records share a handful of keys, their instance IDs).
 */
export interface PackedRecords {
  source: Buffer;
  starts: Int32Array;
  lengths: Int32Array;
  keyIndex: Int32Array;
  keys: Buffer[];
}

/** encodePackedRecordBatch in JavaScript: a Buffer per value, then encodeRecordBatch. */
export function encodePackedRecordBatchJs(r: PackedRecords, timestamp: number, producer: BatchProducer): Buffer {
  const n = r.starts.length;
  const keys: Buffer[] = new Array(n);
  const values: Buffer[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const key = r.keys[r.keyIndex[i]!];
    const start = r.starts[i]!;
    const length = r.lengths[i]!;
    if (key === undefined || start < 0 || length < 0 || start + length > r.source.length) throw new RangeError('encodeRecordBatch: a record lies outside the source bytes or names no key');
    keys[i] = key;
    values[i] = r.source.subarray(start, start + length);
  }
  return encodeRecordBatch(keys, values, timestamp, producer);
}

/** Compression types of a batch's attributes that the wire producer writes. */
export const COMPRESSION_NONE = 0;
export const COMPRESSION_LZ4 = 3;
export type WireCompression = typeof COMPRESSION_NONE | typeof COMPRESSION_LZ4;

/**
 * One RecordBatch of packed records, as encodeRecordBatch writes it: in C (native/logfs-gateway.c)
 * when built, with no object per record, else encodePackedRecordBatchJs. With `out`, written into
 * it when it fits (the result is then a view of it), so that the caller can reuse the memory.
 * With COMPRESSION_LZ4 the records are Kafka's LZ4 frame (../lz4.ts), which only the C build writes.
 */
export function encodePackedRecordBatch(r: PackedRecords, timestamp: number, producer: BatchProducer, out?: Buffer, compression: WireCompression = COMPRESSION_NONE): Buffer {
  const native = nativeGateway;
  if (compression === COMPRESSION_LZ4 && !lz4Available) throw new LogfsError('LOGFS_E_CONFIG', LZ4_UNAVAILABLE);
  if (native === undefined) return encodePackedRecordBatchJs(r, timestamp, producer);
  const args = [r.source, r.starts, r.lengths, r.keyIndex, r.keys, timestamp, producer.producerId, producer.producerEpoch, producer.baseSequence] as const;
  if (out !== undefined) {
    const n = native.encodeRecordBatch(...args, out, compression) as number;
    if (n >= 0) return out.subarray(0, n);
  }
  return native.encodeRecordBatch(...args, undefined, compression) as Buffer;
}
