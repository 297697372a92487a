import fs from 'node:fs';
import fsp from 'node:fs/promises';
import crypto from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { LogfsError, type ErrorCode } from '../../core/errors.js';
import {
  createStream,
  deleteStream,
  describeChanges,
  EMPTY_STATE,
  FileProvisioningStore,
  ProvisioningStateSchema,
  STORE_DEFAULTS,
  StreamCatalog,
  StreamSpecSchema,
  updateStream,
  type ProvisioningState,
  type StreamSpec,
} from '../../control/store.js';

let dir: string;
const opened: FileProvisioningStore[] = [];

async function open(opts: { historyKeep?: number } = {}): Promise<FileProvisioningStore> {
  const s = await FileProvisioningStore.open(dir, opts);
  opened.push(s);
  return s;
}

async function codeOf(p: Promise<unknown>): Promise<ErrorCode> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(LogfsError);
  return (err as LogfsError).code;
}

function onDisk(): ProvisioningState {
  const text = fs.readFileSync(path.join(dir, STORE_DEFAULTS.fileName), 'utf8');
  return ProvisioningStateSchema.parse(JSON.parse(text));
}

function lockFile(): string {
  return path.join(dir, `${STORE_DEFAULTS.fileName}.lock`);
}

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'logfs-store-'));
});

