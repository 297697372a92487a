/**
 * The producer thread's per-record work on a run of journal entries read back from a segment:
 * scanEntries (the framing walk of readSegmentRun) and groupEntries (each entry's topic and key,
 * its record's place), in C and in JavaScript, and prepareEntries on top of them.
 */
import pino from 'pino';
// The producer module first: it loads the project's kafkajs patches before kafkajs itself.
import { KafkaProducerSession } from '../../gateway/kafka-producer.js';
import crypto from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { parseGatewayConfig } from '../../gateway/config.js';
import { encodeJournalEntry } from '../../gateway/journal-entry.js';
import { groupEntriesJs, nativeGateway, scanEntriesJs } from '../../gateway/native.js';
import { prng } from './seeded-random.js';
import { crc32 } from 'node:zlib';

/** Entries framed as in a segment (u32 length | u32 CRC-32 of the payload | payload). */
function framed(payloads: Buffer[]): Buffer {
  const out = Buffer.alloc(payloads.reduce((n, p) => n + 8 + p.length, 0));
  let o = 0;
  for (const p of payloads) {
    out.writeUInt32BE(p.length, o);
    out.writeUInt32BE(crc32(p), o + 4);
    p.copy(out, o + 8);
    o += 8 + p.length;
  }
  return out;
}

const TOPICS = ['logfs.p.web', 'logfs.p.db-error'];
const KEYS = ['i-0123456789abcdef0', 'host-b', ''];

/** Journal entries of a few topics and keys, in runs (as writers' lines come), values of any size. */
function entries(n: number, seed: number): { payloads: Buffer[]; values: Buffer[]; topic: string[]; key: string[] } {
  const rnd = prng(seed);
  const payloads: Buffer[] = [];
  const values: Buffer[] = [];
  const topic: string[] = [];
  const key: string[] = [];
  let t = 0;
  let k = 0;
  for (let i = 0; i < n; i++) {
    if (rnd() < 0.2) t = Math.floor(rnd() * TOPICS.length);
    if (rnd() < 0.2) k = Math.floor(rnd() * KEYS.length);
    const value = crypto.randomBytes(Math.floor(rnd() * 300));
    payloads.push(encodeJournalEntry(TOPICS[t]!, KEYS[k]!, i, value));
    values.push(value);
    topic.push(TOPICS[t]!);
    key.push(KEYS[k]!);
  }
  return { payloads, values, topic, key };
}

const implementations = [
  ['in JavaScript', scanEntriesJs, groupEntriesJs],
  ['native (dist/native/logfs-gateway.node)', nativeGateway?.scanEntries, nativeGateway?.groupEntries],
] as const;

