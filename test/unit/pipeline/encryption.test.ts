/**
 * Records of encrypted streams in the pipeline: opened by the source before the agents, flagged
 * (never dropped) when they do not open, sealed again at rest in the archive, in relays and on
 * phase topics, and opened by the archive's readers when the key is there.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { Unpackr } from 'msgpackr';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { archiveCat, archiveQuery, type ArchiveOutput } from '../../../cli/archive-command.js';
import { isLogfsError } from '../../../core/errors.js';
import { decodeRecord, encodeRecord, type LogRecord } from '../../../gateway/record-codec.js';
import { recordAad, RecordSealer, StreamKeyring, type StreamCryptoSpec } from '../../../gateway/record-crypto.js';
import { archivedData, ArchiveStore, readArchive, TcpRelay, TopicRelay, type ArchivedRecord } from '../../../pipeline/archive/index.js';
import type { GraphPlan } from '../../../pipeline/graph/graph-validate.js';
import { decodePhaseBatch, KafkaPhaseBoundary } from '../../../pipeline/phase-topic.js';
import { DECRYPT_FAILED_FLAG, openInPlace } from '../../../pipeline/record-keys.js';
import { derivedRecord } from '../../../pipeline/record.js';
import { decodeOrFlag } from '../../../pipeline/source.js';
import { decodeStreamBatch } from '../../../pipeline/kafka-source.js';
import { makeRecord } from './agent-harness.js';

const log = pino({ level: 'silent' });
const KEY = crypto.randomBytes(32);
const SECRET = 'card=4111111111111111';
const T0 = Date.UTC(2024, 4, 1, 10, 0, 0);
const specs: StreamCryptoSpec[] = [
  { name: 'pay', provider: 'acme', encrypt: true, key: KEY.toString('base64') },
  { name: 'web', provider: 'acme', encrypt: false, key: null },
];
const keys = new StreamKeyring(specs);
const where = () => ({ stream: 'pay', provider: 'acme', key: 'i-1', position: 'test@1' });

/** A record of stream `pay` as the gateway writes it. */
function wire(seq: number, line = SECRET, key = KEY): Buffer {
  const sealer = new RecordSealer(key);
  const r: LogRecord = { v: 1, provider: 'acme', stream: 'pay', class: null, instance: 'i-1', host: 'h', seq, ts: T0 + seq, source: 'fuse', data: Buffer.alloc(0) };
  return encodeRecord({ ...r, data: sealer.seal(Buffer.from(line), recordAad('acme', 'pay', `i-1:${seq}`)), enc: 'A256GCM', kid: sealer.kid });
}

describe('pipeline sources: records of encrypted streams', () => {
  it('open the data with the stream key before the agents see it', () => {
    const r = decodeOrFlag(wire(1), where, keys);
    expect(r.flags).toEqual([]);
    expect(r.data.toString()).toBe(SECRET);
    expect(r).toMatchObject({ id: 'i-1:1', stream: 'pay', kind: 'log' });
    const [edge] = decodeStreamBatch({ topic: 't', partition: 0, messages: [{ key: Buffer.from('i-1'), value: wire(2), offset: '0' }] } as never, { topic: 't', stream: 'pay', provider: 'acme' }, keys);
    expect(edge!.records[0]!.data.toString()).toBe(SECRET);
  });

  it('pass on, flagged and still sealed, a record whose key is missing, different, or whose bytes were changed', () => {
    const noKey = decodeOrFlag(wire(1), where, new StreamKeyring([]));
    const otherKey = decodeOrFlag(wire(2, SECRET, crypto.randomBytes(32)), where, keys);
    const bytes = wire(3);
    bytes[bytes.length - 1]! ^= 1; // the tag's last byte
    const tampered = decodeOrFlag(bytes, where, keys);
    // Moved: a sealed value copied into another record of the same stream.
    const moved = decodeRecord(wire(5));
    moved.data = decodeRecord(wire(4)).data;
    const movedRecord = decodeOrFlag(encodeRecord(moved), where, keys);
    for (const [r, why] of [
      [noKey, /has no key here/],
      [otherKey, /but the key of stream "pay" is/],
      [tampered, /does not open with the stream key/],
      [movedRecord, /does not open with the stream key/],
    ] as const) {
      expect(r.flags).toEqual([DECRYPT_FAILED_FLAG]);
      expect(r.fields._decrypt_error).toMatch(why);
      expect(r.data.includes(SECRET)).toBe(false);
    }
  });
});

