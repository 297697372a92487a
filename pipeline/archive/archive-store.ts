/**
 * The archive store: records as gzip-compressed JSON lines in a directory tree by provider, stream
 * and hour, with a small index beside the segments (layout and formats: docs/archive.md).
 *
 * Durability. `append` encodes and buffers; `flush` compresses each segment's new lines into gzip
 * members (one per MiB, in parallel), writes them at the segment's committed length and fsyncs
 * them while the new writer state goes to a fsynced temp file; renaming that file into place (and
 * fsyncing the directory) is the commit. The hour indexes readers use are rewritten after it; they
 * can always be rebuilt from the writer state. A failed flush keeps its lines and writes them at
 * the same offset on the next attempt, so a retry never duplicates; readers never read past a
 * committed length.
 *
 * De-duplication. Log records of one instance reach a stream in increasing seq order, so a
 * high-water seq per (provider, stream, instance) drops anything redelivered after a crash or a
 * partition move; derived records (seq 0) are remembered by ID for a while. The marks are part of
 * the commit, and `refresh()` merges the marks of every other writer of the root.
 *
 * Several processes may write one root: each has its own writer ID and touches only its own files,
 * except that on open (and refresh) a writer recovers a dead writer of the same host: it truncates
 * that writer's segments to their committed length and rebuilds its hour indexes from its state.
 */
import fs from 'node:fs';
import fsp, { type FileHandle } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import type { Logger } from 'pino';
import { errorMessage, LogfsError } from '../../core/errors.js';
import { processAlive } from '../../core/process-alive.js';
import type { ArchiveWriter } from '../agent.js';
import type { PipelineRecord } from '../record.js';
import { emptyEntry, FORMAT_VERSION, HourIndexSchema, mergeEntry, SegmentStats, WriterStateSchema, type SegmentEntry, type WriterState } from './archive-index.js';
import { decodeName, decodeStreamDir, hourDirOf, hourOf, indexFileName, newWriterId, segmentFileName, validTs, WRITER_ID, WRITERS_DIR, writerStatePath } from './archive-layout.js';
import { LineEncoder, type ArchiveOrigin } from './archive-line.js';
import { sealForRest, type SealedParts } from './archive-sealing.js';
import type { KeyLookup } from '../record-keys.js';
import { LineBuffer } from './line-buffer.js';
import { archiveIoError, ensureDir, fsyncDir, io, prepareReplace, readIfExists, replaceFile, syncFile, writeFileAtomic } from './durable-file.js';

const gzip = promisify(zlib.gzip);

export const ARCHIVE_STORE_DEFAULTS = {
  /** A segment is closed and a new one started once its uncompressed lines reach this size. */
  segmentMaxBytes: 64 * 1024 * 1024,
  /**
   * gzip level. On access logs level 1 compressed about twice as fast as the default 6, for files
   * about 15% larger (still about 10:1); compression runs over every byte archived.
   */
  compressionLevel: 1,
  /** A segment that received nothing for this long is closed; a late record opens a new one. */
  segmentIdleMs: 10 * 60_000,
  /** At most this many segments (and file descriptors) open at once; the least recent are closed. */
  maxOpenSegments: 256,
  /** A de-duplication mark that has not moved for this long is forgotten. */
  markRetentionMs: 7 * 24 * 3_600_000,
  /** IDs of derived records (aggregate, metric, alarm) are remembered this long for de-duplication... */
  derivedIdRetentionMs: 6 * 3_600_000,
  /** ...and at most this many of them (the oldest go first). */
  derivedIdMax: 50_000,
};

export type ArchiveStoreSettings = typeof ARCHIVE_STORE_DEFAULTS;

export interface ArchiveStoreOptions extends Partial<ArchiveStoreSettings> {
  /** Root of this archive, e.g. `<data>/archive/default`. */
  dir: string;
  /** Unique among the live writers of the root; default `<host>-<pid>-<random>`. */
  writerId?: string;
  log: Logger;
  /** Host name recorded in the writer state (default os.hostname()); dead-writer recovery is per host. */
  host?: string;
  /**
   * Stream keys: records of encrypted streams are stored with their data and fields sealed
   * (archive-sealing.ts). Without, or for a plain stream, records are stored in clear.
   */
  keys?: KeyLookup;
}

