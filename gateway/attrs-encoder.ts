/**
 * MessagePack encoding of a record's `attrs` (docs/record-format.md), written straight into the
 * record's buffer instead of through msgpackr's own buffer and a copy: attrs go with every syslog
 * record, and msgpackr's per-call set-up and copy were most of the encoding cost (issue 4).
 *
 * The bytes are msgpackr's, exactly, for the Packr options in record-codec.ts, because what
 * consumers and tests have seen so far is what msgpackr wrote (test/unit/attrs-encoder.test.ts
 * compares the two on random values):
 * - a map is always a map 16 (`0xde`): with `variableMapSize` off msgpackr writes the size after
 *   the entries, in a header of fixed size;
 * - a number in uint32 range is a positive fixint (up to 0x7f, as `useRecords` is false), uint 8,
 *   16 or 32; in int32 range a negative fixint or int 8, 16, 32; every other number, safe integers
 *   beyond 32 bits included, a float 64;
 * - a str header fits the UTF-8 length. A string under 64 UTF-16 units is encoded by msgpackr's
 *   own loop, which writes a lone surrogate as its 3-byte WTF-8 form; a longer one by Buffer's
 *   UTF-8 encoder, which writes U+FFFD (3 bytes as well);
 * - a Buffer is a bin.
 * Any other value (Date, Map, a class instance, a typed array, bigint, NaN, nesting deeper than
 * MAX_DEPTH, …) is left to msgpackr: attrsSize then returns -1.
 */

/** Deeper nesting goes to msgpackr, which reports a cycle as it always did. */
const MAX_DEPTH = 32;

/** Strings shorter than this are encoded char by char (msgpackr's threshold, see above). */
const SHORT_STRING = 0x40;

const bufferToJSON = Buffer.prototype.toJSON;

/**
 * At least the number of bytes writeAttrs writes for `value`, or -1 if only msgpackr can encode it.
 * Exact but for strings, which count 3 bytes per UTF-16 unit (UTF-8's most): measuring them exactly
 * costs as much as writing them, and the room a record does not use goes back to its slab
 * (Writer in record-codec.ts).
 */
export function attrsSize(value: unknown): number {
  return sizeOf(value, 0);
}

/** Writes `value` at `offset` of `buf` (room for attrsSize(value) bytes); returns the end offset. */
export function writeAttrs(buf: Buffer, offset: number, value: unknown): number {
  return write(buf, offset, value);
}

/**
 * Object, Array or Buffer for the values written here; undefined for the rest (msgpackr then).
 * By prototype, not by `v.constructor`: a syslog structured-data parameter may be named
 * "constructor" or "toJSON" (any sender chooses the names), which must stay plain map keys.
 */
function kindOf(v: object): typeof Object | typeof Array | typeof Buffer | undefined {
  const proto = Object.getPrototypeOf(v) as unknown;
  if (proto === Object.prototype) return typeof (v as { toJSON?: unknown }).toJSON === 'function' ? undefined : Object;
  if (proto === Array.prototype) return Array;
  if (v instanceof Buffer && (v as Buffer).toJSON === bufferToJSON) return Buffer;
  return undefined;
}

function sizeOf(v: unknown, depth: number): number {
  switch (typeof v) {
    case 'string':
      return strSize(v);
    case 'number':
      return numberSize(v);
    case 'boolean':
    case 'undefined': // encodeUndefinedAsNil
      return 1;
    case 'object': {
      if (v === null) return 1;
      if (depth >= MAX_DEPTH) return -1;
      const c = kindOf(v);
      if (c === Object) return mapSize(v as Record<string, unknown>, depth + 1);
      if (c === Array) return arraySize(v as unknown[], depth + 1);
      if (c === Buffer) {
        const len = (v as Buffer).byteLength;
        return (len < 0x100 ? 2 : len < 0x10000 ? 3 : 5) + len;
      }
      return -1;
    }
    default:
      return -1;
  }
}