describe('the archive: encrypted streams at rest', () => {
  let root: string;
  beforeEach(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'logfs-archive-enc-'));
  });
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

  async function archive(records: ReturnType<typeof makeRecord>[], ring = keys): Promise<string> {
    const dir = path.join(root, 'archive', 'default');
    const store = await ArchiveStore.open({ dir, log, keys: () => ring });
    store.append(records, { graph: 'g', version: 1 });
    await store.flush();
    await store.close();
    return dir;
  }

  function segmentText(dir: string): string {
    const files = (fs.readdirSync(dir, { recursive: true }) as string[]).filter((f) => f.endsWith('.ndjson.gz'));
    return files.map((f) => zlib.gunzipSync(fs.readFileSync(path.join(dir, f))).toString('utf8')).join('');
  }

  async function readAll(dir: string, ring?: StreamKeyring, grep?: RegExp): Promise<ArchivedRecord[]> {
    const out: ArchivedRecord[] = [];
    for await (const r of readArchive(dir, grep ? { grep } : {}, ring ? { keys: ring } : {})) out.push(r);
    return out;
  }

  it('stores data and fields of encrypted streams sealed, and plain streams in clear', async () => {
    const dir = await archive([
      makeRecord(SECRET, { seq: 1, ts: T0, stream: 'pay', fields: { card: '4111111111111111' } }),
      makeRecord('hello', { seq: 2, ts: T0, stream: 'web', fields: { word: 'hello' } }),
      derivedRecord({ id: 'agg-1', kind: 'aggregate', like: { provider: 'acme', stream: 'pay', class: null, instance: 'i-1', host: 'h' }, ts: T0, data: `3 x ${SECRET}`, fields: {} }),
    ]);
    const text = segmentText(dir);
    expect(text).not.toContain('4111111111111111');
    expect(text).toContain('"data":"hello"');
    const lines = text.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    const pay = lines.find((l) => l.id === 'i-1:1')!;
    expect(pay).toMatchObject({ enc: 'A256GCM', kid: new RecordSealer(KEY).kid, dataEncoding: 'base64', fields: {}, stream: 'pay', seq: 1 });
    expect(typeof pay.sealedFields).toBe('string');

    const opened = await readAll(dir, keys);
    expect(opened.map((r) => [r.id, r.data, r.fields, r.enc, r.sealed])).toEqual([
      ['i-1:1', SECRET, { card: '4111111111111111' }, undefined, undefined],
      ['agg-1', `3 x ${SECRET}`, {}, undefined, undefined],
      ['i-1:2', 'hello', { word: 'hello' }, undefined, undefined],
    ]);
    // grep sees the opened text, and nothing of a record it cannot open.
    expect((await readAll(dir, keys, /4111/)).map((r) => r.id)).toEqual(['i-1:1', 'agg-1']);
    expect(await readAll(dir, undefined, /4111/)).toEqual([]);
    const sealed = await readAll(dir);
    expect(sealed[0]).toMatchObject({ enc: 'A256GCM', sealed: expect.stringMatching(/key of stream "pay" is not available here/) });
    expect(sealed[2]).toMatchObject({ data: 'hello' });
  });

  it('shows the lines with logfsctl archive cat/query when the key is there, a marker when not', async () => {
    await archive([makeRecord(SECRET, { seq: 1, ts: T0, stream: 'pay' }), makeRecord('hello', { seq: 2, ts: T0 + 1, stream: 'web' })]);
    const out = (): ArchiveOutput & { lines: string[]; warnings: string[] } => {
      const lines: string[] = [];
      const warnings: string[] = [];
      return { lines, warnings, line: (t) => void lines.push(t), bytes: (b) => void lines.push(b.toString()), warn: (w) => void warnings.push(w) };
    };
    const withKey = out();
    await archiveCat({ data: root, name: 'default', keys }, withKey);
    expect(withKey.lines.sort()).toEqual([SECRET, 'hello']);
    const without = out();
    await archiveCat({ data: root, name: 'default', keys: new StreamKeyring([]) }, without);
    expect(without.lines.sort()).toEqual([expect.stringMatching(/^\[encrypted: sealed with key [0-9a-f]{16}; the key of stream "pay" is not available here\]$/), 'hello']);
    expect(without.warnings).toEqual([expect.stringMatching(/^1 record of encrypted streams shown as \[encrypted: …\]/)]);
    const query = out();
    await archiveQuery({ data: root, name: 'default', keys: new StreamKeyring([]) }, query);
    expect(query.lines.find((l) => l.includes('acme:pay'))).toMatch(/i-1#1 \[encrypted: /);
    // Without --keys the command reads the store in --data: there is none here, so nothing opens.
    const fromStore = out();
    await archiveCat({ data: root, name: 'default' }, fromStore);
    expect(fromStore.lines.some((l) => l.startsWith('[encrypted:'))).toBe(true);
  });

  it('keeps a record that did not open as it came (sealed, flagged), and refuses to store clear text without a key', async () => {
    const failed = decodeOrFlag(wire(1), where, new StreamKeyring([]));
    const noKey = new StreamKeyring([{ name: 'pay', provider: 'acme', encrypt: true, key: null }]);
    const dir = await archive([failed], noKey);
    const [r] = await readAll(dir, keys);
    expect(r!.flags).toEqual([DECRYPT_FAILED_FLAG]);
    expect(archivedData(r!).equals(failed.data)).toBe(true);

    const store = await ArchiveStore.open({ dir: path.join(root, 'other'), log, keys: () => noKey });
    let err: unknown;
    try {
      store.append([makeRecord(SECRET, { seq: 9, stream: 'pay' })], { graph: 'g', version: 1 });
    } catch (e) {
      err = e;
    }
    expect(isLogfsError(err, 'LOGFS_E_NO_KEY')).toBe(true);
    expect((err as { retriable: boolean }).retriable).toBe(true);
    expect(store.stats()).toMatchObject({ appended: 0, accepted: 0 });
    await store.close();
  });
});