export interface ArchiveStoreStats {
  /** Records handed to append(). */
  appended: number;
  /** Records buffered for storing (appended minus duplicates). */
  accepted: number;
  /** Records dropped because the archive already holds them. */
  duplicates: number;
  /** Records whose ts is no valid time; filed under the hour they arrived in. */
  invalidTs: number;
  /** Records whose fields or attrs could not be written as JSON. */
  unserialisable: number;
  /** Records committed to disk. */
  committed: number;
}

interface Mark {
  /** Highest sequence number accepted (what the next commit will claim). */
  seq: number;
  seen: number;
  /** At or below this, a record is stored for sure (committed here, or by another writer). */
  committed: number;
  /**
   * Sequence numbers accepted above `committed` and not yet committed. Within a batch the records
   * of one instance reach the archive out of order (by paths of different length through the
   * graph), so the high-water mark alone would take a later-arriving lower one for a duplicate.
   * Those that arrived above all earlier ones (nearly all) are in `ascending`, in the order they
   * came, so sorted: an array push per record costs a tenth of a Set entry. Only those that
   * arrived below `seq` go to `behind`.
   */
  ascending: number[];
  behind: Set<number>;
}

interface Segment {
  /** Key in `current` (provider, stream, hour). */
  key: string;
  provider: string;
  stream: string;
  /** Hour directory relative to the root. */
  dir: string;
  file: string;
  abs: string;
  fh: FileHandle | undefined;
  committed: SegmentEntry;
  /** Lines appended since the last commit, UTF-8. */
  pending: LineBuffer;
  stats: SegmentStats;
  lastOrigin: ArchiveOrigin | undefined;
  /** Listed in the committed writer state, so recovery knows the file. */
  registered: boolean;
  /** A failed attempt may have left bytes past the committed length. */
  dirty: boolean;
  lastAppend: number;
  /** Full: receives nothing more and is closed after its last flush. */
  retiring: boolean;
}

interface HourDir {
  provider: string;
  stream: string;
  entries: Map<string, SegmentEntry>;
  /** Entries written by an earlier run of this writer ID were merged in. */
  loaded: boolean;
  /** Entries changed since the index file was last written. */
  dirty: boolean;
  /** The index file on disk is fsynced (it is written without waiting for the disk). */
  synced: boolean;
}

interface Snapshot {
  seg: Segment;
  data: Buffer[];
  stats: SegmentStats;
  member?: Buffer;
  entry?: SegmentEntry;
}

export class ArchiveStore implements ArchiveWriter {
  readonly dir: string;
  readonly writerId: string;
  private readonly log: Logger;
  private readonly settings: ArchiveStoreSettings;
  private readonly host: string;
  private readonly bootId: string | null;
  private readonly keys: KeyLookup | undefined;
  private readonly encoder = new LineEncoder();
  private readonly marks = new Map<string, Map<string, Map<string, Mark>>>();
  private readonly derived = new Map<string, number>();
  /** The segment records of (provider, stream, hour) go to now. */
  private readonly current = new Map<string, Segment>();
  /** Every segment not closed yet (current and retiring). */
  private readonly segments = new Set<Segment>();
  private readonly dirs = new Map<string, HourDir>();
  private nextSegment = 0;
  /** Marks and derived IDs as last committed: what a state written before new data may claim. */
  private committedMarks = '{}';
  private committedDerived = '{}';
  private chain: Promise<void> = Promise.resolve();
  private closed = false;
  private lastPrune = 0;
  private readonly counters: ArchiveStoreStats = { appended: 0, accepted: 0, duplicates: 0, invalidTs: 0, unserialisable: 0, committed: 0 };
  // Hot-path caches: consecutive records mostly share provider, stream, instance and hour.
  private cacheProvider: string | undefined;
  private cacheStream: string | undefined;
  private cacheInstances: Map<string, Mark> | undefined;
  private cacheHour = NaN;
  private cacheSegment: Segment | undefined;

  private constructor(opts: ArchiveStoreOptions, writerId: string) {
    this.dir = opts.dir;
    this.writerId = writerId;
    this.log = opts.log.child({ component: 'archive', archive: opts.dir, writer: writerId });
    const settings = { ...ARCHIVE_STORE_DEFAULTS };
    for (const key of Object.keys(ARCHIVE_STORE_DEFAULTS) as (keyof ArchiveStoreSettings)[]) {
      const v = opts[key];
      if (v === undefined) continue;
      if (!Number.isFinite(v) || v < 0) throw new LogfsError('LOGFS_E_CONFIG', `archive option ${key} must be a non-negative number, got ${v}`);
      settings[key] = v;
    }
    if (settings.compressionLevel > 9) throw new LogfsError('LOGFS_E_CONFIG', `archive option compressionLevel must be 0-9, got ${settings.compressionLevel}`);
    this.settings = settings;
    this.host = opts.host ?? os.hostname();
    this.bootId = readBootId();
    this.keys = opts.keys;
  }

