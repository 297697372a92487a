/**
 * kafkajs 2.2.4 decodes each consumed record's timestamp and offset with its Long class, one Long
 * object per varint byte and two string conversions per record (src/protocol/recordBatch/record/
 * v0/decoder.js): a third of a bare consumer's CPU time. This module installs a decoder that
 * returns the same object but computes with plain numbers while they are exact (below 2^53, which
 * every offset and millisecond timestamp is), and hands anything else to the original decoder.
 * Like kafkajs-grouping.ts it must be imported before kafkajs is loaded.
 */
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

interface KafkajsDecoder {
  buffer: Buffer;
  offset: number;
  readInt8(): number;
  readVarIntBytes(): Buffer | null;
}

interface BatchContext {
  firstOffset: string;
  firstTimestamp: string;
  magicByte?: number;
  isControlBatch?: boolean;
  timestampType?: number;
  maxTimestamp?: string;
}

type RecordDecoder = (decoder: KafkajsDecoder, batchContext?: BatchContext) => unknown;

const LOG_APPEND_TIME = 1;
const TARGET = 'kafkajs/src/protocol/recordBatch/record/v0/decoder.js';
const USER = 'kafkajs/src/protocol/recordBatch/v0/decoder.js';

/** The batch's first offset and timestamp as numbers, once per batch. */
const bases = new WeakMap<BatchContext, { offset: number; timestamp: number }>();

class NotExact extends Error {}
const NOT_EXACT = new NotExact();

/** A zig-zag varint as a number; throws NOT_EXACT beyond 2^53. */
function readVarNumber(d: KafkajsDecoder): number {
  let result = 0;
  let mul = 1;
  let byte: number;
  do {
    byte = d.buffer[d.offset++]!;
    result += (byte & 0x7f) * mul;
    mul *= 128;
    if (mul > 2 ** 53) throw NOT_EXACT;
  } while (byte >= 0x80);
  return result % 2 === 0 ? result / 2 : -(result + 1) / 2;
}

export function makeFastRecordDecoder(original: RecordDecoder): RecordDecoder {
  return (decoder, batchContext = {} as BatchContext) => {
    const start = decoder.offset;
    try {
      const { magicByte, isControlBatch = false, timestampType, maxTimestamp } = batchContext;
      let base = bases.get(batchContext);
      if (!base) {
        base = { offset: Number(batchContext.firstOffset), timestamp: Number(batchContext.firstTimestamp) };
        if (!Number.isSafeInteger(base.offset) || !Number.isSafeInteger(base.timestamp)) throw NOT_EXACT;
        bases.set(batchContext, base);
      }
      const attributes = decoder.readInt8();
      const timestampDelta = readVarNumber(decoder);
      const ts = base.timestamp + timestampDelta;
      const timestamp = timestampType === LOG_APPEND_TIME && maxTimestamp ? maxTimestamp : String(ts);
      const offsetNumber = base.offset + readVarNumber(decoder);
      if (!Number.isSafeInteger(ts) || !Number.isSafeInteger(offsetNumber)) throw NOT_EXACT;
      const key = decoder.readVarIntBytes();
      const value = decoder.readVarIntBytes();
      // Headers: the common case (none) here, any others by the original decoder.
      if (decoder.buffer[decoder.offset] !== 0) throw NOT_EXACT;
      decoder.offset++;
      return {
        magicByte,
        attributes,
        timestamp,
        offset: String(offsetNumber),
        key,
        value,
        headers: {},
        isControlRecord: isControlBatch,
        batchContext,
      };
    } catch (err) {
      if (err !== NOT_EXACT) throw err;
      decoder.offset = start;
      return original(decoder, batchContext);
    }
  };
}

/** True when the fast decoder is in place for the kafkajs that will be loaded. */
export function installFastRecordDecoder(): boolean {
  const target = require.resolve(TARGET);
  // Too late once the batch decoder holds the original.
  if (require.cache[require.resolve(USER)]) return (require.cache[target]?.exports as { logfsFast?: boolean } | undefined)?.logfsFast === true;
  const original = require(target) as RecordDecoder;
  const mod = require.cache[target];
  if (!mod) return false;
  const fast = makeFastRecordDecoder(original) as RecordDecoder & { logfsFast?: boolean };
  fast.logfsFast = true;
  mod.exports = fast;
  return true;
}

export const fastRecordDecoderInstalled = installFastRecordDecoder();
