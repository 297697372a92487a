import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { LogfsError, type ErrorCode } from '../../core/errors.js';
import {
  createStream,
  deleteStream,
  EMPTY_STATE,
  FileProvisioningStore,
  ProvisioningStateSchema,
  STORE_DEFAULTS,
  StreamCatalog,
  type ProvisioningState,
} from '../../control/store.js';

let dir: string;
const opened: FileProvisioningStore[] = [];

async function open(): Promise<FileProvisioningStore> {
  const s = await FileProvisioningStore.open(dir);
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

afterEach(() => {
  vi.restoreAllMocks();
  for (const s of opened.splice(0)) s.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('FileProvisioningStore', () => {
  it('starts empty when there is no file, and creates the directory', async () => {
    fs.rmSync(dir, { recursive: true });
    const s = await open();
    expect(s.snapshot()).toEqual({ version: 0, streams: {}, graphs: {} });
    expect(fs.statSync(dir).isDirectory()).toBe(true);
  });

  it('creates a stream with defaults and writes a schema-valid JSON file', async () => {
    const s = await open();
    const before = Date.now();
    const spec = await createStream(s, { name: 'ns/app', provider: 'acme' });
    expect(spec).toMatchObject({ name: 'ns/app', provider: 'acme', partitions: 1, encrypt: false, rate: null });
    expect(Date.parse(spec.createdAt)).toBeGreaterThanOrEqual(before - 1000);
    expect(s.snapshot().version).toBe(1);
    expect(s.snapshot().streams['ns/app']).toEqual(spec);
    expect(onDisk()).toEqual({ version: 1, streams: { 'ns/app': spec }, graphs: {} });
    // No temp or lock file left behind.
    expect(fs.readdirSync(dir)).toEqual([STORE_DEFAULTS.fileName]);
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

describe('StreamCatalog', () => {
  const state = (names: string[]): ProvisioningState => ({
    version: 1,
    streams: Object.fromEntries(
      names.map((name) => [name, { name, provider: 'p', partitions: 1, encrypt: false, rate: null, createdAt: '2024-01-01T00:00:00.000Z' }]),
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
