/**
 * Kafka's LZ4 codec (gateway/lz4.ts, native/logfs-gateway.c), checked against the lz4 command-line
 * tool (Debian's lz4, the reference implementation, installed by scripts/setup.sh test) in both
 * directions, and the compressed record batch against kafkajs' own batch decoder.
 */
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { COMPRESSION_LZ4, encodePackedRecordBatch, encodeRecordBatch, type PackedRecords } from '../../gateway/kafka-wire/record-batch.js';
import { lz4Codec } from '../../gateway/kafkajs-lz4.js';
import { lz4Available, lz4Compress, lz4Decompress, lz4DecompressJs } from '../../gateway/lz4.js';
import { nativeGateway } from '../../gateway/native.js';

const require = createRequire(import.meta.url);
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'logfs-lz4-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** Log-like bytes (compressible), with random stretches (not). */
function sample(n: number): Buffer {
  const parts: Buffer[] = [];
  let size = 0;
  for (let i = 0; size < n; i++) {
    const p = i % 7 === 6 ? crypto.randomBytes(300) : Buffer.from(`2026-11-22T16:0${i % 10}:00Z host-${i % 13} GET /api/v1/items/${i} 200 ${i * 7 % 1000}ms\n`);
    parts.push(p);
    size += p.length;
  }
  return Buffer.concat(parts).subarray(0, n);
}

/** The lz4 tool on `input` with `args`, through files (it refuses to write compressed data to a terminal-less stdout only with -c). */
function lz4Tool(args: string[], input: Buffer): Buffer {
  const src = path.join(tmp, `in-${crypto.randomUUID()}`);
  const dst = `${src}.out`;
  fs.writeFileSync(src, input);
  execFileSync('lz4', [...args, '-q', '-f', src, dst]);
  return fs.readFileSync(dst);
}

const SIZES = [0, 1, 100, 65_535, 65_536, 65_537, 300_000, 2_000_000];

describe('LZ4 (Kafka compression type 3)', () => {
  it('is built: scripts/build-native.sh links liblz4 (setup installs liblz4-dev)', () => {
    expect(lz4Available).toBe(true);
    expect(nativeGateway?.lz4Decompress).toBeTypeOf('function');
  });

  it('writes the frame Kafka writes: independent 64 KiB blocks, no checksums but the descriptor\'s', () => {
    const data = sample(200_000);
    const frame = lz4Compress(data);
    // magic, FLG (version 1, independent blocks), BD (64 KiB), header checksum as the lz4 tool writes it
    expect(frame.subarray(0, 7).toString('hex')).toBe(lz4Tool(['-B4', '-BI', '--no-frame-crc'], Buffer.alloc(10)).subarray(0, 7).toString('hex'));
    expect(frame.subarray(0, 7).toString('hex')).toBe('04224d18604082');
    expect(frame.subarray(-4).readUInt32LE(0)).toBe(0); // end mark
    // As small as the tool's fastest setting makes it (within 2%).
    expect(frame.length).toBeLessThan(lz4Tool(['-1', '-B4', '-BI', '--no-frame-crc'], data).length * 1.02);
  });

  it.each(SIZES)('round-trips %i bytes through the lz4 tool, both ways', (n) => {
    const data = n > 100_000 ? sample(n) : crypto.randomBytes(n);
    const ours = lz4Compress(data);
    expect(lz4Tool(['-d'], ours).equals(data)).toBe(true);
    expect(lz4Decompress(ours).equals(data)).toBe(true);
    expect(lz4DecompressJs(ours).equals(data)).toBe(true);
  });

  it.each([
    ['linked 64 KiB blocks', ['-B4', '-BD']],
    ['4 MiB blocks', ['-B7']],
    ['block checksums', ['-B4', '-BX']],
    ['content size and checksum', ['--content-size']],
    ['high compression, long matches', ['-9']],
  ])('reads frames of the lz4 tool with %s', (_name, args) => {
    const data = Buffer.concat([sample(700_000), Buffer.alloc(100_000, 0x61), crypto.randomBytes(70_000)]);
    const frame = lz4Tool(args, data);
    expect(lz4Decompress(frame).equals(data)).toBe(true);
    expect(lz4DecompressJs(frame).equals(data)).toBe(true);
  });

  it('reads concatenated and skippable frames', () => {
    const a = sample(70_000);
    const b = sample(1_000);
    const skippable = Buffer.alloc(8 + 5);
    skippable.writeUInt32LE(0x184d2a5e, 0);
    skippable.writeUInt32LE(5, 4);
    const frames = Buffer.concat([lz4Compress(a), skippable, lz4Tool(['-BD'], b)]);
    const want = Buffer.concat([a, b]);
    expect(lz4Decompress(frames).equals(want)).toBe(true);
    expect(lz4DecompressJs(frames).equals(want)).toBe(true);
  });

  it('refuses damaged frames with an error that names the problem, in C and in JavaScript', () => {
    const frame = lz4Compress(sample(100_000));
    const cases: [Buffer, RegExp][] = [
      [Buffer.from('not lz4 at all'), /bad magic number/],
      [frame.subarray(0, 5), /truncated frame header/],
      [frame.subarray(0, frame.length - 9), /truncated|block larger/],
      [Buffer.concat([frame.subarray(0, 4), Buffer.from([0x20]), frame.subarray(5)]), /unsupported frame version/],
    ];
    // A block whose match reaches before the output: offset beyond what was written.
    const bad = Buffer.from(frame);
    bad.writeUInt32LE(6, 7); // first block: 6 bytes of sequences
    Buffer.from([0x10, 0x41, 0xff, 0xff, 0x00, 0x00]).copy(bad, 11); // 1 literal, then offset 65535
    cases.push([bad.subarray(0, 17 + 4), /corrupt compressed block|truncated|larger/]);
    for (const [input, message] of cases) {
      expect(() => lz4Decompress(input)).toThrow(message);
      expect(() => lz4DecompressJs(input)).toThrow(message);
    }
  });
});

