import { describe, expect, it } from 'vitest';
import { encodeRecord } from '../../../gateway/index.js';
import { decodeStreamBatch } from '../../../pipeline/kafka-source.js';
import { UNDECODABLE_FLAG } from '../../../pipeline/source.js';

describe('decoding a fetched batch', () => {
  it('turns a message that is not a record into a flagged record holding its bytes, and decodes the rest', () => {
    const good = encodeRecord({ v: 1, provider: 'acme', stream: 'web', class: null, instance: 'i-1', host: 'h', seq: 7, ts: 1, source: 'fuse', data: Buffer.from('fine') });
    const batch = {
      topic: 'logfs.acme.web',
      partition: 2,
      messages: [
        { key: Buffer.from('i-1'), value: good, offset: '10' },
        { key: Buffer.from('rogue'), value: Buffer.from('not msgpack at all'), offset: '11' },
        { key: null, value: null, offset: '12' },
      ],
    };
    const [edge] = decodeStreamBatch(batch as never, { topic: 'logfs.acme.web', stream: 'web', provider: 'acme' });
    const [ok, bad, empty] = edge!.records;
    expect(ok).toMatchObject({ id: 'i-1:7', flags: [] });
    expect(ok!.data.toString()).toBe('fine');
    expect(bad).toMatchObject({ id: 'undecodable:logfs.acme.web/2@11', instance: 'rogue', stream: 'web', provider: 'acme', flags: [UNDECODABLE_FLAG] });
    expect(bad!.data.toString()).toBe('not msgpack at all');
    expect(bad!.fields._decode_error).toMatch(/not a logFS record at logfs\.acme\.web\/2@11/);
    expect(empty).toMatchObject({ id: 'undecodable:logfs.acme.web/2@12', instance: 'unknown', flags: [UNDECODABLE_FLAG] });
  });
});
