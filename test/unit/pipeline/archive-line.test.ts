import { describe, expect, it } from 'vitest';
import { archivedData, LineEncoder, type ArchivedRecord } from '../../../pipeline/archive/index.js';
import { LineBuffer } from '../../../pipeline/archive/line-buffer.js';
import type { PipelineRecord } from '../../../pipeline/record.js';
import { makeRecord } from './agent-harness.js';
import { ReferenceLineEncoder } from './fixtures/archive-line-reference.js';

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

describe('LineBuffer', () => {
  function fill(b: LineBuffer, bytes: number): void {
    const line = Buffer.from(`${'x'.repeat(99)}\n`);
    for (let n = 0; n < bytes; n += line.length) {
      b.begin();
      b.bytes(line);
    }
  }

  it('starts small, and after a busy flush starts with blocks as large as that flush needed', () => {
    const b = new LineBuffer();
    fill(b, 3 << 20);
    const first = b.take();
    expect(first[0]!.length).toBeLessThanOrEqual(16 * 1024);
    expect(first.length).toBeGreaterThan(6);
    fill(b, 3 << 20);
    const second = b.take();
    expect(second.length).toBeLessThanOrEqual(4);
    for (const block of second.slice(0, -1)) expect(block.length).toBeGreaterThan((1 << 20) - 100);
    expect(Buffer.concat(second).equals(Buffer.concat(first))).toBe(true);
    // A quiet flush: the next one starts small again.
    fill(b, 100);
    b.take();
    fill(b, 100 * 1024);
    expect(b.take()[0]!.length).toBeLessThanOrEqual(16 * 1024);
  });
});

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

/** Deterministic choices for the generated records below (mulberry32). */
function prng(seed: number): { int(n: number): number; pick<T>(xs: readonly T[]): T; chance(p: number): boolean } {
  let a = seed >>> 0;
  const next = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    int: (n) => Math.floor(next() * n),
    pick: (xs) => xs[Math.floor(next() * xs.length)] as (typeof xs)[number],
    chance: (p) => next() < p,
  };
}

const NAMES = ['i-1', 'web-1', 'h1', 'acme', 'a"b', 'back\\slash', 'tab\there', 'é', '日本', '\u2028', '\ud800', '', 'x:1', '0'];

function genString(g: ReturnType<typeof prng>): string {
  const pieces = ['a', 'GET /x', ' ', '"', '\\', '\n', '\r', '\t', '\u0000', '\u001f', '\u007f', 'é', '€', '😀', '\ud800', '\udfff', '\u2028', '/', '<', '~', '0.123', 'Mozilla/5.0 (X11; Linux x86_64)'];
  let s = '';
  const n = g.int(12);
  for (let i = 0; i < n; i++) s += g.chance(0.7) ? g.pick(pieces.slice(0, 3).concat(pieces.slice(17))) : g.pick(pieces);
  return s;
}

function genValue(g: ReturnType<typeof prng>, depth: number): unknown {
  switch (g.int(depth > 1 ? 12 : 18)) {
    case 0:
    case 1:
    case 2:
    case 3:
      return genString(g);
    case 4:
      return g.pick([0, -0, 1, 200, 1234567, -5, 0.5, 1.5e-7, 1e21, 1e300, 2 ** 53, 2 ** 31, -(2 ** 31), 4294967296, 123.456]);
    case 5:
      return g.pick([NaN, Infinity, -Infinity]);
    case 6:
      return g.chance(0.5);
    case 7:
      return null;
    case 8:
      return g.int(100000);
    case 9:
      return String(g.int(1000));
    case 10:
      return g.pick([undefined, () => 1, Symbol('s')]);
    case 11:
      return g.int(1000) + 0.25;
    case 12:
      return 10n;
    case 13:
      return [genValue(g, depth + 1), genValue(g, depth + 1)];
    case 14:
      return genFields(g, depth + 1);
    case 15:
      return new Date(g.int(2 ** 40));
    case 16:
      return new String('boxed');
    default:
      return { toJSON: (k: string) => `json:${k}` };
  }
}

