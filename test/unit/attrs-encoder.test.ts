import { Packr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { attrsSize, writeAttrs } from '../../gateway/attrs-encoder.js';
import { decodeRecord, RECORD_PACKR_OPTIONS, RecordTemplate, type RecordConstants } from '../../gateway/record-codec.js';
import { syslogAttrs } from '../../inputs/syslog/syslog-message.js';
import { parseSyslog } from '../../inputs/syslog/syslog-parse.js';
import { prng } from './seeded-random.js';

/** What record-codec.ts encoded attrs with before attrs-encoder.ts, and still does for odd values. */
const packr = new Packr(RECORD_PACKR_OPTIONS);

function encodeAttrs(value: unknown): Buffer | undefined {
  const size = attrsSize(value);
  if (size < 0) return undefined;
  // Guard bytes on both sides catch a write outside the bound.
  const buf = Buffer.alloc(size + 16, 0xee);
  const end = writeAttrs(buf, 8, value);
  expect(end - 8).toBeLessThanOrEqual(size);
  expect(buf.subarray(0, 8).every((b) => b === 0xee) && buf.subarray(8 + size).every((b) => b === 0xee)).toBe(true);
  return buf.subarray(8, end);
}

function expectSameAsMsgpackr(value: unknown): void {
  const ours = encodeAttrs(value);
  expect(ours, 'attrsSize refused a supported value').toBeDefined();
  const theirs = packr.pack(value);
  if (!ours!.equals(theirs)) {
    // Hex of both, so that a failure shows where they part.
    expect(ours!.toString('hex')).toBe(theirs.toString('hex'));
  }
}

// ---- random values ---------------------------------------------------------------------------------

const INT_BOUNDARIES = [
  0, 0x1f, 0x20, 0x3f, 0x40, 0x7f, 0x80, 0xff, 0x100, 0x7fff, 0x8000, 0xffff, 0x10000, 0x7fffffff, 0x80000000,
  0xffffffff, 0x100000000, 2 ** 52, Number.MAX_SAFE_INTEGER,
];
const INTS = INT_BOUNDARIES.flatMap((n) => [n - 1, n, n + 1, -n - 1, -n, -n + 1]).filter((n) => Number.isSafeInteger(n));
const FLOATS = [0.5, -0.5, 1.5, -1e-300, 1e300, Number.MIN_VALUE, Number.MAX_VALUE, Infinity, -Infinity, -0, 2 ** 53, 2 ** 64, -(2 ** 63), Math.PI];

/** Pieces of 1, 2, 3 and 4 UTF-8 bytes (and 3 for the lone surrogates), NUL and controls among them. */
const CHARS = ['a', 'Z', '0', ' ', '"', '\\', '\0', '\n', '\x7f', '\x80', 'é', 'ü', 'ß', '\u07ff', '\u0800', '€', '中', '\ufeff', '\uffff', '😀', '𝄞', '\u{10ffff}', '\ud800', '\udfff', '\udc00\ud800'];

/** UTF-8 byte lengths around every str header boundary, and the 64-unit switch to Buffer's encoder. */
const STRING_BYTES = [0, 1, 31, 32, 33, 63, 64, 65, 255, 256, 257, 65535, 65536, 65537];

function generator(seed: number) {
  const rnd = prng(seed);
  const int = (n: number): number => Math.floor(rnd() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)] as T;

  /**
   * A string of about `bytes` UTF-8 bytes; ASCII-only half of the time, as most attrs are. Long ones
   * repeat a random piece of at most 200 bytes, which keeps the test fast.
   */
  const sized = (bytes: number): string => {
    const ascii = rnd() < 0.5;
    let s = '';
    let n = 0;
    while (n < Math.min(bytes, 200)) {
      const c = ascii ? String.fromCharCode(0x20 + int(0x5f)) : pick(CHARS);
      s += c;
      n += Buffer.byteLength(c);
    }
    return n < bytes ? s.repeat(Math.ceil(bytes / n)) : s;
  };

  const string = (): string => {
    const r = rnd();
    if (r < 0.5) return sized(int(40));
    if (r < 0.995) return sized(pick(STRING_BYTES.filter((b) => b < 1000)) + int(3) - 1);
    return sized(pick(STRING_BYTES) + int(3) - 1);
  };

  const scalar = (): unknown => {
    const r = rnd();
    if (r < 0.35) return string();
    if (r < 0.55) return pick(INTS);
    if (r < 0.62) return int(200) - 100;
    if (r < 0.7) return pick(FLOATS);
    if (r < 0.75) return (rnd() - 0.5) * 10 ** int(20);
    if (r < 0.8) return rnd() < 0.5;
    if (r < 0.84) return null;
    if (r < 0.86) return undefined;
    const len = rnd() < 0.95 ? int(300) : pick([255, 256, 65535, 65536]);
    return Buffer.alloc(len, int(256));
  };

  const key = (): string => {
    const r = rnd();
    if (r < 0.6) return sized(1 + int(12));
    if (r < 0.7) return String(int(20)); // integer-like keys, which for-in visits first
    return string();
  };

  const value = (depth: number): unknown => {
    const r = rnd();
    if (depth > 3 || r < 0.6) return scalar();
    if (r < 0.85) return object(depth + 1);
    const len = rnd() < 0.95 ? int(8) : pick([15, 16, 17]);
    return Array.from({ length: len }, () => value(depth + 1));
  };

  const object = (depth: number): Record<string, unknown> => {
    const o: Record<string, unknown> = {};
    const n = rnd() < 0.1 ? 0 : int(depth === 0 ? 14 : 6);
    for (let i = 0; i < n; i++) o[key()] = value(depth);
    return o;
  };

  return () => object(0);
}

