/** The gateway seals the data of encrypted streams before it reaches the journal, and never writes them in clear. */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { isLogfsError } from '../../core/errors.js';
import { createStream, FileProvisioningStore } from '../../control/store.js';
import { parseGatewayConfig } from '../../gateway/config.js';
import { Gateway } from '../../gateway/gateway.js';
import { decodeJournalEntry } from '../../gateway/journal-entry.js';
import { decodeRecord } from '../../gateway/record-codec.js';
import { keyId, openSealed, parseStreamKey, recordAad } from '../../gateway/record-crypto.js';
import { nativeGateway } from '../../gateway/native.js';
import { tempDirs } from './temp-dirs.js';

const log = pino({ level: 'silent' });

const temp = tempDirs();
afterAll(() => temp.remove());

const who = { instance: 'i-1', provider: 'acme' };

async function setup() {
  const dir = await temp.make('gw-enc-');
  const store = await FileProvisioningStore.open(dir);
  await createStream(store, { name: 'plain', provider: 'acme' });
  const secret = await createStream(store, { name: 'pay/card', provider: 'acme', encrypt: true });
  const gw = await Gateway.start(parseGatewayConfig({ host: 'h', metricsListen: null, provider: 'acme' }), { dataDir: dir, store, log });
  return { dir, store, gw, key: parseStreamKey(secret.key as string) };
}

async function journalRecords(gw: Gateway) {
  const { payloads } = await gw.journal.read(gw.journal.firstLsn, 1_000_000, 1 << 30);
  return payloads.map((p) => decodeRecord(decodeJournalEntry(p).value));
}

describe('gateway: encrypted streams', () => {
  it('seals the data of an encrypted stream, bound to its record; plain streams stay plain', async () => {
    const { dir, store, gw, key } = await setup();
    gw.ingest(who, 'plain', null, [{ data: Buffer.from('hello in clear') }], 'fuse');
    const pos = gw.ingest(who, 'pay/card', 'audit', [{ data: Buffer.from('card=4111111111111111') }, { data: Buffer.from('card=5500005555555559'), part: [0, false] }], 'fuse');
    await gw.barrier(pos);
    const [plain, a, b] = await journalRecords(gw);
    expect(plain!.enc).toBeUndefined();
    expect(plain!.data.toString()).toBe('hello in clear');
    for (const [r, line] of [
      [a!, 'card=4111111111111111'],
      [b!, 'card=5500005555555559'],
    ] as const) {
      expect(r).toMatchObject({ enc: 'A256GCM', kid: keyId(key), stream: 'pay/card', class: 'audit' });
      expect(openSealed(key, r.data, recordAad('acme', 'pay/card', `${r.instance}:${r.seq}`)).toString()).toBe(line);
    }
    expect(b!.part).toEqual([0, false]);
    await gw.close();
    // At rest on the host: the journal's files hold no card number.
    const files = fs.readdirSync(path.join(dir, 'journal'), { recursive: true }) as string[];
    for (const f of files) {
      const abs = path.join(dir, 'journal', f);
      if (fs.statSync(abs).isFile()) expect(fs.readFileSync(abs).includes('4111111111111111'), f).toBe(false);
    }
    store.close();
  });

  it('framing whole writes in C (ingestChunk) takes a plain stream\'s lines, never an encrypted one\'s', async () => {
    const { store, gw } = await setup();
    expect(gw.ingestChunk(who, 'pay/card', null, Buffer.from('card=4111111111111111\n'), 1024, 'fuse')).toEqual({ taken: 0, lsn: -1 });
    const plain = gw.ingestChunk(who, 'plain', null, Buffer.from('hello\n'), 1024, 'fuse');
    // Without the native build nothing is taken and ingest() frames every line.
    expect(plain.taken).toBe(nativeGateway === undefined ? 0 : 6);
    await gw.close();
    store.close();
  });

  it('refuses the writes of an encrypted stream without a key rather than writing them in clear', async () => {
    const { store, gw } = await setup();
    // A store edited by hand (or an older tool): encrypted, but no key.
    await store.update((d) => {
      d.streams['pay/card']!.key = null;
    });
    const before = gw.journal.nextLsn;
    let err: unknown;
    try {
      gw.ingest(who, 'pay/card', null, [{ data: Buffer.from('card=4111111111111111') }], 'fuse');
    } catch (e) {
      err = e;
    }
    expect(isLogfsError(err, 'LOGFS_E_NO_KEY')).toBe(true);
    expect((err as Error).message).toMatch(/stream "pay\/card" is encrypted but has no key; its writes are refused/);
    expect(gw.journal.nextLsn).toBe(before);
    // Other streams go on, and the sequence did not skip.
    const pos = gw.ingest(who, 'plain', null, [{ data: Buffer.from('still fine') }], 'fuse');
    await gw.barrier(pos);
    expect((await journalRecords(gw)).map((r) => r.data.toString())).toEqual(['still fine']);
    await gw.close();
    store.close();
  });

  it('follows a change of the store: a stream turned encrypted is sealed from the next write', async () => {
    const { store, gw } = await setup();
    gw.ingest(who, 'plain', null, [{ data: Buffer.from('before') }], 'fuse');
    await store.update((d) => {
      d.streams.plain!.encrypt = true;
      d.streams.plain!.key = d.streams['pay/card']!.key;
    });
    const pos = gw.ingest(who, 'plain', null, [{ data: Buffer.from('after') }], 'fuse');
    await gw.barrier(pos);
    const [r1, r2] = await journalRecords(gw);
    expect(r1!.enc).toBeUndefined();
    expect(r2!.enc).toBe('A256GCM');
    await gw.close();
    store.close();
  });
});
