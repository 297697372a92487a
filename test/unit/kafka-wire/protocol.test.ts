import { describe, expect, it } from 'vitest';
import { ApiKey, chooseVersions, decodeProduce, encodeProduce, Reader, Writer } from '../../../gateway/kafka-wire/protocol.js';

describe('Kafka wire protocol', () => {
  it('picks the newest non-flexible version the broker speaks, and refuses a broker that speaks none', () => {
    const broker = new Map([
      [ApiKey.Produce, { min: 3, max: 12 }],
      [ApiKey.Metadata, { min: 0, max: 13 }],
      [ApiKey.ApiVersions, { min: 0, max: 4 }],
      [ApiKey.InitProducerId, { min: 0, max: 5 }],
    ]);
    expect(chooseVersions(broker)).toEqual({ [ApiKey.Produce]: 8, [ApiKey.Metadata]: 8, [ApiKey.ApiVersions]: 0, [ApiKey.InitProducerId]: 1 });
    expect(() => chooseVersions(new Map([...broker, [ApiKey.Produce, { min: 9, max: 12 }]]))).toThrow(/client "kafkajs"/);
  });

  it('frames a produce request around the batches without copying them', () => {
    const a = Buffer.from('batch-a');
    const b = Buffer.from('batch-b');
    const parts = encodeProduce(-1, 30_000, [
      { topic: 't1', partition: 0, batch: a },
      { topic: 't2', partition: 2, batch: b },
    ]);
    expect(parts[1]).toBe(a);
    expect(parts[3]).toBe(b);
    const r = new Reader(Buffer.concat(parts));
    expect([r.string(), r.int16(), r.int32(), r.int32()]).toEqual([null, -1, 30_000, 2]);
    expect([r.string(), r.int32(), r.int32(), r.int32()]).toEqual(['t1', 1, 0, a.length]);
  });

  it('reads produce responses of v3 and v8', () => {
    const v3 = new Writer().int32(1).string('t').int32(1).int32(4).int16(46).int64(77).int64(-1).int32(0).bytes();
    expect(decodeProduce(3, new Reader(v3))).toEqual([{ topic: 't', partition: 4, errorCode: 46, baseOffset: 77, errorMessage: null }]);
    const v8 = new Writer().int32(1).string('t').int32(1).int32(0).int16(10).int64(-1).int64(-1).int64(0).int32(0).string('too big').int32(0).bytes();
    expect(decodeProduce(8, new Reader(v8))).toEqual([{ topic: 't', partition: 0, errorCode: 10, baseOffset: -1, errorMessage: 'too big' }]);
  });
});
