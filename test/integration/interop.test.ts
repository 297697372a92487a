/**
 * Interop: records fetched from Kafka by an independent client (kcat) decode with a non-JavaScript
 * MessagePack library (Python's msgpack) to the documented fields (docs/record-format.md).
 */
import { beforeAll, afterAll, describe, expect, it } from 'vitest';
import { consumeRecords, Daemon, ensureKafka, execFileP, KAFKA, sh } from './harness.js';

const DECODE = `
import json, sys, msgpack
raw = sys.stdin.buffer.read()
out, i = [], 0
while i < len(raw):
    nl = raw.index(b'\\n', i)
    n = int(raw[i:nl])
    value = raw[nl + 1:nl + 1 + n]
    i = nl + 1 + n + 1          # kcat's end-of-message delimiter
    r = msgpack.unpackb(value, raw=False, strict_map_key=True)
    types = {k: type(v).__name__ for k, v in r.items()}
    r['data'] = r['data'].hex()
    out.append({'record': r, 'types': types})
print(json.dumps(out))
`;

describe('interop: kcat + Python msgpack', () => {
  let d: Daemon;

  beforeAll(async () => {
    await ensureKafka();
    d = await Daemon.start({ kafka: true, streams: ['interop'] });
  });

  afterAll(async () => {
    await d?.cleanup();
  });

  it('decodes every documented field with the documented types', async () => {
    await sh(`printf 'plain line\\n' >> ${d.path('interop')}; printf 'bin\\000\\377\\n' >> ${d.path('interop', 'critical')}`);
    await consumeRecords(d.topic('interop'), 2); // both are in Kafka now
    const kcat = await sh(`kcat -b ${KAFKA} -C -t ${d.topic('interop')} -o beginning -e -q -f '%S\\n%s\\n' -c 2`);
    const { stdout } = await execFileP('bash', ['-c', `kcat -b ${KAFKA} -C -t ${d.topic('interop')} -o beginning -e -q -f '%S\\n%s\\n' -c 2 | python3 -c "${DECODE.replace(/"/g, '\\"')}"`]);
    expect(kcat.length).toBeGreaterThan(0);
    const decoded = JSON.parse(stdout) as { record: Record<string, unknown>; types: Record<string, string> }[];
    expect(decoded).toHaveLength(2);
    const [a, b] = decoded;
    expect(a!.record).toMatchObject({ v: 1, provider: d.provider, stream: 'interop', class: null, instance: d.instance, source: 'fuse', data: Buffer.from('plain line').toString('hex') });
    expect(b!.record).toMatchObject({ class: 'critical', data: Buffer.from([0x62, 0x69, 0x6e, 0x00, 0xff]).toString('hex') });
    expect(a!.types).toEqual({ v: 'int', provider: 'str', stream: 'str', class: 'NoneType', instance: 'str', host: 'str', source: 'str', seq: 'int', ts: 'int', data: 'bytes' });
    expect(b!.types.class).toBe('str');
    const ts = a!.record.ts as number;
    expect(Math.abs(ts - Date.now())).toBeLessThan(120_000);
    expect(b!.record.seq).toBe((a!.record.seq as number) + 1);
    // The Kafka key is the instance ID.
    const keys = await sh(`kcat -b ${KAFKA} -C -t ${d.topic('interop')} -o beginning -e -q -f '%k\\n' -c 2`);
    expect(keys.trim().split('\n')).toEqual([d.instance, d.instance]);
  });
});