describe('relays and phase topics: encrypted streams leave sealed', () => {
  it('relays to a topic a sealed wire record that opens with the key', async () => {
    const sent: Buffer[] = [];
    const relay = new TopicRelay({ send: async (_t, m) => void sent.push(...m.map((x) => x.value)) }, 'out', log, () => keys);
    relay.append([makeRecord(SECRET, { seq: 7, stream: 'pay', fields: { card: '4111' } })], { graph: 'g', version: 1 });
    await relay.flush();
    expect(sent[0]!.includes(SECRET)).toBe(false);
    const map = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number' }).unpack(sent[0]!) as Record<string, unknown>;
    expect(map).toMatchObject({ enc: 'A256GCM', fields: {}, id: 'i-1:7' });
    expect(map.sealedFields).toBeInstanceOf(Uint8Array);
    const r = decodeRecord(sent[0]!);
    expect(openInPlace(r, keys)).toBeUndefined();
    expect(r.data.toString()).toBe(SECRET);
  });

  it('relays over TCP the sealed archive line', () => {
    const relay = new TcpRelay({ host: '127.0.0.1', port: 1, log, keys: () => keys, backoff: { initialMs: 60_000 } });
    relay.append([makeRecord(SECRET, { seq: 8, stream: 'pay' })], { graph: 'g', version: 1 });
    const pending = Buffer.concat((relay as unknown as { pending: { take(): Buffer[] } }).pending.take()).toString();
    expect(pending).toContain('"enc":"A256GCM"');
    expect(pending).not.toContain(SECRET);
    void relay.close();
  });

  it('crosses a phase topic sealed and is opened by the next phase', () => {
    const plan = { name: 'g', nodes: [{ id: 'a', phase: 'p1', inputs: [] }, { id: 'b', phase: 'p2', inputs: [{ from: 'a', port: 'out' }] }] } as unknown as GraphPlan;
    const sent: { key: string | null; value: Buffer }[] = [];
    const boundary = new KafkaPhaseBoundary(plan, 'p1', 'logfs', { send: async (_t, m) => void sent.push(...m) }, () => keys);
    boundary.send('a', 'out', [makeRecord(SECRET, { seq: 3, stream: 'pay', fields: { card: '4111' } })]);
    void boundary.flush();
    expect(sent[0]!.value.includes(SECRET)).toBe(false);
    expect(sent[0]!.value.includes('4111')).toBe(false);
    const batch = { topic: 'logfs.graph.g.p2', partition: 0, messages: [{ key: null, value: sent[0]!.value, offset: '0' }] };
    const [edge] = decodePhaseBatch(batch as never, undefined, keys);
    expect(edge!.records[0]!.data.toString()).toBe(SECRET);
    expect(edge!.records[0]!.fields).toEqual({ card: '4111' });
    const [lost] = decodePhaseBatch(batch as never, undefined, new StreamKeyring([]));
    expect(lost!.records[0]!.flags).toEqual([DECRYPT_FAILED_FLAG]);
    expect(lost!.records[0]!.fields._sealed_fields).toBeTypeOf('string');
  });
});