describe.each(implementations)('scanEntries, %s', (_name, scan) => {
  const { payloads } = entries(500, 1);
  const bytes = framed(payloads);
  const offsets: number[] = [];
  payloads.reduce((o, p) => (offsets.push(o), o + 8 + p.length), 0);

  function run(got: number, limit: number, skip: number, maxEntries: number, maxBytes: number): { r: number[]; starts: number[]; lengths: number[] } {
    const starts = new Int32Array(600).fill(-7);
    const lengths = new Int32Array(600).fill(-7);
    const result = new Int32Array(5);
    scan!(bytes, got, limit, skip, maxEntries, maxBytes, starts, lengths, result);
    return { r: [...result], starts: [...starts.subarray(0, result[0])], lengths: [...lengths.subarray(0, result[0])] };
  }

  it('finds every entry, skips, and stops at maxEntries and maxBytes (the first entry always)', () => {
    expect(scan, 'scripts/build-native.sh must have built dist/native/logfs-gateway.node').toBeTypeOf('function');
    const all = run(bytes.length, bytes.length, 0, 1000, 1e9);
    expect(all.r).toEqual([500, bytes.length, 0, 0, -1]);
    expect(all.starts).toEqual(offsets.map((o) => o + 8));
    expect(all.lengths).toEqual(payloads.map((p) => p.length));
    const skipped = run(bytes.length, bytes.length, 10, 5, 1e9);
    expect(skipped.starts).toEqual(offsets.slice(10, 15).map((o) => o + 8));
    expect(skipped.r).toEqual([5, offsets[15], 0, 0, -1]);
    const capped = run(bytes.length, bytes.length, 0, 1000, payloads[0]!.length + payloads[1]!.length);
    expect(capped.r[0]).toBe(2);
    expect(run(bytes.length, bytes.length, 0, 1000, 0).r[0]).toBe(1);
  });

  it('says how many bytes the entry cut off at `got` needs, and when an entry runs past the written end', () => {
    const cut = offsets[7]! + 3; // inside entry 7's length field
    expect(run(cut, bytes.length, 0, 1000, 1e9).r).toEqual([7, offsets[7], offsets[7]! + 8, 0, -1]);
    const inPayload = offsets[7]! + 9;
    expect(run(inPayload, bytes.length, 0, 1000, 1e9).r).toEqual([7, offsets[7], offsets[8], 0, -1]);
    expect(run(bytes.length, offsets[8]! - 1, 0, 1000, 1e9).r).toEqual([7, offsets[7], 0, 1, -1]);
  });

  it('stops at the first wanted entry whose checksum does not match and says where it is; skipped entries are not checked', () => {
    const good = Buffer.from(bytes);
    try {
      bytes[offsets[40]! + 8 + Math.floor(payloads[40]!.length / 2)]! ^= 0x20; // a bit of entry 40's payload
      expect(run(bytes.length, bytes.length, 0, 1000, 1e9).r).toEqual([40, offsets[40], 0, 0, offsets[40]]);
      expect(run(bytes.length, bytes.length, 0, 40, 1e9).r).toEqual([40, offsets[40], 0, 0, -1]);
      expect(run(bytes.length, bytes.length, 41, 1000, 1e9).r).toEqual([500 - 41, bytes.length, 0, 0, -1]);
      good.copy(bytes);
      bytes[offsets[0]! + 7]! ^= 1; // entry 0's checksum itself
      expect(run(bytes.length, bytes.length, 0, 1000, 1e9).r).toEqual([0, 0, 0, 0, 0]);
    } finally {
      good.copy(bytes);
    }
  });
});