// ---- syslog attrs as the input produces them --------------------------------------------------------

const SYSLOG_MESSAGES = [
  '<165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - - %% It\'s time to make the do-nuts.',
  '<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"][examplePriority@32473 class="high"] x',
  '<13>1 - h a - - [x@1 q="a\\"b" b="c\\\\d" r="e\\]f" o="g\\nh" t="\\\\\\"" u="ünï 中文 😀"] body',
  '<13>1 - h a - - [origin ip="192.0.2.1" ip="192.0.2.2"][x __proto__="p"][origin ip="3"]',
  '<13>1 - h a - - [x hasOwnProperty="p" toString="q"] x',
  '<13>1 - h a - - [timeQuality] x',
  '<13>1 0099-01-01T00:00:00Z h a - - -',
  '<13>1 0000-01-01T00:00:00+01:00 h a - - -',
  '<13>1 9999-12-31T23:59:59.999-01:00 h a - - -',
  '<0>1 - - - - - - x',
  '<191>1 - - - - - - x',
  '<013>Oct 11 22:14:15 host tag: x',
  '<14>12 things happened',
  '<13>2012-08-16T14:34:03.123456-08:00 127.0.0.1 test: shnap!',
  '<14>myapp[123]: hello world',
  '<14>hello',
  'garbage',
  '<11>1 bad - - - - -',
  `<134>1 2026-11-22T08:39:54.991Z bench-host bench-app 4242 BENCH [bench@32473 seq="000000000042"] ${'x'.repeat(100)}`,
  `<13>1 - h a - - [big v="${'é'.repeat(200)}"] x`,
  `<13>1 - ${'h'.repeat(255)} ${'a'.repeat(48)} ${'p'.repeat(128)} ${'m'.repeat(32)} - x`,
];

describe('attrs encoder', () => {
  it('writes exactly what msgpackr writes, for thousands of random attrs', () => {
    const next = generator(0x5eed);
    for (let i = 0; i < 5000; i++) expectSameAsMsgpackr(next());
  });

  it('writes exactly what msgpackr writes at every int, float and str boundary', () => {
    for (const n of [...INTS, ...FLOATS]) expectSameAsMsgpackr({ n, a: [n], o: { n } });
    for (const bytes of STRING_BYTES) {
      for (const c of CHARS) {
        const s = c.repeat(Math.ceil(bytes / Buffer.byteLength(c)));
        for (const t of [s, s.slice(0, -1), `${s}a`]) expectSameAsMsgpackr({ [t.slice(0, 40)]: t });
      }
    }
  });

  it('writes exactly what msgpackr writes for the edges of maps and arrays', () => {
    expectSameAsMsgpackr({});
    expectSameAsMsgpackr({ a: {}, b: [], c: [[]], d: [{}] });
    for (const n of [15, 16, 17, 65535, 65536]) expectSameAsMsgpackr({ a: Array.from({ length: n }, (_, i) => i % 3) });
    expectSameAsMsgpackr(Object.fromEntries(Array.from({ length: 65535 }, (_, i) => [`k${i}`, i])));
    const proto = Object.fromEntries([['__proto__', 'p']]) as Record<string, unknown>;
    expectSameAsMsgpackr({ x: proto, hasOwnProperty: 'not a function', toJSON: 'ignored for plain objects' });
    expectSameAsMsgpackr({ 2: 'b', 1: 'a', z: 0, '-1': 'c', 10: 'd' });
    const holes: unknown[] = [1];
    holes[3] = 2;
    expectSameAsMsgpackr({ holes, u: undefined, n: null });
    let deep: Record<string, unknown> = { end: true };
    for (let i = 0; i < 31; i++) deep = { deep };
    expectSameAsMsgpackr(deep);
  });

  it('writes exactly what msgpackr writes for syslog attrs from the parser', () => {
    for (const m of SYSLOG_MESSAGES) {
      expectSameAsMsgpackr(syslogAttrs(parseSyslog(Buffer.from(m), { now: Date.UTC(2024, 5, 15) })));
    }
  });

  it('leaves to msgpackr what it does not know', () => {
    class Point {
      x = 1;
    }
    const odd: unknown[] = [
      new Date(0),
      new Map([['a', 1]]),
      new Set([1]),
      new Uint8Array(3),
      10n,
      NaN,
      new Point(),
      Object.create(null),
      () => 1,
      Symbol('s'),
      Object.fromEntries(Array.from({ length: 65536 }, (_, i) => [`k${i}`, i])),
    ];
    for (const v of odd) expect(attrsSize({ ok: 'yes', v })).toBe(-1);
    let deep: Record<string, unknown> = {};
    for (let i = 0; i < 40; i++) deep = { deep };
    expect(attrsSize(deep)).toBe(-1);
    const cycle: Record<string, unknown> = {};
    cycle.self = cycle;
    expect(attrsSize(cycle)).toBe(-1);
  });

  it('keeps structured-data parameters named like Object members as plain keys (msgpackr threw on toJSON)', () => {
    expectSameAsMsgpackr({ sd: { constructor: 'a', hasOwnProperty: 'h', valueOf: 'v' } });
    const attrs = syslogAttrs(parseSyslog(Buffer.from('<13>1 2024-06-15T10:00:00Z h app 1 id [x constructor="a" toJSON="b"] boom')));
    expect(() => packr.pack(attrs)).toThrow(); // what made such a message fail before
    const bytes = encodeAttrs(attrs);
    expect(bytes).toBeDefined();
    expect(packr.unpack(bytes!)).toMatchObject({ structuredData: { x: { constructor: 'a', toJSON: 'b' } } });
  });
});