function mapSize(o: Record<string, unknown>, depth: number): number {
  let size = 3;
  let count = 0;
  // The same walk as msgpackr's writePlainObject, so that the same keys come out in the same order.
  const ownOnly = typeof o.hasOwnProperty === 'function';
  for (const k in o) {
    if (ownOnly && !o.hasOwnProperty(k)) continue;
    const s = sizeOf(o[k], depth);
    if (s < 0) return -1;
    size += strSize(k) + s;
    count++;
  }
  // msgpackr throws on more; let it.
  return count > 0xffff ? -1 : size;
}

function arraySize(a: unknown[], depth: number): number {
  const n = a.length;
  let size = n < 0x10 ? 1 : n < 0x10000 ? 3 : 5;
  for (let i = 0; i < n; i++) {
    const s = sizeOf(a[i], depth);
    if (s < 0) return -1;
    size += s;
  }
  return size;
}

function numberSize(n: number): number {
  if (n >>> 0 === n) return n < 0x80 ? 1 : n < 0x100 ? 2 : n < 0x10000 ? 3 : 5;
  if (n >> 0 === n) return n >= -0x20 ? 1 : n >= -0x80 ? 2 : n >= -0x8000 ? 3 : 5;
  // NaN's bit pattern is msgpackr's (DataView) business.
  return n === n ? 9 : -1;
}

/** A bound: header and bytes if every UTF-16 unit took 3 bytes. */
function strSize(s: string): number {
  const len = s.length * 3;
  return (len < 0x20 ? 1 : len < 0x100 ? 2 : len < 0x10000 ? 3 : 5) + len;
}

function write(buf: Buffer, o: number, v: unknown): number {
  switch (typeof v) {
    case 'string':
      return writeStr(buf, o, v);
    case 'number':
      return writeNumber(buf, o, v);
    case 'boolean':
      buf[o] = v ? 0xc3 : 0xc2;
      return o + 1;
    case 'undefined':
      buf[o] = 0xc0;
      return o + 1;
    default: {
      // attrsSize let only null, plain objects, arrays and Buffers through.
      if (v === null) {
        buf[o] = 0xc0;
        return o + 1;
      }
      const c = kindOf(v as object);
      if (c === Object) return writeMap(buf, o, v as Record<string, unknown>);
      if (c === Array) return writeArray(buf, o, v as unknown[]);
      return writeBin(buf, o, v as Buffer);
    }
  }
}

function writeMap(buf: Buffer, o: number, m: Record<string, unknown>): number {
  const start = o;
  buf[o] = 0xde;
  o += 3;
  let count = 0;
  const ownOnly = typeof m.hasOwnProperty === 'function';
  for (const k in m) {
    if (ownOnly && !m.hasOwnProperty(k)) continue;
    o = writeStr(buf, o, k);
    o = write(buf, o, m[k]);
    count++;
  }
  buf[start + 1] = count >>> 8;
  buf[start + 2] = count & 0xff;
  return o;
}

function writeArray(buf: Buffer, o: number, a: unknown[]): number {
  const n = a.length;
  if (n < 0x10) buf[o++] = 0x90 | n;
  else if (n < 0x10000) {
    buf[o++] = 0xdc;
    o = buf.writeUInt16BE(n, o);
  } else {
    buf[o++] = 0xdd;
    o = buf.writeUInt32BE(n, o);
  }
  for (let i = 0; i < n; i++) o = write(buf, o, a[i]);
  return o;
}

function writeBin(buf: Buffer, o: number, b: Buffer): number {
  const len = b.byteLength;
  if (len < 0x100) {
    buf[o++] = 0xc4;
    buf[o++] = len;
  } else if (len < 0x10000) {
    buf[o++] = 0xc5;
    o = buf.writeUInt16BE(len, o);
  } else {
    buf[o++] = 0xc6;
    o = buf.writeUInt32BE(len, o);
  }
  return o + b.copy(buf, o);
}

