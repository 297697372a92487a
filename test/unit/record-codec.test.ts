import { Packr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { LogfsError } from '../../core/errors.js';
import {
  decodeRecord,
  encodeRecord,
  RECORD_SCHEMA_VERSION,
  RecordTemplate,
  recordId,
  type LogRecord,
  type RecordConstants,
} from '../../gateway/record-codec.js';

/**
 * An independent, strict MessagePack decoder (spec: github.com/msgpack/msgpack/blob/master/spec.md)
 * covering what records use: maps, arrays, str, bin, unsigned and negative fixint, uint8-64, nil,
 * booleans. Anything else, trailing bytes or a truncated value throws. Maps become Map so key order
 * and duplicate keys are visible; uint64 becomes a bigint so nothing is rounded.
 */
type Msg = null | boolean | number | bigint | string | Uint8Array | Msg[] | Map<string, Msg>;

function strictDecode(buf: Uint8Array): Msg {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let o = 0;
  const need = (n: number): void => {
    if (o + n > buf.length) throw new Error(`truncated at ${o}: need ${n} bytes`);
  };
  const u8 = (): number => {
    need(1);
    return buf[o++] as number;
  };
  const bytes = (n: number): Uint8Array => {
    need(n);
    const b = buf.subarray(o, o + n);
    o += n;
    return b;
  };
  const utf8 = new TextDecoder('utf-8', { fatal: true });
  const str = (n: number): string => utf8.decode(bytes(n));
  const len16 = (): number => {
    need(2);
    const v = view.getUint16(o);
    o += 2;
    return v;
  };
  const len32 = (): number => {
    need(4);
    const v = view.getUint32(o);
    o += 4;
    return v;
  };
  const map = (n: number): Map<string, Msg> => {
    const m = new Map<string, Msg>();
    for (let i = 0; i < n; i++) {
      const k = value();
      if (typeof k !== 'string') throw new Error(`map key at ${o} is not a string`);
      if (m.has(k)) throw new Error(`duplicate map key "${k}"`);
      m.set(k, value());
    }
    return m;
  };
  const array = (n: number): Msg[] => Array.from({ length: n }, () => value());
  const value = (): Msg => {
    const t = u8();
    if (t <= 0x7f) return t;
    if (t >= 0xe0) return t - 0x100;
    if ((t & 0xf0) === 0x80) return map(t & 0x0f);
    if ((t & 0xf0) === 0x90) return array(t & 0x0f);
    if ((t & 0xe0) === 0xa0) return str(t & 0x1f);
    switch (t) {
      case 0xc0:
        return null;
      case 0xc2:
        return false;
      case 0xc3:
        return true;
      case 0xc4:
        return bytes(u8());
      case 0xc5:
        return bytes(len16());
      case 0xc6:
        return bytes(len32());
      case 0xcc:
        return u8();
      case 0xcd:
        return len16();
      case 0xce:
        return len32();
      case 0xcf: {
        need(8);
        const v = view.getBigUint64(o);
        o += 8;
        return v;
      }
      case 0xd9:
        return str(u8());
      case 0xda:
        return str(len16());
      case 0xdb:
        return str(len32());
      case 0xdc:
        return array(len16());
      case 0xde:
        return map(len16());
      default:
        throw new Error(`type byte 0x${t.toString(16)} at ${o - 1} is not allowed in a record`);
    }
  };
  const v = value();
  if (o !== buf.length) throw new Error(`${buf.length - o} trailing bytes`);
  return v;
}

function asMap(v: Msg): Map<string, Msg> {
  if (!(v instanceof Map)) throw new Error('not a map');
  return v;
}

const CONSTANTS: RecordConstants = {
  v: RECORD_SCHEMA_VERSION,
  provider: 'acme',
  stream: 'billing/invoices',
  class: 'critical/db',
  instance: 'i-0123456789abcdef0',
  host: 'web-01.example.org',
  source: 'fuse',
};

function record(over: Partial<LogRecord> = {}): LogRecord {
  return { ...CONSTANTS, seq: 42, ts: 1_700_000_000_123, data: Buffer.from('hello world'), ...over };
}

/** Offset just after the first occurrence of fixstr key `k` in `buf`. */
function afterKey(buf: Buffer, k: string): number {
  const key = Buffer.concat([Buffer.from([0xa0 | k.length]), Buffer.from(k, 'latin1')]);
  const at = buf.indexOf(key);
  expect(at, `key ${k}`).toBeGreaterThanOrEqual(0);
  return at + key.length;
}

describe('encodeRecord / decodeRecord', () => {
  it('round-trips every field, including part and attrs', () => {
    const r = record({
      part: [3, true],
      attrs: { facility: 'auth', severity: 4, structured: { id: 'x', n: [1, 2] }, flag: false },
    });
    const back = decodeRecord(encodeRecord(r));
    expect(back).toEqual({
      v: 1,
      provider: 'acme',
      stream: 'billing/invoices',
      class: 'critical/db',
      instance: 'i-0123456789abcdef0',
      host: 'web-01.example.org',
      source: 'fuse',
      seq: 42,
      ts: 1_700_000_000_123,
      data: Buffer.from('hello world'),
      part: [3, true],
      attrs: { facility: 'auth', severity: 4, structured: { id: 'x', n: [1, 2] }, flag: false },
    });
    expect(Buffer.isBuffer(back.data)).toBe(true);
  });

  it('leaves part and attrs out when they are absent', () => {
    const back = decodeRecord(encodeRecord(record()));
    expect(back).not.toHaveProperty('part');
    expect(back).not.toHaveProperty('attrs');
    expect(asMap(strictDecode(encodeRecord(record()))).size).toBe(10);
  });

  it('round-trips a not-last part', () => {
    expect(decodeRecord(encodeRecord(record({ part: [0, false] }))).part).toEqual([0, false]);
  });

  it('round-trips class null and class string', () => {
    expect(decodeRecord(encodeRecord(record({ class: null }))).class).toBeNull();
    expect(decodeRecord(encodeRecord(record({ class: 'warn' }))).class).toBe('warn');
    // A string long enough for str8 and one for str16.
    const long = 'c'.repeat(300);
    expect(decodeRecord(encodeRecord(record({ class: long }))).class).toBe(long);
  });

  it('keeps binary data byte for byte', () => {
    const data = Buffer.from([0x00, 0xff, 0xfe, 0x0a, 0x00, 0x80, 0xc3]);
    expect(decodeRecord(encodeRecord(record({ data }))).data.toString('hex')).toBe(data.toString('hex'));
  });

  it('round-trips empty data', () => {
    const back = decodeRecord(encodeRecord(record({ data: Buffer.alloc(0) })));
    expect(back.data.length).toBe(0);
  });

  it('round-trips data of every bin size class (bin8, bin16, bin32)', () => {
    for (const n of [255, 256, 65_535, 65_536, 1024 * 1024]) {
      const data = Buffer.alloc(n);
      for (let i = 0; i < n; i++) data[i] = (i * 31 + 7) & 0xff;
      const bytes = encodeRecord(record({ data }));
      expect(bytes[afterKey(bytes, 'data')], `size ${n}`).toBe(n < 0x100 ? 0xc4 : n < 0x10000 ? 0xc5 : 0xc6);
      expect(decodeRecord(bytes).data.equals(data), `size ${n}`).toBe(true);
    }
  });

  it('decodes seq and ts above 2^32 as exact integers', () => {
    const seq = 2 ** 32 + 5;
    const ts = 2 ** 52 + 3; // odd and above 2^52: any float detour would show
    const back = decodeRecord(encodeRecord(record({ seq, ts })));
    expect(back.seq).toBe(seq);
    expect(back.ts).toBe(ts);
    const max = Number.MAX_SAFE_INTEGER;
    const top = decodeRecord(encodeRecord(record({ seq: max, ts: max })));
    expect(top.seq).toBe(max);
    expect(top.ts).toBe(max);
  });

  it('round-trips seq and ts at every integer size boundary', () => {
    for (const n of [0, 127, 128, 255, 256, 65_535, 65_536, 2 ** 32 - 1, 2 ** 32]) {
      const back = decodeRecord(encodeRecord(record({ seq: n, ts: n })));
      expect([back.seq, back.ts], String(n)).toEqual([n, n]);
    }
  });

  it('refuses to encode a negative, fractional or unsafe seq', () => {
    expect(() => encodeRecord(record({ seq: -1 }))).toThrow(RangeError);
    expect(() => encodeRecord(record({ seq: 1.5 }))).toThrow(RangeError);
    expect(() => encodeRecord(record({ ts: 2 ** 53 }))).toThrow(RangeError);
  });
});

describe('the encoding is standard MessagePack', () => {
  it('decodes with a plain msgpackr unpacker', () => {
    const r = record({ part: [1, false], attrs: { a: 'b' }, ts: 2 ** 40 + 1, class: null });
    const plain = new Packr({ useRecords: false }).unpack(encodeRecord(r)) as Record<string, unknown>;
    expect(Object.keys(plain).sort()).toEqual(
      ['attrs', 'class', 'data', 'host', 'instance', 'part', 'provider', 'seq', 'source', 'stream', 'ts', 'v'].sort(),
    );
    expect(plain.provider).toBe('acme');
    expect(plain.class).toBeNull();
    expect(plain.part).toEqual([1, false]);
    expect(plain.attrs).toEqual({ a: 'b' });
    expect(Buffer.from(plain.data as Uint8Array).toString()).toBe('hello world');
    // A uint64 on the wire: msgpackr's default decodes it as a bigint, exactly.
    expect(plain.ts).toBe(BigInt(2 ** 40 + 1));
  });

  it('writes ts and seq above 2^32 as uint64 (0xcf), not float64 (0xcb)', () => {
    const ts = 1_700_000_000_123; // a real millisecond timestamp is above 2^32
    const seq = 2 ** 33 + 1;
    const bytes = encodeRecord(record({ ts, seq }));
    const tsAt = afterKey(bytes, 'ts');
    expect(bytes[tsAt]).toBe(0xcf);
    expect(bytes.readBigUInt64BE(tsAt + 1)).toBe(BigInt(ts));
    const seqAt = afterKey(bytes, 'seq');
    expect(bytes[seqAt]).toBe(0xcf);
    expect(bytes.readBigUInt64BE(seqAt + 1)).toBe(BigInt(seq));
  });

  it('uses the smallest integer form for small values', () => {
    const bytes = encodeRecord(record({ seq: 5, ts: 300 }));
    expect(bytes[afterKey(bytes, 'seq')]).toBe(0x05);
    expect(bytes[afterKey(bytes, 'ts')]).toBe(0xcd);
  });

  it('agrees with an independent strict decoder', () => {
    const data = Buffer.from([0x00, 0xff, 0x41, 0x0a]);
    const r = record({ seq: 2 ** 35 + 7, ts: 1_700_000_000_999, data, part: [2, true], attrs: { k: 'v', n: 3 } });
    const m = asMap(strictDecode(encodeRecord(r)));
    expect([...m.keys()].sort()).toEqual(
      ['attrs', 'class', 'data', 'host', 'instance', 'part', 'provider', 'seq', 'source', 'stream', 'ts', 'v'].sort(),
    );
    expect(m.get('v')).toBe(1);
    expect(m.get('provider')).toBe('acme');
    expect(m.get('stream')).toBe('billing/invoices');
    expect(m.get('class')).toBe('critical/db');
    expect(m.get('instance')).toBe('i-0123456789abcdef0');
    expect(m.get('host')).toBe('web-01.example.org');
    expect(m.get('source')).toBe('fuse');
    expect(m.get('seq')).toBe(BigInt(2 ** 35 + 7));
    expect(m.get('ts')).toBe(BigInt(1_700_000_000_999));
    expect(Buffer.from(m.get('data') as Uint8Array).toString('hex')).toBe('00ff410a');
    expect(m.get('part')).toEqual([2, true]);
    const attrs = asMap(m.get('attrs') ?? null);
    expect(attrs.get('k')).toBe('v');
    expect(attrs.get('n')).toBe(3);
  });

  it('agrees with the strict decoder for class null, UTF-8 strings and 1 MiB data', () => {
    const data = Buffer.alloc(1024 * 1024, 0xab);
    const r: LogRecord = { ...record({ data, class: null }), stream: 'ns/stréam', host: 'h'.repeat(40) };
    const m = asMap(strictDecode(encodeRecord(r)));
    expect(m.get('class')).toBeNull();
    expect(m.get('stream')).toBe('ns/stréam');
    expect(m.get('host')).toBe('h'.repeat(40));
    expect((m.get('data') as Uint8Array).length).toBe(1024 * 1024);
    expect(Buffer.from(m.get('data') as Uint8Array).equals(data)).toBe(true);
  });

  it('the strict decoder itself rejects what it should', () => {
    expect(() => strictDecode(Uint8Array.from([0xcb, 0, 0, 0, 0, 0, 0, 0, 0]))).toThrow(/not allowed/);
    expect(() => strictDecode(Uint8Array.from([0x81, 0xa1, 0x61]))).toThrow(/truncated/);
    expect(() => strictDecode(Uint8Array.from([0x01, 0x02]))).toThrow(/trailing/);
    expect(() => strictDecode(Uint8Array.from([0x82, 0xa1, 0x61, 0x01, 0xa1, 0x61, 0x02]))).toThrow(/duplicate/);
  });
});

describe('RecordTemplate', () => {
  it('encodes the same bytes as encodeRecord', () => {
    const r = record({ part: [1, true], attrs: { x: 1 } });
    const t = new RecordTemplate(CONSTANTS);
    expect(t.encode(r.seq, r.ts, r.data, r.part, r.attrs).toString('hex')).toBe(encodeRecord(r).toString('hex'));
  });

  it('is reusable across records', () => {
    const t = new RecordTemplate(CONSTANTS);
    const a = decodeRecord(t.encode(1, 10, Buffer.from('a')));
    const b = decodeRecord(t.encode(2, 20, Buffer.from('bb')));
    expect([a.seq, a.ts, a.data.toString()]).toEqual([1, 10, 'a']);
    expect([b.seq, b.ts, b.data.toString()]).toEqual([2, 20, 'bb']);
    expect(b.stream).toBe('billing/invoices');
  });

  it('leaves `reserve` bytes in front for the caller, followed by the record', () => {
    const t = new RecordTemplate(CONSTANTS);
    const plain = t.encode(7, 1_700_000_000_000, Buffer.from('line'));
    const reserved = t.encode(7, 1_700_000_000_000, Buffer.from('line'), undefined, undefined, 19);
    expect(reserved.length).toBe(plain.length + 19);
    expect(reserved.subarray(19).toString('hex')).toBe(plain.toString('hex'));
    // The caller writes its header into the prefix; the record is unaffected.
    reserved.fill(0xee, 0, 19);
    expect(decodeRecord(reserved.subarray(19)).data.toString()).toBe('line');
  });

  it('encodePlainInto writes encode()\'s bytes in place, within plainBound, for lines of every size class', () => {
    const t = new RecordTemplate(CONSTANTS);
    for (const size of [0, 1, 255, 256, 65_535, 65_536]) {
      for (const part of [undefined, [3, false], [300, true]] as const) {
        const data = Buffer.alloc(size, 0x61);
        const seq = 2 ** 40 + size;
        const want = t.encode(seq, 1_700_000_000_000, data, part as [number, boolean] | undefined);
        const bound = t.plainBound(size, part as [number, boolean] | undefined);
        expect(want.length).toBeLessThanOrEqual(bound);
        const buf = Buffer.alloc(bound + 20, 0xee);
        const end = t.encodePlainInto(buf, 10, seq, 1_700_000_000_000, data, part as [number, boolean] | undefined);
        expect(buf.subarray(10, end).equals(want)).toBe(true);
        expect(buf.subarray(0, 10).every((b) => b === 0xee) && buf.subarray(end).every((b) => b === 0xee)).toBe(true);
      }
    }
  });
});

describe('decodeRecord rejects bad input', () => {
  /** Packs an arbitrary value with plain msgpackr. */
  const pack = (v: unknown): Buffer => new Packr({ useRecords: false }).pack(v);
  const valid = (): Record<string, unknown> => ({ ...record(), data: Buffer.from('x') });

  function protocolError(bytes: Buffer): LogfsError {
    try {
      decodeRecord(bytes);
    } catch (err) {
      expect(err).toBeInstanceOf(LogfsError);
      expect((err as LogfsError).code).toBe('LOGFS_E_GATEWAY_PROTOCOL');
      return err as LogfsError;
    }
    throw new Error('decodeRecord accepted bad input');
  }

  it('accepts the valid base case (so the cases below test one defect each)', () => {
    expect(decodeRecord(pack(valid())).seq).toBe(42);
  });

  it('rejects bytes that are not MessagePack', () => {
    expect(protocolError(Buffer.from([0x81, 0xa1])).message).toMatch(/not valid MessagePack/);
    expect(protocolError(Buffer.alloc(0)).message).toMatch(/not valid MessagePack/);
  });

  it('rejects values that are not maps', () => {
    for (const v of [null, 5, 'str', [1, 2], true]) {
      expect(protocolError(pack(v)).message, JSON.stringify(v)).toMatch(/not a MessagePack map/);
    }
  });

  it('names each missing field', () => {
    for (const field of ['v', 'provider', 'stream', 'instance', 'host', 'source', 'seq', 'ts', 'data']) {
      const r = valid();
      delete r[field];
      const err = protocolError(pack(r));
      expect(err.message, field).toContain(`"${field}"`);
      expect(err.context.field).toBe(field);
    }
  });

  it('names fields of the wrong type', () => {
    const cases: [string, unknown][] = [
      ['v', 2],
      ['v', '1'],
      ['provider', 5],
      ['class', 5],
      ['seq', 'x'],
      ['seq', 1.5],
      ['ts', 'now'],
      ['data', 'text'],
    ];
    for (const [field, value] of cases) {
      const err = protocolError(pack({ ...valid(), [field]: value }));
      expect(err.context.field, `${field}=${JSON.stringify(value)}`).toBe(field);
      expect(err.message).toContain(`"${field}"`);
    }
  });

  it('treats a missing class as null', () => {
    const r = valid();
    delete r.class;
    expect(decodeRecord(pack(r)).class).toBeNull();
  });
});

describe('recordId', () => {
  it('is instance and seq', () => {
    expect(recordId({ instance: 'i-1', seq: 42 })).toBe('i-1:42');
    expect(recordId(record({ seq: 2 ** 40 }))).toBe('i-0123456789abcdef0:1099511627776');
  });
});