  /** Opens (creating if needed) the archive at `opts.dir`, recovering dead writers of this host. */
  static async open(opts: ArchiveStoreOptions): Promise<ArchiveStore> {
    const writerId = opts.writerId ?? newWriterId(opts.host);
    if (!WRITER_ID.test(writerId)) {
      throw new LogfsError('LOGFS_E_CONFIG', `archive writerId "${writerId}" is invalid: use 1-120 letters, digits, "." or "-"`);
    }
    const store = new ArchiveStore(opts, writerId);
    await ensureDir(opts.dir, WRITERS_DIR);
    await store.start();
    return store;
  }

  append(records: readonly PipelineRecord[], origin: ArchiveOrigin): void {
    if (this.closed) throw new LogfsError('LOGFS_E_SHUTTING_DOWN', `archive ${this.dir} is closed`);
    const now = Date.now();
    const max = this.settings.segmentMaxBytes;
    const c = this.counters;
    const ring = this.keys?.();
    const anyEncrypted = ring !== undefined && ring.size > 0;
    for (const r of records) {
      // Sealed first: a stream without its key throws here, before the record counts as stored.
      const sealed: SealedParts | undefined = anyEncrypted ? sealForRest(r, ring.get(r.provider, r.stream)) : undefined;
      c.appended++;
      // The sequence mark holds only for records as the gateway numbered them; anything else (a
      // custom agent's extra outputs, undecodable messages, derived records) is deduped by its ID.
      const seq = r.seq;
      if (r.kind === 'log' && seq > 0 && isSeqId(r.id, r.instance, seq)) {
        const instances = r.provider === this.cacheProvider && r.stream === this.cacheStream && this.cacheInstances ? this.cacheInstances : this.instancesOf(r.provider, r.stream);
        const mark = instances.get(r.instance);
        if (mark === undefined) instances.set(r.instance, { seq, seen: now, committed: 0, ascending: [seq], behind: new Set() });
        else if (seq > mark.seq) {
          // Above everything accepted, so above `committed` too: new.
          mark.ascending.push(seq);
          mark.seq = seq;
          mark.seen = now;
        } else if (seq <= mark.committed || mark.behind.has(seq) || sortedIncludes(mark.ascending, seq)) {
          c.duplicates++;
          continue;
        } else {
          mark.behind.add(seq);
          mark.seen = now;
        }
      } else {
        if (this.derived.has(r.id)) {
          c.duplicates++;
          continue;
        }
        this.derived.set(r.id, now);
      }
      c.accepted++;
      let ts = r.ts;
      if (!validTs(ts)) {
        ts = now;
        c.invalidTs++;
      }
      const hour = hourOf(ts);
      let seg = this.cacheSegment;
      if (seg === undefined || seg.retiring || hour !== this.cacheHour || r.provider !== seg.provider || r.stream !== seg.stream) {
        seg = this.segmentFor(r.provider, r.stream, hour, now);
        this.cacheSegment = seg;
        this.cacheHour = hour;
      }
      this.encoder.encodeTo(seg.pending, r, origin, sealed);
      seg.stats.add(r, ts);
      if (seg.lastOrigin !== origin) {
        seg.lastOrigin = origin;
        seg.stats.addVersion(origin.graph, origin.version);
      }
      seg.lastAppend = now;
      if (seg.committed.bytes + seg.pending.length >= max) this.retire(seg);
    }
    c.unserialisable = this.encoder.unserialisable;
  }

  /** Resolves once everything appended before the call is on disk and committed. */
  flush(): Promise<void> {
    return this.serialised(() => this.flushOnce());
  }

  /** Merges the de-duplication marks of every other writer of the root, recovering dead ones. */
  refresh(): Promise<void> {
    return this.serialised(async () => {
      for (const state of await this.readStates()) {
        if (state.writer === this.writerId) continue;
        if (this.isDead(state) && state.segments.length > 0) {
          if (await this.recover(state)) await writeFileAtomic(writerStatePath(this.dir, state.writer), JSON.stringify({ ...state, segments: [] }), this.writerId);
        }
        this.absorb(state);
      }
    });
  }

