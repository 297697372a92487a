/**
 * What kafkajs 2.2.4 does for every consumed record was most of a consumer's CPU time beyond the
 * records' own work:
 * - src/protocol/recordBatch/v0/decoder.js makes a Buffer of the record and a Decoder object for it;
 * - src/protocol/recordBatch/record/v0/decoder.js makes a Buffer of the key and one of the value,
 *   and the offset and timestamp as strings through its Long class (one Long per varint byte);
 * - src/consumer/batch.js then turns every offset back into a Long to compare it with the fetched
 *   offset.
 *
 * This module installs, in Node's module cache before kafkajs loads (import it before `kafkajs`,
 * as kafkajs-grouping.ts):
 * - a record batch decoder that reads each record where it lies into a ConsumedMessage: the fields
 *   kafkajs gives, with key, value, offset and timestamp made when they are read (getters), plus
 *   where the value lies, so that a reader can decode it without a Buffer (pipeline/kafka-source.ts);
 * - a Batch that compares offsets as numbers.
 * Records it does not cover (headers, numbers beyond 2^53) go to kafkajs' own record decoder.
 */
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

interface KafkajsDecoder {
  buffer: Buffer;
  offset: number;
  readInt8(): number;
  readInt16(): number;
  readInt32(): number;
  readInt64(): { toString(): string };
  readAll(): Buffer;
  slice(size: number): KafkajsDecoder;
  forward(size: number): void;
}

type DecoderClass = new (buffer: Buffer) => KafkajsDecoder;

export interface BatchContext {
  firstOffset: string;
  firstTimestamp: string;
  partitionLeaderEpoch: number;
  inTransaction: boolean;
  isControlBatch: boolean;
  lastOffsetDelta: number;
  producerId: string;
  producerEpoch: number;
  firstSequence: number;
  maxTimestamp: string;
  timestampType: number;
  magicByte?: number;
}

type RecordDecoder = (decoder: KafkajsDecoder, batchContext: BatchContext) => unknown;
type Codec = { decompress(b: Buffer): Promise<Buffer> };

const LOG_APPEND_TIME = 1;
const TIMESTAMP_TYPE_FLAG_MASK = 0x8;
const TRANSACTIONAL_FLAG_MASK = 0x10;
const CONTROL_FLAG_MASK = 0x20;

/**
 * A consumed record as kafkajs gives it (magicByte, attributes, timestamp, offset, key, value,
 * headers, isControlRecord, batchContext), made from the bytes where they lie in the fetch response
 * (or in the decompressed batch). key, value, offset and timestamp are computed when read.
 */
export class ConsumedMessage {
  constructor(
    readonly attributes: number,
    readonly batchContext: BatchContext,
    /** The offset as a number: exact (below 2^53), or the record would have gone to kafkajs. */
    readonly offsetNumber: number,
    private readonly timestampNumber: number,
    /** The bytes the key and the value lie in. */
    readonly buffer: Buffer,
    private readonly keyStart: number,
    /** -1 for a null key. */
    private readonly keyLength: number,
    readonly valueStart: number,
    /** -1 for a null value. */
    readonly valueLength: number,
  ) {}

  get magicByte(): number | undefined {
    return this.batchContext.magicByte;
  }

  get isControlRecord(): boolean {
    return this.batchContext.isControlBatch;
  }

  get offset(): string {
    return String(this.offsetNumber);
  }

  get timestamp(): string {
    const c = this.batchContext;
    return c.timestampType === LOG_APPEND_TIME && c.maxTimestamp ? c.maxTimestamp : String(this.timestampNumber);
  }

  get key(): Buffer | null {
    return this.keyLength < 0 ? null : this.buffer.subarray(this.keyStart, this.keyStart + this.keyLength);
  }

  get value(): Buffer | null {
    return this.valueLength < 0 ? null : this.buffer.subarray(this.valueStart, this.valueStart + this.valueLength);
  }

  get headers(): Record<string, never> {
    return {};
  }
}

/** Where readVarint left off. */
let after = 0;

/** The zig-zag varint at `o` (setting `after`), or NaN when it is not exact or reaches `end`. */
function readVarint(buf: Buffer, o: number, end: number): number {
  let result = 0;
  let mul = 1;
  let byte: number;
  do {
    if (o >= end || mul > 2 ** 42) return NaN; // 7 bytes at most: below 2^49
    byte = buf[o++]!;
    result += (byte & 0x7f) * mul;
    mul *= 128;
  } while (byte >= 0x80);
  after = o;
  return result % 2 === 0 ? result / 2 : -(result + 1) / 2;
}

