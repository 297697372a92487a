/**
 * The provisioning store: streams and graphs, which every component watches.
 * File-backed here: one JSON document replaced atomically (write temp, fsync, rename) under an
 * exclusive lock file, so several processes can update it safely. The `ProvisioningStore`
 * interface is what components use; a Kafka-backed store (a compacted topic) can implement it later.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { LogfsError } from '../core/errors.js';
import { sleep } from '../core/retry.js';
import { validateStreamName } from './stream-name.js';

export const StreamSpecSchema = z.strictObject({
  name: z.string().describe('Stream name; "/" separates namespaces'),
  provider: z.string().describe('Tenant that owns the stream'),
  partitions: z.number().int().min(1).max(1000).describe('Kafka partitions of the stream topic'),
  encrypt: z.boolean().describe('Encrypt records before they leave the host (issue 5)'),
  rate: z.number().nonnegative().nullable().describe('Estimated volume, records per second'),
  createdAt: z.string().describe('ISO time of creation'),
});
export type StreamSpec = z.infer<typeof StreamSpecSchema>;

/**
 * A processing graph as committed: the definition is checked by pipeline/graph before it is
 * committed and again by every worker that loads it (control does not depend on the pipeline).
 */
export const GraphSpecSchema = z.strictObject({
  name: z.string().describe('Graph name'),
  version: z.number().int().min(1).describe('Bumped on every committed change; archived records carry it'),
  definition: z.record(z.string(), z.unknown()).describe('The graph definition (pipeline/graph/graph-schema.ts)'),
  updatedAt: z.string().describe('ISO time of the last change'),
});
export type GraphSpec = z.infer<typeof GraphSpecSchema>;

export const ProvisioningStateSchema = z.strictObject({
  version: z.number().int().nonnegative(),
  streams: z.record(z.string(), StreamSpecSchema),
  graphs: z.record(z.string(), GraphSpecSchema).default({}),
});
export type ProvisioningState = z.infer<typeof ProvisioningStateSchema>;

export const EMPTY_STATE: ProvisioningState = { version: 0, streams: {}, graphs: {} };

export interface ProvisioningStore {
  snapshot(): ProvisioningState;
  /** Applies `mutate` to the latest state atomically and commits it as a new version. */
  update(mutate: (draft: ProvisioningState) => void): Promise<ProvisioningState>;
  /** Calls `listener` with each new state; returns an unsubscribe function. */
  watch(listener: (state: ProvisioningState) => void): () => void;
  close(): void;
}

export const STORE_DEFAULTS = {
  fileName: 'provisioning.json',
  /** Poll interval backing up fs.watch, which can miss renames on some filesystems. */
  pollMs: 250,
  lockTimeoutMs: 10_000,
  /** A lock older than this is left by a crashed writer and is broken. */
  staleLockMs: 30_000,
} as const;

export class FileProvisioningStore implements ProvisioningStore {
  private state: ProvisioningState = EMPTY_STATE;
  private readonly listeners = new Set<(s: ProvisioningState) => void>();
  private watcher: fs.FSWatcher | undefined;
  private poller: NodeJS.Timeout | undefined;
  private lastMtimeMs = -1;

  private constructor(readonly file: string) {}

  static async open(dataDir: string): Promise<FileProvisioningStore> {
    await fsp.mkdir(dataDir, { recursive: true });
    const store = new FileProvisioningStore(path.join(dataDir, STORE_DEFAULTS.fileName));
    store.state = await store.readFile();
    return store;
  }

  snapshot(): ProvisioningState {
    return this.state;
  }

  async update(mutate: (draft: ProvisioningState) => void): Promise<ProvisioningState> {
    return this.withLock(async () => {
      const draft = structuredClone(await this.readFile());
      mutate(draft);
      draft.version += 1;
      const parsed = ProvisioningStateSchema.safeParse(draft);
      if (!parsed.success) {
        const problems = parsed.error.issues.map((i) => `${i.path.slice(2).join('.') || i.path.join('.')}: ${i.message}`);
        throw new LogfsError('LOGFS_E_CONFIG', `invalid provisioning change: ${problems.join('; ')}`);
      }
      const next = parsed.data;
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

  close(): void {
    this.watcher?.close();
    if (this.poller) clearInterval(this.poller);
    this.watcher = undefined;
    this.poller = undefined;
    this.listeners.clear();
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
  rate?: number | null;
}

export async function createStream(store: ProvisioningStore, input: CreateStreamInput): Promise<StreamSpec> {
  validateStreamName(input.name);
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
      rate: input.rate ?? null,
      createdAt: new Date().toISOString(),
    };
    draft.streams[input.name] = created;
  });
  return created as StreamSpec;
}

export async function deleteStream(store: ProvisioningStore, name: string): Promise<void> {
  await store.update((draft) => {
    if (!draft.streams[name]) throw new LogfsError('LOGFS_E_NOT_FOUND', `stream "${name}" does not exist`);
    delete draft.streams[name];
  });
}
