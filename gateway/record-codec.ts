/**
 * The record on the wire (DESIGN.md, "Record on the wire"): one Kafka message per record, the value
 * a standard MessagePack map that any MessagePack library decodes. msgpackr's record/structure
 * extensions are off so nothing but plain maps, strings, integers, nil and bin appear.
 * The field list is documented in docs/record-format.md.
 */
import { markAsUntransferable } from 'node:worker_threads';
import { Packr, type Options } from 'msgpackr';
import { LogfsError } from '../core/errors.js';
import { attrsSize, writeAttrs } from './attrs-encoder.js';
import { ENC_A256GCM } from './record-crypto.js';
import { decodeRecordFast } from './record-decoder.js';

export const RECORD_SCHEMA_VERSION = 1;

export type RecordSource = 'fuse' | 'syslog' | 'socket';

export interface LogRecord {
  /** Schema version of this map. */
  v: number;
  provider: string;
  stream: string;
  /** Class label from the path below the stream, or null. */
  class: string | null;
  instance: string;
  host: string;
  /** Per-instance sequence number; record ID = instance + seq. */
  seq: number;
  /** Gateway time of acceptance, milliseconds since the Unix epoch. */
  ts: number;
  source: RecordSource;
  /** The line without its newline, byte for byte. */
  data: Buffer;
  /**
   * Present only when a line longer than the maximum record size was cut: [index, last].
   * The parts of one line carry consecutive sequence numbers.
   */
  part?: [number, boolean];
  /** Source-specific fields (syslog header fields, …); absent for plain lines. */
  attrs?: Record<string, unknown>;
  /**
   * Present only on a record of an encrypted stream: how `data` is sealed (`"A256GCM"`,
   * gateway/record-crypto.ts). `data` then holds nonce ‖ ciphertext ‖ tag; everything else is clear.
   */
  enc?: string;
  /** With `enc`: the ID of the stream key that sealed `data` (keyId in gateway/record-crypto.ts). */
  kid?: string;
}

/** msgpackr's options here; attrs-encoder.ts writes the bytes these give (its test compares). */
export const RECORD_PACKR_OPTIONS: Options = {
  useRecords: false,
  structuredClone: false,
  moreTypes: false,
  encodeUndefinedAsNil: true,
  // Integers beyond 2^53 never occur (seq and ts fit); decode them as numbers all the same.
  int64AsType: 'number',
  mapsAsObjects: true,
};

const packr = new Packr(RECORD_PACKR_OPTIONS);

/**
 * Encodes a record as a standard MessagePack map. Hand-written for the fixed schema: it is the hot
 * path (every line written), and it keeps `ts` and `seq` integers (msgpackr would write integers
 * above 2^32 as float64, which other decoders then return as floats).
 */
export function encodeRecord(record: LogRecord): Buffer {
  if (record.enc !== undefined && record.enc !== ENC_A256GCM) throw new RangeError(`cannot encode a record sealed with "${record.enc}"`);
  return new RecordTemplate(record).encode(record.seq, record.ts, record.data, record.part, record.attrs, 0, record.enc === undefined ? undefined : record.kid);
}

export type RecordConstants = Pick<LogRecord, 'v' | 'provider' | 'stream' | 'class' | 'instance' | 'host' | 'source'>;

/**
 * Encodes records that share their constant fields (v, provider, stream, class, instance, host,
 * source): those are encoded once, as a map's key order is free in MessagePack. Hand-written for
 * the fixed schema because it runs for every line written, and so that `ts` and `seq` stay integers
 * (msgpackr writes integers above 2^32 as float64, which other decoders return as floats).
 */
export class RecordTemplate {
  private readonly prefix: Buffer;

  constructor(c: RecordConstants) {
    const w = Writer.cut(80 + 5 * 6 + Buffer.byteLength(c.provider + c.stream + (c.class ?? '') + c.instance + c.host + c.source));
    w.key('v').uint(c.v);
    w.key('provider').str(c.provider);
    w.key('stream').str(c.stream);
    w.key('class');
    if (c.class === null) w.u8(0xc0);
    else w.str(c.class);
    w.key('instance').str(c.instance);
    w.key('host').str(c.host);
    w.key('source').str(c.source);
    this.prefix = Buffer.from(w.done());
  }