function genFields(g: ReturnType<typeof prng>, depth: number): Record<string, unknown> {
  const keys = ['remote', 'host', 'status', 'bytes', 'rt', 'path', 'a"b', 'k\\', 'é', '\u0001', '2', '0', '', 'toString', '__proto__x'];
  const o: Record<string, unknown> = g.chance(0.05) ? (Object.create(null) as Record<string, unknown>) : {};
  const n = g.int(depth > 0 ? 4 : 14);
  for (let i = 0; i < n; i++) o[g.pick(keys)] = genValue(g, depth);
  if (g.chance(0.02)) Object.defineProperty(o, 'hidden', { value: 1, enumerable: false });
  if (g.chance(0.02)) Object.defineProperty(o, 'got', { get: () => 'getter', enumerable: true });
  if (g.chance(0.01)) o['self'] = o;
  return o;
}

function genData(g: ReturnType<typeof prng>): Buffer {
  switch (g.int(9)) {
    case 0:
      return Buffer.alloc(0);
    case 1:
      return bytes(g.int(1 << 30) + 1, g.int(300));
    case 2:
      return Buffer.from(genString(g));
    case 3:
      // Long lines: past the first block, and past a whole block.
      return Buffer.alloc(g.chance(0.03) ? 1_100_000 : g.pick([20_000, 70_000]), g.pick(['a', 'é', '"', 'é"']));
    case 4:
      return g.pick([Buffer.from([0x61, 0xff, 0xfe, 0x62]), Buffer.from('"'.repeat(1100) + '\xff', 'latin1'), Buffer.from('é\n'.repeat(1100))]);
    case 5:
      // Escapes among runs of all lengths, now and then followed by bytes that are not UTF-8.
      return Buffer.concat([Buffer.from(Array.from({ length: g.int(60) }, () => 'x'.repeat(g.int(80)) + g.pick(['"', '\\', '\n', '\u0001', 'é', '{"a":"b"}'])).join('')), Buffer.from(g.chance(0.2) ? [0xc3] : [])]);
    default:
      return Buffer.from(`10.0.0.${g.int(255)} - - [22/Nov/2026:10:15:00 +0000] "GET /api/v1/items/${g.int(1000)} HTTP/1.1" 200 ${g.int(50000)} "-" "curl/8.5.0" 0.${g.int(999)}`);
  }
}

/** The same record for the same seed, so that each encoder gets its own copy to mutate (flags). */
function genRecord(seed: number): PipelineRecord {
  const g = prng(seed);
  const instance = g.chance(0.7) ? g.pick(['i-1', 'i-2', 'web-1']) : g.pick(NAMES);
  const seq = g.chance(0.8) ? g.int(2 ** 40) : g.pick([0, -1, 1.5, NaN, Infinity, 1e21, 2 ** 53 + 2]);
  const ts = g.chance(0.8) ? 1_700_000_000_000 + g.int(10_000_000) : g.pick([0, -1, -1500, 1.5, NaN, -Infinity, 8.64e15, 8.64e15 + 1, 253_402_300_800_000, 1e20]);
  const data = genData(g);
  // Data at any offset of its ArrayBuffer, not only where the pool puts it.
  const shift = g.int(4);
  const r = makeRecord(shift === 0 ? data : Buffer.concat([Buffer.alloc(shift), data]).subarray(shift), {
    instance,
    seq,
    ts,
    provider: g.chance(0.8) ? 'acme' : g.pick(NAMES),
    stream: g.chance(0.8) ? 'web' : g.pick(NAMES),
    class: g.chance(0.6) ? null : g.pick(NAMES),
    host: g.chance(0.8) ? 'h1' : g.pick(NAMES),
  });
  r.id = g.chance(0.8) ? `${instance}:${seq}` : g.pick([`${instance}:${seq}0`, `${instance}:x`, `${instance}`, `x${instance}:${seq}`, 'agg-"1"', 'é:1', '', ':', undefined as unknown as string, 7 as unknown as string]);
  if (g.chance(0.1)) r.kind = g.pick(['aggregate', 'metric', 'alarm', undefined as unknown as 'log']);
  if (g.chance(0.05)) r.source = g.pick(['pipeline', 'syslog', undefined as unknown as 'fuse', 'q"uote' as 'fuse']);
  if (g.chance(0.1)) r.part = [g.int(10), g.chance(0.5)];
  if (g.chance(0.1)) r.attrs = g.chance(0.8) ? { facility: 'local0', app: genString(g) } : ({ big: 1n } as unknown as Record<string, string>);
  if (g.chance(0.6)) r.fields = genFields(g, 0);
  else if (g.chance(0.05)) r.fields = g.pick([null, undefined, 'str', [1, 2], { toJSON: () => undefined }]) as unknown as Record<string, unknown>;
  if (g.chance(0.2)) r.flags = g.pick([['parse_failed'], ['invalid', 'archive_unserialisable'], ['é"']]);
  return r;
}