function writeNumber(buf: Buffer, o: number, n: number): number {
  if (n >>> 0 === n) {
    if (n < 0x80) buf[o++] = n;
    else if (n < 0x100) {
      buf[o++] = 0xcc;
      buf[o++] = n;
    } else if (n < 0x10000) {
      buf[o++] = 0xcd;
      o = buf.writeUInt16BE(n, o);
    } else {
      buf[o++] = 0xce;
      o = buf.writeUInt32BE(n, o);
    }
    return o;
  }
  if (n >> 0 === n) {
    if (n >= -0x20) buf[o++] = n & 0xff;
    else if (n >= -0x80) {
      buf[o++] = 0xd0;
      buf[o++] = n & 0xff;
    } else if (n >= -0x8000) {
      buf[o++] = 0xd1;
      o = buf.writeInt16BE(n, o);
    } else {
      buf[o++] = 0xd2;
      o = buf.writeInt32BE(n, o);
    }
    return o;
  }
  buf[o++] = 0xcb;
  return buf.writeDoubleBE(n, o);
}

/**
 * A str with the smallest header for its UTF-8 length. The header is guessed from the UTF-16 length
 * (a lower bound of the UTF-8 length) and, when the string turns out longer, the bytes move up:
 * msgpackr's way, which saves measuring the string a second time.
 */
function writeStr(buf: Buffer, o: number, s: string): number {
  const n = s.length;
  if (n < SHORT_STRING) {
    const guess = n < 0x20 ? 1 : 2;
    let p = o + guess;
    let i = 0;
    // ASCII, which nearly all attrs are, in a loop of its own: measurably faster.
    for (; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x80) break;
      buf[p++] = c;
    }
    for (; i < n; i++) {
      let c = s.charCodeAt(i);
      if (c < 0x80) buf[p++] = c;
      else if (c < 0x800) {
        buf[p++] = (c >> 6) | 0xc0;
        buf[p++] = (c & 0x3f) | 0x80;
      } else {
        const c2 = s.charCodeAt(i + 1);
        if ((c & 0xfc00) === 0xd800 && (c2 & 0xfc00) === 0xdc00) {
          c = 0x10000 + ((c & 0x3ff) << 10) + (c2 & 0x3ff);
          i++;
          buf[p++] = (c >> 18) | 0xf0;
          buf[p++] = ((c >> 12) & 0x3f) | 0x80;
          buf[p++] = ((c >> 6) & 0x3f) | 0x80;
          buf[p++] = (c & 0x3f) | 0x80;
        } else {
          // A lone surrogate too: its 3-byte form, as msgpackr writes it.
          buf[p++] = (c >> 12) | 0xe0;
          buf[p++] = ((c >> 6) & 0x3f) | 0x80;
          buf[p++] = (c & 0x3f) | 0x80;
        }
      }
    }
    const len = p - o - guess;
    if (len < 0x20) {
      buf[o] = 0xa0 | len;
      return p;
    }
    // At most 63 × 3 bytes: always a str 8.
    if (guess === 1) {
      buf.copyWithin(o + 2, o + 1, p);
      p++;
    }
    buf[o] = 0xd9;
    buf[o + 1] = len;
    return p;
  }
  const guess = n < 0x100 ? 2 : n < 0x10000 ? 3 : 5;
  const len = buf.write(s, o + guess, 'utf8');
  const header = len < 0x100 ? 2 : len < 0x10000 ? 3 : 5;
  if (header !== guess) buf.copyWithin(o + header, o + guess, o + guess + len);
  if (header === 2) {
    buf[o] = 0xd9;
    buf[o + 1] = len;
  } else if (header === 3) {
    buf[o] = 0xda;
    buf.writeUInt16BE(len, o + 1);
  } else {
    buf[o] = 0xdb;
    buf.writeUInt32BE(len, o + 1);
  }
  return o + header + len;
}
