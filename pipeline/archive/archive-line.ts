/**
 * One archived record = one JSON line (docs/archive.md, "Line format"). Built by hand, straight into
 * the output block: it runs for every record archived or relayed and was the largest CPU cost of an
 * archive-only graph. The parts that repeat from one record to the next (provider .. host, source,
 * the second of the time, graph and version, field names) are escaped and encoded once and copied
 * as bytes; numbers and plain strings are written a byte at a time, which is cheaper than a call
 * into C++ per piece; JSON.stringify is left for what needs escaping, and writes the same.
 */
import { isUtf8 } from 'node:buffer';
import type { PipelineRecord } from '../record.js';
import type { SealedParts } from './archive-sealing.js';
import { LineBuffer } from './line-buffer.js';

export interface ArchiveOrigin {
  graph: string;
  version: number;
}

/** A line of a segment, parsed: the pipeline record with its bytes as text, its time and origin. */
export interface ArchivedRecord extends Omit<PipelineRecord, 'data' | 'source'>, ArchiveOrigin {
  /** `ts` as an ISO time, for people reading the files with zcat | jq. */
  time: string;
  source: string;
  /** The record's bytes: UTF-8 text, or base64 when `dataEncoding` is "base64". */
  data: string;
  dataEncoding?: 'base64';
  /** A record of an encrypted stream as stored: `data` is sealed (archive-sealing.ts). */
  enc?: string;
  kid?: string;
  /** The sealed JSON of the fields (`fields` is then empty). */
  sealedFields?: string;
  /** Set by a reader that could not open a sealed record: why. */
  sealed?: string;
}

/** The original bytes of an archived record. */
export function archivedData(r: Pick<ArchivedRecord, 'data' | 'dataEncoding'>): Buffer {
  return Buffer.from(r.data, r.dataEncoding === 'base64' ? 'base64' : 'utf8');
}

/** Flag set on a record whose fields or attrs could not be written as JSON (kept as an error note). */
export const UNSERIALISABLE_FLAG = 'archive_unserialisable';

/** The bytes from `,"kind":` to `"seq":`: the same for the records of one instance. */
interface Middle {
  provider: string;
  stream: string;
  class: string | null;
  host: string;
  kind: unknown;
  bytes: Buffer;
}

const EMPTY = Buffer.alloc(0);
/** The fields of a line whose fields are sealed. */
const NO_FIELDS: Record<string, unknown> = Object.freeze({}) as Record<string, unknown>;
const FIELDS_KEY = Buffer.from(',"fields":');
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const MAX_DIGITS = 16;

/** Encodes records as JSON lines; keeps a little state so that runs of similar records are cheap. */
export class LineEncoder {
  /** Per instance: batches interleave a few instances, and each one's records share the middle. */
  private readonly middles = new Map<string, Middle>();
  /** `,"ts":<second>` and `,"time":"YYYY-MM-DDTHH:MM:SS.` of the second `second`. */
  private second = NaN;
  private secondBytes = EMPTY;
  private isoBytes = EMPTY;
  private lastSource: unknown;
  /** `,"source":...,"data":` */
  private sourceBytes = EMPTY;
  private originKey: ArchiveOrigin | undefined;
  /** `,"graph":...,"version":...}\n`, after `,"flags":[]`, and after `,"fields":{},"flags":[]`. */
  private tail = EMPTY;
  private noFlagsTail = EMPTY;
  private bareTail = EMPTY;
  /** `"name":` of the fields in the order of the last record's fields: most records share it. */
  private fieldNames: string[] = [];
  private fieldKeys: Buffer[] = [];
  private readonly fieldKeyCache = new Map<string, Buffer>();
  /** Records whose fields/attrs could not be serialised. */
  unserialisable = 0;

  /** Appends the line for `r`, with its newline, to `out`; with `sealed`, its data and fields sealed. */
  encodeTo(out: LineBuffer, r: PipelineRecord, origin: ArchiveOrigin, sealed?: SealedParts): void {
    out.begin();
    try {
      this.write(out, r, origin, sealed);
    } catch (err) {
      // A line is whole or absent: a reader of the segment cannot skip half a line.
      out.abandon();
      throw err;
    }
  }

  /** The line for `r` as a string (tests, tools). */
  encode(r: PipelineRecord, origin: ArchiveOrigin, sealed?: SealedParts): string {
    const b = new LineBuffer();
    this.encodeTo(b, r, origin, sealed);
    return Buffer.concat(b.take()).toString('utf8');
  }