describe('RecordTemplate.encode with attrs', () => {
  const constants: RecordConstants = { v: 1, provider: 'acme', stream: 'net/syslog', class: null, instance: 'i-1', host: 'gw', source: 'syslog' };
  const template = new RecordTemplate(constants);
  const seq = 1763781600048213;
  const ts = 1763781955646;
  const data = Buffer.from('a line');

  /** The record as record-codec.ts wrote it before: attrs last, msgpackr's bytes after the key. */
  function before(attrs: Record<string, unknown>, part?: [number, boolean], kid?: string): Buffer {
    const without = template.encode(seq, ts, data, part, undefined, 0, kid);
    return Buffer.concat([Buffer.from([without[0]! + 1]), without.subarray(1), Buffer.from([0xa5]), Buffer.from('attrs'), packr.pack(attrs)]);
  }

  it('is byte for byte what it was, on the fast path and on msgpackr', () => {
    const next = generator(42);
    const values: Record<string, unknown>[] = [
      ...Array.from({ length: 500 }, next),
      ...SYSLOG_MESSAGES.map((m) => syslogAttrs(parseSyslog(Buffer.from(m)))),
      { when: new Date(1_000), m: new Map([['k', 'v']]) },
      { n: NaN, b: new Uint8Array([1, 2]) },
    ];
    for (const attrs of values) {
      for (const [part, kid] of [[undefined, undefined], [[2, true], undefined], [undefined, '0123456789abcdef']] as const) {
        const ours = template.encode(seq, ts, data, part as [number, boolean] | undefined, attrs, 0, kid);
        expect(ours.toString('hex')).toBe(before(attrs, part as [number, boolean] | undefined, kid).toString('hex'));
      }
    }
  });

  it('keeps the reserved head and decodes back', () => {
    const attrs = { format: 'rfc5424', facilityCode: 16, structuredData: { 'x@1': { a: 'é😀' } } };
    const rec = template.encode(seq, ts, data, undefined, attrs, 12);
    expect(rec.subarray(12).equals(before(attrs))).toBe(true);
    expect(decodeRecord(rec.subarray(12)).attrs).toEqual(attrs);
  });

  it('gives every record its own bytes: records cut from one slab stay intact', () => {
    const next = generator(7);
    const kept: [Buffer, Buffer][] = [];
    for (let i = 0; i < 3000; i++) {
      const attrs = i % 100 === 0 ? { big: 'x'.repeat(10_000 + i) } : next();
      kept.push([template.encode(seq, ts, data, undefined, attrs, 8), before(attrs)]);
      if (i % 500 === 0) {
        const bad = Object.defineProperty({}, 'x', { enumerable: true, get: () => 'y'.repeat(Math.floor(Math.random() * 10) + 1) });
        try {
          template.encode(seq, ts, data, undefined, bad);
        } catch {
          // only the records kept matter here
        }
      }
    }
    for (const [rec, want] of kept) expect(rec.subarray(8).equals(want)).toBe(true);
  });

  it('throws rather than write attrs that change between measuring and writing', () => {
    let calls = 0;
    const attrs = Object.defineProperty({}, 'x', { enumerable: true, get: () => (calls++ === 0 ? 'a' : 'a longer string') });
    expect(() => template.encode(seq, ts, data, undefined, attrs)).toThrow(/attrs changed while being encoded/);
  });
});
