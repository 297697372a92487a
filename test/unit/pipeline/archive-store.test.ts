import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isLogfsError } from '../../../core/errors.js';
import { ArchiveStore, archivedData, listArchive, readArchive, type ArchivedRecord } from '../../../pipeline/archive/index.js';
import { isSeqId } from '../../../pipeline/archive/archive-store.js';
import { derivedRecord, type PipelineRecord } from '../../../pipeline/record.js';
import { makeRecord } from './agent-harness.js';

const log = pino({ level: 'silent' });
const origin = { graph: 'g1', version: 3 };
const T0 = Date.UTC(2024, 4, 1, 10, 15, 0);

let root: string;
const stores: ArchiveStore[] = [];

beforeEach(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'logfs-archive-'));
});

afterEach(async () => {
  for (const s of stores.splice(0)) await s.close().catch(() => undefined);
  fs.rmSync(root, { recursive: true, force: true });
});

async function open(opts: Partial<Parameters<typeof ArchiveStore.open>[0]> = {}): Promise<ArchiveStore> {
  const s = await ArchiveStore.open({ dir: root, log, ...opts });
  stores.push(s);
  return s;
}

function rec(seq: number, data: string | Buffer = `line ${seq}`, over: Partial<PipelineRecord> = {}): PipelineRecord {
  return makeRecord(data, { seq, ts: T0 + seq, instance: 'i-1', ...over });
}

async function readAll(filter = {}): Promise<ArchivedRecord[]> {
  const out: ArchivedRecord[] = [];
  for await (const r of readArchive(root, filter)) out.push(r);
  return out;
}

function segmentFiles(): string[] {
  return (fs.readdirSync(root, { recursive: true }) as string[]).filter((f) => f.endsWith('.ndjson.gz')).map((f) => path.join(root, f));
}

/** A pid that belonged to a process that has exited. */
function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', '0']);
  return child.pid as number;
}

function patchState(writerId: string, patch: (s: Record<string, unknown>) => void): void {
  const file = path.join(root, '_writers', `${writerId}.json`);
  const state = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
  patch(state);
  fs.writeFileSync(file, JSON.stringify(state));
}

