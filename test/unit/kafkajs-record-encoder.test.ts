import crypto from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { unpatched } from './kafkajs-reference.js';
import { makeFastRecordEncoder } from '../../gateway/kafkajs-record-encoder.js';

// kafkajs' own record encoder, as the reference (loaded afresh: importing ours patched the cached one).
const original = unpatched<(r: Record<string, unknown>) => { buffer: Buffer }>('kafkajs/src/protocol/recordBatch/record/v0/index.js');
const fast = makeFastRecordEncoder(original as never);

describe('fast kafkajs record encoder', () => {
  it('writes the bytes kafkajs writes', () => {
    expect((original as { logfsFast?: boolean }).logfsFast, 'the reference must be kafkajs itself').toBeUndefined();
    const cases: Record<string, unknown>[] = [
      { offsetDelta: 0, timestampDelta: 0, key: 'i-1', value: Buffer.from('v') },
      { offsetDelta: 63, timestampDelta: 64, key: Buffer.from('k'), value: crypto.randomBytes(300) },
      { offsetDelta: 8191, timestampDelta: -1, key: null, value: null },
      { offsetDelta: 100_000, timestampDelta: 2 ** 40, key: 'ünïcode', value: 'strïng value' },
      { offsetDelta: 5, timestampDelta: 3, key: Buffer.alloc(0), value: Buffer.alloc(70_000, 7) },
      { offsetDelta: 1, timestampDelta: 1, key: 'k', value: 'v', headers: { trace: 't1' } },
      { value: Buffer.from('defaults') },
    ];
    for (const c of cases) expect(Buffer.compare(fast(c as never).buffer, original(c).buffer), JSON.stringify(c).slice(0, 80)).toBe(0);
  });
});
