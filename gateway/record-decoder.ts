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

const attrsUnpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number' });

/** Remembers the last bytes and string of one field: consecutive records repeat them. */
class StringMemo {
  private bytes: Buffer = Buffer.alloc(0);
  private value = '';

  get(buf: Buffer, start: number, end: number): string {
    const len = end - start;
    if (len === this.bytes.length && buf.compare(this.bytes, 0, len, start, end) === 0) return this.value;
    this.bytes = Buffer.from(buf.subarray(start, end));
    this.value = buf.toString('utf8', start, end);
    return this.value;
  }
}

const memo = {
  provider: new StringMemo(),
  stream: new StringMemo(),
  class: new StringMemo(),
  instance: new StringMemo(),
  host: new StringMemo(),
  source: new StringMemo(),
};

class Miss extends Error {}
const MISS = new Miss();

export function decodeRecordFast(buf: Buffer): LogRecord | undefined {
  try {
    return decode(buf);
  } catch (err) {
    if (err === MISS || err instanceof RangeError) return undefined;
    throw err;
  }
}

function decode(buf: Buffer): LogRecord {
  let o = 0;
  const head = buf[o++]!;
  let count: number;
  if (head >= 0x80 && head <= 0x8f) count = head & 0x0f;
  else if (head === 0xde) {
    count = buf.readUInt16BE(o);
    o += 2;
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

  const str = (m: StringMemo | undefined): string => {
    const t = buf[o++]!;
    let len: number;
    if (t >= 0xa0 && t <= 0xbf) len = t & 0x1f;
    else if (t === 0xd9) len = buf[o++]!;
    else if (t === 0xda) {
      len = buf.readUInt16BE(o);
      o += 2;
    } else throw MISS;
    const end = o + len;
    if (end > buf.length) throw MISS;
    const s = m ? m.get(buf, o, end) : buf.toString('utf8', o, end);
    o = end;
    return s;
  };
  const uint = (): number => {
    const t = buf[o++]!;
    if (t < 0x80) return t;
    let n: number;
    if (t === 0xcc) n = buf[o]!;
    else if (t === 0xcd) n = buf.readUInt16BE(o);
    else if (t === 0xce) n = buf.readUInt32BE(o);
    else if (t === 0xcf) {
      n = buf.readUInt32BE(o) * 0x100000000 + buf.readUInt32BE(o + 4);
      if (!Number.isSafeInteger(n)) throw MISS;
    } else throw MISS;
    o += t === 0xcc ? 1 : t === 0xcd ? 2 : t === 0xce ? 4 : 8;
    return n;
  };

  for (let i = 0; i < count; i++) {
    const kt = buf[o++]!;
    if (kt < 0xa0 || kt > 0xbf) throw MISS;
    const klen = kt & 0x1f;
    const key = buf.toString('latin1', o, o + klen);
    o += klen;
    switch (key) {
      case 'v':
        v = uint();
        break;
      case 'provider':
        provider = str(memo.provider);
        break;
      case 'stream':
        stream = str(memo.stream);
        break;
      case 'class':
        if (buf[o] === 0xc0) {
          o++;
          cls = null;
        } else cls = str(memo.class);
        break;
      case 'instance':
        instance = str(memo.instance);
        break;
      case 'host':
        host = str(memo.host);
        break;
      case 'source':
        source = str(memo.source);
        break;
      case 'seq':
        seq = uint();
        break;
      case 'ts':
        ts = uint();
        break;
      case 'data': {
        const t = buf[o++]!;
        let len: number;
        if (t === 0xc4) len = buf[o++]!;
        else if (t === 0xc5) {
          len = buf.readUInt16BE(o);
          o += 2;
        } else if (t === 0xc6) {
          len = buf.readUInt32BE(o);
          o += 4;
        } else throw MISS;
        if (o + len > buf.length) throw MISS;
        data = buf.subarray(o, o + len);
        o += len;
        break;
      }
      case 'part': {
        if (buf[o++] !== 0x92) throw MISS;
        const index = uint();
        const last = buf[o++];
        if (last !== 0xc2 && last !== 0xc3) throw MISS;
        part = [index, last === 0xc3];
        break;
      }
      default: {
        const start = o;
        o = skip(buf, o);
        if (key === 'attrs') {
          const value = attrsUnpackr.unpack(buf.subarray(start, o)) as unknown;
          if (value === null || typeof value !== 'object' || Array.isArray(value)) throw MISS;
          attrs = value as Record<string, unknown>;
        }
      }
    }
  }
  if (o !== buf.length || v !== 1 || provider === undefined || stream === undefined || instance === undefined || host === undefined || source === undefined || seq < 0 || ts < 0 || data === undefined) {
    throw MISS;
  }
  const r: LogRecord = { v, provider, stream, class: cls, instance, host, seq, ts, source: source as RecordSource, data };
  if (part) r.part = part;
  if (attrs) r.attrs = attrs;
  return r;
}

/** Offset after the MessagePack value at `o` (any type); RangeError past the end. */
function skip(buf: Buffer, o: number): number {
  const t = buf[o++];
  if (t === undefined) throw new RangeError('truncated');
  if (t < 0x80 || t >= 0xe0 || t === 0xc0 || t === 0xc2 || t === 0xc3) return o;
  if (t <= 0x8f) return skipN(buf, o, (t & 0x0f) * 2);
  if (t <= 0x9f) return skipN(buf, o, t & 0x0f);
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
      return skipN(buf, o + 2, buf.readUInt16BE(o));
    case 0xdd:
      return skipN(buf, o + 4, buf.readUInt32BE(o));
    case 0xde:
      return skipN(buf, o + 2, buf.readUInt16BE(o) * 2);
    case 0xdf:
      return skipN(buf, o + 4, buf.readUInt32BE(o) * 2);
    default:
      throw MISS; // extension types: never in a record
  }
}

function skipN(buf: Buffer, o: number, n: number): number {
  for (let i = 0; i < n; i++) o = skip(buf, o);
  if (o > buf.length) throw new RangeError('truncated');
  return o;
}