  stats(): ArchiveStoreStats {
    return { ...this.counters };
  }

  /** Flushes what is buffered and closes the segments; the store accepts nothing afterwards. */
  async close(): Promise<void> {
    if (this.closed) return;
    // Closed first: nothing may be appended after the last flush, or it would be dropped unstored.
    this.closed = true;
    await this.flush();
    await this.serialised(async () => {
      for (const seg of [...this.segments]) await this.closeSegment(seg);
      await this.writeState(this.committedMarks, this.committedDerived);
    });
  }

  // ---- flushing ----

  private serialised(fn: () => Promise<void>): Promise<void> {
    const p = this.chain.then(fn);
    this.chain = p.catch(() => undefined);
    return p;
  }

  private async flushOnce(): Promise<void> {
    const snaps: Snapshot[] = [];
    for (const seg of this.segments) {
      if (seg.pending.length === 0) continue;
      snaps.push({ seg, data: seg.pending.take(), stats: seg.stats });
      seg.stats = new SegmentStats();
      seg.lastOrigin = undefined;
    }
    // Taken together with the lines: the marks may claim only what this commit stores.
    const marks = this.marksJson();
    const claimed = this.claimedMarks();
    const derived = this.derivedJson();
    if (snaps.length > 0) {
      try {
        const fresh = snaps.filter((s) => !s.seg.registered);
        if (fresh.length > 0) await this.register(fresh.map((s) => s.seg));
        await Promise.all(snaps.map((s) => this.compress(s)));
        const entries = new Map(snaps.map((s) => [s.seg, s.entry as SegmentEntry]));
        // The new state goes to a temp file while the data is written; renaming it is the commit,
        // and happens only once the data is on disk.
        const [state, ...writes] = await Promise.allSettled([prepareReplace(writerStatePath(this.dir, this.writerId), this.stateText(marks, derived, entries), this.writerId), ...snaps.map((s) => this.writeMember(s))]);
        for (const w of [state, ...writes]) if (w?.status === 'rejected') throw w.reason;
        await (state as PromiseFulfilledResult<() => Promise<void>>).value();
      } catch (err) {
        for (const s of snaps) {
          const seg = s.seg;
          seg.pending.giveBack(s.data);
          s.stats.absorb(seg.stats);
          seg.stats = s.stats;
          seg.lastOrigin = undefined;
          seg.dirty = true;
        }
        throw archiveIoError('flush', this.dir, err);
      }
      for (const s of snaps) {
        const seg = s.seg;
        seg.committed = s.entry as SegmentEntry;
        seg.dirty = false;
        this.counters.committed += s.stats.records;
        const hd = this.dirs.get(seg.dir) as HourDir;
        hd.entries.set(seg.file, seg.committed);
        hd.dirty = true;
      }
    }
    this.committedMarks = marks;
    this.committedDerived = derived;
    for (const [mark, seq] of claimed) {
      mark.committed = Math.max(mark.committed, seq);
      forgetCommitted(mark);
    }
    await this.writeIndexes();
    await this.closeIdle();
  }

  /**
   * Creates new segment files and lists them (at length 0) in the writer state before any data goes
   * in, so that recovery after a crash knows every file this writer may have written to.
   */
  private async register(segs: Segment[]): Promise<void> {
    try {
      for (const seg of segs) {
        // This writer's earlier segments there (a late record reopened the hour) join the state.
        const hd = this.dirs.get(seg.dir) as HourDir;
        if (!hd.loaded) {
          const file = path.join(this.dir, seg.dir, indexFileName(this.writerId));
          for (const e of (await readHourIndex(file))?.segments ?? []) if (!hd.entries.has(e.file)) hd.entries.set(e.file, e);
          hd.loaded = true;
        }
        await ensureDir(this.dir, seg.dir);
        seg.fh ??= await io('create', seg.abs, () => fsp.open(seg.abs, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o644));
        seg.registered = true;
      }
      for (const dir of new Set(segs.map((s) => s.dir))) await fsyncDir(path.join(this.dir, dir));
      await this.writeState(this.committedMarks, this.committedDerived);
    } catch (err) {
      for (const seg of segs) seg.registered = false;
      throw err;
    }
  }

