/**
 * The provisioning store: providers, tokens, streams and graphs, which every component watches.
 * Every change is a commit: a new version of the whole state with who made it, why and what
 * changed (`history`, `stateAt`; rollback is committing an old state again).
 *
 * File-backed here (embedded mode): one JSON document replaced atomically (write temp, fsync,
 * rename) under an exclusive lock file, so several processes can update it safely, plus the
 * history file (control/store-history.ts). In cluster mode the store is a compacted Kafka topic
 * (control/kafka-store.ts); control/open-store.ts picks one.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { LogfsError } from '../core/errors.js';
import { sleep } from '../core/retry.js';
import { describeChanges, summarizeChanges } from './store-diff.js';
import { HistoryFile } from './store-history.js';
import { EMPTY_STATE, ProvisioningStateSchema, type CommitInfo, type CommitMeta, type ProvisioningState, type StreamSpec } from './store-schema.js';
import { validateStreamName } from './stream-name.js';

export * from './store-schema.js';
export { describeChanges, summarizeChanges } from './store-diff.js';

export interface ProvisioningStore {
  snapshot(): ProvisioningState;
  /**
   * Applies `mutate` to the latest state atomically and commits it as a new version. `mutate` may
   * run more than once (the Kafka store re-applies it after losing a race), so it must only
   * change the draft.
   */
  update(mutate: (draft: ProvisioningState) => void, meta?: Partial<CommitMeta>): Promise<ProvisioningState>;
  /** Calls `listener` with each new state; returns an unsubscribe function. */
  watch(listener: (state: ProvisioningState) => void): () => void;
  /** Commits, newest first; how far back depends on the store (see each implementation). */
  history(limit?: number): Promise<CommitInfo[]>;
  /** The state committed as `version`; undefined when it is unknown or no longer kept. */
  stateAt(version: number): Promise<ProvisioningState | undefined>;
  close(): Promise<void>;
}

export const STORE_DEFAULTS = {
  fileName: 'provisioning.json',
  historyFileName: 'provisioning-history.jsonl',
  /** Versions kept in the history file: it holds between this and twice this many. */
  historyKeep: 1000,
  /** Poll interval backing up fs.watch, which can miss renames on some filesystems. */
  pollMs: 250,
  lockTimeoutMs: 10_000,
  /** A lock older than this is left by a crashed writer and is broken. */
  staleLockMs: 30_000,
} as const;

/** Author of commits made without one (the CLI on this host): `user@host`. */
export function localAuthor(): string {
  let user = 'unknown';
  try {
    user = os.userInfo().username;
  } catch {
    // no passwd entry for this uid (containers)
  }
  return `${user}@${os.hostname()}`;
}

/**
 * Runs `mutate` on a copy of `before` and checks the result: the next state (version + 1) and its
 * commit. Shared by the stores; throws LOGFS_E_CONFIG naming every invalid field.
 */
export function prepareCommit(
  before: ProvisioningState,
  mutate: (draft: ProvisioningState) => void,
  meta: Partial<CommitMeta> = {},
): { state: ProvisioningState; commit: CommitInfo } {
  const draft = structuredClone(before);
  mutate(draft);
  draft.version = before.version + 1;
  const parsed = ProvisioningStateSchema.safeParse(draft);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    throw new LogfsError('LOGFS_E_CONFIG', `invalid provisioning change: ${problems.join('; ')}`, { context: { problems } });
  }
  const state = parsed.data;
  const changes = meta.changes ?? describeChanges(before, state);
  return {
    state,
    commit: {
      version: state.version,
      at: new Date().toISOString(),
      author: meta.author ?? localAuthor(),
      message: meta.message ?? summarizeChanges(changes),
      changes,
    },
  };
}

export class FileProvisioningStore implements ProvisioningStore {
  private state: ProvisioningState = EMPTY_STATE;
  private readonly listeners = new Set<(s: ProvisioningState) => void>();
  private watcher: fs.FSWatcher | undefined;
  private poller: NodeJS.Timeout | undefined;
  private lastMtimeMs = -1;
  private readonly historyFile: HistoryFile;