  /**
   * Encodes one record. With `reserve`, the returned buffer starts with that many bytes left for the
   * caller (the journal entry header), followed by the record. With `kid`, `data` is sealed
   * (gateway/record-crypto.ts) and the record says so: `enc: "A256GCM"` and `kid`.
   */
  encode(seq: number, ts: number, data: Buffer, part?: [number, boolean], attrs?: Record<string, unknown>, reserve = 0, kid?: string): Buffer {
    // attrs are written straight into the record (attrs-encoder.ts); msgpackr takes what that cannot.
    let attrsBytes = attrs === undefined ? 0 : attrsSize(attrs);
    let packedAttrs: Buffer | undefined;
    if (attrsBytes < 0) {
      packedAttrs = packr.pack(attrs);
      attrsBytes = packedAttrs.length;
    }
    const fields = 10 + (part ? 1 : 0) + (attrs === undefined ? 0 : 1) + (kid === undefined ? 0 : 2);
    const w = Writer.cut(reserve + this.plainBound(data.length, part) + (attrs === undefined ? 0 : 6 + attrsBytes) + (kid === undefined ? 0 : 16 + Buffer.byteLength(kid)), reserve);
    w.u8(0x80 | fields).raw(this.prefix);
    w.key('seq').uint(seq);
    w.key('ts').uint(ts);
    if (kid !== undefined) w.key('enc').str(ENC_A256GCM).key('kid').str(kid);
    w.key('data').bin(data);
    if (part) w.key('part').u8(0x92).uint(part[0]).u8(part[1] ? 0xc3 : 0xc2);
    if (attrs !== undefined) {
      w.key('attrs');
      if (packedAttrs === undefined) w.attrs(attrs, attrsBytes);
      else w.raw(packedAttrs);
    }
    return w.done();
  }

  /** The encoded constant fields (7 map entries), which every record of this template starts with. */
  get prefixBytes(): Buffer {
    return this.prefix;
  }

  /** Bytes a record of a plain line (no attrs, not sealed) takes at most: encodePlainInto's room. */
  plainBound(dataLength: number, part?: [number, boolean]): number {
    return 1 + this.prefix.length + 3 * 6 + 9 * 2 + 5 + dataLength + (part ? 24 : 0);
  }

  /**
   * encode() of a plain line (no attrs, not sealed) into buf at `start`, which has plainBound()
   * bytes of room; returns where the record ends. The same bytes as encode().
   */
  encodePlainInto(buf: Buffer, start: number, seq: number, ts: number, data: Buffer, part?: [number, boolean]): number {
    const w = new Writer(buf, start, start + this.plainBound(data.length, part), start);
    w.u8(0x80 | (part ? 11 : 10)).raw(this.prefix);
    w.key('seq').uint(seq);
    w.key('ts').uint(ts);
    w.key('data').bin(data);
    if (part) w.key('part').u8(0x92).uint(part[0]).u8(part[1] ? 0xc3 : 0xc2);
    return w.offset;
  }
}

/**
 * Records are cut from slabs, as Buffer.allocUnsafe cuts small buffers from its pool; unlike that
 * pool, the end of a record's room that it did not use goes back to the slab (Writer.done). That
 * lets the room be a bound (attrs' strings count 3 bytes a character) without holding memory
 * beyond the record while the journal keeps it.
 */
const SLAB_BYTES = 64 * 1024;
/** Larger records get a buffer of their own. */
const MAX_SLAB_RECORD = 8 * 1024;
let slab = Buffer.allocUnsafeSlow(0);
let slabUsed = 0;

/** Minimal MessagePack writer for encodeRecord. */
class Writer {
  private readonly buf: Buffer;
  /** Where the record starts in buf, and where its room ends. */
  private readonly base: number;
  private readonly end: number;
  private o: number;

  /** A writer of the room buf[base, end), writing from `at`. */
  constructor(buf: Buffer, base: number, end: number, at: number) {
    this.buf = buf;
    this.base = base;
    this.end = end;
    this.o = at;
  }

  /** A writer of `size` bytes of room cut from the slab (or of its own), writing from `start`. */
  static cut(size: number, start = 0): Writer {
    if (size > MAX_SLAB_RECORD) return new Writer(Buffer.allocUnsafe(size), 0, size, start);
    if (slabUsed + size > slab.length) {
      slab = Buffer.allocUnsafeSlow(SLAB_BYTES);
      // A worker given a record's ArrayBuffer would otherwise take every record in the slab.
      markAsUntransferable(slab.buffer);
      slabUsed = 0;
    }
    const base = slabUsed;
    slabUsed += size;
    return new Writer(slab, base, base + size, base + start);
  }

  get offset(): number {
    return this.o;
  }

  u8(b: number): this {
    this.buf[this.o++] = b;
    return this;
  }

  key(k: string): this {
    // Keys are ASCII and shorter than 32 bytes: fixstr. Copied in JS: a call into Buffer.write
    // costs more than the few characters of a key.
    const buf = this.buf;
    let o = this.o;
    buf[o++] = 0xa0 | k.length;
    for (let i = 0; i < k.length; i++) buf[o++] = k.charCodeAt(i);
    this.o = o;
    return this;
  }

  str(s: string): this {
    const len = Buffer.byteLength(s);
    if (len < 32) this.buf[this.o++] = 0xa0 | len;
    else if (len < 0x100) this.u8(0xd9).u8(len);
    else if (len < 0x10000) {
      this.buf[this.o++] = 0xda;
      this.o = this.buf.writeUInt16BE(len, this.o);
    } else {
      this.buf[this.o++] = 0xdb;
      this.o = this.buf.writeUInt32BE(len, this.o);
    }
    this.o += this.buf.write(s, this.o, 'utf8');
    return this;
  }