  /** Compresses the snapshot into gzip members, one per block, in parallel on the thread pool. */
  private async compress(s: Snapshot): Promise<void> {
    const level = this.settings.compressionLevel;
    // Output space for the whole member at once (lines compress about 10:1): each further 16 KiB
    // chunk of zlib's default is a round trip through the stream machinery on the main thread,
    // which was 2% of an archive-only graph's time there.
    const members = await Promise.all(s.data.map((block) => gzip(block, { level, chunkSize: Math.max(16 * 1024, block.length >> 3) })));
    const member = members.length === 1 ? (members[0] as Buffer) : Buffer.concat(members);
    s.member = member;
    s.entry = mergeEntry(
      s.seg.committed,
      s.stats,
      member.length,
      s.data.reduce((n, b) => n + b.length, 0),
    );
  }

  /** Writes the compressed snapshot at the committed length and fsyncs it. */
  private async writeMember(s: Snapshot): Promise<void> {
    const seg = s.seg;
    const member = s.member as Buffer;
    const fh = (seg.fh ??= await io('open', seg.abs, () => fsp.open(seg.abs, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o644)));
    const at = seg.committed.length;
    await io('write', seg.abs, async () => {
      for (let off = 0; off < member.length; ) {
        const { bytesWritten } = await fh.write(member, off, member.length - off, at + off);
        off += bytesWritten;
      }
      // An earlier failed attempt may have written more than this one; leave nothing past the end.
      if (seg.dirty) await fh.truncate(at + member.length);
      await fh.sync();
    });
  }

  private async writeState(marks: string, derived: string): Promise<void> {
    await writeFileAtomic(writerStatePath(this.dir, this.writerId), this.stateText(marks, derived), this.writerId);
  }

  private stateText(marks: string, derived: string, entries?: Map<Segment, SegmentEntry>): string {
    // The open segments, and the closed ones beside them: an hour index written without fsync can
    // then always be rebuilt from this file alone.
    const segments: WriterState['segments'] = [];
    const live = new Map<string, Set<string>>();
    for (const seg of this.segments) {
      if (!seg.registered) continue;
      segments.push({ dir: seg.dir, entry: entries?.get(seg) ?? seg.committed });
      let files = live.get(seg.dir);
      if (!files) live.set(seg.dir, (files = new Set()));
      files.add(seg.file);
    }
    for (const [dir, files] of live) {
      for (const e of this.dirs.get(dir)?.entries.values() ?? []) if (!files.has(e.file)) segments.push({ dir, entry: e });
    }
    const state: Omit<WriterState, 'marks' | 'derivedIds'> = {
      format: FORMAT_VERSION,
      writer: this.writerId,
      host: this.host,
      pid: process.pid,
      bootId: this.bootId,
      updatedAt: new Date().toISOString(),
      nextSegment: this.nextSegment,
      segments,
    };
    return `${JSON.stringify(state).slice(0, -1)},"marks":${marks},"derivedIds":${derived}}`;
  }

  private async writeIndexes(): Promise<void> {
    const failures: unknown[] = [];
    await Promise.all(
      [...this.dirs].map(async ([dir, hd]) => {
        if (!hd.dirty) return;
        try {
          const file = path.join(this.dir, dir, indexFileName(this.writerId));
          // Not fsynced: the writer state, which is, lists every segment of this directory, and
          // recovery rebuilds the index from it. Before the directory leaves the state,
          // closeSegment syncs its index.
          await replaceFile(file, hourIndexText(this.writerId, hd.provider, hd.stream, hd.entries.values()), this.writerId);
          hd.dirty = false;
          hd.synced = false;
        } catch (err) {
          failures.push(err);
        }
      }),
    );
    // The data is committed (the writer state lists it); a retried flush writes these indexes again.
    if (failures.length > 0) throw archiveIoError('write index in', this.dir, failures[0]);
  }

  /** Closes full, idle and surplus segments whose index is written. */
  private async closeIdle(): Promise<void> {
    const now = Date.now();
    const idle = now - this.settings.segmentIdleMs;
    const quiet = [...this.segments].filter((s) => s.pending.length === 0 && !this.dirs.get(s.dir)?.dirty);
    let surplus = this.segments.size - this.settings.maxOpenSegments;
    quiet.sort((a, b) => a.lastAppend - b.lastAppend);
    for (const seg of quiet) {
      if (seg.retiring || seg.lastAppend <= idle || surplus > 0) {
        try {
          await this.closeSegment(seg);
          surplus--;
        } catch (err) {
          // Committed and listed in the writer state: it stays open and is closed later.
          this.log.warn({ err, file: seg.abs }, 'archive: could not close a segment; trying again after the next flush');
        }
      }
    }
  }

