import { describe, expect, it } from 'vitest';
import { archivedData, LineEncoder, type ArchivedRecord } from '../../../pipeline/archive/index.js';
import { makeRecord } from './agent-harness.js';

const origin = { graph: 'g', version: 1 };

/** Deterministic pseudo-random bytes (xorshift), biased towards the characters JSON must escape. */
function bytes(seed: number, n: number): Buffer {
  let x = seed || 1;
  const b = Buffer.alloc(n);
  const special = [0x22, 0x5c, 0x00, 0x0a, 0x0d, 0x09, 0x7f, 0xc3, 0xa9, 0xe2, 0x80, 0xa8, 0xff];
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    const r = (x >>> 0) % 100;
    b[i] = r < 15 ? (special[r % special.length] as number) : 0x20 + (r % 95);
  }
  return b;
}

describe('LineEncoder', () => {
  it('writes one JSON object per line whose data round-trips byte for byte', () => {
    const enc = new LineEncoder();
    for (let seed = 1; seed < 400; seed++) {
      const data = bytes(seed, seed % 90);
      const line = enc.encode(makeRecord(data), origin);
      expect(line.endsWith('\n')).toBe(true);
      expect(line.slice(0, -1)).not.toContain('\n');
      const r = JSON.parse(line) as ArchivedRecord;
      expect(archivedData(r)).toEqual(data);
      // Text when the bytes are UTF-8, base64 otherwise.
      expect(r.dataEncoding === 'base64').toBe(!Buffer.from(data.toString('utf8')).equals(data));
    }
  });

  it('writes plain ASCII exactly as JSON.stringify would', () => {
    const enc = new LineEncoder();
    const text = 'GET /a?b=c&d=%20 HTTP/1.1 200 ~{}[]';
    const line = enc.encode(makeRecord(text), origin);
    expect(line).toContain(`"data":${JSON.stringify(text)},`);
  });

  it('gives the ISO time of ts, including across seconds and before 1970', () => {
    const enc = new LineEncoder();
    for (const ts of [0, 999, 1000, 1_714_557_600_000, 1_714_557_600_001, 1_714_557_600_999, 1_714_557_601_000, 1_714_557_600_010, -1, -1500, 253_402_300_800_000]) {
      const r = JSON.parse(enc.encode(makeRecord('x', { ts }), origin)) as ArchivedRecord;
      expect(r.time, String(ts)).toBe(new Date(ts).toISOString());
      expect(r.ts).toBe(ts);
    }
  });

  it('keeps per-instance parts apart when instances interleave', () => {
    const enc = new LineEncoder();
    const lines = [makeRecord('a', { instance: 'i-1', class: 'x' }), makeRecord('b', { instance: 'i-2' }), makeRecord('c', { instance: 'i-1', class: 'y' }), makeRecord('d', { instance: 'i-1', class: 'y', stream: 's2' })].map(
      (r) => JSON.parse(enc.encode(r, origin)) as ArchivedRecord,
    );
    expect(lines.map((r) => [r.instance, r.class, r.stream, r.data])).toEqual([
      ['i-1', 'x', 'web', 'a'],
      ['i-2', null, 'web', 'b'],
      ['i-1', 'y', 'web', 'c'],
      ['i-1', 'y', 's2', 'd'],
    ]);
  });
});