afterEach(async () => {
  vi.restoreAllMocks();
  for (const s of opened.splice(0)) await s.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('FileProvisioningStore', () => {
  it('starts empty when there is no file, and creates the directory', async () => {
    fs.rmSync(dir, { recursive: true });
    const s = await open();
    expect(s.snapshot()).toEqual({ version: 0, providers: {}, tokens: {}, streams: {}, graphs: {} });
    expect(fs.statSync(dir).isDirectory()).toBe(true);
  });

  it('creates a stream with defaults and writes a schema-valid JSON file', async () => {
    const s = await open();
    const before = Date.now();
    const spec = await createStream(s, { name: 'ns/app', provider: 'acme' });
    expect(spec).toMatchObject({ name: 'ns/app', provider: 'acme', partitions: 1, encrypt: false, key: null, rate: null, retentionHours: null, description: null });
    expect(Date.parse(spec.createdAt)).toBeGreaterThanOrEqual(before - 1000);
    expect(s.snapshot().version).toBe(1);
    expect(s.snapshot().streams['ns/app']).toEqual(spec);
    expect(onDisk()).toEqual({ version: 1, providers: {}, tokens: {}, streams: { 'ns/app': spec }, graphs: {} });
    // No temp or lock file left behind.
    expect(fs.readdirSync(dir).sort()).toEqual([STORE_DEFAULTS.historyFileName, STORE_DEFAULTS.fileName].sort());
  });

  it('keeps the given partitions, encrypt and rate', async () => {
    const s = await open();
    const spec = await createStream(s, { name: 'x', provider: 'p', partitions: 6, encrypt: true, rate: 1500 });
    expect(onDisk().streams.x).toMatchObject({ partitions: 6, encrypt: true, rate: 1500 });
    expect(spec.partitions).toBe(6);
  });

  it('increases the version with every update and survives reopening', async () => {
    const s = await open();
    await createStream(s, { name: 'a', provider: 'p' });
    await createStream(s, { name: 'b', provider: 'p' });
    await deleteStream(s, 'a');
    expect(s.snapshot().version).toBe(3);
    expect(Object.keys(s.snapshot().streams)).toEqual(['b']);
    const again = await open();
    expect(again.snapshot().version).toBe(3);
    expect(Object.keys(again.snapshot().streams)).toEqual(['b']);
  });

  it('refuses a second stream of the same name with LOGFS_E_EXISTS and changes nothing', async () => {
    const s = await open();
    await createStream(s, { name: 'dup', provider: 'p' });
    expect(await codeOf(createStream(s, { name: 'dup', provider: 'q' }))).toBe('LOGFS_E_EXISTS');
    expect(onDisk().version).toBe(1);
    expect(onDisk().streams.dup?.provider).toBe('p');
    // The failed update released the lock: the next one goes through at once.
    expect(fs.existsSync(lockFile())).toBe(false);
    await createStream(s, { name: 'next', provider: 'p' });
    expect(onDisk().version).toBe(2);
  });

  it('refuses to delete a missing stream with LOGFS_E_NOT_FOUND', async () => {
    const s = await open();
    expect(await codeOf(deleteStream(s, 'ghost'))).toBe('LOGFS_E_NOT_FOUND');
    expect(fs.existsSync(path.join(dir, STORE_DEFAULTS.fileName))).toBe(false);
  });

  it('refuses an invalid stream name before touching the store', async () => {
    const s = await open();
    expect(await codeOf(createStream(s, { name: 'a.b', provider: 'p' }))).toBe('LOGFS_E_INVALID_NAME');
    expect(s.snapshot()).toBe(EMPTY_STATE);
  });

  it('rejects a store file that does not match the schema with LOGFS_E_CONFIG', async () => {
    fs.writeFileSync(path.join(dir, STORE_DEFAULTS.fileName), JSON.stringify({ version: 1, streams: {}, extra: 1 }));
    expect(await codeOf(FileProvisioningStore.open(dir))).toBe('LOGFS_E_CONFIG');
  });

  it('shows an update through one instance to the watcher of another within 2 s', async () => {
    const a = await open();
    const b = await open();
    const seen: ProvisioningState[] = [];
    const got = new Promise<ProvisioningState>((resolve) => {
      b.watch((state) => {
        seen.push(state);
        if (state.streams.watched) resolve(state);
      });
    });
    await createStream(a, { name: 'watched', provider: 'p' });
    const timeout = new Promise<never>((_, reject) => setTimeout(() => reject(new Error('no update within 2 s')), 2000));
    const state = await Promise.race([got, timeout]);
    expect(state.version).toBe(1);
    expect(b.snapshot().streams.watched?.provider).toBe('p');
    // Versions only move forward for a listener.
    const versions = seen.map((x) => x.version);
    expect(versions).toEqual([...versions].sort((x, y) => x - y));
  });

  it('stops calling a listener after unsubscribing', async () => {
    const a = await open();
    const b = await open();
    let calls = 0;
    const stop = b.watch(() => {
      calls += 1;
    });
    stop();
    await createStream(a, { name: 'quiet', provider: 'p' });
    await new Promise((r) => setTimeout(r, STORE_DEFAULTS.pollMs * 3));
    expect(calls).toBe(0);
  });

  it('lands every one of many concurrent updates from two instances', async () => {
    const a = await open();
    const b = await open();
    const names = (prefix: string): string[] => Array.from({ length: 20 }, (_, i) => `${prefix}-${i}`);
    await Promise.all([
      ...names('a').map((name) => createStream(a, { name, provider: 'p' })),
      ...names('b').map((name) => createStream(b, { name, provider: 'p' })),
    ]);
    const state = onDisk();
    expect(state.version).toBe(40);
    expect(Object.keys(state.streams).sort()).toEqual([...names('a'), ...names('b')].sort());
    expect(fs.existsSync(lockFile())).toBe(false);
    // One history entry per version, each adding exactly one stream to the one before.
    const history = await b.history();
    expect(history.map((c) => c.version)).toEqual(Array.from({ length: 40 }, (_, i) => 40 - i));
    let previous: string[] = [];
    for (const c of [...history].reverse()) {
      const names = Object.keys((await a.stateAt(c.version))!.streams);
      expect(names).toHaveLength(c.version);
      const added = names.filter((n) => !previous.includes(n));
      expect(c.changes).toEqual([`stream ${added[0]} created`]);
      previous = names;
    }
  });

  it('waits for a live lock and proceeds when it is released', async () => {
    const s = await open();
    fs.writeFileSync(lockFile(), '');
    let done = false;
    const p = createStream(s, { name: 'later', provider: 'p' }).then(() => {
      done = true;
    });
    await new Promise((r) => setTimeout(r, 150));
    expect(done).toBe(false);
    expect(fs.existsSync(path.join(dir, STORE_DEFAULTS.fileName))).toBe(false);
    fs.rmSync(lockFile());
    await p;
    expect(onDisk().streams.later?.name).toBe('later');
  });

  it('breaks a lock older than 30 s (left by a crashed writer)', async () => {
    const s = await open();
    fs.writeFileSync(lockFile(), '');
    const old = new Date(Date.now() - STORE_DEFAULTS.staleLockMs - 5_000);
    await fsp.utimes(lockFile(), old, old);
    const started = Date.now();
    await createStream(s, { name: 'after-crash', provider: 'p' });
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(onDisk().streams['after-crash']?.name).toBe('after-crash');
    expect(fs.existsSync(lockFile())).toBe(false);
  });
  // Breaking a stale lock is stat-then-rm: if another writer breaks it first and takes a fresh lock
  // between our stat and our rm, we delete *its* lock and both write at once. Seen without any
  // instrumentation as "ENOENT ... rename provisioning.json.<pid>.tmp" and lost streams when 200
  // creates from two instances start against a stale lock. Here the other writer's move is
  // injected right after our stat, so the interleaving is deterministic.
  it('does not break a lock that another writer took after breaking the stale one', async () => {
    const s = await open();
    fs.writeFileSync(lockFile(), 'crashed writer');
    const old = new Date(Date.now() - STORE_DEFAULTS.staleLockMs - 5_000);
    await fsp.utimes(lockFile(), old, old);
    const realRename = fsp.rename.bind(fsp);
    let injected = false;
    vi.spyOn(fsp, 'rename').mockImplementation((async (from: fs.PathLike, to: fs.PathLike) => {
      if (!injected && from === lockFile()) {
        injected = true;
        // Between our staleness check and our break, the other writer breaks the stale lock and
        // takes a fresh one, which it now holds.
        fs.rmSync(lockFile());
        fs.writeFileSync(lockFile(), 'other writer');
      }
      return realRename(from, to);
    }) as typeof fsp.rename);
    let done = false;
    const p = createStream(s, { name: 'mine', provider: 'p' }).then(() => {
      done = true;
    });
    await new Promise((r) => setTimeout(r, 300));
    const heldByOther = fs.existsSync(lockFile()) && fs.readFileSync(lockFile(), 'utf8') === 'other writer';
    expect(injected).toBe(true);
    expect({ done, heldByOther }).toEqual({ done: false, heldByOther: true });
    vi.restoreAllMocks();
    fs.rmSync(lockFile(), { force: true }); // the other writer releases its lock
    await p;
    expect(done).toBe(true);
    expect(s.snapshot().streams.mine?.name).toBe('mine');
  });
});

describe('FileProvisioningStore history', () => {
  function historyLines(): string[] {
    return fs.readFileSync(path.join(dir, STORE_DEFAULTS.historyFileName), 'utf8').split('\n').filter((l) => l !== '');
  }

  it('records every commit with its author, message and changes, newest first, and each version\'s state', async () => {
    const s = await open();
    await createStream(s, { name: 'a', provider: 'p' }, { author: 'alice', message: 'first stream' });
    await createStream(s, { name: 'b', provider: 'p', encrypt: true });
    await updateStream(s, 'b', { partitions: 3, description: 'billing' }, { author: 'bob' });
    await deleteStream(s, 'a', { author: 'carol', message: 'gone', changes: ['custom change'] });

    const history = await s.history();
    expect(history.map((c) => [c.version, c.author, c.message, c.changes])).toEqual([
      [4, 'carol', 'gone', ['custom change']],
      [3, 'bob', 'stream b updated: partitions 1 → 3, description null → "billing"', ['stream b updated: partitions 1 → 3, description null → "billing"']],
      [2, `${os.userInfo().username}@${os.hostname()}`, 'stream b created', ['stream b created']],
      [1, 'alice', 'first stream', ['stream a created']],
    ]);
    for (const c of history) expect(Date.parse(c.at)).toBeGreaterThan(Date.now() - 60_000);
    expect((await s.history(2)).map((c) => c.version)).toEqual([4, 3]);

    expect(Object.keys((await s.stateAt(1))!.streams)).toEqual(['a']);
    expect(Object.keys((await s.stateAt(3))!.streams).sort()).toEqual(['a', 'b']);
    expect((await s.stateAt(3))!.streams.b!.partitions).toBe(3);
    expect(await s.stateAt(4)).toEqual(s.snapshot());
    expect(await s.stateAt(5)).toBeUndefined();
    expect(await s.stateAt(0)).toBeUndefined();

    // The file itself: one JSON line per version, with the state.
    const lines = historyLines().map((l) => JSON.parse(l) as { version: number; state: ProvisioningState });
    expect(lines.map((l) => l.version)).toEqual([1, 2, 3, 4]);
    expect(lines[3]!.state).toEqual(onDisk());
  });

  it('shows commits made through another instance (and process) in history and stateAt', async () => {
    const a = await open();
    const b = await open();
    await createStream(a, { name: 'x', provider: 'p' });
    expect((await b.history()).map((c) => c.version)).toEqual([1]);
    await createStream(a, { name: 'y', provider: 'p' });
    await createStream(b, { name: 'z', provider: 'p' });
    expect((await b.history()).map((c) => c.changes[0])).toEqual(['stream z created', 'stream y created', 'stream x created']);
    expect(Object.keys((await b.stateAt(2))!.streams).sort()).toEqual(['x', 'y']);
    expect(b.snapshot().version).toBe(3);
  });

  it('keeps between historyKeep and twice as many versions, compacting at each multiple of historyKeep', async () => {
    const s = await open({ historyKeep: 5 });
    for (let i = 1; i <= 9; i++) await createStream(s, { name: `s${i}`, provider: 'p' });
    expect(historyLines()).toHaveLength(9);
    await createStream(s, { name: 's10', provider: 'p' }); // version 10: compacted to 6..10
    expect(historyLines().map((l) => (JSON.parse(l) as { version: number }).version)).toEqual([6, 7, 8, 9, 10]);
    for (let i = 11; i <= 13; i++) await createStream(s, { name: `s${i}`, provider: 'p' });
    expect((await s.history()).map((c) => c.version)).toEqual([13, 12, 11, 10, 9, 8, 7, 6]);
    expect(await s.stateAt(5)).toBeUndefined();
    expect(Object.keys((await s.stateAt(6))!.streams)).toHaveLength(6);
    // Another instance that indexed the file before the compaction sees the new file.
    const other = await open({ historyKeep: 5 });
    expect((await other.history(1))[0]!.version).toBe(13);
    for (let i = 14; i <= 15; i++) await createStream(s, { name: `s${i}`, provider: 'p' });
    expect((await other.history()).map((c) => c.version)).toEqual([15, 14, 13, 12, 11]);
  });

  it('survives a torn last line and a version appended but never committed (a crashed writer)', async () => {
    const s = await open();
    await createStream(s, { name: 'a', provider: 'p' });
    const file = path.join(dir, STORE_DEFAULTS.historyFileName);
    // Crash 1: a commit of version 2 was appended, but the main file was never replaced.
    const orphan = { version: 2, at: new Date().toISOString(), author: 'crashed', message: 'lost', changes: ['stream ghost created'], state: { ...onDisk(), version: 2 } };
    fs.appendFileSync(file, JSON.stringify(orphan) + '\n');
    expect((await s.history()).map((c) => c.version)).toEqual([1]);
    expect(await s.stateAt(2)).toBeUndefined();
    // Crash 2: half a line.
    fs.appendFileSync(file, '{"version":3,"at":"2026-');
    expect((await s.history()).map((c) => c.version)).toEqual([1]);
    // The next commits of version 2 and 3 win over the orphan and the torn line.
    await createStream(s, { name: 'b', provider: 'p' });
    await createStream(s, { name: 'c', provider: 'p' });
    const history = await s.history();
    expect(history.map((c) => [c.version, c.changes[0]])).toEqual([
      [3, 'stream c created'],
      [2, 'stream b created'],
      [1, 'stream a created'],
    ]);
    expect(Object.keys((await s.stateAt(2))!.streams).sort()).toEqual(['a', 'b']);
    // A fresh reader agrees.
    const fresh = await open();
    expect((await fresh.history()).map((c) => c.author)).not.toContain('crashed');
  });

  it('opens a store file written before issue 5 and fills in the new fields', async () => {
    const old = {
      version: 7,
      streams: { 'ns/app': { name: 'ns/app', provider: 'acme', partitions: 2, encrypt: false, rate: 10, createdAt: '2026-01-01T00:00:00.000Z' } },
      graphs: { web: { name: 'web', version: 3, definition: { name: 'web', streams: ['ns/app'], nodes: [] }, updatedAt: '2026-01-02T00:00:00.000Z' } },
    };
    fs.writeFileSync(path.join(dir, STORE_DEFAULTS.fileName), JSON.stringify(old));
    const s = await open();
    expect(s.snapshot()).toEqual({
      version: 7,
      providers: {},
      tokens: {},
      streams: { 'ns/app': { ...old.streams['ns/app'], key: null, retentionHours: null, description: null } },
      graphs: { web: { ...old.graphs.web, provider: 'default' } },
    });
    // No history yet: the current version is still answered.
    expect(await s.history()).toEqual([]);
    expect(await s.stateAt(7)).toEqual(s.snapshot());
    await s.update((d) => {
      d.providers.acme = { name: 'acme', description: null, createdAt: new Date().toISOString() };
    });
    expect(onDisk().version).toBe(8);
    expect(onDisk().graphs.web!.provider).toBe('default');
    expect((await s.history())[0]!.changes).toEqual(['provider acme created']);
  });

  it('refuses an invalid change with every problem and commits nothing', async () => {
    const s = await open();
    const err = await s
      .update((d) => {
        d.streams.bad = { name: 'bad', provider: 'p', partitions: 0, encrypt: true, key: 'short', rate: null, retentionHours: -1, description: null, createdAt: 'now' };
      })
      .catch((e: unknown) => e as LogfsError);
    expect(err).toBeInstanceOf(LogfsError);
    expect((err as LogfsError).code).toBe('LOGFS_E_CONFIG');
    expect((err as LogfsError).message).toMatch(/streams\.bad\.partitions/);
    expect((err as LogfsError).message).toMatch(/streams\.bad\.key: must be the base64 of a 32-byte AES-256 key/);
    expect((err as LogfsError).message).toMatch(/streams\.bad\.retentionHours/);
    expect(fs.existsSync(path.join(dir, STORE_DEFAULTS.historyFileName))).toBe(false);
  });
});

describe('stream attributes', () => {
  it('generates a 32-byte key for an encrypted stream, or keeps the one given', async () => {
    const s = await open();
    const generated = await createStream(s, { name: 'enc', provider: 'p', encrypt: true });
    expect(Buffer.from(generated.key!, 'base64')).toHaveLength(32);
    const key = Buffer.alloc(32, 7).toString('base64');
    const given = await createStream(s, { name: 'enc2', provider: 'p', encrypt: true, key, retentionHours: 48, description: 'secret things' });
    expect(given).toMatchObject({ key, retentionHours: 48, description: 'secret things' });
    expect(await codeOf(createStream(s, { name: 'plain', provider: 'p', key }))).toBe('LOGFS_E_CONFIG');
    expect(await codeOf(createStream(s, { name: 'badkey', provider: 'p', encrypt: true, key: Buffer.alloc(16).toString('base64') }))).toBe('LOGFS_E_CONFIG');
  });

  it('checks keys in the schema: base64 of exactly 32 bytes', () => {
    const base: StreamSpec = { name: 'x', provider: 'p', partitions: 1, encrypt: true, key: null, rate: null, retentionHours: null, description: null, createdAt: 'now' };
    for (let i = 0; i < 20; i++) expect(StreamSpecSchema.safeParse({ ...base, key: crypto.randomBytes(32).toString('base64') }).success).toBe(true);
    for (const bad of [crypto.randomBytes(31).toString('base64'), crypto.randomBytes(33).toString('base64'), 'not base64 at all', crypto.randomBytes(32).toString('hex')]) {
      expect(StreamSpecSchema.safeParse({ ...base, key: bad }).success).toBe(false);
    }
  });

  it('updates a stream: partitions only grow, encryption on generates a key, off keeps it', async () => {
    const s = await open();
    await createStream(s, { name: 'u', provider: 'p', partitions: 2 });
    expect(await codeOf(updateStream(s, 'u', { partitions: 1 }))).toBe('LOGFS_E_CONFIG');
    expect(await codeOf(updateStream(s, 'ghost', { rate: 1 }))).toBe('LOGFS_E_NOT_FOUND');
    expect(await codeOf(updateStream(s, 'u', { key: Buffer.alloc(32).toString('base64') }))).toBe('LOGFS_E_CONFIG');
    const on = await updateStream(s, 'u', { encrypt: true, partitions: 4, rate: 50, retentionHours: 24 });
    expect(on).toMatchObject({ encrypt: true, partitions: 4, rate: 50, retentionHours: 24, description: null });
    expect(Buffer.from(on.key!, 'base64')).toHaveLength(32);
    const off = await updateStream(s, 'u', { encrypt: false, rate: null });
    expect(off).toMatchObject({ encrypt: false, key: on.key, rate: null, retentionHours: 24 });
    expect(off.createdAt).toBe(on.createdAt);
    const changes = (await s.history()).map((c) => c.changes[0]);
    expect(changes[0]).toBe('stream u updated: encryption off, rate 50 → null');
    expect(changes[1]).toBe('stream u updated: partitions 2 → 4, encryption on, key set, rate null → 50, retentionHours null → 24');
    // Secrets never appear in the history's words.
    expect(JSON.stringify(changes)).not.toContain(on.key);
  });
});

describe('describeChanges', () => {
  const at = '2026-01-01T00:00:00.000Z';
  const stream = (name: string, extra: Partial<StreamSpec> = {}): StreamSpec => ({ name, provider: 'p', partitions: 1, encrypt: false, key: null, rate: null, retentionHours: null, description: null, createdAt: at, ...extra });
  const state = (parts: Partial<ProvisioningState>): ProvisioningState => ({ ...EMPTY_STATE, ...parts });

  it('says nothing for equal states', () => {
    const s = state({ streams: { a: stream('a') } });
    expect(describeChanges(s, structuredClone({ ...s, version: 9 }))).toEqual([]);
  });

  it('lists providers, tokens, streams and graphs, each sorted by name', () => {
    const before = state({
      providers: { old: { name: 'old', description: null, createdAt: at }, keep: { name: 'keep', description: 'x', createdAt: at } },
      tokens: { t1: { id: 't1', name: 'ci', scope: { provider: 'keep' }, hash: 'a'.repeat(64), createdAt: at } },
      streams: { 'z/last': stream('z/last'), 'a/b': stream('a/b', { encrypt: true, key: Buffer.alloc(32, 1).toString('base64') }), gone: stream('gone') },
      graphs: { web: { name: 'web', provider: 'keep', version: 2, definition: { a: 1 }, updatedAt: at }, dead: { name: 'dead', provider: 'keep', version: 1, definition: {}, updatedAt: at } },
    });
    const after = state({
      providers: { keep: { name: 'keep', description: 'y', createdAt: at }, acme: { name: 'acme', description: null, createdAt: at } },
      tokens: {
        t1: { id: 't1', name: 'ci', scope: 'admin', hash: 'b'.repeat(64), createdAt: at },
        t2: { id: 't2', name: 'ops', scope: 'admin', hash: 'c'.repeat(64), createdAt: at },
      },
      streams: { 'z/last': stream('z/last', { rate: 5 }), 'a/b': stream('a/b', { encrypt: true, key: Buffer.alloc(32, 2).toString('base64') }), fresh: stream('fresh') },
      graphs: { web: { name: 'web', provider: 'keep', version: 3, definition: { a: 2 }, updatedAt: at }, api: { name: 'api', provider: 'keep', version: 1, definition: {}, updatedAt: at } },
    });
    expect(describeChanges(before, after)).toEqual([
      'provider acme created',
      'provider keep updated: description "x" → "y"',
      'provider old deleted',
      'token ci (t1) updated: scope provider keep → admin, secret changed',
      'token ops (t2) created',
      'stream a/b updated: key changed',
      'stream fresh created',
      'stream gone deleted',
      'stream z/last updated: rate null → 5',
      'graph api created v1',
      'graph dead deleted',
      'graph web v3',
    ]);
    expect(describeChanges(before, after).join(' ')).not.toMatch(/aaaa|bbbb|AQEB|AgIC/);
  });
});

describe('StreamCatalog', () => {
  const state = (names: string[]): ProvisioningState => ({
    ...EMPTY_STATE,
    version: 1,
    streams: Object.fromEntries(
      names.map((name) => [name, { name, provider: 'p', partitions: 1, encrypt: false, key: null, rate: null, retentionHours: null, description: null, createdAt: '2024-01-01T00:00:00.000Z' }]),
    ),
  });

  const catalog = new StreamCatalog(state(['app', 'web', 'ns/a', 'ns/b', 'ns/sub/c', 'deep/x/y/z', 'both', 'both/inner']));

  it('lists the root: streams as files, namespaces as directories, sorted', () => {
    expect(catalog.children('')).toEqual({ files: ['app', 'both', 'web'], dirs: ['deep', 'ns'] });
  });

  it('lists a namespace', () => {
    expect(catalog.children('ns')).toEqual({ files: ['a', 'b'], dirs: ['sub'] });
    expect(catalog.children('ns/sub')).toEqual({ files: ['c'], dirs: [] });
    expect(catalog.children('deep')).toEqual({ files: [], dirs: ['x'] });
  });

  it('does not confuse a namespace with a name that merely starts the same', () => {
    const c = new StreamCatalog(state(['ns/a', 'nsx/b']));
    expect(c.children('ns')).toEqual({ files: ['a'], dirs: [] });
  });

  it('shows a name that is both a stream and a namespace as a file only', () => {
    expect(catalog.children('').files).toContain('both');
    expect(catalog.children('').dirs).not.toContain('both');
    expect(catalog.children('both')).toEqual({ files: ['inner'], dirs: [] });
  });

  it('answers hasStream and hasNamespace', () => {
    expect(catalog.hasStream('ns/a')).toBe(true);
    expect(catalog.hasStream('ns')).toBe(false);
    expect(catalog.hasNamespace('ns')).toBe(true);
    expect(catalog.hasNamespace('ns/sub')).toBe(true);
    expect(catalog.hasNamespace('deep/x/y')).toBe(true);
    expect(catalog.hasNamespace('ns/a')).toBe(false);
    expect(catalog.hasNamespace('app')).toBe(false);
    expect(catalog.hasNamespace('both')).toBe(true);
    expect(catalog.get('web')?.name).toBe('web');
    expect(catalog.get('nope')).toBeUndefined();
  });

  it('reset replaces everything', () => {
    const c = new StreamCatalog(state(['old/x']));
    c.reset(state(['new']));
    expect(c.hasStream('old/x')).toBe(false);
    expect(c.hasNamespace('old')).toBe(false);
    expect(c.all().map((s) => s.name)).toEqual(['new']);
    expect(new StreamCatalog().children('')).toEqual({ files: [], dirs: [] });
  });
});