describe('LineEncoder, against the encoder it replaced', () => {
  it('writes the same bytes for any record, into blocks that end with whole lines', () => {
    const enc = new LineEncoder();
    const ref = new ReferenceLineEncoder();
    const origins = [origin, { graph: 'g', version: 1 }, { graph: 'grä"ph', version: 12 }, { graph: 'g', version: NaN }];
    const out = new LineBuffer();
    const expected: Buffer[] = [];
    for (let seed = 1; seed <= 6000; seed++) {
      const o = origins[seed % 7 === 0 ? seed % origins.length : 0]!;
      const want = ref.encodeBytes(genRecord(seed), o);
      const mine = genRecord(seed);
      enc.encodeTo(out, mine, o);
      expected.push(want);
      if (seed % 500 === 0 || out.length > 4 << 20) {
        const blocks = out.take();
        for (const b of blocks) expect(b[b.length - 1]).toBe(0x0a);
        const got = Buffer.concat(blocks);
        const exp = Buffer.concat(expected.splice(0));
        if (!got.equals(exp)) {
          // Name the first line that differs rather than dump megabytes.
          const gl = got.toString('latin1').split('\n');
          const el = exp.toString('latin1').split('\n');
          const i = gl.findIndex((l, j) => l !== el[j]);
          expect(gl[i]?.slice(0, 2000), `line ${i} of the batch ending at seed ${seed}`).toBe(el[i]?.slice(0, 2000));
        }
        expect(got.equals(exp)).toBe(true);
      }
    }
    expect(enc.unserialisable).toBe(ref.unserialisable);
    expect(enc.unserialisable).toBeGreaterThan(0);
  });

  it('writes the tricky cases exactly', () => {
    const cases: [Partial<PipelineRecord>, string][] = [
      [{ fields: { a: NaN, b: -0, c: 1e21, d: 'x"y', e: '\u2028', f: '\ud800', g: undefined, h: [1, undefined] } }, '"fields":{"a":null,"b":0,"c":1e+21,"d":"x\\"y","e":"\u2028","f":"\\ud800","h":[1,null]}'],
      [{ fields: { 2: 'two', b: 1, 1: 'one' } }, '"fields":{"1":"one","2":"two","b":1}'],
      [{ fields: { big: 1n } }, '"fields":{"_archiveError":"Do not know how to serialize a BigInt"},"flags":["archive_unserialisable"]'],
      [{ id: 'i-1:5x', seq: 5 }, '{"id":"i-1:5x","kind":"log"'],
    ];
    for (const [over, want] of cases) {
      const r = makeRecord('x', over);
      if (over.id) r.id = over.id;
      expect(new LineEncoder().encode(r, origin)).toContain(want);
    }
  });
});