  /**
   * Closes a segment. With the last one of its hour directory, the directory leaves the writer
   * state at the next commit, so its index must be durable first.
   */
  private async closeSegment(seg: Segment): Promise<void> {
    // Out of reach of append before anything is awaited: a record appended meanwhile goes to a
    // new segment instead of this one, which is about to be dropped with whatever it holds.
    if (seg.pending.length > 0) return;
    if (this.current.get(seg.key) === seg) this.current.delete(seg.key);
    if (this.cacheSegment === seg) this.cacheSegment = undefined;
    const hd = this.dirs.get(seg.dir);
    let last = true;
    for (const s of this.segments) if (s !== seg && s.dir === seg.dir) last = false;
    if (last && hd && !hd.synced && hd.entries.size > 0) {
      await syncFile(path.join(this.dir, seg.dir, indexFileName(this.writerId)));
      hd.synced = true;
    }
    this.segments.delete(seg);
    if (this.current.get(seg.key) === seg) this.current.delete(seg.key);
    if (this.cacheSegment === seg) this.cacheSegment = undefined;
    const fh = seg.fh;
    seg.fh = undefined;
    if (fh) await fh.close().catch((err: unknown) => this.log.warn({ err, file: seg.abs }, 'archive: closing a segment failed'));
    // Forget hour directories nothing is written to any more; a late record reloads the index.
    if (last && hd && !hd.dirty) this.dirs.delete(seg.dir);
  }

  // ---- appending ----

  private instancesOf(provider: string, stream: string): Map<string, Mark> {
    let streams = this.marks.get(provider);
    if (!streams) this.marks.set(provider, (streams = new Map()));
    let instances = streams.get(stream);
    if (!instances) streams.set(stream, (instances = new Map()));
    this.cacheProvider = provider;
    this.cacheStream = stream;
    this.cacheInstances = instances;
    return instances;
  }

  private segmentFor(provider: string, stream: string, hour: number, now: number): Segment {
    const key = `${provider}\u0000${stream}\u0000${hour}`;
    const existing = this.current.get(key);
    if (existing) return existing;
    const dir = hourDirOf(provider, stream, hour);
    const file = segmentFileName(this.writerId, this.nextSegment++);
    const seg: Segment = {
      key,
      provider,
      stream,
      dir,
      file,
      abs: path.join(this.dir, dir, file),
      fh: undefined,
      committed: emptyEntry(file),
      pending: new LineBuffer(),
      stats: new SegmentStats(),
      lastOrigin: undefined,
      registered: false,
      dirty: false,
      lastAppend: now,
      retiring: false,
    };
    this.current.set(key, seg);
    this.segments.add(seg);
    if (!this.dirs.has(dir)) this.dirs.set(dir, { provider, stream, entries: new Map(), loaded: false, dirty: false, synced: true });
    return seg;
  }

  private retire(seg: Segment): void {
    seg.retiring = true;
    if (this.current.get(seg.key) === seg) this.current.delete(seg.key);
    if (this.cacheSegment === seg) this.cacheSegment = undefined;
  }

  // ---- marks ----

  /** The marks as JSON, dropping those that have not moved for markRetentionMs. */
  /** Every mark with the sequence number the commit being prepared claims for it. */
  private claimedMarks(): [Mark, number][] {
    const out: [Mark, number][] = [];
    for (const streams of this.marks.values()) for (const instances of streams.values()) for (const m of instances.values()) out.push([m, m.seq]);
    return out;
  }

  private marksJson(): string {
    const now = Date.now();
    const prune = now - this.lastPrune > 60_000;
    if (prune) this.lastPrune = now;
    const cutoff = now - this.settings.markRetentionMs;
    const out: Record<string, Record<string, Record<string, [number, number]>>> = {};
    for (const [provider, streams] of this.marks) {
      const os: Record<string, Record<string, [number, number]>> = (out[provider] = {});
      for (const [stream, instances] of streams) {
        const is: Record<string, [number, number]> = (os[stream] = {});
        for (const [instance, m] of instances) {
          if (prune && m.seen < cutoff) instances.delete(instance);
          else is[instance] = [m.seq, m.seen];
        }
      }
    }
    return JSON.stringify(out);
  }

