/**
 * Stream encryption end to end (docs/encryption.md): lines written through the real FUSE mount
 * into an encrypted stream are sealed by the gateway, so neither the journal's files nor the Kafka
 * topic (read with kcat) hold them; a graph's parse and filter agents work on the lines as written;
 * the archive's files do not hold them either, while `logfsctl archive cat` shows them.
 */
import fsp from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createStream, FileProvisioningStore } from '../../control/store.js';
import { decodeRecord, type LogRecord } from '../../gateway/record-codec.js';
import { keyId, parseStreamKey, StreamKeyring } from '../../gateway/record-crypto.js';
import { openInPlace } from '../../pipeline/record-keys.js';
import { readArchive } from '../../pipeline/archive/archive-query.js';
import type { ArchivedRecord } from '../../pipeline/archive/archive-line.js';
import { Daemon, journalRecords, KAFKA, logfsctl, randomName, sh, tempDir, waitFor } from './harness.js';
import { applyGraph } from '../../pipeline/graph/graph-store.js';
import { consumeRaw } from './pipeline-harness.js';

/** Card numbers in the lines: the text that must never appear at rest. */
const CARDS = ['4111111111111111', '5500005555555559', '340000000000009'];

/**
 * parse extracts the card number from the line, filter drops the lines without one: both only work
 * if they get the line as written.
 */
const PAYMENTS_GRAPH = {
  name: 'payments',
  streams: ['pay'],
  nodes: [
    { id: 'cards', type: 'filter', inputs: ['source'], config: { pass: { match: 'card=\\d+' } } },
    { id: 'parse', type: 'parse', inputs: ['cards'], config: { format: 'regex', pattern: 'card=(?<card>\\d+) amount=(?<amount>[0-9.]+)' } },
    { id: 'store', type: 'archive', inputs: ['parse'] },
  ],
};

/**
 * Starts logfsd on a data dir whose store already holds an encrypted stream `pay` (processed by
 * PAYMENTS_GRAPH) and a plain `web`, committed through the store as the control service does.
 */
async function daemonWithEncryptedStream(kafka: boolean): Promise<{ d: Daemon; base: string; keys: StreamKeyring; kid: string }> {
  const base = await tempDir('logfs-enc-');
  const dataDir = path.join(base, 'data');
  const provider = randomName('p');
  const store = await FileProvisioningStore.open(dataDir);
  const pay = await createStream(store, { name: 'pay', provider, encrypt: true });
  await createStream(store, { name: 'web', provider });
  await applyGraph(store, PAYMENTS_GRAPH);
  const keys = new StreamKeyring(Object.values(store.snapshot().streams));
  store.close();
  const d = await Daemon.start({ dataDir, provider, kafka });
  return { d, base, keys, kid: keyId(parseStreamKey(pay.key as string)) };
}

/** The stream's key as the store holds it (base64). */
async function keyOf(dataDir: string, stream: string): Promise<string | null | undefined> {
  const store = await FileProvisioningStore.open(dataDir);
  const key = store.snapshot().streams[stream]?.key;
  store.close();
  return key;
}

async function cleanup(d: Daemon | undefined, base: string | undefined): Promise<void> {
  await d?.cleanup();
  if (base) await fsp.rm(base, { recursive: true, force: true });
}

/** Every archived record (opened when `keys` is given). */
async function archivedRecords(dataDir: string, stream: string, keys?: StreamKeyring): Promise<ArchivedRecord[]> {
  const out: ArchivedRecord[] = [];
  for await (const r of readArchive(path.join(dataDir, 'archive', 'default'), { stream }, keys ? { keys } : {})) out.push(r);
  return out;
}