describe('ArchiveStore: storing', () => {
  it('keeps records of one instance that arrive out of order within a flush (paths of different length), and drops replays', async () => {
    const s = await open();
    // A filter sends odd records straight to the archive and even ones through one more node first.
    s.append([rec(1), rec(3), rec(5)], origin);
    s.append([rec(2), rec(4)], origin);
    await s.flush();
    expect((await readAll()).map((r) => r.seq).sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5]);
    // Redelivered after a crash: every one of them is a duplicate now.
    s.append([rec(2), rec(5), rec(6)], origin);
    await s.flush();
    expect((await readAll()).map((r) => r.seq).sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(s.stats().duplicates).toBe(2);
  });

  it('keeps records that share a sequence number but not an ID (custom agent outputs, undecodable messages)', async () => {
    const s = await open();
    const first = rec(5, 'original');
    const extra = { ...rec(5, 'second output of a custom agent'), id: 'i-1:5#1' };
    const undecodable = { ...rec(0, 'garbage'), id: 'undecodable:t/0@17' };
    s.append([first, extra, undecodable, { ...undecodable }], origin);
    await s.flush();
    expect((await readAll()).map((r) => r.data).sort()).toEqual(['garbage', 'original', 'second output of a custom agent']);
  });

  it('round-trips records byte for byte, including bytes that are not UTF-8', async () => {
    const payloads = [
      Buffer.from('plain text'),
      Buffer.from('quotes " and \\ backslash\tand tab'),
      Buffer.from('unicode: héllo ✓ 𝄞 \u2028'),
      Buffer.alloc(0),
      Buffer.from([0xff, 0xfe, 0x00, 0x41, 0xc3]),
      Buffer.from('cr\rnul\u0000end'),
    ];
    const store = await open();
    const records = payloads.map((p, i) => rec(i + 1, p, { class: i % 2 ? 'error' : null }));
    records[0]!.fields = { status: 200, path: '/x' };
    records[0]!.flags = ['invalid'];
    records[1]!.attrs = { severity: 'err' };
    records[2]!.part = [0, false];
    store.append(records, origin);
    await store.flush();

    const got = await readAll();
    expect(got.map((r) => archivedData(r))).toEqual(payloads);
    expect(got[4]!.dataEncoding).toBe('base64');
    expect(got[0]!.dataEncoding).toBeUndefined();
    expect(got[0]).toMatchObject({ id: 'i-1:1', kind: 'log', provider: 'acme', stream: 'web', class: null, instance: 'i-1', host: 'h1', seq: 1, ts: T0 + 1, source: 'fuse', fields: { status: 200, path: '/x' }, flags: ['invalid'], graph: 'g1', version: 3 });
    expect(got[0]!.time).toBe(new Date(T0 + 1).toISOString());
    expect(got[1]!.attrs).toEqual({ severity: 'err' });
    expect(got[2]!.part).toEqual([0, false]);

    // Ordinary tools read it: the file is plain concatenated gzip of JSON lines.
    const [file] = segmentFiles();
    const lines = zlib.gunzipSync(fs.readFileSync(file!)).toString('utf8').trimEnd().split('\n');
    expect(lines).toHaveLength(payloads.length);
    expect(JSON.parse(lines[5]!).data).toBe('cr\rnul\u0000end');
    expect(path.relative(root, file!)).toMatch(new RegExp(`^acme/web/2024-05-01/10/${store.writerId}-000000\\.ndjson\\.gz$`));
  });

  it('indexes each segment: committed length, counts, time range, classes, instances and versions', async () => {
    const store = await open();
    store.append([rec(10, 'a', { class: 'error' }), rec(11, 'b'), rec(12, 'c', { instance: 'i-2', class: 'error' })], origin);
    await store.flush();
    store.append([rec(13, 'd')], { graph: 'g1', version: 4 });
    await store.flush();
    const [seg] = await listArchive(root);
    expect(seg).toMatchObject({
      provider: 'acme',
      stream: 'web',
      date: '2024-05-01',
      hour: '10',
      writer: store.writerId,
      records: 4,
      minTs: T0 + 10,
      maxTs: T0 + 13,
      classes: { error: 2, '': 2 },
      instances: { 'i-1': [10, 13], 'i-2': [12, 12] },
      versions: { g1: [3, 4] },
    });
    expect(seg!.length).toBe(fs.statSync(path.join(root, seg!.path)).size);
    // Two flushes, two gzip members, one file.
    expect(segmentFiles()).toHaveLength(1);
  });

  it('files records by the UTC hour of their time and rolls segments by size', async () => {
    const store = await open({ segmentMaxBytes: 2_000 });
    const hourEnd = Date.UTC(2024, 4, 1, 10, 59, 59, 999);
    store.append([rec(1, 'x', { ts: hourEnd }), rec(2, 'y', { ts: hourEnd + 1 })], origin);
    store.append(Array.from({ length: 40 }, (_, i) => rec(100 + i, 'z'.repeat(100), { ts: hourEnd + 10 + i })), origin);
    await store.flush();
    const segs = await listArchive(root);
    expect(segs.filter((s) => s.hour === '10').map((s) => s.records)).toEqual([1]);
    const eleven = segs.filter((s) => s.hour === '11');
    expect(eleven.length).toBeGreaterThan(2);
    expect(eleven.reduce((n, s) => n + s.records, 0)).toBe(41);
    for (const s of eleven) expect(s.bytes).toBeLessThan(2_000 + 400);
    expect((await readAll()).map((r) => r.seq)).toEqual([1, 2, ...Array.from({ length: 40 }, (_, i) => 100 + i)]);
  });

  it('keeps a stream name with "/" in one directory and no record can escape the root', async () => {
    const store = await open();
    store.append([rec(1, 'a', { stream: 'app/error' }), rec(2, 'b', { provider: '../../evil', stream: '../x' })], origin);
    await store.flush();
    const files = segmentFiles().map((f) => path.relative(root, f));
    expect(files.some((f) => f.startsWith('acme/app.error/2024-05-01/10/'))).toBe(true);
    expect(files.every((f) => !f.startsWith('..'))).toBe(true);
    const got = await readAll();
    expect(got.map((r) => [r.provider, r.stream])).toEqual(
      expect.arrayContaining([
        ['acme', 'app/error'],
        ['../../evil', '../x'],
      ]),
    );
    expect((await listArchive(root, { stream: 'app/error' })).map((s) => s.stream)).toEqual(['app/error']);
  });

  it('stores records with a bad time or unserialisable fields, flagged and counted', async () => {
    const store = await open();
    const big = rec(2, 'big');
    big.fields = { n: 10n as unknown as number };
    store.append([rec(1, 'nan', { ts: Number.NaN }), big], origin);
    await store.flush();
    const got = await readAll();
    expect(got.map((r) => archivedData(r).toString())).toEqual(expect.arrayContaining(['nan', 'big']));
    expect(got.find((r) => r.seq === 2)!.flags).toContain('archive_unserialisable');
    expect(store.stats()).toMatchObject({ invalidTs: 1, unserialisable: 1, committed: 2 });
  });
});

