import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { unpatched } from './kafkajs-reference.js';
import { makeBatch, makeRecordBatchDecoder, ConsumedMessage } from '../../gateway/kafkajs-record-decoder.js';

const require = createRequire(import.meta.url);
// kafkajs' own encoders build the bytes; its own decoders are the reference.
const { RecordBatch } = require('kafkajs/src/protocol/recordBatch/v0/index.js') as { RecordBatch: (b: Record<string, unknown>) => Promise<{ buffer: Buffer }> };
const Record = unpatched<(r: Record<string, unknown>) => unknown>('kafkajs/src/protocol/recordBatch/record/v0/index.js');
const Decoder = require('kafkajs/src/protocol/decoder.js') as new (b: Buffer) => never;
const Long = require('kafkajs/src/utils/long.js') as { fromValue(v: unknown): never };
const { Types } = require('kafkajs/src/protocol/message/compression/index.js') as { Types: { None: number; GZIP: number } };
const errors = require('kafkajs/src/errors.js') as { KafkaJSPartialMessageError: new (m: string) => Error };
const originalRecord = unpatched<(d: unknown, c: unknown) => unknown>('kafkajs/src/protocol/recordBatch/record/v0/decoder.js');
const originalBatchDecoder = unpatched<(d: unknown) => Promise<{ records: unknown[] }>>('kafkajs/src/protocol/recordBatch/v0/decoder.js');
const OriginalBatch = unpatched<new (topic: string, fetched: string, data: unknown) => never>('kafkajs/src/consumer/batch.js');
const fast = makeRecordBatchDecoder({
  Decoder: Decoder as never,
  original: originalRecord as never,
  lookupCodecByAttributes: (require('kafkajs/src/protocol/message/compression/index.js') as { lookupCodecByAttributes: never }).lookupCodecByAttributes,
  PartialMessageError: errors.KafkaJSPartialMessageError,
});
const FastBatch = makeBatch({ Batch: OriginalBatch as never, Long, filterAbortedMessages: require('kafkajs/src/consumer/filterAbortedMessages.js') as never });

interface Rec {
  offsetDelta: number;
  timestampDelta: number | unknown;
  key: Buffer | null;
  value: Buffer | null;
  headers?: Record<string, Buffer | Buffer[]>;
}

async function batchBytes(records: Rec[], opts: { firstOffset?: string; compression?: number } = {}): Promise<Buffer> {
  const b = await RecordBatch({
    compression: opts.compression ?? Types.None,
    firstOffset: Long.fromValue(opts.firstOffset ?? '41000000'),
    firstTimestamp: 1_795_000_000_000,
    maxTimestamp: 1_795_000_009_999,
    lastOffsetDelta: records.length - 1,
    records: records.map((r) => Record(r)),
  });
  return b.buffer;
}

/** What a consumer sees of a message, read through its properties (getters included). */
function seen(m: unknown): Record<string, unknown> {
  const x = m as Record<string, unknown>;
  return {
    magicByte: x.magicByte,
    attributes: x.attributes,
    timestamp: x.timestamp,
    offset: x.offset,
    key: x.key,
    value: x.value,
    headers: x.headers,
    isControlRecord: x.isControlRecord,
    batchContext: x.batchContext,
  };
}

async function both(bytes: Buffer): Promise<[Record<string, unknown>[], Record<string, unknown>[], unknown[]]> {
  const a = await fast(new Decoder(bytes));
  const b = await originalBatchDecoder(new Decoder(bytes));
  const { records: ra, ...ca } = a;
  const { records: rb, ...cb } = b as { records: unknown[] };
  expect(ca).toEqual(cb);
  return [ra.map(seen), rb.map(seen), ra];
}

const plain: Rec[] = [
  { offsetDelta: 0, timestampDelta: 0, key: Buffer.from('i-1'), value: Buffer.from('v') },
  { offsetDelta: 1, timestampDelta: 987_654, key: null, value: Buffer.alloc(70_000, 1) },
  { offsetDelta: 2, timestampDelta: -5, key: Buffer.alloc(0), value: null },
  { offsetDelta: 3, timestampDelta: 7, key: Buffer.from('i-2'), value: Buffer.alloc(0) },
];

