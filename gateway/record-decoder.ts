/**
 * The fast path of decodeRecord for the pipeline, which decodes every record it consumes: a
 * MessagePack reader for the record's fixed schema that builds the record directly, with no
 * intermediate object and no decoding of strings that repeat from one record to the next
 * (provider, stream, host, instance, source). It accepts only what it fully understands and
 * returns undefined otherwise; decodeRecord then takes the general msgpackr path, which also
 * produces the precise error for a malformed record. Unknown keys are skipped (newer writers).
 */
import { Unpackr } from 'msgpackr';
import type { LogRecord, RecordSource } from './record-codec.js';
import { sameBytes } from './same-bytes.js';

const attrsUnpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number' });

/**
 * Remembers the last few byte strings of one field and their decoded values: provider, stream,
 * host and source repeat in every record of a topic, instance in every record of its partition.
 */
class StringMemo {
  private readonly bytes: Buffer[] = [];
  private readonly values: string[] = [];
  private next = 0;

  constructor(private readonly size = 16) {}

  get(buf: Buffer, start: number, end: number): string {
    const len = end - start;
    for (let i = 0; i < this.bytes.length; i++) {
      const b = this.bytes[i]!;
      if (b.length === len && sameBytes(b, buf, start, len)) return this.values[i]!;
    }
    const value = buf.toString('utf8', start, end);
    this.bytes[this.next] = Buffer.from(buf.subarray(start, end));
    this.values[this.next] = value;
    this.next = (this.next + 1) % this.size;
    return value;
  }
}

const enum Key {
  Unknown,
  V,
  Provider,
  Stream,
  Class,
  Instance,
  Host,
  Seq,
  Ts,
  Source,
  Data,
  Part,
  Attrs,
  Enc,
  Kid,
}

const KEY_NAMES: [Key, string][] = [
  [Key.V, 'v'],
  [Key.Provider, 'provider'],
  [Key.Stream, 'stream'],
  [Key.Class, 'class'],
  [Key.Instance, 'instance'],
  [Key.Host, 'host'],
  [Key.Seq, 'seq'],
  [Key.Ts, 'ts'],
  [Key.Source, 'source'],
  [Key.Data, 'data'],
  [Key.Part, 'part'],
  [Key.Attrs, 'attrs'],
  [Key.Enc, 'enc'],
  [Key.Kid, 'kid'],
];
/** Keys by length and first byte, checked byte for byte: no string is made for a key. */
const KEYS = new Map<number, { key: Key; bytes: Buffer }[]>();
for (const [key, name] of KEY_NAMES) {
  const slot = name.length * 256 + name.charCodeAt(0);
  KEYS.set(slot, [...(KEYS.get(slot) ?? []), { key, bytes: Buffer.from(name, 'latin1') }]);
}

class Miss extends Error {}
const MISS = new Miss();

/** The parts of a record as read, in the order of LogRecord; `cls` null when there is no class. */
export type RecordMaker<T> = (
  v: number,
  provider: string,
  stream: string,
  cls: string | null,
  instance: string,
  host: string,
  seq: number,
  ts: number,
  source: RecordSource,
  data: Buffer,
  part: [number, boolean] | undefined,
  attrs: Record<string, unknown> | undefined,
  enc: string | undefined,
  kid: string | undefined,
) => T;

/** The LogRecord of the parts (what decodeRecordFast returns). */
export const makeLogRecord: RecordMaker<LogRecord> = (v, provider, stream, cls, instance, host, seq, ts, source, data, part, attrs, enc, kid) => {
  const r: LogRecord = { v, provider, stream, class: cls, instance, host, seq, ts, source, data };
  if (part) r.part = part;
  if (attrs) r.attrs = attrs;
  if (enc !== undefined) {
    if (kid === undefined) throw MISS; // the general path names the problem
    r.enc = enc;
    r.kid = kid;
  }
  return r;
};

export function decodeRecordFast(buf: Buffer): LogRecord | undefined {
  return decodeRecordFastAt(buf, 0, buf.length, makeLogRecord);
}

