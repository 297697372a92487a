import crypto from 'node:crypto';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import {
  COMPRESSION_LZ4,
  encodePackedRecordBatch,
  encodePackedRecordBatchJs,
  encodeRecordBatch,
  nextSequence,
  restampRecordBatch,
  uvarintSize,
  writeUVarint,
  zigzag32,
  type PackedRecords,
} from '../../../gateway/kafka-wire/record-batch.js';
import { lz4Available } from '../../../gateway/lz4.js';
// `native`: the build setup.sh makes (scripts/build-native.sh), found from the sources by gateway/native.ts.
import { nativeGateway as native } from '../../../gateway/native.js';
import { unpatched } from '../kafkajs-reference.js';

const require = createRequire(import.meta.url);
// kafkajs' own encoders and decoders (the unpatched ones) as the reference.
const Record = unpatched<(r: Record<string, unknown>) => unknown>('kafkajs/src/protocol/recordBatch/record/v0/index.js');
const { RecordBatch } = require('kafkajs/src/protocol/recordBatch/v0/index.js') as { RecordBatch: (o: Record<string, unknown>) => Promise<{ buffer: Buffer }> };
const decodeBatch = require('kafkajs/src/protocol/recordBatch/v0/decoder.js') as (d: unknown) => Promise<{
  firstSequence: number;
  producerId: string;
  producerEpoch: number;
  lastOffsetDelta: number;
  firstTimestamp: string;
  records: { key: Buffer; value: Buffer; offset: string; timestamp: string }[];
}>;
const Decoder = require('kafkajs/src/protocol/decoder.js') as new (b: Buffer) => unknown;
const Encoder = require('kafkajs/src/protocol/encoder.js') as new () => { writeVarInt(n: number): { buffer: Buffer } };
const Long = require('kafkajs/src/utils/long.js') as { fromValue(v: unknown): unknown };
const crc32cReference = require('kafkajs/src/protocol/recordBatch/crc32C/crc32C.js') as (b: Buffer) => number;

const producer = { producerId: 47009, producerEpoch: 3, baseSequence: 12345 };

function sample(n: number): { keys: Buffer[]; values: Buffer[] } {
  const keys = Array.from({ length: n }, (_, i) => Buffer.from(`instance-${i % 3}`));
  // Sizes around every varint boundary of the value length.
  const sizes = [0, 1, 62, 63, 64, 127, 128, 8191, 8192, 70_000];
  const values = Array.from({ length: n }, (_, i) => crypto.randomBytes(sizes[i % sizes.length]!));
  return { keys, values };
}

describe('RecordBatch v2', () => {
  it('is byte for byte the batch kafkajs builds from the same records', async () => {
    const { keys, values } = sample(200);
    const ts = 1_795_334_669_386;
    const ours = encodeRecordBatch(keys, values, ts, producer);
    const theirs = await RecordBatch({
      firstTimestamp: ts,
      maxTimestamp: ts,
      partitionLeaderEpoch: -1,
      lastOffsetDelta: values.length - 1,
      producerId: Long.fromValue(producer.producerId),
      producerEpoch: producer.producerEpoch,
      firstSequence: producer.baseSequence,
      records: values.map((value, i) => Record({ offsetDelta: i, timestampDelta: 0, key: keys[i], value, headers: {} })),
    });
    expect(ours.equals(theirs.buffer)).toBe(true);
  });

  it('decodes with kafkajs: records, keys, offsets, producer id, epoch and sequence', async () => {
    const { keys, values } = sample(300);
    const batch = encodeRecordBatch(keys, values, 1_700_000_000_123, producer);
    const decoded = await decodeBatch(new Decoder(batch));
    expect(decoded.firstSequence).toBe(producer.baseSequence);
    expect(decoded.producerId).toBe(String(producer.producerId));
    expect(decoded.producerEpoch).toBe(producer.producerEpoch);
    expect(decoded.lastOffsetDelta).toBe(299);
    expect(decoded.records.length).toBe(300);
    expect(decoded.records.every((r, i) => r.value.equals(values[i]!) && r.key.equals(keys[i]!))).toBe(true);
    expect(decoded.records.map((r) => r.offset)).toEqual(values.map((_, i) => String(i)));
    expect(new Set(decoded.records.map((r) => r.timestamp))).toEqual(new Set(['1700000000123']));
  });

  it('carries a CRC-32C that kafkajs\' byte-at-a-time implementation agrees with', () => {
    const { keys, values } = sample(50);
    const batch = encodeRecordBatch(keys, values, Date.now(), producer);
    expect(batch.readUInt32BE(17)).toBe(crc32cReference(batch.subarray(21)) >>> 0);
    expect(batch.readInt32BE(8)).toBe(batch.length - 12);
    expect(batch.readInt8(16)).toBe(2);
  });
});