  private write(out: LineBuffer, r: PipelineRecord, origin: ArchiveOrigin, sealed: SealedParts | undefined): void {
    let m = this.middles.get(r.instance);
    if (m === undefined || m.provider !== r.provider || m.stream !== r.stream || m.class !== r.class || m.host !== r.host || m.kind !== r.kind) {
      if (this.middles.size >= 4096) this.middles.clear();
      m = {
        provider: r.provider,
        stream: r.stream,
        class: r.class,
        host: r.host,
        kind: r.kind,
        bytes: Buffer.from(`,"kind":${json(r.kind)},"provider":${json(r.provider)},"stream":${json(r.stream)},"class":${json(r.class)},"instance":${json(r.instance)},"host":${json(r.host)},"seq":`),
      };
      this.middles.set(r.instance, m);
    }
    if (origin !== this.originKey) {
      this.originKey = origin;
      this.tail = Buffer.from(`,"graph":${json(origin.graph)},"version":${json(origin.version)}}\n`);
      this.noFlagsTail = Buffer.concat([Buffer.from(',"flags":[]'), this.tail]);
      this.bareTail = Buffer.concat([Buffer.from(',"fields":{}'), this.noFlagsTail]);
    }
    if (r.source !== this.lastSource) {
      this.lastSource = r.source;
      this.sourceBytes = Buffer.from(`,"source":${json(r.source)},"data":`);
    }

    out.ascii('{"id":');
    const id = r.id;
    if (typeof id !== 'string' || !plainString(out, id)) out.text(JSON.stringify(id) ?? 'null');
    out.bytes(m.bytes);
    writeNumber(out, r.seq);
    const ts = r.ts;
    // Within a second, ts and time differ in their last three digits only.
    if (typeof ts === 'number' && ts >= 1000 && ts < 253_402_300_800_000 && Number.isInteger(ts)) {
      const second = Math.floor(ts / 1000);
      if (second !== this.second) {
        this.second = second;
        this.secondBytes = Buffer.from(`,"ts":${second}`);
        this.isoBytes = Buffer.from(`,"time":"${new Date(second * 1000).toISOString().slice(0, 20)}`);
      }
      const ms = ts - second * 1000;
      const d0 = 48 + ((ms / 100) | 0);
      const d1 = 48 + (((ms / 10) | 0) % 10);
      const d2 = 48 + (ms % 10);
      out.bytes(this.secondBytes);
      out.room(3);
      out.byte(d0);
      out.byte(d1);
      out.byte(d2);
      out.bytes(this.isoBytes);
      out.room(5);
      out.byte(d0);
      out.byte(d1);
      out.byte(d2);
      out.byte(0x5a); // Z
      out.byte(QUOTE);
    } else {
      out.ascii(',"ts":');
      writeNumber(out, ts);
      out.ascii(`,"time":"${time(ts)}"`);
    }
    out.bytes(this.sourceBytes);
    let fields = r.fields;
    if (sealed === undefined) writeData(out, r.data);
    else {
      out.ascii(`"${sealed.data.toString('base64')}","dataEncoding":"base64","enc":"A256GCM","kid":${JSON.stringify(sealed.kid)}`);
      if (sealed.fields !== undefined) out.ascii(`,"sealedFields":"${sealed.fields.toString('base64')}"`);
      fields = NO_FIELDS;
    }

    if (r.part) out.text(`,"part":[${json(r.part[0])},${r.part[1] ? 'true' : 'false'}]`);
    let error: unknown;
    let failed = false;
    try {
      if (r.attrs !== undefined) out.text(`,"attrs":${JSON.stringify(r.attrs) ?? 'null'}`);
    } catch (err) {
      error = err;
      failed = true;
    }
    if (!failed && !hasKeys(fields) && r.flags.length === 0) {
      out.bytes(this.bareTail);
      return;
    }
    out.bytes(FIELDS_KEY);
    if (!failed) {
      const mark = out.mark();
      try {
        if (!this.writeFields(out, fields)) {
          out.rewind(mark);
          out.text(hasKeys(fields) ? (JSON.stringify(fields) ?? '{}') : '{}');
        }
      } catch (err) {
        out.rewind(mark);
        error = err;
        failed = true;
      }
    }
    if (failed) {
      // A custom agent can attach values JSON cannot hold (BigInt, cycles): keep the record, say why.
      this.unserialisable++;
      out.text(JSON.stringify({ _archiveError: (error as Error).message }));
    }
    // The record itself is left as it is: other nodes may share it (AgentDefinition.readsOnly).
    const flags = failed && !r.flags.includes(UNSERIALISABLE_FLAG) ? [...r.flags, UNSERIALISABLE_FLAG] : r.flags;
    if (flags.length === 0) out.bytes(this.noFlagsTail);
    else {
      out.text(`,"flags":${JSON.stringify(flags)}`);
      out.bytes(this.tail);
    }
  }

