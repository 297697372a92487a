/** Records of encrypted streams on the wire: `enc` and `kid` in a standard MessagePack map. */
import crypto from 'node:crypto';
import { Packr, Unpackr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { decodeRecord, encodeRecord, RecordTemplate, type LogRecord } from '../../gateway/record-codec.js';
import { decodeRecordFast } from '../../gateway/record-decoder.js';
import { openSealed, recordAad, RecordSealer } from '../../gateway/record-crypto.js';

const KEY = crypto.randomBytes(32);
const sealer = new RecordSealer(KEY);
const base: LogRecord = { v: 1, provider: 'acme', stream: 'pay/api', class: 'audit', instance: 'i-0abc', host: 'h1', seq: 1_795_000_000_000_123, ts: 1_795_000_000_000, source: 'fuse', data: Buffer.alloc(0) };
const LINE = Buffer.from('card=4111111111111111 amount=12.50');
const sealed = sealer.seal(LINE, recordAad(base.provider, base.stream, `${base.instance}:${base.seq}`));
const encrypted: LogRecord = { ...base, data: sealed, enc: 'A256GCM', kid: sealer.kid };

/** What any MessagePack library sees (msgpackr with its extensions off, as a Python reader would). */
const standard = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number' });

describe('encrypted records on the wire', () => {
  it('carry enc and kid beside the sealed data, in a plain map any decoder reads', () => {
    const bytes = encodeRecord(encrypted);
    expect(bytes[0]).toBe(0x80 | 12); // a fixmap: the 10 fields, enc and kid
    const plain = standard.unpack(bytes) as Record<string, unknown>;
    expect(Object.keys(plain).sort()).toEqual(['class', 'data', 'enc', 'host', 'instance', 'kid', 'provider', 'seq', 'source', 'stream', 'ts', 'v']);
    expect(plain).toMatchObject({ enc: 'A256GCM', kid: sealer.kid, seq: base.seq, stream: 'pay/api' });
    expect(Buffer.from(plain.data as Uint8Array).equals(sealed)).toBe(true);
    expect(bytes.includes(LINE)).toBe(false);
    expect(openSealed(KEY, Buffer.from(plain.data as Uint8Array), recordAad('acme', 'pay/api', `i-0abc:${base.seq}`)).equals(LINE)).toBe(true);
  });

  it('decode to the same record on the fast path and the general one', () => {
    const bytes = encodeRecord({ ...encrypted, part: [1, true], attrs: { severity: 3 } });
    const fast = decodeRecordFast(bytes);
    expect(fast).toEqual({ ...encrypted, part: [1, true], attrs: { severity: 3 } });
    // Another library's encoding, in another key order, takes the general path.
    const other = new Packr({ useRecords: false, variableMapSize: true }).pack({ kid: sealer.kid, data: sealed, enc: 'A256GCM', ts: base.ts, seq: 5, source: 'fuse', host: 'h', instance: 'i', class: null, stream: 's', provider: 'p', v: 1 });
    expect(decodeRecord(other)).toMatchObject({ enc: 'A256GCM', kid: sealer.kid, seq: 5 });
    expect(decodeRecord(other).data.equals(sealed)).toBe(true);
  });

  it('leave plain records as they were: no enc, no kid', () => {
    const r = decodeRecord(encodeRecord({ ...base, data: LINE }));
    expect('enc' in r).toBe(false);
    expect('kid' in r).toBe(false);
    expect(r.data.equals(LINE)).toBe(true);
  });

  it('reject enc without kid, and refuse to encode an unknown algorithm', () => {
    const noKid = new Packr({ useRecords: false, variableMapSize: true }).pack({ ...base, data: sealed, enc: 'A256GCM' });
    expect(decodeRecordFast(noKid)).toBeUndefined();
    expect(() => decodeRecord(noKid)).toThrow(/field "kid"/);
    expect(() => encodeRecord({ ...encrypted, enc: 'ROT13' })).toThrow(/sealed with "ROT13"/);
  });

  it('come out of the gateway template with the journal header room', () => {
    const t = new RecordTemplate(base);
    const withRoom = t.encode(base.seq, base.ts, sealed, undefined, undefined, 7, sealer.kid);
    expect(decodeRecord(withRoom.subarray(7))).toEqual(encrypted);
  });
});