describe('ArchiveStore: de-duplication', () => {
  it('drops records at or below the high-water seq, within and across flushes', async () => {
    const store = await open();
    store.append([rec(1), rec(2), rec(3), rec(3)], origin);
    await store.flush();
    store.append([rec(2), rec(3), rec(4)], origin);
    // Another instance and another stream have their own marks.
    store.append([rec(2, 'other instance', { instance: 'i-2' }), rec(1, 'other stream', { stream: 'api' })], origin);
    await store.flush();
    const got = await readAll();
    expect(got.map((r) => r.id).sort()).toEqual(['i-1:1', 'i-1:2', 'i-1:3', 'i-1:4', 'i-1:1', 'i-2:2'].sort());
    expect(store.stats()).toMatchObject({ appended: 9, duplicates: 3, committed: 6 });
  });

  it('drops a replay that comes before the commit, whether its first copy came in order or behind a higher one', async () => {
    const store = await open();
    store.append([rec(1), rec(4), rec(2), rec(6)], origin);
    store.append([rec(4), rec(2), rec(1), rec(6), rec(5), rec(3), rec(5), rec(3)], origin);
    await store.flush();
    expect((await readAll()).map((r) => r.seq).sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(store.stats()).toMatchObject({ appended: 12, duplicates: 6 });
    store.append([rec(3), rec(6), rec(7)], origin);
    await store.flush();
    expect(store.stats()).toMatchObject({ duplicates: 8, committed: 7 });
  });

  it('keeps what was appended while a flush was being written, and drops its replays', async () => {
    const store = await open();
    store.append([rec(1), rec(2)], origin);
    const flushing = store.flush();
    // The flush has taken its lines by now; these are left for the next commit.
    await new Promise((resolve) => setImmediate(resolve));
    store.append([rec(3), rec(5), rec(4)], origin);
    await flushing;
    store.append([rec(2), rec(3), rec(4), rec(5), rec(6)], origin);
    await store.flush();
    expect((await readAll()).map((r) => r.seq).sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(store.stats()).toMatchObject({ duplicates: 4, committed: 6 });
  });

  it('recognises the ID a log record gets from its seq exactly as the string comparison would', () => {
    const cases: [string, string, number][] = [
      ['i-1:5', 'i-1', 5],
      ['i-1:05', 'i-1', 5],
      ['i-1:50', 'i-1', 5],
      ['i-1:5#1', 'i-1', 5],
      ['i-1:', 'i-1', 5],
      ['i-2:5', 'i-1', 5],
      ['i-1;5', 'i-1', 5],
      ['xi-1:5', 'i-1', 5],
      [':7', '', 7],
      ['a:b:12', 'a:b', 12],
      ['i-1:1.5', 'i-1', 1.5],
      ['i-1:123456789012345', 'i-1', 123456789012345],
      ['i-1:9007199254740991', 'i-1', Number.MAX_SAFE_INTEGER],
      ['i-1:9007199254740992', 'i-1', 2 ** 53],
      ['i-1:1e+21', 'i-1', 1e21],
      ['i-1:-3', 'i-1', -3],
      ['i-1:NaN', 'i-1', NaN],
      ['i-1:4294967296', 'i-1', 2 ** 32],
    ];
    for (const [id, instance, seq] of cases) expect(isSeqId(id, instance, seq), `${id} / ${instance} / ${seq}`).toBe(id === `${instance}:${seq}`);
    for (let seq = 1; seq < 5000; seq += 7) {
      expect(isSeqId(`i-3:${seq}`, 'i-3', seq)).toBe(true);
      expect(isSeqId(`i-3:${seq + 1}`, 'i-3', seq)).toBe(false);
    }
  });

  it('drops derived records by ID', async () => {
    const store = await open();
    const like = rec(1);
    const agg = (): PipelineRecord => derivedRecord({ id: 'g1.agg.42', kind: 'aggregate', like, ts: T0, data: '5 similar', fields: { count: 5 } });
    store.append([agg(), agg()], origin);
    await store.flush();
    store.append([agg(), derivedRecord({ id: 'g1.agg.43', kind: 'aggregate', like, ts: T0, data: 'other', fields: {} })], origin);
    await store.flush();
    expect((await readAll()).map((r) => r.id)).toEqual(['g1.agg.42', 'g1.agg.43']);
  });

  it('holds each record once after a crash: a new writer redelivered the same records', async () => {
    const first = await open();
    first.append([rec(1), rec(2), rec(3)], origin);
    first.append([derivedRecord({ id: 'd-1', kind: 'alarm', like: rec(0), ts: T0, data: 'alarm', fields: {} })], origin);
    await first.flush();
    // `first` is never closed: as after a crash, a new worker starts on the same root.
    const second = await open();
    second.append([rec(1), rec(2), rec(3), rec(4)], origin);
    second.append([derivedRecord({ id: 'd-1', kind: 'alarm', like: rec(0), ts: T0, data: 'alarm', fields: {} })], origin);
    await second.flush();
    const ids = (await readAll()).map((r) => r.id);
    expect(ids.sort()).toEqual(['d-1', 'i-1:1', 'i-1:2', 'i-1:3', 'i-1:4']);
  });

  it('holds each record once across a restart under the same writer ID', async () => {
    const a = await open({ writerId: 'worker-1' });
    a.append([rec(1), rec(2)], origin);
    await a.flush();
    await a.close();
    const b = await open({ writerId: 'worker-1' });
    b.append([rec(1), rec(2), rec(3)], origin);
    await b.flush();
    expect((await readAll()).map((r) => r.seq)).toEqual([1, 2, 3]);
    // The restarted writer starts new segments instead of overwriting the old ones.
    expect(segmentFiles().map((f) => path.basename(f)).sort()).toEqual(['worker-1-000000.ndjson.gz', 'worker-1-000001.ndjson.gz']);
  });

  it('lets two writers share a root, each with its own files, and refresh() learns the other one\'s marks', async () => {
    const a = await open({ writerId: 'writer-a' });
    const b = await open({ writerId: 'writer-b' });
    a.append([rec(1), rec(2), rec(3), rec(4), rec(5)], origin);
    await a.flush();
    // The partition of i-1 moves from a to b: b refreshes, then gets records a already stored.
    await b.refresh();
    b.append([rec(4), rec(5), rec(6), rec(7)], origin);
    await b.flush();
    // And back: a refreshes and gets b's records again.
    await a.refresh();
    a.append([rec(7), rec(8)], origin);
    await a.flush();
    const got = await readAll();
    expect(got.map((r) => r.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    const segs = await listArchive(root);
    expect(segs.map((s) => [s.writer, s.records])).toEqual([
      ['writer-a', 6],
      ['writer-b', 2],
    ]);
    for (const s of segs) expect(path.basename(s.path).startsWith(`${s.writer}-`)).toBe(true);
    const hourDir = path.dirname(path.join(root, segs[0]!.path));
    expect(fs.readdirSync(hourDir).filter((f) => f.endsWith('.index.json')).sort()).toEqual(['writer-a.index.json', 'writer-b.index.json']);
  });

  it('without refresh() a writer does not know what another live writer stored', async () => {
    const a = await open({ writerId: 'writer-a' });
    const b = await open({ writerId: 'writer-b' });
    a.append([rec(1)], origin);
    await a.flush();
    b.append([rec(1)], origin);
    await b.flush();
    expect(await readAll()).toHaveLength(2);
  });
});

describe('ArchiveStore: crash recovery', () => {
  async function tornWriter(): Promise<{ file: string; committed: number }> {
    const a = await open({ writerId: 'crashed' });
    a.append([rec(1), rec(2)], origin);
    await a.flush();
    const [seg] = await listArchive(root);
    const file = path.join(root, seg!.path);
    // Half of a member that a flush was writing when the process died.
    const member = zlib.gzipSync(Buffer.from('{"id":"i-1:3"}\n'.repeat(50)));
    fs.appendFileSync(file, member.subarray(0, member.length >> 1));
    return { file, committed: seg!.length };
  }

  it('readers never see past the committed length', async () => {
    const { file, committed } = await tornWriter();
    expect(fs.statSync(file).size).toBeGreaterThan(committed);
    expect(() => zlib.gunzipSync(fs.readFileSync(file))).toThrow();
    expect((await readAll()).map((r) => r.seq)).toEqual([1, 2]);
  });

  it('cuts a dead writer\'s torn segment back to its committed length on open', async () => {
    const { file, committed } = await tornWriter();
    patchState('crashed', (s) => (s.pid = deadPid()));
    const b = await open();
    expect(fs.statSync(file).size).toBe(committed);
    expect(zlib.gunzipSync(fs.readFileSync(file)).toString().trimEnd().split('\n')).toHaveLength(2);
    // The dead writer's marks carry over, and its state file is folded into the new writer's.
    b.append([rec(2), rec(3)], origin);
    await b.flush();
    expect((await readAll()).map((r) => r.seq)).toEqual([1, 2, 3]);
    expect(fs.existsSync(path.join(root, '_writers', 'crashed.json'))).toBe(false);
  });

  it('never touches a live writer\'s files', async () => {
    const { file, committed } = await tornWriter();
    await open();
    expect(fs.statSync(file).size).toBeGreaterThan(committed);
    expect(fs.existsSync(path.join(root, '_writers', 'crashed.json'))).toBe(true);
  });

  it('rebuilds the hour index of a writer that died between committing and writing the index', async () => {
    const a = await open({ writerId: 'crashed' });
    a.append([rec(1), rec(2)], origin);
    await a.flush();
    const [seg] = await listArchive(root);
    fs.rmSync(path.join(root, path.dirname(seg!.path), 'crashed.index.json'));
    expect(await readAll()).toHaveLength(0);
    patchState('crashed', (s) => (s.pid = deadPid()));
    const b = await open();
    expect((await readAll()).map((r) => r.seq)).toEqual([1, 2]);
    // refresh() recovers too, for a writer that dies while this one runs.
    const c = await open({ writerId: 'crashed-too' });
    c.append([rec(5, 'x', { instance: 'i-9' })], origin);
    await c.flush();
    fs.rmSync(path.join(root, path.dirname(seg!.path), 'crashed-too.index.json'));
    patchState('crashed-too', (s) => (s.pid = deadPid()));
    await b.refresh();
    expect((await readAll()).map((r) => r.seq)).toEqual([1, 2, 5]);
  });

  it('rebuilds a lost hour index from the writer state alone, closed segments included', async () => {
    const a = await open({ writerId: 'crashed', segmentMaxBytes: 600 });
    a.append(Array.from({ length: 6 }, (_, i) => rec(i + 1)), origin);
    await a.flush();
    a.append([rec(7)], origin);
    await a.flush();
    const segs = await listArchive(root);
    expect(segs.length).toBeGreaterThan(2);
    // A power cut kept the index file's new name but not its content.
    fs.writeFileSync(path.join(root, path.dirname(segs[0]!.path), 'crashed.index.json'), '');
    expect(await readAll()).toHaveLength(0);
    patchState('crashed', (s) => (s.pid = deadPid()));
    await open();
    expect((await readAll()).map((r) => r.seq)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(await listArchive(root)).toEqual(segs);
  });

  it('keeps the earlier segments of an hour in its index when a late record reopens it', async () => {
    const a = await open({ segmentIdleMs: 0 });
    a.append([rec(1), rec(2)], origin);
    await a.flush(); // the segment is idle at once, and closed
    a.append([rec(3)], origin);
    await a.flush();
    expect((await listArchive(root)).map((s) => s.records)).toEqual([2, 1]);
    expect((await readAll()).map((r) => r.seq)).toEqual([1, 2, 3]);
  });

  it('removes a segment a dead writer created but never committed', async () => {
    const a = await open({ writerId: 'crashed' });
    a.append([rec(1)], origin);
    await a.flush();
    // Registered (listed at length 0) and written, but the commit never happened.
    patchState('crashed', (s) => {
      const segs = s.segments as { dir: string; entry: { file: string; length: number } }[];
      segs.push({ ...segs[0]!, entry: { ...segs[0]!.entry, file: 'crashed-000007.ndjson.gz', length: 0, records: 0 } as never });
      s.pid = deadPid();
    });
    const orphan = path.join(root, 'acme/web/2024-05-01/10/crashed-000007.ndjson.gz');
    fs.writeFileSync(orphan, zlib.gzipSync('{"id":"i-1:2"}\n').subarray(0, 10));
    await open();
    expect(fs.existsSync(orphan)).toBe(false);
    expect((await readAll()).map((r) => r.seq)).toEqual([1]);
  });
});

describe('ArchiveStore: errors', () => {
  it('rejects flush with a retriable-or-not LOGFS_E_ARCHIVE_IO naming the path, and stores the records once when retried', async () => {
    const store = await open();
    // A file where the provider directory must go: mkdir fails whoever runs the test (root too).
    const blocker = path.join(root, 'acme');
    fs.writeFileSync(blocker, '');
    store.append([rec(1), rec(2)], origin);
    const err = await store.flush().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isLogfsError(err, 'LOGFS_E_ARCHIVE_IO')).toBe(true);
    expect((err as Error).message).toContain(blocker);
    expect((err as Error).message).toMatch(/EEXIST|ENOTDIR/);
    fs.rmSync(blocker);
    store.append([rec(3)], origin);
    await store.flush();
    expect((await readAll()).map((r) => r.seq)).toEqual([1, 2, 3]);
  });

  it('a flush that failed after writing data rewrites it at the same offset: no duplicates, no garbage', async () => {
    const store = await open({ writerId: 'w' });
    store.append([rec(1)], origin);
    await store.flush();
    // The commit (writer state replacement) fails: its temp file name is taken by a directory.
    const tmp = path.join(root, '_writers', 'w.json.w.tmp');
    fs.mkdirSync(tmp);
    store.append([rec(2), rec(3)], origin);
    const err = await store.flush().catch((e: unknown) => e);
    expect(isLogfsError(err, 'LOGFS_E_ARCHIVE_IO')).toBe(true);
    expect((err as Error).message).toContain(tmp);
    const [file] = segmentFiles();
    // The data went to disk, but readers still see only what was committed.
    expect((await readAll()).map((r) => r.seq)).toEqual([1]);
    fs.rmdirSync(tmp);
    store.append([rec(3), rec(4)], origin);
    await store.flush();
    expect((await readAll()).map((r) => r.seq)).toEqual([1, 2, 3, 4]);
    const [seg] = await listArchive(root);
    expect(fs.statSync(file!).size).toBe(seg!.length);
    expect(zlib.gunzipSync(fs.readFileSync(file!)).toString().trimEnd().split('\n')).toHaveLength(4);
  });

  it('says ENOSPC and EIO are retriable and a permission error is not', async () => {
    const { archiveIoError } = await import('../../../pipeline/archive/durable-file.js');
    const e = (code: string): NodeJS.ErrnoException => Object.assign(new Error(code.toLowerCase()), { code });
    expect(archiveIoError('write', '/a/b', e('ENOSPC'))).toMatchObject({ code: 'LOGFS_E_ARCHIVE_IO', retriable: true });
    expect(archiveIoError('write', '/a/b', e('EIO')).retriable).toBe(true);
    expect(archiveIoError('write', '/a/b', e('EACCES')).retriable).toBe(false);
    expect(archiveIoError('write', '/a/b', e('ENOSPC')).message).toMatch(/\/a\/b.*ENOSPC.*free disk space/);
  });

  it('refuses appends after close and a writer ID a live process uses', async () => {
    const store = await open({ writerId: 'w' });
    await store.close();
    expect(() => store.append([rec(1)], origin)).toThrow(/closed/);
    const other = await open({ writerId: 'w2' });
    patchState('w2', (s) => (s.pid = process.ppid));
    await expect(ArchiveStore.open({ dir: root, log, writerId: 'w2' })).rejects.toThrow(/in use by the live process/);
    await other.close();
  });
});