/**
 * The record whose length prefix is at `d.offset`, moving `d` past it. A record the fast path does
 * not cover is read by kafkajs (`original`), from a Buffer of it as kafkajs does.
 */
function decodeRecord(d: KafkajsDecoder, ctx: BatchContext, baseOffset: number, baseTimestamp: number, Decoder: DecoderClass, original: RecordDecoder): unknown {
  const buf = d.buffer;
  const limit = buf.length;
  const length = readVarint(buf, d.offset, limit);
  const start = after;
  const end = start + length;
  if (length >= 0 && end <= limit && baseOffset === baseOffset) {
    // attributes (int8), timestampDelta, offsetDelta, key, value, headers (count 0 only)
    const attributes = buf.readInt8(start);
    const timestampDelta = readVarint(buf, start + 1, end);
    const offsetDelta = timestampDelta === timestampDelta ? readVarint(buf, after, end) : NaN;
    const keyLength = offsetDelta === offsetDelta ? readVarint(buf, after, end) : NaN;
    const keyStart = after;
    if (keyLength === keyLength && keyLength >= -1 && keyStart + Math.max(keyLength, 0) <= end) {
      const valueLength = readVarint(buf, keyStart + Math.max(keyLength, 0), end);
      const valueStart = after;
      const headersAt = valueStart + Math.max(valueLength, 0);
      const offset = baseOffset + offsetDelta;
      const ts = baseTimestamp + timestampDelta;
      if (valueLength === valueLength && valueLength >= -1 && headersAt < end && buf[headersAt] === 0 && Number.isSafeInteger(offset) && Number.isSafeInteger(ts)) {
        d.offset = end;
        return new ConsumedMessage(attributes, ctx, offset, ts, buf, keyStart, keyLength, valueStart, valueLength);
      }
    }
  }
  // kafkajs' way: readVarIntBytes, then the record decoder on a Decoder of those bytes.
  const kafkajsDecoder = d as KafkajsDecoder & { readVarIntBytes(): Buffer };
  return original(new Decoder(kafkajsDecoder.readVarIntBytes()), ctx);
}

/** kafkajs' record batch decoder (src/protocol/recordBatch/v0/decoder.js), reading records in place. */
export function makeRecordBatchDecoder(deps: {
  Decoder: DecoderClass;
  original: RecordDecoder;
  lookupCodecByAttributes: (attributes: number) => Codec | undefined;
  PartialMessageError: new (message: string) => Error;
}): (fetchDecoder: KafkajsDecoder) => Promise<BatchContext & { records: unknown[] }> {
  const { Decoder, original, lookupCodecByAttributes, PartialMessageError } = deps;
  return async (fetchDecoder) => {
    const firstOffset = fetchDecoder.readInt64().toString();
    const length = fetchDecoder.readInt32();
    const decoder = fetchDecoder.slice(length);
    fetchDecoder.forward(length);
    const remainingBytes = decoder.buffer.length;
    if (remainingBytes < length) {
      throw new PartialMessageError(`Tried to decode a partial record batch: remainingBytes(${remainingBytes}) < recordBatchLength(${length})`);
    }
    const partitionLeaderEpoch = decoder.readInt32();
    const magicByte = decoder.readInt8();
    decoder.readInt32(); // CRC: kafkajs does not check it either (the broker did)
    const attributes = decoder.readInt16();
    const lastOffsetDelta = decoder.readInt32();
    const firstTimestamp = decoder.readInt64().toString();
    const maxTimestamp = decoder.readInt64().toString();
    const producerId = decoder.readInt64().toString();
    const producerEpoch = decoder.readInt16();
    const firstSequence = decoder.readInt32();
    const recordContext = {
      firstOffset,
      firstTimestamp,
      partitionLeaderEpoch,
      inTransaction: (attributes & TRANSACTIONAL_FLAG_MASK) > 0,
      isControlBatch: (attributes & CONTROL_FLAG_MASK) > 0,
      lastOffsetDelta,
      producerId,
      producerEpoch,
      firstSequence,
      maxTimestamp,
      timestampType: (attributes & TIMESTAMP_TYPE_FLAG_MASK) > 0 ? LOG_APPEND_TIME : 0,
    };
    const ctx: BatchContext = { ...recordContext, magicByte };
    // NaN (never a match of `x === x`) when not exact: every record then goes to kafkajs.
    const baseOffset = exact(firstOffset);
    const baseTimestamp = exact(firstTimestamp);

    let records: unknown[];
    const codec = lookupCodecByAttributes(attributes);
    const count = decoder.readInt32();
    if (count <= 0) records = [];
    else {
      const d = codec ? new Decoder(await codec.decompress(decoder.readAll())) : decoder;
      records = new Array(count);
      for (let i = 0; i < count; i++) records[i] = decodeRecord(d, ctx, baseOffset, baseTimestamp, Decoder, original);
    }
    return { ...recordContext, records };
  };
}