  /**
   * Writes `f` as JSON.stringify would when it is a plain object of strings, finite numbers,
   * booleans and nulls (what parse attaches); false, having written part of it, for anything else.
   */
  private writeFields(out: LineBuffer, f: Record<string, unknown>): boolean {
    // for-in is JSON.stringify's list of keys only for an object whose prototype chain adds none,
    // and toJSON would replace the object.
    if (typeof f !== 'object' || f === null || Object.getPrototypeOf(f) !== Object.prototype || f.toJSON !== undefined || hasKeys(Object.prototype)) return false;
    const names = this.fieldNames;
    let i = 0;
    for (const k in f) {
      const v = f[k];
      out.byte(i === 0 ? 0x7b : 0x2c); // { ,
      out.bytes(i < names.length && names[i] === k ? (this.fieldKeys[i] as Buffer) : this.fieldKey(i, k));
      i++;
      if (typeof v === 'string') writeString(out, v);
      else if (typeof v === 'number') {
        writeNumber(out, v);
      } else if (typeof v === 'boolean') {
        out.ascii(v ? 'true' : 'false');
      } else if (v === null) {
        out.ascii('null');
      } else return false;
    }
    if (i === 0) out.ascii('{}');
    else out.byte(0x7d); // }
    return true;
  }

  /** `"k":` as bytes, remembered as the name of the i-th field. */
  private fieldKey(i: number, k: string): Buffer {
    let b = this.fieldKeyCache.get(k);
    if (b === undefined) {
      if (this.fieldKeyCache.size >= 4096) this.fieldKeyCache.clear();
      b = Buffer.from(`${JSON.stringify(k)}:`);
      this.fieldKeyCache.set(k, b);
    }
    if (i < 64) {
      this.fieldNames[i] = k;
      this.fieldKeys[i] = b;
    }
    return b;
  }
}

/** `ts` as an ISO time, as `new Date(ts).toISOString()` but '' for no time, for any ts. */
function time(ts: number): string {
  if (!Number.isFinite(ts) || Math.abs(ts) > 8.64e15) return '';
  return new Date(ts).toISOString();
}

/** Writes `s` as a JSON string if it is one as it stands (printable ASCII without " or \); false if not, having written nothing. */
function plainString(out: LineBuffer, s: string): boolean {
  const n = s.length;
  out.room(n + 2);
  const b = out.buf;
  let p = out.pos;
  b[p++] = QUOTE;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c > 0x7e || c === QUOTE || c === BACKSLASH) return false;
    b[p++] = c;
  }
  b[p++] = QUOTE;
  out.pos = p;
  return true;
}

/** What JSON.stringify escapes (control characters, `"`, `\\`), DEL, and all that is not ASCII. */
const NOT_PLAIN = /[^\x20\x21\x23-\x5b\x5d-\x7e]/;

/** `s` as JSON.stringify writes it. */
function writeString(out: LineBuffer, s: string): void {
  const n = s.length;
  // A character at a time costs more than a regular expression and a call into C++ past a few dozen.
  if (n <= 32) {
    if (plainString(out, s)) return;
  } else if (!NOT_PLAIN.test(s)) {
    out.room(n + 2);
    out.byte(QUOTE);
    out.pos += out.buf.write(s, out.pos, 'latin1');
    out.byte(QUOTE);
    return;
  }
  out.text(JSON.stringify(s));
}

/** A number as JSON writes it (null when not finite); a missing one (wire input) is null too. */
function writeNumber(out: LineBuffer, n: number): void {
  if (typeof n !== 'number' || !Number.isFinite(n)) out.ascii('null');
  else if (n >= 0 && n <= Number.MAX_SAFE_INTEGER && Number.isInteger(n)) {
    out.room(MAX_DIGITS);
    const b = out.buf;
    if (n < 1e8) out.pos = writeDigits(b, out.pos, n);
    else {
      // Two halves below 1e8 keep the digit loop in int32 arithmetic.
      const high = Math.floor(n / 1e8);
      let low = n - high * 1e8;
      const p = writeDigits(b, out.pos, high);
      for (let q = p + 8; q > p; ) {
        b[--q] = 48 + (low % 10);
        low = (low / 10) | 0;
      }
      out.pos = p + 8;
    }
  } else out.ascii(`${n}`);
}

/** Writes 0 <= n < 1e8 in decimal at p; returns the end. */
function writeDigits(b: Buffer, p: number, n: number): number {
  const len = n < 10 ? 1 : n < 100 ? 2 : n < 1000 ? 3 : n < 1e4 ? 4 : n < 1e5 ? 5 : n < 1e6 ? 6 : n < 1e7 ? 7 : 8;
  let q = p + len;
  do {
    b[--q] = 48 + (n % 10);
    n = (n / 10) | 0;
  } while (n > 0);
  return p + len;
}