  private derivedJson(): string {
    const cutoff = Date.now() - this.settings.derivedIdRetentionMs;
    let excess = this.derived.size - this.settings.derivedIdMax;
    // Insertion order is arrival order: the oldest come first.
    for (const [id, seen] of this.derived) {
      if (excess <= 0 && seen >= cutoff) break;
      this.derived.delete(id);
      excess--;
    }
    return JSON.stringify(Object.fromEntries(this.derived));
  }

  /** Takes over another writer's marks: a record it archived is not archived again here. */
  private absorb(state: WriterState): void {
    for (const [provider, streams] of Object.entries(state.marks)) {
      for (const [stream, instances] of Object.entries(streams)) {
        const mine = this.instancesOf(provider, stream);
        for (const [instance, [seq, seen]] of Object.entries(instances)) {
          const m = mine.get(instance);
          if (m === undefined) mine.set(instance, { seq, seen, committed: seq, ascending: [], behind: new Set() });
          else {
            if (seq > m.seq) {
              m.seq = seq;
              m.seen = Math.max(m.seen, seen);
            }
            m.committed = Math.max(m.committed, seq);
          }
        }
      }
    }
    for (const [id, seen] of Object.entries(state.derivedIds)) if (!this.derived.has(id)) this.derived.set(id, seen);
  }

  // ---- other writers ----

  private async start(): Promise<void> {
    const dead: WriterState[] = [];
    for (const state of await this.readStates()) {
      if (state.writer === this.writerId) {
        // An earlier run under the same writer ID: carry on from its state.
        if (state.pid !== process.pid && processAlive(state.pid) && state.host === this.host && state.bootId === this.bootId) {
          throw new LogfsError('LOGFS_E_CONFIG', `archive writer ID "${this.writerId}" is in use by the live process ${state.pid}; give each worker its own writer ID`);
        }
        await this.recover(state);
        this.nextSegment = state.nextSegment;
        this.absorb(state);
      } else if (this.isDead(state)) {
        if (await this.recover(state)) dead.push(state);
        this.absorb(state);
      } else {
        this.absorb(state);
      }
    }
    this.committedMarks = this.marksJson();
    this.committedDerived = this.derivedJson();
    await this.writeState(this.committedMarks, this.committedDerived);
    // Their marks are in our state now, so their state files can go.
    for (const state of dead) {
      await fsp.rm(writerStatePath(this.dir, state.writer), { force: true }).catch((err: unknown) => this.log.warn({ err, writer: state.writer }, 'archive: could not remove a dead writer state'));
    }
  }

  private isDead(state: WriterState): boolean {
    if (state.host !== this.host) return false; // other hosts' processes cannot be checked from here
    if (state.bootId !== null && this.bootId !== null && state.bootId !== this.bootId) return true;
    return !processAlive(state.pid);
  }

  /**
   * Makes a dead writer's files what its state says is committed: segments cut back to their
   * committed length (a torn gzip member would break zcat), never-committed segments removed, and
   * its hour indexes rebuilt (it may have died between committing and writing them).
   * Returns false when that failed; the writer's state is then left for a later attempt.
   */
  private async recover(state: WriterState): Promise<boolean> {
    try {
      const byDir = new Map<string, SegmentEntry[]>();
      for (const { dir, entry } of state.segments) {
        const abs = path.join(this.dir, dir, entry.file);
        const size = await fsp.stat(abs).then(
          (s) => s.size,
          () => -1,
        );
        if (size > entry.length) {
          if (entry.length === 0) await io('remove', abs, () => fsp.rm(abs, { force: true }));
          else await io('truncate', abs, () => fsp.truncate(abs, entry.length));
          this.log.warn({ writer: state.writer, file: abs, size, committed: entry.length }, 'archive: cut a dead writer segment back to its committed length');
        } else if (size === 0 && entry.length === 0) {
          await io('remove', abs, () => fsp.rm(abs, { force: true }));
        }
        let list = byDir.get(dir);
        if (!list) byDir.set(dir, (list = []));
        list.push(entry);
      }
      for (const [dir, list] of byDir) {
        const file = path.join(this.dir, dir, indexFileName(state.writer));
        const index = await readHourIndex(file);
        const entries = new Map((index?.segments ?? []).map((e) => [e.file, e]));
        let changed = false;
        for (const e of list) {
          const old = entries.get(e.file);
          if (old?.length === e.length || e.records === 0) continue;
          entries.set(e.file, e);
          changed = true;
        }
        if (!changed) continue;
        const [provider, stream] = index ? [index.provider, index.stream] : providerStreamOf(dir);
        await writeFileAtomic(file, hourIndexText(state.writer, provider, stream, entries.values()), this.writerId);
      }
      return true;
    } catch (err) {
      this.log.error({ err, writer: state.writer }, `archive: could not recover the files of dead writer ${state.writer}: ${errorMessage(err)}`);
      return false;
    }
  }