/**
 * The record in `buf` from `start` to `end` (a consumed Kafka message inside its fetch response),
 * built by `make`; undefined when the fast path does not fully understand the bytes or `make`
 * declines them (declineRecord). Nothing outside [start, end) is taken as part of the record:
 * anything that reaches past `end` is a miss.
 */
export function decodeRecordFastAt<T>(buf: Buffer, start: number, end: number, make: RecordMaker<T>): T | undefined {
  try {
    return new Reader(buf, start, end).record(make);
  } catch (err) {
    if (err === MISS || err instanceof RangeError) return undefined;
    throw err;
  }
}

/** For a RecordMaker that declines a record (decodeRecordFastAt then returns undefined). */
export function declineRecord(): never {
  throw MISS;
}

const memo = {
  provider: new StringMemo(),
  stream: new StringMemo(),
  class: new StringMemo(),
  instance: new StringMemo(64),
  host: new StringMemo(),
  source: new StringMemo(4),
  enc: new StringMemo(2),
  kid: new StringMemo(),
};

class Reader {
  private o: number;

  constructor(
    private readonly buf: Buffer,
    start: number,
    private readonly end: number,
  ) {
    this.o = start;
  }

  record<T>(make: RecordMaker<T>): T {
    const buf = this.buf;
    const head = buf[this.o++]!;
    let count: number;
    if (head >= 0x80 && head <= 0x8f) count = head & 0x0f;
    else if (head === 0xde) {
      count = buf.readUInt16BE(this.o);
      this.o += 2;
    } else throw MISS;

    let v = -1;
    let provider: string | undefined;
    let stream: string | undefined;
    let cls: string | null = null;
    let instance: string | undefined;
    let host: string | undefined;
    let seq = -1;
    let ts = -1;
    let source: string | undefined;
    let data: Buffer | undefined;
    let part: [number, boolean] | undefined;
    let attrs: Record<string, unknown> | undefined;
    let enc: string | undefined;
    let kid: string | undefined;

    for (let i = 0; i < count; i++) {
      switch (this.key()) {
        case Key.V:
          v = this.uint();
          break;
        case Key.Provider:
          provider = this.str(memo.provider);
          break;
        case Key.Stream:
          stream = this.str(memo.stream);
          break;
        case Key.Class:
          if (buf[this.o] === 0xc0) {
            this.o++;
            cls = null;
          } else cls = this.str(memo.class);
          break;
        case Key.Instance:
          instance = this.str(memo.instance);
          break;
        case Key.Host:
          host = this.str(memo.host);
          break;
        case Key.Source:
          source = this.str(memo.source);
          break;
        case Key.Seq:
          seq = this.uint();
          break;
        case Key.Ts:
          ts = this.uint();
          break;
        case Key.Data:
          data = this.bin();
          break;
        case Key.Part: {
          if (buf[this.o++] !== 0x92) throw MISS;
          const index = this.uint();
          const last = buf[this.o++];
          if (last !== 0xc2 && last !== 0xc3) throw MISS;
          part = [index, last === 0xc3];
          break;
        }
        case Key.Attrs: {
          const start = this.o;
          this.o = skip(buf, this.o, this.end);
          if (this.o > this.end) throw MISS;
          const value = attrsUnpackr.unpack(buf.subarray(start, this.o)) as unknown;
          if (value === null || typeof value !== 'object' || Array.isArray(value)) throw MISS;
          attrs = value as Record<string, unknown>;
          break;
        }
        case Key.Enc:
          enc = this.str(memo.enc);
          break;
        case Key.Kid:
          kid = this.str(memo.kid);
          break;
        default:
          this.o = skip(buf, this.o, this.end); // a key of a newer writer
      }
    }
    if (this.o !== this.end || v !== 1 || provider === undefined || stream === undefined || instance === undefined || host === undefined || source === undefined || seq < 0 || ts < 0 || data === undefined) {
      throw MISS;
    }
    return make(v, provider, stream, cls, instance, host, seq, ts, source as RecordSource, data, part, attrs, enc, kid);
  }