/** A view of the words of the ArrayBuffer that the last data came from: records share a few (pool slabs, fetch buffers). */
let wordsOf: ArrayBufferLike | undefined;
let words: Int32Array<ArrayBufferLike> = new Int32Array(0);

/** Where the escapes of one record's data go; data with more is rare enough for JSON.stringify. */
const escapesAt = new Int32Array(1024);

/**
 * Writes `"data"`: valid UTF-8 is its own JSON string body once `"`, `\` and control characters are
 * escaped as JSON.stringify escapes them, so it is copied, never decoded; anything else is base64.
 * One pass finds the escapes, four bytes at a time where it can (the scan is most of the cost of a
 * record). The bytes are then copied at once and moved along within the block from the last escape
 * back to the first, so that each moves once: copying runs out of the middle of `d` instead would
 * cost a Uint8Array each (Buffer.copy makes one).
 */
function writeData(out: LineBuffer, d: Buffer): void {
  const n = d.length;
  const off = d.byteOffset;
  if (n >= 8 && d.buffer !== wordsOf) {
    wordsOf = d.buffer;
    words = new Int32Array(wordsOf, 0, wordsOf.byteLength >> 2);
  }
  const ws = words;
  let utf8 = false;
  /** -1 until the data is known to be UTF-8: bytes >= 0x80 stop the word scan until then. */
  let high = -1;
  let count = 0;
  let extra = 0;
  let i = 0;
  while (i < n) {
    let end = i + 1;
    if (((off + i) & 3) === 0 && n - i >= 4 && n >= 8) {
      const x = ws[(off + i) >> 2] as number;
      const q = x ^ 0x22222222;
      const s = x ^ 0x5c5c5c5c;
      // Bit 7 of a byte is set where the word has a byte < 0x20, a `"`, a `\` (the has-less-than
      // and has-zero-byte tricks of "Bit Twiddling Hacks") or, unless `high` is 0, a byte >= 0x80.
      if (((((x - 0x20202020) & ~x) | ((q - 0x01010101) & ~q) | ((s - 0x01010101) & ~s) | (x & high)) & 0x80808080) === 0) {
        i += 4;
        continue;
      }
      end = i + 4;
    }
    for (; i < end; i++) {
      const c = d[i] as number;
      if (c >= 0x20 && c !== QUOTE && c !== BACKSLASH) {
        if (c < 0x80 || utf8) continue;
        if (!isUtf8(d)) {
          out.ascii(`"${d.toString('base64')}","dataEncoding":"base64"`);
          return;
        }
        utf8 = true;
        high = 0;
        continue;
      }
      if (count === escapesAt.length) {
        // Many escapes: rare enough for JSON.stringify (base64 if a later byte says it is not UTF-8).
        if (!utf8 && !isUtf8(d)) out.ascii(`"${d.toString('base64')}","dataEncoding":"base64"`);
        else out.text(JSON.stringify(d.toString('utf8')));
        return;
      }
      escapesAt[count++] = i;
      extra += escapeLength(c) - 1;
    }
  }
  const length = n + extra;
  out.room(length + 2);
  out.byte(QUOTE);
  const b = out.buf;
  const base = out.pos;
  b.set(d, base);
  let end = n;
  for (let k = count - 1; k >= 0; k--) {
    const at = escapesAt[k] as number;
    // d[at + 1, end) moves on by `extra`, the growth that the escapes up to this one bring.
    const len = end - at - 1;
    const from = base + at + 1;
    if (len > 24) b.copyWithin(from + extra, from, from + len);
    else for (let j = from + len - 1; j >= from; j--) b[j + extra] = b[j] as number;
    const c = d[at] as number;
    const escape = escapeLength(c);
    let p = base + at + extra + 1 - escape;
    extra -= escape - 1;
    b[p++] = BACKSLASH;
    if (c === QUOTE || c === BACKSLASH) b[p] = c;
    else {
      const e = ESCAPES[c] as string;
      for (let j = 0; j < e.length; j++) b[p++] = e.charCodeAt(j);
    }
    end = at;
  }
  out.pos = base + length;
  out.byte(QUOTE);
}

function escapeLength(c: number): number {
  return c === QUOTE || c === BACKSLASH ? 2 : 1 + (ESCAPES[c] as string).length;
}

/** What follows the backslash for each control character, as JSON.stringify writes it. */
const ESCAPES = Array.from({ length: 0x20 }, (_, c) => JSON.stringify(String.fromCharCode(c)).slice(2, -1));

function hasKeys(o: object): boolean {
  for (const _ in o) return true;
  return false;
}

/** JSON of a scalar; a missing value (wire input can lack anything) becomes null, not "undefined". */
function json(v: unknown): string {
  return JSON.stringify(v ?? null) ?? 'null';
}