describe('varints', () => {
  it('zig-zag encodes like kafkajs, sizes and bytes, around every boundary', () => {
    const values = [0, 1, -1, 2, -2, 63, -64, 64, -65, 8191, -8192, 8192, 1_048_575, -1_048_576, 134_217_727, -134_217_728, 2 ** 31 - 1, -(2 ** 31)];
    for (const v of values) {
      const ref = new Encoder().writeVarInt(v).buffer;
      const buf = Buffer.alloc(5);
      const end = writeUVarint(buf, 0, zigzag32(v));
      expect(uvarintSize(zigzag32(v)), String(v)).toBe(ref.length);
      expect(buf.subarray(0, end).equals(ref), String(v)).toBe(true);
    }
  });

  it('wraps the sequence number at 2^31 as Kafka does', () => {
    expect(nextSequence(0, 10)).toBe(10);
    expect(nextSequence(2 ** 31 - 5, 10)).toBe(5);
  });
});

/** sample's records with their values in one buffer, in another order, between other bytes. */
function packed(keys: Buffer[], values: Buffer[]): PackedRecords {
  const distinct = [...new Set(keys.map((k) => k.toString()))].map((k) => Buffer.from(k));
  const source = Buffer.concat([crypto.randomBytes(5), ...values.slice().reverse(), crypto.randomBytes(3)]);
  const starts = new Int32Array(values.length);
  let o = 5;
  for (let i = values.length - 1; i >= 0; i--) {
    starts[i] = o;
    o += values[i]!.length;
  }
  return {
    source,
    starts,
    lengths: Int32Array.from(values, (v) => v.length),
    keyIndex: Int32Array.from(keys, (k) => distinct.findIndex((d) => d.equals(k))),
    keys: distinct,
  };
}

describe.each([
  ['in JavaScript', encodePackedRecordBatchJs],
  [
    'native (dist/native/logfs-gateway.node)',
    (r: PackedRecords, ts: number, p: typeof producer) => native!.encodeRecordBatch(r.source, r.starts, r.lengths, r.keyIndex, r.keys, ts, p.producerId, p.producerEpoch, p.baseSequence),
  ],
  [
    'native, into a reused buffer',
    (r: PackedRecords, ts: number, p: typeof producer) => {
      const out = Buffer.alloc(4 * 1024 * 1024, 0xee);
      const n = native!.encodeRecordBatch(r.source, r.starts, r.lengths, r.keyIndex, r.keys, ts, p.producerId, p.producerEpoch, p.baseSequence, out);
      expect(n).toBeGreaterThan(0);
      expect(out.subarray(n).every((b) => b === 0xee)).toBe(true);
      // Too small: minus the size it needs, and nothing written.
      const small = Buffer.alloc(n - 1, 0xee);
      expect(native!.encodeRecordBatch(r.source, r.starts, r.lengths, r.keyIndex, r.keys, ts, p.producerId, p.producerEpoch, p.baseSequence, small)).toBe(-n);
      expect(small.every((b) => b === 0xee)).toBe(true);
      return out.subarray(0, n);
    },
  ],
])('RecordBatch v2 of packed records, %s', (_name, encodePacked) => {
  it('is byte for byte the batch of the same records as separate buffers', () => {
    expect(native, 'scripts/build-native.sh must have built dist/native/logfs-gateway.node').toBeDefined();
    for (const n of [1, 3, 200]) {
      const { keys, values } = sample(n);
      const ts = 1_795_334_669_386;
      expect(encodePacked(packed(keys, values), ts, producer).equals(encodeRecordBatch(keys, values, ts, producer))).toBe(true);
    }
    // A producer id beyond 2^32 and a sequence near the wrap.
    const { keys, values } = sample(5);
    const big = { producerId: 2 ** 40 + 7, producerEpoch: 32767, baseSequence: 2 ** 31 - 2 };
    expect(encodePacked(packed(keys, values), 1, big).equals(encodeRecordBatch(keys, values, 1, big))).toBe(true);
  });

  it('refuses a record outside the source or without a key', () => {
    const { keys, values } = sample(3);
    const r = packed(keys, values);
    expect(() => encodePacked({ ...r, lengths: Int32Array.from([1, 1, r.source.length]) }, 1, producer)).toThrow(/outside the source/);
    expect(() => encodePacked({ ...r, keyIndex: Int32Array.from([0, 0, 7]) }, 1, producer)).toThrow(/no key/);
  });
});

describe('restampRecordBatch', () => {
  const other = { producerId: 2 ** 40 + 11, producerEpoch: 7, baseSequence: 2 ** 31 - 3 };

  it('gives byte for byte the batch encoded for the other producer id, epoch and sequence, and leaves the original alone', () => {
    const { keys, values } = sample(50);
    const ts = 1_795_334_669_386;
    const batch = encodeRecordBatch(keys, values, ts, producer);
    const before = Buffer.from(batch);
    const again = restampRecordBatch(batch, other);
    expect(again.equals(encodeRecordBatch(keys, values, ts, other))).toBe(true);
    expect(batch.equals(before)).toBe(true);
    // Back to the first stamp: the first batch again (the CRC follows the fields).
    expect(restampRecordBatch(again, producer).equals(before)).toBe(true);
  });

  it.skipIf(!lz4Available)('restamps an LZ4-compressed batch as the encoder would have written it', () => {
    const { keys, values } = sample(30);
    const r = packed(keys, values);
    const batch = encodePackedRecordBatch(r, 5, producer, undefined, COMPRESSION_LZ4);
    expect(restampRecordBatch(batch, other).equals(encodePackedRecordBatch(r, 5, other, undefined, COMPRESSION_LZ4))).toBe(true);
  });
});
