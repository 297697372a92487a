import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { unpatched } from './kafkajs-reference.js';
import { makeFastRecordDecoder } from '../../gateway/kafkajs-record-decoder.js';

const require = createRequire(import.meta.url);
// The encoder and decoder kafkajs itself uses, and its original record decoder as the reference.
const Record = require('kafkajs/src/protocol/recordBatch/record/v0/index.js') as (r: Record<string, unknown>) => { buffer: Buffer };
const Decoder = require('kafkajs/src/protocol/decoder.js') as new (b: Buffer) => { buffer: Buffer; offset: number; readInt8(): number; readVarIntBytes(): Buffer | null };
const Long = require('kafkajs/src/utils/long.js') as { fromValue(v: unknown): unknown };
const original = unpatched<(d: unknown, c: unknown) => unknown>('kafkajs/src/protocol/recordBatch/record/v0/decoder.js');
const fast = makeFastRecordDecoder(original as never);

function both(record: Record<string, unknown>, context: Record<string, unknown>): [unknown, unknown] {
  const bytes = Record(record).buffer;
  // Record() prefixes the body with its length; the batch decoder strips it before this decoder runs.
  const d1 = new Decoder(bytes);
  const body1 = d1.readVarIntBytes()!;
  const d2 = new Decoder(bytes);
  const body2 = d2.readVarIntBytes()!;
  return [fast(new Decoder(body1) as never, context as never), original(new Decoder(body2), context)];
}

const context = { firstOffset: '41000000', firstTimestamp: '1795000000000', magicByte: 2, isControlBatch: false, timestampType: 0, maxTimestamp: '1795000009999' };

describe('fast kafkajs record decoder', () => {
  it('returns what kafkajs returns, for the records the pipeline reads', () => {
    expect((original as { logfsFast?: boolean }).logfsFast, 'the reference must be kafkajs itself').toBeUndefined();
    for (const r of [
      { offsetDelta: 0, timestampDelta: 0, key: Buffer.from('i-1'), value: Buffer.from('v') },
      { offsetDelta: 1234, timestampDelta: 987654, key: null, value: Buffer.alloc(70_000, 1) },
      { offsetDelta: 7, timestampDelta: -5, key: Buffer.alloc(0), value: null },
    ]) {
      const [a, b] = both(r, context);
      expect(a).toEqual(b);
    }
  });

  it('uses the append time when the topic says so', () => {
    const [a, b] = both({ offsetDelta: 1, timestampDelta: 3, key: null, value: Buffer.from('x') }, { ...context, timestampType: 1 });
    expect(a).toEqual(b);
    expect((a as { timestamp: string }).timestamp).toBe('1795000009999');
  });

  it('leaves headers and numbers beyond 2^53 to the original, with the same result', () => {
    const [a, b] = both({ offsetDelta: 2, timestampDelta: 0, key: null, value: Buffer.from('h'), headers: { trace: Buffer.from('t1'), dup: [Buffer.from('1'), Buffer.from('2')] } }, context);
    expect(a).toEqual(b);
    expect(Object.keys((a as { headers: object }).headers)).toEqual(['trace', 'dup']);
    const big = { ...context, firstOffset: '9007199254740990' };
    const [c, d] = both({ offsetDelta: 5, timestampDelta: 0, key: null, value: Buffer.from('b') }, big);
    expect(c).toEqual(d);
    expect((c as { offset: string }).offset).toBe('9007199254740995');
    const [e, f] = both({ offsetDelta: 0, timestampDelta: Long.fromValue('4611686018427387904'), key: null, value: Buffer.from('t') }, context);
    expect(e).toEqual(f);
  });
});