function exact(s: string): number {
  const n = Number(s);
  return Number.isSafeInteger(n) ? n : NaN;
}

interface KafkajsMessage {
  offset: string;
  isControlRecord?: boolean;
}
interface LongLike {
  gte(other: LongLike): boolean;
}
type BatchClass = new (topic: string, fetchedOffset: string, partitionData: { messages: KafkajsMessage[]; abortedTransactions?: unknown[] }) => {
  rawMessages: KafkajsMessage[];
  messagesWithinOffset: KafkajsMessage[];
  messages: KafkajsMessage[];
};

/**
 * kafkajs' consumer Batch (src/consumer/batch.js), with its offset filter comparing numbers where
 * both sides are exact instead of a Long per message; everything else is kafkajs' own.
 */
export function makeBatch(deps: {
  Batch: BatchClass;
  Long: { fromValue(v: string): LongLike };
  filterAbortedMessages: (a: { messages: KafkajsMessage[]; abortedTransactions?: unknown[] }) => KafkajsMessage[];
}): BatchClass {
  const { Batch, Long, filterAbortedMessages } = deps;
  return class extends Batch {
    constructor(topic: string, fetchedOffset: string, partitionData: { messages: KafkajsMessage[]; abortedTransactions?: unknown[] }) {
      // kafkajs' constructor with no messages to filter; the filtering is done here.
      super(topic, fetchedOffset, { ...partitionData, messages: [] });
      const messages = partitionData.messages;
      const from = exact(String(fetchedOffset));
      const longFrom = Long.fromValue(fetchedOffset);
      this.rawMessages = messages;
      this.messagesWithinOffset = messages.filter((m) => (m instanceof ConsumedMessage && from === from ? m.offsetNumber >= from : Long.fromValue(m.offset).gte(longFrom)));
      this.messages = filterAbortedMessages({ messages: this.messagesWithinOffset, abortedTransactions: partitionData.abortedTransactions }).filter((m) => !m.isControlRecord);
    }
  };
}

const BATCH_DECODER = 'kafkajs/src/protocol/recordBatch/v0/decoder.js';
const BATCH_DECODER_USER = 'kafkajs/src/protocol/requests/fetch/v4/decodeMessages.js';
const BATCH = 'kafkajs/src/consumer/batch.js';
const BATCH_USER = 'kafkajs/src/consumer/consumerGroup.js';

/** Replaces module `id` by `make(original)` unless `user` holds the original already; true when ours is in place. */
function replace(id: string, user: string, make: (original: unknown) => unknown): boolean {
  const target = require.resolve(id);
  const tag = (exports: unknown): boolean => (exports as { logfsFast?: boolean } | undefined)?.logfsFast === true;
  if (require.cache[require.resolve(user)]) return tag(require.cache[target]?.exports);
  const original = require(target) as unknown;
  const mod = require.cache[target];
  if (!mod) return false;
  if (tag(original)) return true;
  const fast = make(original) as { logfsFast?: boolean };
  fast.logfsFast = true;
  mod.exports = fast;
  return true;
}

/** True when the fast consumer path is in place for the kafkajs that will be loaded. */
export function installFastRecordDecoder(): boolean {
  const batchDecoder = replace(BATCH_DECODER, BATCH_DECODER_USER, (original) => {
    void original;
    const errors = require('kafkajs/src/errors.js') as { KafkaJSPartialMessageError: new (message: string) => Error };
    return makeRecordBatchDecoder({
      Decoder: require('kafkajs/src/protocol/decoder.js') as DecoderClass,
      original: require('kafkajs/src/protocol/recordBatch/record/v0/decoder.js') as RecordDecoder,
      lookupCodecByAttributes: (require('kafkajs/src/protocol/message/compression/index.js') as { lookupCodecByAttributes: (a: number) => Codec | undefined }).lookupCodecByAttributes,
      PartialMessageError: errors.KafkaJSPartialMessageError,
    });
  });
  const batch = replace(BATCH, BATCH_USER, (original) =>
    makeBatch({
      Batch: original as BatchClass,
      Long: require('kafkajs/src/utils/long.js') as { fromValue(v: string): LongLike },
      filterAbortedMessages: require('kafkajs/src/consumer/filterAbortedMessages.js') as (a: { messages: KafkajsMessage[]; abortedTransactions?: unknown[] }) => KafkajsMessage[],
    }),
  );
  return batchDecoder && batch;
}

export const fastRecordDecoderInstalled = installFastRecordDecoder();