  private async readStates(): Promise<WriterState[]> {
    const dir = path.join(this.dir, WRITERS_DIR);
    const names = await io('list', dir, () => fsp.readdir(dir));
    const states: WriterState[] = [];
    for (const name of names) {
      if (!name.endsWith('.json')) continue;
      const file = path.join(dir, name);
      const text = await readIfExists(file);
      if (text === undefined) continue; // removed by a writer that recovered it
      try {
        states.push(WriterStateSchema.parse(JSON.parse(text)));
      } catch (err) {
        // Its marks are unknown: records it archived may be archived again. Say so, loudly.
        this.log.error({ err, file }, `archive: writer state ${file} is unreadable; its de-duplication marks are ignored`);
      }
    }
    return states;
  }
}

/**
 * True when `id` is `${instance}:${seq}`, the ID a log record gets from its gateway numbering. It
 * runs for every record archived, so it reads the digits in place instead of building that string.
 */
export function isSeqId(id: string, instance: string, seq: number): boolean {
  const n = typeof instance === 'string' ? instance.length : -1;
  // Up to 15 digits the value read is exact; anything unusual takes the plain comparison.
  if (typeof id !== 'string' || n < 0 || !Number.isSafeInteger(seq) || seq <= 0 || id.length - n - 1 > 15) return id === `${instance}:${seq}`;
  // String(seq) has no leading zero.
  if (id.length <= n + 1 || id.charCodeAt(n) !== 0x3a || id.charCodeAt(n + 1) === 0x30 || !id.startsWith(instance)) return false;
  let v = 0;
  for (let p = n + 1; p < id.length; p++) {
    const d = id.charCodeAt(p) - 0x30;
    if (d < 0 || d > 9) return false;
    v = v * 10 + d;
  }
  return v === seq;
}

/** Binary search of an ascending array. */
function sortedIncludes(a: readonly number[], x: number): boolean {
  let lo = 0;
  let hi = a.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const v = a[mid] as number;
    if (v === x) return true;
    if (v < x) lo = mid + 1;
    else hi = mid - 1;
  }
  return false;
}

/** Drops the sequence numbers a commit covered from the mark's accepted ones. */
function forgetCommitted(mark: Mark): void {
  const a = mark.ascending;
  if (a.length > 0 && (a[a.length - 1] as number) <= mark.committed) a.length = 0;
  else {
    let i = 0;
    while (i < a.length && (a[i] as number) <= mark.committed) i++;
    if (i > 0) a.splice(0, i);
  }
  for (const s of mark.behind) if (s <= mark.committed) mark.behind.delete(s);
}

function hourIndexText(writer: string, provider: string, stream: string, entries: Iterable<SegmentEntry>): string {
  const segments = [...entries].filter((e) => e.records > 0).sort((a, b) => (a.file < b.file ? -1 : 1));
  return JSON.stringify({ format: FORMAT_VERSION, writer, provider, stream, updatedAt: new Date().toISOString(), segments });
}

/** A writer's hour index; undefined when there is none or it is unreadable (rebuilt from the state). */
async function readHourIndex(file: string): Promise<ReturnType<typeof HourIndexSchema.parse> | undefined> {
  const text = await readIfExists(file);
  if (text === undefined) return undefined;
  const parsed = HourIndexSchema.safeParse(safeJson(text));
  return parsed.success ? parsed.data : undefined;
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function providerStreamOf(dir: string): [string, string] {
  const [provider = '', stream = ''] = dir.split('/');
  return [decodeName(provider), decodeStreamDir(stream)];
}

function readBootId(): string | null {
  try {
    return fs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim() || null;
  } catch {
    return null;
  }
}