describe('stream encryption, embedded mode (journal as the bus)', () => {
  let d: Daemon | undefined;
  let base: string | undefined;
  let keys: StreamKeyring;
  let kid: string;

  beforeAll(async () => {
    ({ d, base, keys, kid } = await daemonWithEncryptedStream(false));
  });

  afterAll(async () => {
    await cleanup(d, base);
  });

  it('seals lines before the journal, lets parse and filter see them, and archives them sealed', async () => {
    const daemon = d as Daemon;
    await sh(`printf 'card=${CARDS[0]} amount=12.50\\nno card here\\ncard=${CARDS[1]} amount=7.00\\n' >> ${daemon.path('pay')} && printf 'card=${CARDS[2]} amount=1.00\\n' >> ${daemon.path('pay', 'audit')}`);
    await sh(`printf 'plain line\\n' >> ${daemon.path('web')}`);

    // The journal: every record of `pay` sealed, and no card number anywhere in its files.
    const journal = await waitFor('four journal records of pay', async () => {
      const recs = await journalRecords(daemon, 'pay');
      return recs.length >= 4 ? recs : undefined;
    });
    expect(journal.every((r) => r.enc === 'A256GCM' && r.kid === kid)).toBe(true);
    const journalDir = (await daemon.runtime()).journalDir;
    for (const card of CARDS) expect(await sh(`grep -rlF '${card}' ${journalDir} || true`)).toBe('');
    expect((await journalRecords(daemon, 'web'))[0]!.enc).toBeUndefined();
    // logfsctl tail opens them with the key from the store.
    const tail = await logfsctl(['tail', 'pay', '--data', daemon.dataDir, '--provider', daemon.provider, '--from-beginning', '--count', '4', '--timeout', '20']);
    expect(tail.code, tail.stderr).toBe(0);
    expect(tail.stdout).toContain(`card=${CARDS[0]} amount=12.50`);
    expect(tail.stdout).toContain('no card here');

    // The archive: three records (the filter dropped one), with the fields parse extracted.
    const opened = await waitFor('three archived records of pay', async () => {
      const recs = await archivedRecords(daemon.dataDir, 'pay', keys);
      return recs.length >= 3 ? recs : undefined;
    }, 60_000);
    expect(opened.map((r) => r.fields.card).sort()).toEqual([...CARDS].sort());
    expect(opened.map((r) => r.data)).not.toContain('no card here');
    expect(opened.find((r) => r.fields.card === CARDS[2])!.class).toBe('audit');
    // ...but its files hold neither the lines nor the extracted fields.
    const files = await sh(`find ${path.join(daemon.dataDir, 'archive')} -name '*.ndjson.gz' | xargs zcat`);
    for (const card of CARDS) expect(files).not.toContain(card);
    expect(files).toContain('"enc":"A256GCM"');
    const sealed = await archivedRecords(daemon.dataDir, 'pay');
    expect(sealed.every((r) => r.enc === 'A256GCM' && r.sealed !== undefined)).toBe(true);

    // logfsctl reads the key from the store in --data and shows the lines.
    const cat = await logfsctl(['archive', 'cat', '--data', daemon.dataDir, '--stream', 'pay']);
    expect(cat.code, cat.stderr).toBe(0);
    expect(cat.stdout.split('\n').filter(Boolean).sort()).toEqual([`card=${CARDS[0]} amount=12.50`, `card=${CARDS[1]} amount=7.00`, `card=${CARDS[2]} amount=1.00`].sort());
    const query = await logfsctl(['archive', 'query', '--data', daemon.dataDir, '--stream', 'pay', '--grep', CARDS[1]!, '--json']);
    expect(query.stdout.trim().split('\n').map((l) => JSON.parse(l).fields.card)).toEqual([CARDS[1]]);
    // Without the store, the records stay sealed and say so.
    const elsewhere = await tempDir('logfs-enc-copy-');
    await sh(`mkdir -p ${elsewhere}/archive && cp -r ${path.join(daemon.dataDir, 'archive', 'default')} ${elsewhere}/archive/`);
    const blind = await logfsctl(['archive', 'cat', '--data', elsewhere, '--stream', 'pay']);
    expect(blind.stdout.split('\n').filter(Boolean)).toEqual([expect.stringMatching(/^\[encrypted: /), expect.stringMatching(/^\[encrypted: /), expect.stringMatching(/^\[encrypted: /)]);
    expect(blind.stderr).toMatch(/3 records of encrypted streams shown as \[encrypted: …\]/);
    await fsp.rm(elsewhere, { recursive: true, force: true });
  });
});

describe('stream encryption, Kafka', () => {
  let d: Daemon | undefined;
  let base: string | undefined;
  let keys: StreamKeyring;
  let kid: string;

  beforeAll(async () => {
    ({ d, base, keys, kid } = await daemonWithEncryptedStream(true));
  });

  afterAll(async () => {
    await cleanup(d, base);
  });

  it('ships sealed records: kcat sees no line, a client with the key opens every one', async () => {
    const daemon = d as Daemon;
    await sh(`for i in 1 2 3; do printf 'card=${CARDS[0]} n=%s\\n' $i; done >> ${daemon.path('pay')}`);
    const topic = daemon.topic('pay');
    const values = await consumeRaw(topic, (v) => v.length >= 3);
    // An independent client: kcat prints the message values as they are on the broker.
    const raw = await sh(`kcat -b ${KAFKA} -C -t ${topic} -o beginning -e -q -f '%s\\n'`);
    expect(raw.length).toBeGreaterThan(0);
    expect(raw).not.toContain(CARDS[0]);
    expect(raw).toContain('A256GCM');
    const records: LogRecord[] = values.map((v) => decodeRecord(v));
    expect(records.every((r) => r.enc === 'A256GCM' && r.kid === kid && r.instance === daemon.instance)).toBe(true);
    for (const r of records) expect(openInPlace(r, keys)).toBeUndefined();
    expect(records.map((r) => r.data.toString())).toEqual([1, 2, 3].map((n) => `card=${CARDS[0]} n=${n}`));

    // Another language with standard libraries (msgpack, cryptography) reads and opens them from
    // the documentation alone (docs/encryption.md, "Opening a record elsewhere").
    const python = `
import sys, base64, msgpack
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
key = base64.b64decode(sys.argv[1])
raw = sys.stdin.buffer.read()
i = 0
while i < len(raw):
    nl = raw.index(b'\\n', i)
    n = int(raw[i:nl])
    r = msgpack.unpackb(raw[nl + 1:nl + 1 + n], raw=False)
    i = nl + 1 + n + 1
    assert r['enc'] == 'A256GCM', r
    aad = '\\0'.join(['logfs-record/1', r['provider'], r['stream'], '%s:%d' % (r['instance'], r['seq']), 'data']).encode()
    print(AESGCM(key).decrypt(r['data'][:12], r['data'][12:], aad).decode(), r['kid'])
`;
    const key = (await keyOf(daemon.dataDir, 'pay')) as string;
    const script = path.join(base as string, 'open.py');
    await fsp.writeFile(script, python);
    const out = await sh(`kcat -b ${KAFKA} -C -t ${topic} -o beginning -e -q -f '%S\\n%s\\n' | python3 ${script} ${key}`);
    expect(out.trim().split('\n')).toEqual([1, 2, 3].map((n) => `card=${CARDS[0]} n=${n} ${kid}`));
  });
});