  private key(): Key {
    const buf = this.buf;
    const t = buf[this.o++]!;
    if (t < 0xa0 || t > 0xbf) throw MISS;
    const len = t & 0x1f;
    const start = this.o;
    this.o += len;
    const candidates = KEYS.get(len * 256 + buf[start]!);
    if (candidates) for (const c of candidates) if (sameBytes(c.bytes, buf, start, len)) return c.key;
    return Key.Unknown;
  }

  private str(m: StringMemo): string {
    const buf = this.buf;
    const t = buf[this.o++]!;
    let len: number;
    if (t >= 0xa0 && t <= 0xbf) len = t & 0x1f;
    else if (t === 0xd9) len = buf[this.o++]!;
    else if (t === 0xda) {
      len = buf.readUInt16BE(this.o);
      this.o += 2;
    } else throw MISS;
    const end = this.o + len;
    if (end > this.end) throw MISS;
    const s = m.get(buf, this.o, end);
    this.o = end;
    return s;
  }

  private uint(): number {
    const buf = this.buf;
    const t = buf[this.o++]!;
    if (t < 0x80) return t;
    let n: number;
    switch (t) {
      case 0xcc:
        n = buf[this.o]!;
        this.o += 1;
        return n;
      case 0xcd:
        n = buf.readUInt16BE(this.o);
        this.o += 2;
        return n;
      case 0xce:
        n = buf.readUInt32BE(this.o);
        this.o += 4;
        return n;
      case 0xcf:
        n = buf.readUInt32BE(this.o) * 0x100000000 + buf.readUInt32BE(this.o + 4);
        if (!Number.isSafeInteger(n)) throw MISS;
        this.o += 8;
        return n;
      default:
        throw MISS;
    }
  }

  private bin(): Buffer {
    const buf = this.buf;
    const t = buf[this.o++]!;
    let len: number;
    if (t === 0xc4) len = buf[this.o++]!;
    else if (t === 0xc5) {
      len = buf.readUInt16BE(this.o);
      this.o += 2;
    } else if (t === 0xc6) {
      len = buf.readUInt32BE(this.o);
      this.o += 4;
    } else throw MISS;
    if (this.o + len > this.end) throw MISS;
    const data = buf.subarray(this.o, this.o + len);
    this.o += len;
    return data;
  }
}

/** Offset after the MessagePack value at `o` (any type); RangeError past `end` (for a container). */
function skip(buf: Buffer, o: number, end: number): number {
  if (o >= end) throw new RangeError('truncated');
  const t = buf[o++]!;
  if (t < 0x80 || t >= 0xe0 || t === 0xc0 || t === 0xc2 || t === 0xc3) return o;
  if (t <= 0x8f) return skipN(buf, o, (t & 0x0f) * 2, end);
  if (t <= 0x9f) return skipN(buf, o, t & 0x0f, end);
  if (t <= 0xbf) return o + (t & 0x1f);
  switch (t) {
    case 0xc4:
    case 0xd9:
      return o + 1 + buf[o]!;
    case 0xc5:
    case 0xda:
      return o + 2 + buf.readUInt16BE(o);
    case 0xc6:
    case 0xdb:
      return o + 4 + buf.readUInt32BE(o);
    case 0xcc:
    case 0xd0:
      return o + 1;
    case 0xcd:
    case 0xd1:
      return o + 2;
    case 0xca:
    case 0xce:
    case 0xd2:
      return o + 4;
    case 0xcb:
    case 0xcf:
    case 0xd3:
      return o + 8;
    case 0xdc:
      return skipN(buf, o + 2, buf.readUInt16BE(o), end);
    case 0xdd:
      return skipN(buf, o + 4, buf.readUInt32BE(o), end);
    case 0xde:
      return skipN(buf, o + 2, buf.readUInt16BE(o) * 2, end);
    case 0xdf:
      return skipN(buf, o + 4, buf.readUInt32BE(o) * 2, end);
    default:
      throw MISS; // extension types: never in a record
  }
}

function skipN(buf: Buffer, o: number, n: number, end: number): number {
  for (let i = 0; i < n; i++) o = skip(buf, o, end);
  if (o > end) throw new RangeError('truncated');
  return o;
}