  private constructor(
    readonly file: string,
    historyFile: string,
    historyKeep: number,
  ) {
    this.historyFile = new HistoryFile(historyFile, historyKeep);
  }

  static async open(dataDir: string, opts: { historyKeep?: number } = {}): Promise<FileProvisioningStore> {
    await fsp.mkdir(dataDir, { recursive: true });
    const store = new FileProvisioningStore(
      path.join(dataDir, STORE_DEFAULTS.fileName),
      path.join(dataDir, STORE_DEFAULTS.historyFileName),
      opts.historyKeep ?? STORE_DEFAULTS.historyKeep,
    );
    store.state = await store.readFile();
    return store;
  }

  snapshot(): ProvisioningState {
    return this.state;
  }

  async update(mutate: (draft: ProvisioningState) => void, meta?: Partial<CommitMeta>): Promise<ProvisioningState> {
    return this.withLock(async () => {
      const { state: next, commit } = prepareCommit(await this.readFile(), mutate, meta);
      // History first: a crash before the rename leaves a line above the current version, which
      // readers ignore; the other order could lose a committed version's history.
      await this.historyFile.append({ ...commit, state: next });
      const tmp = `${this.file}.${process.pid}.${crypto.randomBytes(4).toString('hex')}.tmp`;
      const fh = await fsp.open(tmp, 'w');
      try {
        await fh.writeFile(JSON.stringify(next, null, 2) + '\n');
        await fh.sync();
      } finally {
        await fh.close();
      }
      await fsp.rename(tmp, this.file);
      this.setState(next);
      return next;
    });
  }

  watch(listener: (state: ProvisioningState) => void): () => void {
    this.listeners.add(listener);
    this.startWatching();
    return () => {
      this.listeners.delete(listener);
    };
  }

  /** The history file's commits (the last 1000 to 1999 versions, see STORE_DEFAULTS.historyKeep). */
  async history(limit?: number): Promise<CommitInfo[]> {
    const current = await this.current();
    return this.historyFile.list(current.version, limit);
  }

  async stateAt(version: number): Promise<ProvisioningState | undefined> {
    const current = await this.current();
    if (version === current.version) return current;
    return this.historyFile.stateAt(version, current.version);
  }

  async close(): Promise<void> {
    this.watcher?.close();
    if (this.poller) clearInterval(this.poller);
    this.watcher = undefined;
    this.poller = undefined;
    this.listeners.clear();
  }

  /** The committed state as on disk now (another process may have committed since our last look). */
  private async current(): Promise<ProvisioningState> {
    const state = await this.readFile();
    this.setState(state);
    return state;
  }

  private startWatching(): void {
    if (this.poller) return;
    const check = (): void => {
      fs.stat(this.file, (err, st) => {
        if (err || st.mtimeMs === this.lastMtimeMs) return;
        this.lastMtimeMs = st.mtimeMs;
        this.readFile().then(
          (s) => this.setState(s),
          () => undefined, // a half-visible rename is retried at the next tick
        );
      });
    };
    try {
      this.watcher = fs.watch(path.dirname(this.file), (_event, name) => {
        if (name === path.basename(this.file)) check();
      });
      this.watcher.on('error', () => undefined);
    } catch {
      // fs.watch is an optimisation; polling below is the guarantee.
    }
    this.poller = setInterval(check, STORE_DEFAULTS.pollMs);
    this.poller.unref();
  }

  private setState(next: ProvisioningState): void {
    if (next.version <= this.state.version && this.state !== EMPTY_STATE) return;
    this.state = next;
    for (const l of this.listeners) l(next);
  }