describe('record batch decoder (consumed records read in place)', () => {
  it('gives what kafkajs gives, without a Buffer per record until one is read', async () => {
    const [a, b, raw] = await both(await batchBytes(plain));
    expect(a).toEqual(b);
    expect(raw.every((m) => m instanceof ConsumedMessage)).toBe(true);
    expect(a.map((m) => m.offset)).toEqual(['41000000', '41000001', '41000002', '41000003']);
    // The value's place in the fetched bytes, for readers that decode it there.
    const m = raw[0] as ConsumedMessage;
    expect(m.buffer.subarray(m.valueStart, m.valueStart + m.valueLength).toString()).toBe('v');
    expect((raw[2] as ConsumedMessage).valueLength).toBe(-1);
  });

  it('reads gzip batches the same way', async () => {
    const [a, b, raw] = await both(await batchBytes(plain, { compression: Types.GZIP }));
    expect(a).toEqual(b);
    expect(raw[1]).toBeInstanceOf(ConsumedMessage);
  });

  it('uses the append time when the batch says so', async () => {
    const bytes = await batchBytes(plain.slice(0, 2));
    bytes[22]! |= 0x08; // attributes (int16 at 21): LOG_APPEND_TIME; kafkajs does not check the CRC
    const [a, b] = await both(bytes);
    expect(a).toEqual(b);
    expect(a[1]!.timestamp).toBe('1795000009999');
  });

  it('leaves headers and numbers beyond 2^53 to kafkajs, with the same result', async () => {
    const withHeaders: Rec[] = [plain[0]!, { offsetDelta: 1, timestampDelta: 0, key: null, value: Buffer.from('h'), headers: { trace: Buffer.from('t1'), dup: [Buffer.from('1'), Buffer.from('2')] } }, plain[3]!];
    const [a, b, raw] = await both(await batchBytes(withHeaders));
    expect(a).toEqual(b);
    expect(raw[1]).not.toBeInstanceOf(ConsumedMessage);
    expect(raw[2]).toBeInstanceOf(ConsumedMessage);
    const [c, d, rawBig] = await both(await batchBytes(plain.slice(0, 2), { firstOffset: '9007199254740995' }));
    expect(c).toEqual(d);
    expect(c[1]!.offset).toBe('9007199254740996');
    expect(rawBig[0]).not.toBeInstanceOf(ConsumedMessage);
    const [e, f] = await both(await batchBytes([{ offsetDelta: 0, timestampDelta: Long.fromValue('4611686018427387904'), key: null, value: Buffer.from('t') }]));
    expect(e).toEqual(f);
  });

  it('reads batches back to back and names a partial one as kafkajs does', async () => {
    const one = await batchBytes(plain.slice(0, 2));
    const two = await batchBytes(plain.slice(2), { firstOffset: '41000002' });
    const d = new Decoder(Buffer.concat([one, two])) as unknown as { offset: number };
    const first = await fast(d as never);
    const second = await fast(d as never);
    expect([...first.records, ...second.records].map((m) => (m as { offset: string }).offset)).toEqual(['41000000', '41000001', '41000004', '41000005']);
    await expect(fast(new Decoder(one.subarray(0, one.length - 5)))).rejects.toMatchObject({ name: 'KafkaJSPartialMessageError' });
  });
});

describe('consumer batch', () => {
  it('keeps the messages at or after the fetched offset, as kafkajs does', async () => {
    const records = Array.from({ length: 10 }, (_, i): Rec => ({ offsetDelta: i, timestampDelta: i, key: null, value: Buffer.from(`v${i}`) }));
    const messages = (await fast(new Decoder(await batchBytes(records)))).records;
    for (const fetched of ['41000000', '41000004', '41000009', '41000010']) {
      const data = { partition: 0, highWatermark: '41000012', messages };
      const a = new FastBatch('t', fetched, data) as unknown as { messages: { offset: string }[]; firstOffset(): string | null; lastOffset(): string; offsetLag(): string };
      const b = new OriginalBatch('t', fetched, data) as unknown as typeof a;
      expect(a.messages.map((m) => m.offset)).toEqual(b.messages.map((m) => m.offset));
      expect([a.firstOffset(), a.lastOffset(), a.offsetLag()]).toEqual([b.firstOffset(), b.lastOffset(), b.offsetLag()]);
    }
    const within = new FastBatch('t', '41000004', { partition: 0, highWatermark: '41000010', messages }) as unknown as { messages: unknown[] };
    expect(within.messages).toHaveLength(6);
  });
});