describe.each(implementations)('groupEntries, %s', (_name, scan, group) => {
  it("numbers each entry's topic and key among the run's and moves its place onto the record", () => {
    expect(group, 'scripts/build-native.sh must have built dist/native/logfs-gateway.node').toBeTypeOf('function');
    const { payloads, values, topic, key } = entries(2000, 2);
    // Two that are not entries of format 1: a wrong format byte, a key running past the end.
    payloads[100] = Buffer.from([2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    payloads[200] = Buffer.from([1, 1, 0x61, 200, 0, 0, 0, 0, 0, 0, 0, 0]);
    const bytes = framed(payloads);
    const starts = new Int32Array(2000);
    const lengths = new Int32Array(2000);
    scan!(bytes, bytes.length, bytes.length, 0, 2000, 1e9, starts, lengths, new Int32Array(5));
    const g = new Int32Array(2000);
    const headers = new Int32Array(2 * 4096);
    const n = group!(bytes, starts, lengths, 2000, g, headers);
    expect(n).toBe(TOPICS.length * KEYS.length);
    const pairs = Array.from({ length: n }, (_, k) => {
      const h = bytes.subarray(headers[2 * k]!, headers[2 * k]! + headers[2 * k + 1]!);
      const tl = h[1]!;
      return `${h.toString('utf8', 2, 2 + tl)}|${h.toString('utf8', 3 + tl)}`;
    });
    expect(new Set(pairs).size).toBe(n);
    for (let i = 0; i < 2000; i++) {
      if (i === 100 || i === 200) {
        expect(g[i]).toBe(-1);
        continue;
      }
      expect(pairs[g[i]!]).toBe(`${topic[i]}|${key[i]}`);
      expect(bytes.subarray(starts[i]!, starts[i]! + lengths[i]!).equals(values[i]!)).toBe(true);
    }
  });

  it('leaves the places as they were when the run has more distinct headers than there is room for', () => {
    const { payloads } = entries(300, 3);
    const bytes = framed(payloads);
    const starts = new Int32Array(300);
    const lengths = new Int32Array(300);
    scan!(bytes, bytes.length, bytes.length, 0, 300, 1e9, starts, lengths, new Int32Array(5));
    const before = [Buffer.from(starts.buffer.slice(0)), Buffer.from(lengths.buffer.slice(0))];
    expect(group!(bytes, starts, lengths, 300, new Int32Array(300), new Int32Array(2 * 2))).toBe(-1);
    expect(Buffer.from(starts.buffer).equals(before[0]!)).toBe(true);
    expect(Buffer.from(lengths.buffer).equals(before[1]!)).toBe(true);
  });
});

describe('prepareEntries (wire client)', () => {
  const session = new KafkaProducerSession(parseGatewayConfig({ kafka: { brokers: ['127.0.0.1:1'], client: 'wire' } }), pino({ level: 'silent' }), { error() {}, connected() {} });

  it('packs each record with its topic and key, and counts the entries it cannot decode by LSN', () => {
    const { payloads, values, topic, key } = entries(1000, 4);
    payloads[10] = Buffer.from([9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9]);
    const bytes = framed(payloads);
    const starts = new Int32Array(1000);
    const lengths = new Int32Array(1000);
    scanEntriesJs(bytes, bytes.length, bytes.length, 0, 1000, 1e9, starts, lengths, new Int32Array(5));
    const prepared = session.prepareEntries(5000, bytes, starts, lengths);
    if (!('packed' in prepared)) throw new Error('expected packed entries');
    expect(prepared.undecodable).toEqual([{ lsn: 5010, error: expect.stringContaining('unknown format 9') }]);
    expect(prepared.delivered).toBe(999);
    const { packed } = prepared;
    const kept = [...Array(1000).keys()].filter((i) => i !== 10);
    expect(prepared.bytes).toBe(kept.reduce((n, i) => n + values[i]!.length, 0));
    kept.forEach((i, j) => {
      expect(packed.groups[packed.group[j]!]).toEqual({ topic: topic[i], key: key[i] });
      expect(packed.source.subarray(packed.starts[j]!, packed.starts[j]! + packed.lengths[j]!).equals(values[i]!)).toBe(true);
    });
  });

  it('numbers the topics and keys into the caller\'s array when it is long enough, and a new one otherwise', () => {
    const { payloads, topic, key } = entries(300, 3);
    const bytes = framed(payloads);
    const starts = new Int32Array(300);
    const lengths = new Int32Array(300);
    scanEntriesJs(bytes, bytes.length, bytes.length, 0, 300, 1e9, starts, lengths, new Int32Array(5));
    const mine = new Int32Array(1000).fill(-7);
    const prepared = session.prepareEntries(0, bytes, starts.slice(), lengths.slice(), mine);
    if (!('packed' in prepared)) throw new Error('expected packed entries');
    expect(prepared.packed.group.buffer).toBe(mine.buffer);
    expect(prepared.packed.group).toHaveLength(300);
    prepared.packed.group.forEach((g, i) => expect(prepared.packed.groups[g]).toEqual({ topic: topic[i], key: key[i] }));
    const short = new Int32Array(10);
    const again = session.prepareEntries(0, bytes, starts.slice(), lengths.slice(), short);
    if (!('packed' in again)) throw new Error('expected packed entries');
    expect(again.packed.group.buffer).not.toBe(short.buffer);
    expect(Array.from(again.packed.group)).toEqual(Array.from(prepared.packed.group));
  });

  it('packs a run of more distinct topics and keys than groupEntries numbers (4096) one entry at a time, the same way', () => {
    const n = 5000;
    const values = Array.from({ length: n }, (_, i) => Buffer.from(`line ${i}`));
    const payloads = values.map((v, i) => encodeJournalEntry('logfs.p.web', `instance-${i}`, i, v));
    payloads[3] = Buffer.from([1, 200, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]); // topic longer than the entry
    const bytes = framed(payloads);
    const starts = new Int32Array(n);
    const lengths = new Int32Array(n);
    scanEntriesJs(bytes, bytes.length, bytes.length, 0, n, 1e9, starts, lengths, new Int32Array(5));
    const prepared = session.prepareEntries(0, bytes, starts, lengths);
    if (!('packed' in prepared)) throw new Error('expected packed entries');
    expect(prepared.undecodable).toEqual([{ lsn: 3, error: expect.stringContaining('truncated') }]);
    const { packed } = prepared;
    expect(packed.groups).toHaveLength(n - 1);
    expect(prepared.delivered).toBe(n - 1);
    for (let j = 0; j < n - 1; j++) {
      const i = j < 3 ? j : j + 1;
      expect(packed.groups[packed.group[j]!]).toEqual({ topic: 'logfs.p.web', key: `instance-${i}` });
      expect(packed.source.subarray(packed.starts[j]!, packed.starts[j]! + packed.lengths[j]!).toString()).toBe(`line ${i}`);
    }
  });
});