  uint(n: number): this {
    if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`cannot encode ${n} as an unsigned integer`);
    if (n < 0x80) this.buf[this.o++] = n;
    else if (n < 0x100) this.u8(0xcc).u8(n);
    else if (n < 0x10000) {
      this.buf[this.o++] = 0xcd;
      this.o = this.buf.writeUInt16BE(n, this.o);
    } else if (n < 0x100000000) {
      this.buf[this.o++] = 0xce;
      this.o = this.buf.writeUInt32BE(n, this.o);
    } else {
      this.buf[this.o++] = 0xcf;
      this.o = this.buf.writeUInt32BE(Math.floor(n / 0x100000000), this.o);
      this.o = this.buf.writeUInt32BE(n >>> 0, this.o);
    }
    return this;
  }

  bin(b: Buffer): this {
    const len = b.length;
    if (len < 0x100) this.u8(0xc4).u8(len);
    else if (len < 0x10000) {
      this.buf[this.o++] = 0xc5;
      this.o = this.buf.writeUInt16BE(len, this.o);
    } else {
      this.buf[this.o++] = 0xc6;
      this.o = this.buf.writeUInt32BE(len, this.o);
    }
    // TypedArray set is a builtin; Buffer.copy a call into C++ per record.
    this.buf.set(b, this.o);
    this.o += len;
    return this;
  }

  /** attrs of at most `size` bytes, as attrsSize bounded them. */
  attrs(value: Record<string, unknown>, size: number): this {
    const end = writeAttrs(this.buf, this.o, value);
    // Only accessors that answer differently the second time get here; fail rather than corrupt.
    if (end - this.o > size) throw new RangeError(`attrs changed while being encoded (${size} bytes at most, ${end - this.o} written)`);
    this.o = end;
    return this;
  }

  raw(b: Buffer): this {
    this.buf.set(b, this.o);
    this.o += b.length;
    return this;
  }

  done(): Buffer {
    // The unused room goes back, unless a later record was cut from the slab meanwhile.
    if (this.buf === slab && slabUsed === this.end) slabUsed = (this.o + 7) & ~7;
    return this.buf.subarray(this.base, this.o);
  }
}

const REQUIRED_STRING_FIELDS = ['provider', 'stream', 'instance', 'host', 'source'] as const;

/** Decodes and checks a record; throws LOGFS_E_GATEWAY_PROTOCOL naming the first bad field. */
export function decodeRecord(bytes: Buffer | Uint8Array): LogRecord {
  const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return decodeRecordFast(buf) ?? decodeRecordGeneric(buf);
}

/** Any valid MessagePack encoding of a record (msgpackr), and the error naming what is wrong. */
function decodeRecordGeneric(bytes: Buffer): LogRecord {
  let value: unknown;
  try {
    value = packr.unpack(bytes);
  } catch (cause) {
    throw new LogfsError('LOGFS_E_GATEWAY_PROTOCOL', 'record is not valid MessagePack', { cause });
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new LogfsError('LOGFS_E_GATEWAY_PROTOCOL', 'record is not a MessagePack map');
  }
  const r = value as Record<string, unknown>;
  const bad = (field: string): never => {
    throw new LogfsError('LOGFS_E_GATEWAY_PROTOCOL', `record field "${field}" is missing or has the wrong type`, {
      context: { field },
    });
  };
  if (r.v !== RECORD_SCHEMA_VERSION) bad('v');
  for (const f of REQUIRED_STRING_FIELDS) if (typeof r[f] !== 'string') bad(f);
  if (r.class !== null && r.class !== undefined && typeof r.class !== 'string') bad('class');
  if (typeof r.seq !== 'number' || !Number.isSafeInteger(r.seq)) bad('seq');
  if (typeof r.ts !== 'number') bad('ts');
  if (!(r.data instanceof Uint8Array)) bad('data');
  const data = r.data as Uint8Array;
  // Only the schema's fields: keys a newer writer adds are skipped, as the fast path does.
  const out: LogRecord = {
    v: r.v as number,
    provider: r.provider as string,
    stream: r.stream as string,
    class: (r.class as string | null | undefined) ?? null,
    instance: r.instance as string,
    host: r.host as string,
    seq: r.seq as number,
    ts: r.ts as number,
    source: r.source as RecordSource,
    data: Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength),
  };
  if (r.enc !== undefined && typeof r.enc !== 'string') bad('enc');
  if (r.enc !== undefined && typeof r.kid !== 'string') bad('kid');
  if (r.part !== undefined) out.part = r.part as [number, boolean];
  if (r.attrs !== undefined) out.attrs = r.attrs as Record<string, unknown>;
  if (r.enc !== undefined) {
    out.enc = r.enc as string;
    out.kid = r.kid as string;
  }
  return out;
}

export function recordId(record: Pick<LogRecord, 'instance' | 'seq'>): string {
  return `${record.instance}:${record.seq}`;
}