  private async readFile(): Promise<ProvisioningState> {
    let text: string;
    try {
      text = await fsp.readFile(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return EMPTY_STATE;
      throw err;
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (cause) {
      throw new LogfsError('LOGFS_E_CONFIG', `provisioning store ${this.file} is not valid JSON; restore it from a backup`, { cause });
    }
    const parsed = ProvisioningStateSchema.safeParse(json);
    if (!parsed.success) {
      throw new LogfsError('LOGFS_E_CONFIG', `provisioning store ${this.file} is invalid: ${parsed.error.message}`);
    }
    return parsed.data;
  }

  private async withLock<T>(fn: () => Promise<T>): Promise<T> {
    const lock = `${this.file}.lock`;
    const token = `${process.pid} ${crypto.randomUUID()}\n`;
    const deadline = Date.now() + STORE_DEFAULTS.lockTimeoutMs;
    for (;;) {
      try {
        await fsp.writeFile(lock, token, { flag: 'wx' });
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        const seen = await readLock(lock);
        if (seen && Date.now() - seen.mtimeMs > STORE_DEFAULTS.staleLockMs) {
          await breakStaleLock(lock, seen.content);
          continue;
        }
        if (Date.now() > deadline) {
          throw new LogfsError('LOGFS_E_CONFIG', `provisioning store is locked (${lock}); remove it if no logfsctl is running`, {
            retriable: true,
          });
        }
        await sleep(20);
      }
    }
    try {
      return await fn();
    } finally {
      await fsp.rm(lock, { force: true });
    }
  }
}

/** Content and age of a lock file, read through one descriptor so both describe the same file. */
async function readLock(lock: string): Promise<{ content: string; mtimeMs: number } | undefined> {
  const fh = await fsp.open(lock, 'r').catch(() => undefined);
  if (!fh) return undefined;
  try {
    const [st, content] = await Promise.all([fh.stat(), fh.readFile('utf8')]);
    return { content, mtimeMs: st.mtimeMs };
  } finally {
    await fh.close();
  }
}

/**
 * Removes a lock left by a crashed writer. It is moved aside first and checked: if another writer
 * broke the same stale lock and took a fresh one meanwhile, we moved *that* one, and put it back.
 */
async function breakStaleLock(lock: string, staleContent: string): Promise<void> {
  const aside = `${lock}.stale-${crypto.randomBytes(4).toString('hex')}`;
  try {
    await fsp.rename(lock, aside);
  } catch {
    return; // somebody else broke it
  }
  const moved = await fsp.readFile(aside, 'utf8').catch(() => undefined);
  if (moved !== staleContent) {
    await fsp.link(aside, lock).catch(() => undefined); // EEXIST: yet another writer holds it now
  }
  await fsp.rm(aside, { force: true });
}

/** Streams' names as a set plus namespace prefixes, for path resolution. */
export class StreamCatalog {
  private streams = new Map<string, StreamSpec>();
  private namespaces = new Set<string>();

  /** With `provider`, only that provider's streams: a host mounts its instances' provider's streams. */
  constructor(
    state: ProvisioningState = EMPTY_STATE,
    private readonly provider?: string,
  ) {
    this.reset(state);
  }

  reset(state: ProvisioningState): void {
    const specs = Object.entries(state.streams).filter(([, s]) => this.provider === undefined || s.provider === this.provider);
    this.streams = new Map(specs);
    this.namespaces = new Set();
    for (const name of this.streams.keys()) {
      const parts = name.split('/');
      for (let i = 1; i < parts.length; i++) this.namespaces.add(parts.slice(0, i).join('/'));
    }
  }

  hasStream(name: string): boolean {
    return this.streams.has(name);
  }

  hasNamespace(prefix: string): boolean {
    return this.namespaces.has(prefix);
  }

  get(name: string): StreamSpec | undefined {
    return this.streams.get(name);
  }

  /** Direct children of a namespace ('' for the root): streams as files, namespaces as directories. */
  children(prefix: string): { files: string[]; dirs: string[] } {
    const files = new Set<string>();
    const dirs = new Set<string>();
    const base = prefix === '' ? '' : prefix + '/';
    for (const name of this.streams.keys()) {
      if (!name.startsWith(base)) continue;
      const rest = name.slice(base.length);
      const slash = rest.indexOf('/');
      if (slash === -1) files.add(rest);
      else dirs.add(rest.slice(0, slash));
    }
    return { files: [...files].sort(), dirs: [...dirs].filter((d) => !files.has(d)).sort() };
  }

  all(): StreamSpec[] {
    return [...this.streams.values()];
  }
}

export interface CreateStreamInput {
  name: string;
  provider: string;
  partitions?: number;
  encrypt?: boolean;
  /** AES-256 key, base64; generated when `encrypt` and none is given. */
  key?: string;
  rate?: number | null;
  retentionHours?: number | null;
  description?: string | null;
}

/** The editable attributes of a stream (its name and provider are fixed). */
export type StreamPatch = Partial<Omit<CreateStreamInput, 'name' | 'provider'>>;

/** A fresh AES-256 key for an encrypted stream, base64. */
export function generateStreamKey(): string {
  return crypto.randomBytes(32).toString('base64');
}

export async function createStream(store: ProvisioningStore, input: CreateStreamInput, meta?: Partial<CommitMeta>): Promise<StreamSpec> {
  validateStreamName(input.name);
  if (input.key !== undefined && !input.encrypt) {
    throw new LogfsError('LOGFS_E_CONFIG', `stream "${input.name}": a key is only used by an encrypted stream; add encrypt or leave out the key`);
  }
  const key = input.encrypt ? (input.key ?? generateStreamKey()) : null;
  let created: StreamSpec | undefined;
  await store.update((draft) => {
    if (draft.streams[input.name]) {
      throw new LogfsError('LOGFS_E_EXISTS', `stream "${input.name}" already exists`);
    }
    // A stream is a file in the mount, so it cannot also be a namespace (directory) of another.
    for (const other of Object.keys(draft.streams)) {
      if (other.startsWith(input.name + '/') || input.name.startsWith(other + '/')) {
        throw new LogfsError('LOGFS_E_EXISTS', `stream "${input.name}" conflicts with stream "${other}": a stream cannot also be a namespace`);
      }
    }
    created = {
      name: input.name,
      provider: input.provider,
      partitions: input.partitions ?? 1,
      encrypt: input.encrypt ?? false,
      key,
      rate: input.rate ?? null,
      retentionHours: input.retentionHours ?? null,
      description: input.description ?? null,
      createdAt: new Date().toISOString(),
    };
    draft.streams[input.name] = created;
  }, meta);
  return created as StreamSpec;
}

/**
 * Changes a stream's attributes. Partitions only grow (Kafka cannot take partitions away);
 * turning encryption on generates a key unless one is given; turning it off keeps the key, which
 * the records encrypted until then still need.
 */
export async function updateStream(store: ProvisioningStore, name: string, patch: StreamPatch, meta?: Partial<CommitMeta>): Promise<StreamSpec> {
  let updated: StreamSpec | undefined;
  await store.update((draft) => {
    const current = draft.streams[name];
    if (!current) throw new LogfsError('LOGFS_E_NOT_FOUND', `stream "${name}" does not exist`);
    const partitions = patch.partitions ?? current.partitions;
    if (partitions < current.partitions) {
      throw new LogfsError('LOGFS_E_CONFIG', `stream "${name}" has ${current.partitions} partitions; partitions can only grow (Kafka cannot remove them)`);
    }
    const encrypt = patch.encrypt ?? current.encrypt;
    if (patch.key !== undefined && !encrypt) {
      throw new LogfsError('LOGFS_E_CONFIG', `stream "${name}": a key is only used by an encrypted stream; set encrypt too`);
    }
    updated = {
      ...current,
      partitions,
      encrypt,
      key: patch.key ?? (encrypt && current.key === null ? generateStreamKey() : current.key),
      ...(patch.rate !== undefined ? { rate: patch.rate } : {}),
      ...(patch.retentionHours !== undefined ? { retentionHours: patch.retentionHours } : {}),
      ...(patch.description !== undefined ? { description: patch.description } : {}),
    };
    draft.streams[name] = updated;
  }, meta);
  return updated as StreamSpec;
}

export async function deleteStream(store: ProvisioningStore, name: string, meta?: Partial<CommitMeta>): Promise<void> {
  await store.update((draft) => {
    if (!draft.streams[name]) throw new LogfsError('LOGFS_E_NOT_FOUND', `stream "${name}" does not exist`);
    delete draft.streams[name];
  }, meta);
}
