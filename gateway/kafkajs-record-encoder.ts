/**
 * kafkajs 2.2.4 encodes each produced record (src/protocol/recordBatch/record/v0/index.js) with an
 * Encoder that allocates a Buffer per varint and does its timestamp arithmetic with Long objects:
 * the largest cost of the producer thread when shipping small records. This module installs an
 * encoder that writes the same bytes into one exactly sized Buffer with plain numbers, and hands
 * records it does not cover (headers, non-integer deltas) to the original.
 * Like kafkajs-grouping.ts it must be imported before kafkajs is loaded.
 */
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

const TARGET = 'kafkajs/src/protocol/recordBatch/record/v0/index.js';
const USER = 'kafkajs/src/protocol/requests/produce/v3/request.js';

interface RecordInput {
  offsetDelta?: number;
  timestampDelta?: number;
  key?: Buffer | string | null;
  value?: Buffer | string | null;
  headers?: Record<string, unknown>;
}

/** What kafkajs' batch encoder reads of an encoded record: `buf` (checked) and `buffer` (copied). */
interface EncodedRecord {
  buf: Buffer;
  buffer: Buffer;
}

type RecordEncoder = (r: RecordInput) => EncodedRecord;

/** Zig-zag, for any safe integer (kafkajs' 32-bit version for varints, 64-bit for varlongs). */
function zigzag(n: number): number {
  return n >= 0 ? n * 2 : -n * 2 - 1;
}

function uvarintSize(u: number): number {
  let size = 1;
  while (u >= 128) {
    u = Math.floor(u / 128);
    size++;
  }
  return size;
}

function writeUVarint(buf: Buffer, o: number, u: number): number {
  while (u >= 128) {
    buf[o++] = (u % 128) | 0x80;
    u = Math.floor(u / 128);
  }
  buf[o++] = u;
  return o;
}

function bytesOf(v: Buffer | string | null | undefined): Buffer | null {
  if (v === null || v === undefined) return null;
  return Buffer.isBuffer(v) ? v : Buffer.from(String(v), 'utf8');
}

function hasHeaders(h: Record<string, unknown> | undefined): boolean {
  if (!h) return false;
  for (const _ in h) return true;
  return false;
}

export function makeFastRecordEncoder(original: RecordEncoder): RecordEncoder {
  return (r) => {
    const timestampDelta = r.timestampDelta ?? 0;
    const offsetDelta = r.offsetDelta ?? 0;
    // kafkajs writes offsetDelta as a 32-bit varint; larger or odd values take its own path.
    if (hasHeaders(r.headers) || !Number.isSafeInteger(timestampDelta) || !Number.isInteger(offsetDelta) || Math.abs(offsetDelta) >= 2 ** 31) return original(r);
    const key = bytesOf(r.key);
    const value = bytesOf(r.value);
    const ts = zigzag(timestampDelta);
    const off = zigzag(offsetDelta);
    const keyLen = key ? key.length : -1;
    const valueLen = value ? value.length : -1;
    const body =
      1 + uvarintSize(ts) + uvarintSize(off) + uvarintSize(zigzag(keyLen)) + (key ? key.length : 0) + uvarintSize(zigzag(valueLen)) + (value ? value.length : 0) + 1;
    const out = Buffer.allocUnsafe(uvarintSize(zigzag(body)) + body);
    let o = writeUVarint(out, 0, zigzag(body));
    out[o++] = 0; // attributes
    o = writeUVarint(out, o, ts);
    o = writeUVarint(out, o, off);
    o = writeUVarint(out, o, zigzag(keyLen));
    if (key) o += key.copy(out, o);
    o = writeUVarint(out, o, zigzag(valueLen));
    if (value) o += value.copy(out, o);
    out[o++] = 0; // no headers
    return { buf: out, buffer: out };
  };
}

/** True when the fast encoder is in place for the kafkajs that will be loaded. */
export function installFastRecordEncoder(): boolean {
  const target = require.resolve(TARGET);
  if (require.cache[require.resolve(USER)]) return (require.cache[target]?.exports as { logfsFast?: boolean } | undefined)?.logfsFast === true;
  const original = require(target) as RecordEncoder;
  const mod = require.cache[target];
  if (!mod) return false;
  const fast = makeFastRecordEncoder(original) as RecordEncoder & { logfsFast?: boolean };
  fast.logfsFast = true;
  mod.exports = fast;
  return true;
}

export const fastRecordEncoderInstalled = installFastRecordEncoder();