describe('LZ4 record batches', () => {
  const Decoder = require('kafkajs/src/protocol/decoder.js') as new (b: Buffer) => unknown;
  const decodeBatch = require('kafkajs/src/protocol/recordBatch/v0/decoder.js') as (d: unknown) => Promise<{
    firstSequence: number;
    records: { key: Buffer; value: Buffer; offset: string }[];
  }>;
  const producer = { producerId: 4711, producerEpoch: 2, baseSequence: 99 };

  function packed(n: number): { r: PackedRecords; keys: Buffer[]; values: Buffer[] } {
    const keys = [Buffer.from('instance-a'), Buffer.from('instance-b'.repeat(30))]; // one key longer than 256 bytes
    const values = Array.from({ length: n }, (_, i) => sample(1 + (i * 37) % 3000));
    const source = Buffer.concat(values);
    const starts = new Int32Array(n);
    let o = 0;
    values.forEach((v, i) => { starts[i] = o; o += v.length; });
    const keyIndex = Int32Array.from(values, (_, i) => i % 3 === 0 ? 1 : 0);
    return { r: { source, starts, lengths: Int32Array.from(values, (v) => v.length), keyIndex, keys }, keys: Array.from(keyIndex, (k) => keys[k]!), values };
  }

  it('holds the uncompressed batch\'s records as one LZ4 frame, with compression type 3 and a valid CRC, which kafkajs decodes', async () => {
    const { r, keys, values } = packed(2000);
    const plain = encodeRecordBatch(keys, values, 1_700_000_000_000, producer);
    const out = Buffer.alloc(8 * 1024 * 1024);
    const batch = encodePackedRecordBatch(r, 1_700_000_000_000, producer, out, COMPRESSION_LZ4);
    expect(batch.buffer).toBe(out.buffer); // into the reused buffer
    expect(batch.readInt16BE(21) & 7).toBe(3);
    expect(batch.length).toBeLessThan(plain.length / 2);
    // Everything before the records but length, CRC and attributes is the same.
    expect(batch.subarray(23, 61).equals(plain.subarray(23, 61))).toBe(true);
    expect(lz4Decompress(batch.subarray(61)).equals(plain.subarray(61))).toBe(true);
    const decoded = await decodeBatch(new Decoder(batch)); // kafkajs checks the CRC and decompresses with lz4Codec
    expect(decoded.firstSequence).toBe(99);
    expect(decoded.records.map((x) => x.value.equals(values[Number(x.offset)]!))).toEqual(values.map(() => true));
    expect(decoded.records.map((x) => x.key.toString())).toEqual(keys.map((k) => k.toString()));
    // Without an output buffer, and into one too small: a batch of its own, the same bytes.
    expect(encodePackedRecordBatch(r, 1_700_000_000_000, producer, undefined, COMPRESSION_LZ4).equals(batch)).toBe(true);
    expect(encodePackedRecordBatch(r, 1_700_000_000_000, producer, Buffer.alloc(1000), COMPRESSION_LZ4).equals(batch)).toBe(true);
  });

  it('is kafkajs\' codec for type 3, both ways', async () => {
    const data = sample(150_000);
    const codecs = require('kafkajs/src/protocol/message/compression/index.js') as { lookupCodec(t: number): typeof lz4Codec };
    expect(codecs.lookupCodec(3)).toBe(lz4Codec);
    expect((await lz4Codec.decompress(await lz4Codec.compress({ buffer: data }))).equals(data)).toBe(true);
  });
});
