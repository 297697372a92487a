import { Packr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { decodeRecordFast, decodeRecordFastAt } from '../../gateway/record-decoder.js';
import { makePipelineRecord, decodePipelineRecord } from '../../pipeline/record.js';
import { decodeRecord, encodeRecord, type LogRecord } from '../../gateway/record-codec.js';

const base: LogRecord = { v: 1, provider: 'acme', stream: 'web/access', class: 'critical/db', instance: 'i-0abc', host: 'h1', seq: 1_795_000_000_000_123, ts: 1_795_000_000_000, source: 'fuse', data: Buffer.from('héllo\u0000\xff') };
const other = new Packr({ useRecords: false, variableMapSize: true });

describe('fast record decoder', () => {
  it('decodes what the gateway encodes, as the general decoder does', () => {
    for (const r of [base, { ...base, class: null }, { ...base, part: [2, true] as [number, boolean] }, { ...base, attrs: { severity: 3, app: 'x', nested: { a: [1, 2] } } }, { ...base, data: Buffer.alloc(70_000, 0x61) }]) {
      const bytes = encodeRecord(r);
      const fast = decodeRecordFast(bytes);
      expect(fast).toBeDefined();
      expect(fast).toEqual(r);
    }
  });

  it('reads records another MessagePack library wrote, in another key order and with unknown keys', () => {
    const bytes = other.pack({ data: base.data, ts: base.ts, future: { x: [1, 'a', null] }, seq: 77, source: 'syslog', host: 'h', instance: 'i', class: null, stream: 's', provider: 'p', v: 1 });
    expect(decodeRecord(bytes)).toEqual({ v: 1, provider: 'p', stream: 's', class: null, instance: 'i', host: 'h', seq: 77, ts: base.ts, source: 'syslog', data: base.data });
  });

  it('does not remember a string across records whose bytes differ', () => {
    const a = decodeRecordFast(encodeRecord({ ...base, stream: 'aaa' }))!;
    const b = decodeRecordFast(encodeRecord({ ...base, stream: 'aab' }))!;
    expect([a.stream, b.stream]).toEqual(['aaa', 'aab']);
  });

  it('leaves what it does not fully understand to the general path, which names the problem', () => {
    expect(decodeRecordFast(other.pack({ ...base, ts: 1.5 }))).toBeUndefined();
    expect(() => decodeRecord(other.pack({ ...base, ts: 'soon' }))).toThrow(/field "ts"/);
    expect(decodeRecordFast(encodeRecord(base).subarray(0, 40))).toBeUndefined();
    expect(() => decodeRecord(encodeRecord(base).subarray(0, 40))).toThrow(/not valid MessagePack|missing/);
    const { seq: _seq, ...noSeq } = base;
    expect(() => decodeRecord(other.pack(noSeq))).toThrow(/field "seq"/);
    expect(() => decodeRecord(Buffer.from([0x93, 1, 2, 3]))).toThrow(/not a MessagePack map/);
  });

  it('reads a record where it lies in a larger buffer, and nothing outside its bounds', () => {
    for (const r of [base, { ...base, attrs: { severity: 3, nested: { a: [1, 2] } } }]) {
      const bytes = encodeRecord(r);
      // Bytes before and after, as the records around a message in a fetch response.
      const around = Buffer.concat([Buffer.from([0x91, 0xc4, 0x40]), bytes, encodeRecord({ ...base, seq: 9 })]);
      const start = 3;
      const end = start + bytes.length;
      expect(decodeRecordFastAt(around, start, end, makePipelineRecord)).toEqual(decodePipelineRecord(bytes));
      // Cut short: a miss, not a read into the next record; one byte too many: a miss as well.
      for (let cut = 1; cut < bytes.length; cut += 7) expect(decodeRecordFastAt(around, start, end - cut, makePipelineRecord)).toBeUndefined();
      expect(decodeRecordFastAt(around, start, end + 1, makePipelineRecord)).toBeUndefined();
    }
  });

  it('builds the pipeline record directly, and leaves sealed records to the general path', () => {
    const bytes = encodeRecord({ ...base, part: [1, false] });
    const direct = decodeRecordFastAt(bytes, 0, bytes.length, makePipelineRecord)!;
    expect(direct).toEqual(decodePipelineRecord(bytes));
    expect(Object.keys(direct)).toEqual(Object.keys(decodePipelineRecord(bytes)));
    const sealed = encodeRecord({ ...base, enc: 'A256GCM', kid: 'k1' });
    expect(decodeRecordFast(sealed)).toMatchObject({ enc: 'A256GCM', kid: 'k1' });
    expect(decodeRecordFastAt(sealed, 0, sealed.length, makePipelineRecord)).toBeUndefined();
  });
});
