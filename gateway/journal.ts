/**
 * The gateway's write-ahead journal: an append-only log of opaque entries in numbered segment
 * files (format in journal-segment.ts), read in order by the Kafka shipper or, with no Kafka
 * configured, by tail readers (the journal is then the local bus).
 *
 * Hot path: `append` only pushes references into memory, and `appendFramed` lets the caller frame
 * entries straight into reused journal slabs (the gateway's path: no object per entry, checksummed
 * as they are appended); one flush per event-loop turn frames and checksums everything else pending
 * into one buffer (or points at the slabs) and writes it with
 * one positioned write per segment, then fsyncs as the policy says and wakes waiters in LSN order.
 *
 * Nothing is dropped on a failing disk: entries stay in memory and the write is retried with
 * backoff; meanwhile their bytes count against `maxBytes`, so writers feel backpressure.
 */
import { promises as fsp } from 'node:fs';
import { dirname, join } from 'node:path';
import { crc32Entries } from './native.js';
import { z } from 'zod';
import { LogfsError, errorMessage, isProgrammingError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { Backoff, sleep, type BackoffOptions } from '../core/retry.js';
import {
  ENTRY_HEADER_BYTES,
  HEADER_BYTES,
  INDEX_STRIDE,
  NODE_IO,
  Segment,
  encodeSegmentHeader,
  parseSegmentFileName,
  readSegmentEntries,
  scanSegment,
  segmentFileName,
  type SegmentIo,
} from './journal-segment.js';

export type FsyncPolicy = 'always' | 'interval' | 'barrier';

export interface JournalOptions {
  /** Directory holding the segment files and cursors.json; created if missing. */
  dir: string;
  /** A new segment is started when the next entry would take the active one past this size. */
  segmentBytes: number;
  /** Bound on bytes not yet acknowledged by every required consumer (plus unwritten bytes). */
  maxBytes: number;
  /** With no required consumers: oldest whole segments are deleted while the journal is larger. */
  retainBytes: number;
  /** 'always': after every write; 'interval': every fsyncIntervalMs; 'barrier': when whenDurable() asks. */
  fsync: FsyncPolicy;
  /** Period of the 'interval' policy. */
  fsyncIntervalMs: number;
  /** Consumers whose acknowledgements gate deletion and the maxBytes bound, e.g. ['kafka']. */
  requiredConsumers: string[];
  /** Bytes of recent payloads kept in memory so readers that keep up never touch the disk. */
  cacheBytes: number;
  /**
   * Bound on appended bytes not yet written to the segment file (held in memory meanwhile): at it
   * the journal is full, as at maxBytes, until the writes catch up. Producers that can append far
   * faster than the disk takes it (the FUSE fast write path) would otherwise fill memory.
   */
  maxPendingBytes: number;
  /** How long close() keeps retrying a failing disk before it gives up with LOGFS_E_JOURNAL_IO. */
  closeTimeoutMs: number;
  /** Minimum time between writes of cursors.json; acks arrive far more often than that. */
  cursorWriteIntervalMs: number;
  /**
   * While less than 64 KiB is pending and nobody waits for durability, wait this long before writing
   * so that one-line writes arriving one by one share a write() call (0 = next turn).
   */
  coalesceMs: number;
  /** Backoff between retries of a failed write or fsync. */
  writeRetry: BackoffOptions;
  /**
   * Each time this many bytes were written to a segment since the last time, the disk is asked to
   * start writing them (SegmentIo.startWriteback), without waiting, so that an fsync finds little
   * left to write. 0 = never (the kernel writes them when it sees fit, or the fsync does).
   */
  writebackBytes: number;
}

const MiB = 1024 * 1024;
/** Page size assumed by startWriteback's ranges (where pages are larger, a range may end inside one: harmless). */
const PAGE_BYTES = 4096;

export const JOURNAL_DEFAULTS: Omit<JournalOptions, 'dir'> = {
  segmentBytes: 64 * MiB,
  maxBytes: 1024 * MiB,
  retainBytes: 1024 * MiB,
  fsync: 'barrier',
  fsyncIntervalMs: 200,
  requiredConsumers: [],
  cacheBytes: 64 * MiB,
  /**
   * Records are written every event-loop turn, so a few MiB wait at most while the disk keeps up;
   * 32 and then 8 MiB cost memory (logfsd's peak RSS, bench:write) and bought no throughput.
   */
  maxPendingBytes: 4 * MiB,
  closeTimeoutMs: 10_000,
  cursorWriteIntervalMs: 200,
  coalesceMs: 1,
  /**
   * Off. Writing back early (4 MiB, the default until it was measured against throughput) made
   * every segment reach the disk, though most are acknowledged by Kafka and deleted within a
   * second or two and need never be written; and on ext4 each call allocated blocks under the
   * writes' feet (the segment's block-map lock, journal commits that wait for those blocks' data),
   * so single 2 MiB writes of the journal took 30 to 60 ms. Under 64 KiB writes (bench:write,
   * workload d at 200 MB), into Kafka: 199–221 MB/s with it, 231–252 without; the writer's close()
   * then waited 160–200 ms and 180–285 ms for its fsync (docs/gateway.md).
   */
  writebackBytes: 0,
  // Short first delay: a full disk is often freed by log rotation within a second.
  writeRetry: { initialMs: 20, maxMs: 2_000, factor: 2, jitter: 0.2 },
};

const OptionsSchema: z.ZodType<JournalOptions> = z.strictObject({
  dir: z.string().min(1),
  segmentBytes: z.number().int().min(HEADER_BYTES + ENTRY_HEADER_BYTES + 1).max(2 ** 32),
  maxBytes: z.number().int().positive(),
  retainBytes: z.number().int().nonnegative(),
  fsync: z.enum(['always', 'interval', 'barrier']),
  fsyncIntervalMs: z.number().int().positive(),
  requiredConsumers: z.array(z.string().min(1)),
  cacheBytes: z.number().int().nonnegative(),
  maxPendingBytes: z.number().int().positive(),
  closeTimeoutMs: z.number().int().nonnegative(),
  cursorWriteIntervalMs: z.number().int().nonnegative(),
  coalesceMs: z.number().int().nonnegative(),
  writebackBytes: z.number().int().nonnegative(),
  writeRetry: z.strictObject({
    initialMs: z.number().nonnegative(),
    maxMs: z.number().nonnegative(),
    factor: z.number().min(1),
    jitter: z.number().min(0).max(1),
  }),
});

export interface JournalStats {
  segments: number;
  /** Bytes in segment files. */
  bytes: number;
  /** Bytes counted against maxBytes (see isFull). */
  unackedBytes: number;
  nextLsn: number;
  /** Last LSN handed to the OS (-1 if none). */
  writtenLsn: number;
  /** Last LSN fsynced (-1 if none). */
  durableLsn: number;
  firstLsn: number;
  recoveredEntries: number;
  truncatedBytes: number;
  writeErrors: number;
  /** fsync calls of the write path (segments and the directory; not recovery or cursors.json). */
  fsyncs: number;
}

/** Rolled segments left open and not fsynced, waiting for a barrier or their deletion (roll). */
const RETIRED_UNSYNCED_MAX = 4;

/** At most this much is framed into one write; bigger backlogs take several writes. */
const WRITE_BUFFER_BYTES = 2 * MiB;
/** appendFramed cuts its runs from slabs of this size (a larger run gets a buffer of its own). */
const FRAMING_SLAB_BYTES = 1 * MiB;
/** Slabs kept for reuse once every entry cut from them has left the journal's memory. */
const FRAMING_SLAB_POOL = 8;

const QUEUE_CHUNK_BITS = 12;
const QUEUE_CHUNK = 1 << QUEUE_CHUNK_BITS;

/**
 * The entries in memory, oldest first, in chunks of QUEUE_CHUNK slots: neither appending nor
 * dropping the oldest copies the whole queue. (One array, sliced to drop its head, put a new array
 * of tens of thousands of slots into V8's large-object space each time: tens of MB of garbage
 * under load.)
 */
class EntryQueue<T> {
  private chunks: (T | undefined)[][] = [];
  private spare: (T | undefined)[] | undefined;
  private first = 0; // slot of the oldest entry in chunks[0]
  private size = 0;

  get length(): number {
    return this.size;
  }

  push(e: T): void {
    const i = this.first + this.size;
    if (i >> QUEUE_CHUNK_BITS === this.chunks.length) {
      this.chunks.push(this.spare ?? new Array<T | undefined>(QUEUE_CHUNK));
      this.spare = undefined;
    }
    (this.chunks[i >> QUEUE_CHUNK_BITS] as (T | undefined)[])[i & (QUEUE_CHUNK - 1)] = e;
    this.size += 1;
  }

  /** push(e), n times (one run's entries: each of its LSNs refers to the run). */
  pushRepeated(e: T, n: number): void {
    if (n < 16) {
      // A call to fill costs more than a few stores.
      for (let k = 0; k < n; k++) this.push(e);
      return;
    }
    let i = this.first + this.size;
    let left = n;
    while (left > 0) {
      if (i >> QUEUE_CHUNK_BITS === this.chunks.length) {
        this.chunks.push(this.spare ?? new Array<T | undefined>(QUEUE_CHUNK));
        this.spare = undefined;
      }
      const slot = i & (QUEUE_CHUNK - 1);
      const m = Math.min(left, QUEUE_CHUNK - slot);
      (this.chunks[i >> QUEUE_CHUNK_BITS] as (T | undefined)[]).fill(e, slot, slot + m);
      i += m;
      left -= m;
    }
    this.size += n;
  }

  /** Entry i from the oldest (0 ≤ i < length). */
  at(i: number): T {
    const j = this.first + i;
    return (this.chunks[j >> QUEUE_CHUNK_BITS] as (T | undefined)[])[j & (QUEUE_CHUNK - 1)] as T;
  }

  /** Drops the oldest entry. */
  shift(): void {
    const c = this.chunks[0] as (T | undefined)[];
    c[this.first] = undefined;
    this.first += 1;
    this.size -= 1;
    if (this.first === QUEUE_CHUNK) {
      this.spare = this.chunks.shift();
      this.first = 0;
    }
  }

  /** Drops the oldest `n` entries (n ≤ length). */
  shiftMany(n: number): void {
    if (n < 16) {
      for (let k = 0; k < n; k++) this.shift();
      return;
    }
    let left = n;
    while (left > 0) {
      const c = this.chunks[0] as (T | undefined)[];
      const m = Math.min(left, QUEUE_CHUNK - this.first);
      c.fill(undefined, this.first, this.first + m);
      this.first += m;
      this.size -= m;
      left -= m;
      if (this.first === QUEUE_CHUNK) {
        this.spare = this.chunks.shift();
        this.first = 0;
      }
    }
  }

  /** Drops the newest `n` entries. */
  pop(n: number): void {
    for (let k = 0; k < n; k++) {
      const j = this.first + this.size - 1;
      (this.chunks[j >> QUEUE_CHUNK_BITS] as (T | undefined)[])[j & (QUEUE_CHUNK - 1)] = undefined;
      this.size -= 1;
    }
  }
}

/** A buffer that appendFramed runs are cut from, one after another. */
class FramingSlab {
  used = 0;
  /** Runs cut from it that are still in the journal's memory (pending or cached). */
  runs = 0;
  /** A reader was handed a payload in it: it is never reused (the reader may keep the view). */
  exposed = false;
  constructor(readonly buf: Buffer) {}
}

/**
 * Entries appended by appendFramed: `count` entries framed one after the other in slab.buf, entry k
 * at offs[k] (ENTRY_HEADER_BYTES, then its payload) up to offs[k + 1]. Every LSN of the run points
 * at this one object, so a run costs no object per entry. The journal's open run grows with the
 * next appendFramed call whose entries follow it in the slab (one writer's one-line writes, each a
 * call): until it is sealed, when the journal starts writing it (or anything else is appended).
 */
class FramedRun {
  constructor(
    readonly slab: FramingSlab,
    /** Offsets of the entries and of the run's end; longer than count + 1 while the run is open. */
    public offs: Int32Array,
    public count: number,
    readonly firstLsn: number,
  ) {}

  get end(): number {
    return this.offs[this.count] as number;
  }

  payloadLength(lsn: number): number {
    const k = lsn - this.firstLsn;
    return (this.offs[k + 1] as number) - (this.offs[k] as number) - ENTRY_HEADER_BYTES;
  }

  payload(lsn: number): Buffer {
    const k = lsn - this.firstLsn;
    return this.slab.buf.subarray((this.offs[k] as number) + ENTRY_HEADER_BYTES, this.offs[k + 1]);
  }
}

/** Most entries an open run grows to (its offsets array then takes 16 KiB). */
const OPEN_RUN_ENTRIES = 4096;
const CURSORS_FILE = 'cursors.json';

const CursorsFileSchema = z.strictObject({
  version: z.literal(1),
  /** LSNs below this were handed out before; never reuse them, even if a crash lost the entries. */
  nextLsn: z.number().int().nonnegative(),
  consumers: z.record(z.string(), z.number().int().min(-1)),
  meta: z.record(z.string(), z.unknown()),
});
type CursorsFile = z.infer<typeof CursorsFileSchema>;

/** One framed write: entries firstLsn .. firstLsn + count - 1 at `position` in the segment. */
interface Chunk {
  /** The chunk's bytes in order: the write buffer's, and with writev runs' bytes where they lie. */
  parts: Buffer[];
  bytes: number;
  position: number;
  firstLsn: number;
  firstK: number; // index of the first entry within its segment
  count: number;
  payloadBytes: number;
  indexPoints: number[];
  segmentFull: boolean; // stopped because the next entry belongs in a new segment
}

interface Waiter {
  lsn: number;
  resolve(): void;
  reject(err: unknown): void;
}

/** Waiters sorted by LSN; they nearly always arrive in order, so adding is a push. */
const COALESCE_BELOW_BYTES = 64 * 1024;

class LsnWaiters {
  private items: Waiter[] = [];
  private head = 0;

  get minLsn(): number {
    return this.items[this.head]?.lsn ?? Infinity;
  }

  add(w: Waiter): void {
    const items = this.items;
    if (items.length === this.head || (items[items.length - 1] as Waiter).lsn <= w.lsn) {
      items.push(w);
      return;
    }
    let lo = this.head;
    let hi = items.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((items[mid] as Waiter).lsn <= w.lsn) lo = mid + 1;
      else hi = mid;
    }
    items.splice(lo, 0, w);
  }

  remove(w: Waiter): void {
    const i = this.items.indexOf(w, this.head);
    if (i >= 0) this.items.splice(i, 1);
  }

  resolveUpTo(lsn: number): void {
    const items = this.items;
    while (this.head < items.length && (items[this.head] as Waiter).lsn <= lsn) {
      (items[this.head++] as Waiter).resolve();
    }
    this.compact();
  }

  rejectAll(err: unknown): void {
    const items = this.items.slice(this.head);
    this.items = [];
    this.head = 0;
    for (const w of items) w.reject(err);
  }

  private compact(): void {
    if (this.head === this.items.length) {
      this.items = [];
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
  }
}

const RESOLVED = Promise.resolve();

function shuttingDown(dir: string): LogfsError {
  return new LogfsError('LOGFS_E_SHUTTING_DOWN', `the journal in ${dir} is closing`, { context: { dir } });
}

export class Journal {
  private readonly segments: Segment[] = []; // oldest first
  private active: Segment | undefined; // the segment written to; always the last one
  private readonly retired: Segment[] = []; // rolled segments not fsynced yet, or whose fsync sync() has not seen succeed (roll)
  private readonly required: ReadonlySet<string>;

  // entries.at(i) is the payload of LSN cacheBase + i, or the appendFramed run holding it:
  // written entries kept for readers (cachedBytes of them), then the pending ones, LSNs
  // written + 1 .. next - 1.
  private readonly entries = new EntryQueue<Buffer | FramedRun>();
  /** appendFramed's note of where each entry of a call ends (grown as needed, reused). */
  private framedEnds = new Int32Array(1024);
  /** The slab appendFramed cuts its next run from, and slabs ready for reuse. */
  private slab: FramingSlab | undefined;
  /** The run appendFramed may still grow (FramedRun); sealed by writing and by append(). */
  private openRun: FramedRun | undefined;
  private readonly slabPool: FramingSlab[] = [];
  private cacheBase: number;
  private cachedBytes = 0;
  private pendingBytes = 0; // framed bytes of entries not yet written
  private next: number;
  private written: number;
  private durable: number;

  private storedBytes = 0;
  private ackedBytes = 0; // bytes of stored segments holding entries every required consumer acked
  private readonly cursors = new Map<string, number>();
  private metaValue: Record<string, unknown>;

  private readonly writtenWaiters = new LsnWaiters();
  /** Told of each chunk written to a segment file (onWritten). */
  private readonly writtenListeners = new Set<(path: string, size: number) => void>();
  private readonly durableWaiters = new LsnWaiters();
  private readonly entryWaiters = new LsnWaiters(); // keyed by the LSN they wait for
  private readonly roomWaiters = new LsnWaiters(); // all keyed 0

  private flushBusy = false;
  private flushDone: Promise<void> = RESOLVED;
  private syncDue = false; // 'interval' tick or close
  private dirDirty = false; // a segment was created and the directory not yet fsynced
  private readonly backoff: Backoff;
  private readonly writeBuffers: Buffer[] = [Buffer.alloc(0), Buffer.alloc(0)]; // one being written, one being framed
  private failure: LogfsError | undefined;
  /** A startWriteback failed (logged once). */
  private writebackFailed = false;
  private closing = false;
  private closed = false;
  private closePromise: Promise<void> | undefined;
  private readonly giveUp = new AbortController();
  private syncTimer: NodeJS.Timeout | undefined;
  private readonly unlinks = new Set<Promise<void>>();

  private cursorsDirty = false;
  private cursorsTimer: NodeJS.Timeout | undefined;
  private cursorsWrite: Promise<void> = RESOLVED;
  private lastCursorsWrite = 0;

  private readonly counters = { recoveredEntries: 0, truncatedBytes: 0, writeErrors: 0, fsyncs: 0 };

  private constructor(
    private readonly opts: JournalOptions,
    private readonly io: SegmentIo,
    private readonly log: Logger,
    saved: CursorsFile,
  ) {
    this.required = new Set(opts.requiredConsumers);
    this.backoff = new Backoff(opts.writeRetry);
    for (const [name, lsn] of Object.entries(saved.consumers)) this.cursors.set(name, lsn);
    this.metaValue = saved.meta;
    this.next = this.written = this.durable = this.cacheBase = 0;
  }

  /**
   * Opens (creating if needed) the journal in `opts.dir` and recovers it: a torn or corrupt tail is
   * cut off and logged, never fatal. `io` is a test hook for simulating disk failures.
   * `log` should be a child logger bound to the gateway's component.
   */
  static async open(
    opts: Partial<JournalOptions> & { dir: string; io?: Partial<SegmentIo> },
    log: Logger,
  ): Promise<Journal> {
    const { io, ...rest } = opts;
    const parsed = OptionsSchema.safeParse({ ...JOURNAL_DEFAULTS, ...rest });
    if (!parsed.success) {
      const problems = parsed.error.issues.map((i) => `${i.path.join('.') || '(options)'}: ${i.message}`);
      throw new LogfsError('LOGFS_E_CONFIG', `invalid journal options: ${problems.join('; ')}`, {
        context: { problems },
      });
    }
    await fsp.mkdir(parsed.data.dir, { recursive: true });
    const saved = await readCursorsFile(parsed.data.dir, log);
    const merged: SegmentIo = { ...NODE_IO, ...io };
    // An io that replaces write (a test injecting faults) sees every write: not NODE_IO's writev.
    if (io?.write && !io.writev) delete merged.writev;
    const journal = new Journal(parsed.data, merged, log, saved);
    await journal.recover(saved.nextLsn);
    return journal;
  }

  private async recover(savedNextLsn: number): Promise<void> {
    const { dir } = this.opts;
    await fsp.rm(join(dir, `${CURSORS_FILE}.tmp`), { force: true });
    const found = (await fsp.readdir(dir))
      .flatMap((name) => {
        const base = parseSegmentFileName(name);
        return base === undefined ? [] : [{ base, path: join(dir, name) }];
      })
      .sort((a, b) => a.base - b.base);

    for (const [i, { base, path }] of found.entries()) {
      const seg = new Segment(base, path);
      const nextBase = found[i + 1]?.base;
      const problem = await scanSegment(seg, nextBase === undefined ? Infinity : nextBase - base);
      if (problem) {
        // Cut at the first bad byte so the file again ends on an entry boundary and the next
        // open does not report the same damage; what was lost is in the log line.
        if (problem.offset < HEADER_BYTES) seg.size = 0;
        await fsp.truncate(path, seg.size);
        this.counters.truncatedBytes += problem.droppedBytes;
        const where = { segment: path, offset: problem.offset, droppedBytes: problem.droppedBytes, reason: problem.reason };
        if (nextBase === undefined) {
          this.log.warn(where, 'journal: truncated a torn or corrupt tail of the last segment');
        } else {
          this.log.error(
            { ...where, lostFromLsn: seg.end, nextSegmentLsn: nextBase },
            'journal: segment is corrupt; its entries from lostFromLsn up to the next segment are lost, later segments are kept',
          );
        }
      }
      if (seg.size === 0 && nextBase !== undefined) {
        await fsp.rm(path, { force: true }); // holds nothing and is not the active segment
        continue;
      }
      // Rolled segments are fsynced only when a barrier asks (roll), so a crashed process may have
      // left any of them in the page cache only; make them durable before calling their entries
      // durable.
      await fsyncPath(path);
      seg.syncedSize = seg.size;
      this.counters.recoveredEntries += seg.count;
      this.storedBytes += seg.size;
      this.segments.push(seg);
    }

    const last = this.segments[this.segments.length - 1];
    const maxCursor = Math.max(-1, ...this.cursors.values());
    this.next = Math.max(last?.end ?? 0, savedNextLsn, maxCursor + 1);
    this.written = this.durable = this.next - 1;
    this.cacheBase = this.next;
    // Keep appending to the last segment unless LSNs were handed out past its end before a crash
    // (they are never reused, so a consumer's cursor cannot skip new entries).
    if (last && last.end === this.next) {
      last.fd = await this.io.open(last.path, 'r+');
      this.active = last;
    }
    await fsyncPath(dir); // segment files created or removed before a crash
    this.refreshAcked();
    this.collectSegments();
    if (this.opts.fsync === 'interval') {
      this.syncTimer = setInterval(() => {
        if (this.written > this.durable || this.written < this.next - 1) {
          this.syncDue = true;
          this.kick();
        }
      }, this.opts.fsyncIntervalMs);
      this.syncTimer.unref();
    }
    this.log.info(
      { dir, segments: this.segments.length, nextLsn: this.next, firstLsn: this.firstLsn, ...this.counters },
      'journal opened',
    );
  }

  // ---- appending and durability ----------------------------------------------------------------

  /**
   * Queues entries (ownership passes to the journal: they are kept, not copied, and handed to
   * readers as they are) and returns the LSN of the last one. Never blocks; check isFull() or
   * await waitForRoom() to respect the bound.
   */
  append(payloads: Buffer[]): number {
    if (this.closing) throw shuttingDown(this.opts.dir);
    if (this.failure) throw this.failure;
    this.openRun = undefined; // LSNs of a run are consecutive
    const entries = this.entries;
    let bytes = 0;
    for (let i = 0; i < payloads.length; i++) {
      const p = payloads[i] as Buffer;
      if (p.length === 0) {
        entries.pop(i); // all or nothing
        throw new LogfsError('LOGFS_E_INTERNAL', 'journal entries must not be empty');
      }
      entries.push(p);
      bytes += p.length;
    }
    this.next += payloads.length;
    this.pendingBytes += bytes + ENTRY_HEADER_BYTES * payloads.length;
    this.kick();
    return this.next - 1;
  }

  /**
   * append() for entries the caller frames itself, straight into the journal's memory: `fill`
   * gets a buffer and the offset to write at, with at least `maxBytes` of room, and returns where
   * its entries end. Each entry is ENTRY_HEADER_BYTES (its payload length as u32 BE, then its
   * checksum) followed by the payload, as in a segment. Returns the LSN of the last one; at least
   * one entry, none empty. The entries must not change after this call. The memory is reused once
   * they are written and out of the cache, unless a reader was handed one of them.
   *
   * Without `framed`, the journal walks the entries to check them and note where each ends, and
   * computes their checksums, while they are still in the CPU's cache (at write time, megabytes
   * later, each was a trip to memory). With `framed` (frameLines in C), `fill` frames exactly
   * `framed.count` entries, fills in their checksums, and notes where each ends in the `ends` it
   * gets (room for `framed.count`): no walk in JavaScript, which cost about as much per entry as
   * framing it in C.
   */
  appendFramed(maxBytes: number, fill: (buf: Buffer, start: number, ends: Int32Array) => number, framed?: { count: number }): number {
    if (this.closing) throw shuttingDown(this.opts.dir);
    if (this.failure) throw this.failure;
    const slab = this.slabWithRoom(maxBytes);
    const start = slab.used;
    let ends = this.framedEnds;
    if (framed !== undefined && ends.length < framed.count) {
      this.framedEnds = ends = new Int32Array(Math.max(framed.count, 2 * ends.length));
    }
    const end = fill(slab.buf, start, ends);
    if (!(end > start && end - start <= maxBytes)) {
      throw new LogfsError('LOGFS_E_INTERNAL', `appendFramed: ${end - start} bytes framed, expected 1 to ${maxBytes}`);
    }
    const buf = slab.buf;
    let count = 0;
    if (framed !== undefined) {
      count = framed.count;
      if (!(count > 0 && ends[count - 1] === end)) {
        throw new LogfsError('LOGFS_E_INTERNAL', `appendFramed: ${count} entries said, the last ending at ${ends[count - 1]}, but framing ended at ${end}`);
      }
    } else {
      // One walk over the entries: each is checked, and where it ends noted.
      for (let pos = start; pos < end; count++) {
        const len = end - pos >= ENTRY_HEADER_BYTES ? buf.readUInt32BE(pos) : -1;
        if (len <= 0 || pos + ENTRY_HEADER_BYTES + len > end) {
          throw new LogfsError('LOGFS_E_INTERNAL', `appendFramed: entry ${count} at ${pos - start} is empty or runs past the end`);
        }
        pos += ENTRY_HEADER_BYTES + len;
        if (count === ends.length) {
          const grown = new Int32Array(2 * ends.length);
          grown.set(ends);
          this.framedEnds = ends = grown;
        }
        ends[count] = pos;
      }
      crc32Entries(buf, start, end);
    }
    slab.used = end;
    let run = this.openRun;
    let k: number;
    if (run !== undefined && run.slab === slab && run.end === start && run.firstLsn + run.count === this.next && run.count + count <= OPEN_RUN_ENTRIES) {
      // The entries follow the open run's: it grows (one-line writes would each cost a run).
      k = run.count;
      if (run.offs.length < k + count + 1) {
        const offs = new Int32Array(Math.min(OPEN_RUN_ENTRIES + 1, Math.max(2 * run.offs.length, k + count + 1)));
        offs.set(run.offs.subarray(0, k + 1));
        run.offs = offs;
      }
      run.count += count;
    } else {
      // Room to grow when it is small: the next call is likely another write of a line or two.
      run = new FramedRun(slab, new Int32Array(count < 16 ? 17 : count + 1), count, this.next);
      run.offs[0] = start;
      k = 0;
      slab.runs += 1;
      this.openRun = run;
    }
    run.offs.set(ends.subarray(0, count), k + 1);
    this.entries.pushRepeated(run, count);
    this.next += count;
    this.pendingBytes += end - start;
    this.kick();
    return this.next - 1;
  }

  /** The current slab if it has `bytes` of room; else a pooled or new one (its own for a big run). */
  private slabWithRoom(bytes: number): FramingSlab {
    const cur = this.slab;
    if (cur && cur.buf.length - cur.used >= bytes) return cur;
    if (cur) {
      this.slab = undefined;
      this.releaseSlab(cur);
    }
    if (bytes > FRAMING_SLAB_BYTES) return new FramingSlab(Buffer.allocUnsafeSlow(bytes));
    this.slab = this.slabPool.pop() ?? new FramingSlab(Buffer.allocUnsafeSlow(FRAMING_SLAB_BYTES));
    return this.slab;
  }

  /** Pools a slab no run needs any more (and that no run will be cut from). */
  private releaseSlab(slab: FramingSlab): void {
    if (slab.runs !== 0 || slab === this.slab || slab.exposed || slab.buf.length !== FRAMING_SLAB_BYTES) return;
    if (this.slabPool.length >= FRAMING_SLAB_POOL) return;
    slab.used = 0;
    this.slabPool.push(slab);
  }

  get nextLsn(): number {
    return this.next;
  }

  /** Last LSN handed to the OS (-1 if none): read() returns nothing beyond it. */
  get writtenLsn(): number {
    return this.written;
  }

  get firstLsn(): number {
    for (const seg of this.segments) if (seg.count > 0) return seg.base;
    return this.written + 1;
  }

  isFull(): boolean {
    return this.unackedBytes() >= this.opts.maxBytes || this.pendingBytes >= this.opts.maxPendingBytes;
  }

  waitForRoom(signal?: AbortSignal): Promise<void> {
    if (this.closing) return Promise.reject(shuttingDown(this.opts.dir));
    if (!this.isFull()) return RESOLVED;
    return this.waitOn(this.roomWaiters, 0, signal);
  }

  /** Resolves once the entry was handed to the OS (write() returned). */
  whenWritten(lsn: number): Promise<void> {
    if (lsn <= this.written) return RESOLVED;
    return this.checkWaitable(lsn) ?? this.waitOn(this.writtenWaiters, lsn);
  }

  /**
   * Resolves once the entry is fsynced. Under 'barrier' this asks for an fsync; every waiter
   * whose entry is written by the time it starts shares it (group commit).
   */
  whenDurable(lsn: number): Promise<void> {
    if (lsn <= this.durable) return RESOLVED;
    const refused = this.checkWaitable(lsn);
    if (refused) return refused;
    const p = this.waitOn(this.durableWaiters, lsn);
    this.kick();
    return p;
  }

  private checkWaitable(lsn: number): Promise<void> | undefined {
    if (this.failure) return Promise.reject(this.failure);
    if (lsn >= this.next) {
      return Promise.reject(
        new LogfsError('LOGFS_E_INTERNAL', `journal LSN ${lsn} was never appended (next is ${this.next})`),
      );
    }
    return undefined;
  }

  private waitOn(queue: LsnWaiters, lsn: number, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise<void>((resolve, reject) => {
      const onAbort = (): void => {
        queue.remove(waiter);
        reject(signal?.reason);
      };
      const waiter: Waiter = {
        lsn,
        resolve: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
        reject: (err) => {
          signal?.removeEventListener('abort', onAbort);
          reject(err);
        },
      };
      queue.add(waiter);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Starts the flush loop on the next turn unless it is already scheduled or running. */
  private kick(): void {
    if (this.flushBusy) return;
    this.flushBusy = true;
    const coalesce = this.opts.coalesceMs > 0 && this.pendingBytes < COALESCE_BELOW_BYTES && this.durableWaiters.minLsn === Infinity;
    this.flushDone = new Promise<void>((resolve) => {
      const run = (): void => void this.runFlush().then(resolve);
      if (coalesce) setTimeout(run, this.opts.coalesceMs);
      else setImmediate(run);
    });
  }

  private async runFlush(): Promise<void> {
    for (let work = this.nextWork(); work; work = this.nextWork()) {
      try {
        if (work === 'sync') await this.sync();
        else await this.writeBatch();
        this.backoff.reset();
      } catch (err) {
        if (!(await this.waitBeforeRetry(err))) break;
      }
    }
    this.flushBusy = false;
  }

  private nextWork(): 'write' | 'sync' | undefined {
    if (this.failure) return undefined;
    const pending = this.written < this.next - 1;
    if (
      this.written > this.durable &&
      (this.opts.fsync === 'always' ||
        this.syncDue ||
        (this.closing && !pending) ||
        (this.opts.fsync === 'barrier' && this.durableWaiters.minLsn <= this.written))
    ) {
      return 'sync';
    }
    return pending ? 'write' : undefined;
  }

  /**
   * Writes the entries pending when it starts to the active segment (rolling first if the next
   * entry does not fit): one write per WRITE_BUFFER_BYTES, each chunk framed while the previous
   * one is being written, because framing (crc32 mostly) costs about as much as the write itself.
   * Entries appended meanwhile wait for the next round so a due fsync is not starved.
   */
  private async writeBatch(): Promise<void> {
    const firstLsn = this.written + 1;
    let seg = this.active;
    if (
      seg?.fd === undefined ||
      seg.end !== firstLsn ||
      (seg.count > 0 && seg.size + ENTRY_HEADER_BYTES + this.entryLength(firstLsn) > this.opts.segmentBytes)
    ) {
      seg = await this.roll();
    }
    const fd = seg.fd as number;
    if (seg.dirtyTail) {
      // A failed write may have put part of a batch on disk; cut it off before writing again.
      await this.io.ftruncate(fd, seg.size);
      seg.dirtyTail = false;
    }
    const end = this.next;
    // Entries about to be written must not change: the run they are in grows no more. (Not before
    // the roll above: entries appended while it awaits are written in this batch too.)
    this.openRun = undefined;
    let slot = 0;
    let chunk: Chunk | undefined = this.frame(seg, firstLsn, seg.count, seg.size, end, slot, true);
    while (chunk) {
      seg.dirtyTail = true; // until the whole chunk is known to be on disk
      const writing = chunk.parts.length === 1 || !this.io.writev ? this.io.write(fd, chunk.parts[0] as Buffer, chunk.bytes, chunk.position) : this.io.writev(fd, chunk.parts, chunk.position);
      const after = chunk.firstLsn + chunk.count;
      let next: Chunk | undefined;
      if (after < end && !chunk.segmentFull) {
        slot ^= 1;
        next = this.frame(seg, after, chunk.firstK + chunk.count, chunk.position + chunk.bytes, end, slot, false);
      }
      const wrote = await writing;
      if (wrote !== chunk.bytes) {
        throw Object.assign(new Error(`short write: ${wrote} of ${chunk.bytes} bytes`), { code: 'ESHORT' });
      }
      seg.dirtyTail = false;
      this.commit(seg, chunk);
      this.startWriteback(seg);
      chunk = next?.count ? next : undefined;
    }
  }

  /**
   * Frames entries [firstLsn, end) that fit into one write buffer and the segment. With `force`
   * the first entry is taken even if it alone exceeds both (a segment holds at least one entry).
   * Entries appended by appendFramed are framed and checksummed already: with a writev they are
   * written from where they lie, else copied into the write buffer.
   */
  private frame(seg: Segment, firstLsn: number, firstK: number, position: number, end: number, slot: number, force: boolean): Chunk {
    const headerBytes = position === 0 ? HEADER_BYTES : 0;
    let buf = this.writeBuffers[slot] as Buffer;
    const want = Math.min(WRITE_BUFFER_BYTES, this.pendingBytes + headerBytes);
    if (buf.length < want) {
      // Kept between writes and grown by doubling up to the cap.
      buf = Buffer.allocUnsafeSlow(Math.min(WRITE_BUFFER_BYTES, Math.max(want, 2 * buf.length, 64 * 1024)));
      this.writeBuffers[slot] = buf;
    }
    const firstBytes = headerBytes + ENTRY_HEADER_BYTES + this.entryLength(firstLsn);
    if (force && buf.length < firstBytes) buf = Buffer.allocUnsafeSlow(firstBytes); // one huge entry
    const segmentRoom = this.opts.segmentBytes - position;
    const room = Math.min(buf.length, segmentRoom);
    const inPlace = this.io.writev !== undefined;
    // The chunk is `off` bytes long; the write buffer holds [bufFrom, bufAt) of what is not yet in
    // parts, of which the entries in [crcFrom, bufAt) still need their checksums (appendFramed's
    // runs have theirs).
    let off = headerBytes > 0 ? encodeSegmentHeader(buf, 0) : 0;
    let bufFrom = 0;
    let bufAt = off;
    let crcFrom = off;
    const checksum = (): void => {
      if (bufAt > crcFrom) crc32Entries(buf, crcFrom, bufAt);
      crcFrom = bufAt;
    };
    const parts: Buffer[] = [];
    const flushBuf = (): void => {
      checksum();
      if (bufAt > bufFrom) parts.push(buf.subarray(bufFrom, bufAt));
      bufFrom = bufAt;
    };
    const indexPoints: number[] = [];
    const entries = this.entries;
    const base = -this.cacheBase;
    let lsn = firstLsn;
    let payloadBytes = 0;
    let segmentFull = false;
    while (lsn < end) {
      const e = entries.at(lsn + base);
      if (e instanceof FramedRun) {
        // As many of the run's entries as fit, already framed, and no step per entry (a 64 KiB
        // write is a run of hundreds of lines).
        const offs = e.offs;
        const first = e.firstLsn;
        const runEnd = Math.min(end, first + e.count);
        const from = lsn;
        const at = off;
        const start = offs[from - first] as number;
        // The entries [from, to) whose bytes fit from `at`: all of them usually, else found by
        // bisection; the chunk's first entry always with `force`.
        let to = runEnd;
        if ((offs[to - first] as number) - start > room - at) {
          let lo = from; // fits
          let hi = runEnd; // does not
          while (hi - lo > 1) {
            const mid = (lo + hi) >>> 1;
            if ((offs[mid - first] as number) - start <= room - at) lo = mid;
            else hi = mid;
          }
          to = lo;
          if (to === from && force && from === firstLsn) to = from + 1;
          if (to < runEnd) segmentFull = at + (offs[to + 1 - first] as number) - start > segmentRoom;
        }
        const stride = (firstK + from - firstLsn) % INDEX_STRIDE;
        for (let i = stride === 0 ? from : from + INDEX_STRIDE - stride; i < to; i += INDEX_STRIDE) {
          indexPoints.push(position + at + (offs[i - first] as number) - start);
        }
        const bytes = (offs[to - first] as number) - start;
        if (bytes > 0) {
          const src = e.slab.buf;
          if (inPlace) {
            flushBuf();
            const prev = parts.at(-1);
            if (prev !== undefined && prev.buffer === src.buffer && prev.byteOffset + prev.length === src.byteOffset + start) {
              // The run follows the previous one in the same slab: one piece of memory.
              parts[parts.length - 1] = src.subarray(prev.byteOffset - src.byteOffset, start + bytes);
            } else {
              parts.push(src.subarray(start, start + bytes));
            }
          } else {
            checksum();
            buf.set(src.subarray(start, start + bytes), bufAt);
            bufAt += bytes;
            crcFrom = bufAt;
          }
        }
        off += bytes;
        payloadBytes += bytes - ENTRY_HEADER_BYTES * (to - from);
        lsn = to;
        if (lsn < runEnd) break;
        continue;
      }
      const need = ENTRY_HEADER_BYTES + e.length;
      if (off + need > room && !(force && lsn === firstLsn)) {
        segmentFull = off + need > segmentRoom;
        break;
      }
      buf.writeUInt32BE(e.length, bufAt);
      buf.set(e, bufAt + ENTRY_HEADER_BYTES);
      if ((firstK + lsn - firstLsn) % INDEX_STRIDE === 0) indexPoints.push(position + off);
      off += need;
      bufAt += need;
      payloadBytes += e.length;
      lsn++;
    }
    // Every entry's checksum in as few calls as possible (native when built): a zlib call per
    // entry cost more than the checksum itself.
    flushBuf();
    return { parts, bytes: off, position, firstLsn, firstK, count: lsn - firstLsn, payloadBytes, indexPoints, segmentFull };
  }

  /** Accounts for a chunk that is now in the file and wakes whoever waited for it. */
  private commit(seg: Segment, chunk: Chunk): void {
    seg.size += chunk.bytes;
    seg.count += chunk.count;
    for (const p of chunk.indexPoints) seg.index.push(p);
    this.storedBytes += chunk.bytes;
    this.pendingBytes -= chunk.payloadBytes + ENTRY_HEADER_BYTES * chunk.count;
    this.cachedBytes += chunk.payloadBytes;
    this.written += chunk.count;
    while (this.cachedBytes > this.opts.cacheBytes && this.cacheBase <= this.written) this.dropCacheHead();
    this.writtenWaiters.resolveUpTo(this.written);
    this.entryWaiters.resolveUpTo(this.written);
    for (const l of this.writtenListeners) l(seg.path, seg.size);
    this.refreshAcked();
    this.wakeRoom();
  }

  /**
   * Calls `listener` with a segment's path and size (whole entries) each time entries were written
   * to it; returns the unsubscribe function. The Kafka shipper tells its reader how far it may read.
   */
  onWritten(listener: (path: string, size: number) => void): () => void {
    this.writtenListeners.add(listener);
    return () => this.writtenListeners.delete(listener);
  }

  /**
   * Has the disk start writing what was written to `seg` since the last call, once that is
   * writebackBytes, in whole pages (the partial last page is rewritten by the next write). One at
   * a time per segment; its file is closed only after it (retire, shutdown). A failure is logged
   * once and otherwise ignored: the writes are done, and an fsync reports a failing disk itself.
   */
  private startWriteback(seg: Segment): void {
    const every = this.opts.writebackBytes;
    if (every === 0 || this.opts.fsync === 'always' || !this.io.startWriteback || seg.writeback || seg.fd === undefined) return;
    const end = seg.size - (seg.size % PAGE_BYTES);
    const from = seg.writebackFrom;
    if (end - from < every) return;
    seg.writebackFrom = end;
    seg.writeback = this.io
      .startWriteback(seg.fd, from, end - from)
      .catch((err: unknown) => {
        if (this.writebackFailed) return;
        this.writebackFailed = true;
        this.log.warn({ err: errorMessage(err), segment: seg.path }, 'journal: could not start writing back to disk early; fsync will write everything');
      })
      .finally(() => (seg.writeback = undefined));
  }

  /**
   * Retires the full active segment and starts a new one. The old segment is fsynced when a
   * barrier asks (sync(), which waits for it before it declares anything durable), not now: most
   * segments are acknowledged by Kafka and deleted first, and need none (collectSegments). An fsync
   * at every roll, even in the background, sent every segment to the disk (eight 64 MiB fsyncs a
   * second under 64 KiB writes), and ext4's block allocation and journal commits for it slowed the
   * writes to the next segment. Under bench:write's workload d (200 MB, writeback off), four
   * alternating pairs: 171–202 MB/s into Kafka with an fsync at every roll, 192–228 without; the
   * writer's close() then waited 157–221 ms and 297–540 ms, as the segments Kafka has not yet
   * acknowledged are fsynced then. Past RETIRED_UNSYNCED_MAX such segments, the oldest are fsynced
   * (and closed) in the background, as before, so that open files and what a barrier has to write
   * stay bounded when Kafka is away and nothing asks for a barrier.
   */
  private async roll(): Promise<Segment> {
    const old = this.active;
    if (old?.fd !== undefined) {
      if (old.dirtyTail) {
        await this.io.ftruncate(old.fd, old.size);
        old.dirtyTail = false;
      }
      this.retired.push(old);
      let unsynced = 0;
      for (let i = this.retired.length - 1; i >= 0; i--) {
        const seg = this.retired[i] as Segment;
        if (seg.retiring !== undefined || ++unsynced <= RETIRED_UNSYNCED_MAX) continue;
        seg.retiring = this.retire(seg);
        seg.retiring.catch(() => undefined); // a failure is seen and retried by sync()
      }
    }
    this.active = undefined;
    const seg = new Segment(this.written + 1, join(this.opts.dir, segmentFileName(this.written + 1)));
    seg.fd = await this.io.open(seg.path, 'wx');
    this.segments.push(seg);
    this.active = seg;
    this.dirDirty = true;
    this.collectSegments(); // the old segment may now be deletable
    return seg;
  }

  /** fsyncs and closes a segment that is no longer written to. */
  private async retire(seg: Segment): Promise<void> {
    const size = seg.size;
    await this.io.fsync(seg.fd as number);
    this.counters.fsyncs += 1;
    seg.syncedSize = size;
    await this.closeFile(seg);
  }

  /** Closes a segment's file once a writeback call under way is done with its descriptor. */
  private async closeFile(seg: Segment): Promise<void> {
    await seg.writeback;
    const fd = seg.fd;
    seg.fd = undefined;
    if (fd !== undefined) await this.io.close(fd).catch((err: unknown) => this.log.warn({ err, segment: seg.path }, 'journal: close failed'));
  }

  /**
   * Makes everything written durable: retired segments (oldest first), the active segment, and the
   * directory after a roll.
   */
  private async sync(): Promise<void> {
    const target = this.written;
    while (this.retired.length > 0) {
      const seg = this.retired[0] as Segment;
      try {
        await (seg.retiring ??= this.retire(seg));
      } catch (err) {
        seg.retiring = undefined; // the next sync() tries again, after the backoff
        throw err;
      }
      this.retired.shift();
    }
    const seg = this.active;
    if (seg?.fd !== undefined && seg.syncedSize < seg.size) {
      const size = seg.size;
      await this.io.fsync(seg.fd);
      this.counters.fsyncs += 1;
      seg.syncedSize = size;
    }
    if (this.dirDirty) {
      // The new segment's directory entry must be durable too, or a crash loses the whole file.
      const fd = await this.io.open(this.opts.dir, 'r');
      try {
        await this.io.fsync(fd);
        this.counters.fsyncs += 1;
      } finally {
        await this.io.close(fd);
      }
      this.dirDirty = false;
    }
    this.syncDue = false;
    if (target > this.durable) {
      this.durable = target;
      this.durableWaiters.resolveUpTo(target);
    }
  }

  /** Logs a failed write or fsync and sleeps before the retry; false when close gave up. */
  private async waitBeforeRetry(err: unknown): Promise<boolean> {
    this.counters.writeErrors += 1;
    const delayMs = this.backoff.next();
    this.log.error(
      {
        err,
        errno: (err as NodeJS.ErrnoException).code,
        segment: this.active?.path,
        pendingEntries: this.next - 1 - this.written,
        attempt: this.backoff.attempts,
        retryInMs: delayMs,
      },
      'journal: write or fsync failed; entries stay in memory and it will be retried',
    );
    if (!isProgrammingError(err) && !this.giveUp.signal.aborted) {
      try {
        await sleep(delayMs, this.giveUp.signal);
        return true;
      } catch {
        // close() gave up while we slept
      }
    }
    const lost = this.next - 1 - this.durable;
    this.failure = new LogfsError(
      'LOGFS_E_JOURNAL_IO',
      `the journal in ${this.opts.dir} could not make ${lost} entries durable (${errorMessage(err)}); they are lost. Free disk space or replace the device`,
      { cause: err, context: { dir: this.opts.dir, lost, writtenLsn: this.written, durableLsn: this.durable } },
    );
    this.log.error({ err, lost, writtenLsn: this.written, durableLsn: this.durable }, this.failure.message);
    this.writtenWaiters.rejectAll(this.failure);
    this.durableWaiters.rejectAll(this.failure);
    return false;
  }

  /** The payload of an entry in memory; a reader is handed it, so its slab is never reused. */
  private entryAt(lsn: number): Buffer {
    const e = this.entries.at(lsn - this.cacheBase);
    if (!(e instanceof FramedRun)) return e;
    e.slab.exposed = true;
    return e.payload(lsn);
  }

  private entryLength(lsn: number): number {
    const e = this.entries.at(lsn - this.cacheBase);
    return e instanceof FramedRun ? e.payloadLength(lsn) : e.length;
  }

  /**
   * Drops the oldest cached entry, or with `below` every one before that LSN in the head's run. A
   * run's written entries go in one step when the cache would lose them all anyway (always with a
   * cache of 0, as with Kafka): one step per run, not per entry.
   */
  private dropCacheHead(below?: number): void {
    const e = this.entries.at(0);
    if (e instanceof FramedRun) {
      const upTo = Math.min(e.firstLsn + e.count, this.written + 1, below ?? Infinity);
      const n = upTo - this.cacheBase;
      const k = this.cacheBase - e.firstLsn;
      const bytes = (e.offs[k + n] as number) - (e.offs[k] as number) - ENTRY_HEADER_BYTES * n;
      const drop = n > 1 && (below !== undefined || this.cachedBytes - bytes >= this.opts.cacheBytes) ? n : 1;
      this.cachedBytes -= drop === n ? bytes : e.payloadLength(this.cacheBase);
      this.entries.shiftMany(drop);
      this.cacheBase += drop;
      // The run's last entry leaves memory: its slab may be reused.
      if (this.cacheBase === e.firstLsn + e.count) {
        e.slab.runs -= 1;
        // A bug if it happens; the slab is then never reused (releaseSlab), so nothing is overwritten.
        if (e.slab.runs < 0) this.log.error({ lsn: this.cacheBase - 1 }, 'journal memory counted free twice (a bug); that memory is left to the garbage collector');
        this.releaseSlab(e.slab);
      }
    } else {
      this.cachedBytes -= e.length;
      this.entries.shift();
      this.cacheBase += 1;
    }
  }

  // ---- reading ---------------------------------------------------------------------------------

  /**
   * Entries from the first stored, written LSN >= fromLsn: at least one when there is any, at most
   * maxEntries, and no more than maxBytes of payload unless the first entry alone is larger.
   * Stops at a segment boundary or a gap, so the result is always consecutive from `lsn`.
   * Payloads are shared with the journal's cache and other readers: do not modify them.
   */
  async read(fromLsn: number, maxEntries: number, maxBytes: number): Promise<{ lsn: number; payloads: Buffer[] }> {
    for (let attempt = 0; ; attempt++) {
      const from = Math.max(0, fromLsn);
      if (from > this.written || maxEntries <= 0) return { lsn: from, payloads: [] };
      if (from >= this.cacheBase) return this.readCache(from, maxEntries, maxBytes);
      const seg = this.segments.find((s) => s.end > from && s.count > 0);
      if (!seg) return { lsn: from, payloads: [] };
      const start = Math.max(from, seg.base);
      if (start >= this.cacheBase) return this.readCache(start, maxEntries, maxBytes);
      try {
        const snapshot = { path: seg.path, count: seg.count, size: seg.size, index: seg.index.slice() };
        const payloads = await readSegmentEntries(snapshot, start - seg.base, maxEntries, maxBytes);
        return { lsn: start, payloads };
      } catch (err) {
        // Acknowledged and deleted while we looked it up: read again from what is left.
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || attempt > 2) throw err;
      }
    }
  }

  /**
   * Where written entries from `fromLsn` on lie on disk, for a reader that reads the segment itself
   * (readSegmentRun; the Kafka producer thread): the first stored LSN >= fromLsn, its segment's
   * path and written size, a file position at or before it with the number of entries to skip from
   * there, and how many written entries the segment holds from that LSN. `hint` (the end position
   * a previous run of the segment at `path` returned, and the LSN found there) saves the skipping.
   * Undefined when nothing at or after fromLsn is written. Only LSNs no required consumer has
   * acknowledged are sure to stay on disk while they are read.
   */
  locate(fromLsn: number, hint?: { lsn: number; path: string; position: number }): { lsn: number; path: string; size: number; position: number; skip: number; available: number } | undefined {
    const from = Math.max(0, fromLsn);
    if (from > this.written) return undefined;
    const seg = this.segments.find((s) => s.end > from && s.count > 0);
    if (!seg) return undefined;
    const lsn = Math.max(from, seg.base);
    const k = lsn - seg.base;
    const available = Math.min(seg.end, this.written + 1) - lsn;
    if (available <= 0) return undefined;
    if (hint && hint.lsn === lsn && hint.path === seg.path && hint.position <= seg.size) return { lsn, path: seg.path, size: seg.size, position: hint.position, skip: 0, available };
    const j = Math.floor(k / INDEX_STRIDE);
    return { lsn, path: seg.path, size: seg.size, position: seg.index[j] ?? HEADER_BYTES, skip: k - j * INDEX_STRIDE, available };
  }

  private readCache(start: number, maxEntries: number, maxBytes: number): { lsn: number; payloads: Buffer[] } {
    const payloads: Buffer[] = [];
    let bytes = 0;
    for (let lsn = start; lsn <= this.written && payloads.length < maxEntries; lsn++) {
      const p = this.entryAt(lsn);
      if (payloads.length > 0 && bytes + p.length > maxBytes) break;
      payloads.push(p);
      bytes += p.length;
    }
    return { lsn: start, payloads };
  }

  /** Resolves when an entry with an LSN above afterLsn can be read. */
  waitForEntries(afterLsn: number, signal?: AbortSignal): Promise<void> {
    if (this.written > afterLsn) return RESOLVED;
    if (this.closed) return Promise.reject(shuttingDown(this.opts.dir));
    return this.waitOn(this.entryWaiters, afterLsn + 1, signal);
  }

  // ---- acknowledgements, deletion and the bound --------------------------------------------------

  /** Records that `consumer` processed every entry up to `lsn`; cursors only move forward. */
  ack(consumer: string, lsn: number): void {
    if (!Number.isSafeInteger(lsn) || lsn < -1 || lsn >= this.next) {
      throw new LogfsError('LOGFS_E_INTERNAL', `journal ack of LSN ${lsn} by ${consumer} is out of range (next is ${this.next})`);
    }
    if (this.closed) {
      this.log.warn({ consumer, lsn }, 'journal: ack after close ignored (entries will be delivered again)');
      return;
    }
    if (lsn <= (this.cursors.get(consumer) ?? -1)) return;
    this.cursors.set(consumer, lsn);
    this.markCursorsDirty();
    if (this.required.has(consumer)) {
      this.refreshAcked();
      this.collectSegments();
      this.wakeRoom();
    }
  }

  cursor(consumer: string): number {
    return this.cursors.get(consumer) ?? -1;
  }

  get meta(): Record<string, unknown> {
    return this.metaValue;
  }

  /** Stored with the cursors (throttled, and always on close); must be JSON-serialisable. */
  setMeta(meta: Record<string, unknown>): void {
    this.metaValue = meta;
    this.markCursorsDirty();
  }

  private minAck(): number {
    let min = Infinity;
    for (const name of this.required) min = Math.min(min, this.cursors.get(name) ?? -1);
    return min;
  }

  private unackedBytes(): number {
    return this.required.size > 0 ? this.storedBytes - this.ackedBytes + this.pendingBytes : this.pendingBytes;
  }

  /** Recomputes ackedBytes; only the first segments not yet deleted are looked at. */
  private refreshAcked(): void {
    if (this.required.size === 0) return;
    const ack = Math.min(this.minAck(), this.written);
    let acked = 0;
    for (const seg of this.segments) {
      if (seg.end - 1 <= ack) {
        acked += seg.size;
        continue;
      }
      if (seg.base <= ack) acked += seg.offsetOf(ack + 1 - seg.base);
      break;
    }
    this.ackedBytes = acked;
  }

  /**
   * Deletes the oldest segments that are no longer needed: fully acknowledged by every required
   * consumer, or (with none) beyond retainBytes. Never the active segment.
   */
  private collectSegments(): void {
    const ack = this.minAck();
    let removed = false;
    while (this.segments.length > 1) {
      const seg = this.segments[0] as Segment;
      const done = this.required.size > 0 ? seg.end - 1 <= ack : this.storedBytes > this.opts.retainBytes;
      if (seg === this.active || !done) break;
      this.segments.shift();
      this.storedBytes -= seg.size;
      removed = true;
      const r = this.retired.indexOf(seg);
      if (r >= 0 && seg.retiring === undefined) {
        // Deleted before a barrier asked for its fsync: its entries are acknowledged (or past
        // retention), and it needs none.
        this.retired.splice(r, 1);
        void this.closeFile(seg);
      }
      const unlink = fsp
        .rm(seg.path, { force: true })
        .catch((err: unknown) => this.log.error({ err, segment: seg.path }, 'journal: could not delete a segment'))
        .finally(() => this.unlinks.delete(unlink));
      this.unlinks.add(unlink);
      this.log.debug({ segment: seg.path, lastLsn: seg.end - 1 }, 'journal: deleted segment');
    }
    if (!removed) return;
    const first = this.firstLsn;
    while (this.cacheBase < first && this.cacheBase <= this.written) this.dropCacheHead(first);
    this.refreshAcked();
  }

  private wakeRoom(): void {
    if (this.roomWaiters.minLsn !== Infinity && !this.isFull()) this.roomWaiters.resolveUpTo(0);
  }

  // ---- cursors file ----------------------------------------------------------------------------

  private markCursorsDirty(): void {
    this.cursorsDirty = true;
    if (this.cursorsTimer || this.closing) return; // close() writes them anyway
    const wait = Math.max(0, this.lastCursorsWrite + this.opts.cursorWriteIntervalMs - Date.now());
    this.cursorsTimer = setTimeout(() => {
      this.cursorsTimer = undefined;
      this.persistCursors().catch(() => undefined); // logged there; retried on the next change or close
    }, wait);
    this.cursorsTimer.unref();
  }

  /** Writes cursors.json if anything changed; writes are serialised. */
  private persistCursors(): Promise<void> {
    this.cursorsWrite = this.cursorsWrite
      .catch(() => undefined)
      .then(async () => {
        if (!this.cursorsDirty) return;
        this.cursorsDirty = false;
        this.lastCursorsWrite = Date.now();
        const file: CursorsFile = {
          version: 1,
          nextLsn: this.next,
          consumers: Object.fromEntries(this.cursors),
          meta: this.metaValue,
        };
        try {
          await writeFileAtomic(join(this.opts.dir, CURSORS_FILE), JSON.stringify(file));
        } catch (err) {
          this.cursorsDirty = true;
          this.log.error({ err, errno: (err as NodeJS.ErrnoException).code }, 'journal: could not write cursors.json');
          throw err;
        }
      });
    return this.cursorsWrite;
  }

  // ---- stats and shutdown ------------------------------------------------------------------------

  stats(): JournalStats {
    return {
      segments: this.segments.length,
      bytes: this.storedBytes,
      unackedBytes: this.unackedBytes(),
      nextLsn: this.next,
      writtenLsn: this.written,
      durableLsn: this.durable,
      firstLsn: this.firstLsn,
      ...this.counters,
    };
  }

  /**
   * Writes and fsyncs everything pending, persists the cursors and releases the files. If the disk
   * keeps failing for closeTimeoutMs, rejects with LOGFS_E_JOURNAL_IO (as do the waiters).
   */
  close(): Promise<void> {
    this.closePromise ??= this.shutdown();
    return this.closePromise;
  }

  private async shutdown(): Promise<void> {
    this.closing = true;
    clearInterval(this.syncTimer);
    clearTimeout(this.cursorsTimer);
    this.roomWaiters.rejectAll(shuttingDown(this.opts.dir));
    const giveUpTimer = setTimeout(() => this.giveUp.abort(), this.opts.closeTimeoutMs);
    try {
      this.kick();
      await this.flushDone;
    } finally {
      clearTimeout(giveUpTimer);
    }
    this.closed = true;
    this.entryWaiters.rejectAll(shuttingDown(this.opts.dir));
    this.cursorsDirty = true;
    let cursorsError: unknown;
    await this.persistCursors().catch((err: unknown) => (cursorsError = err));
    // Normally only the active segment is still open; after a failure, retired ones may be too.
    for (const seg of [...this.retired, ...(this.active ? [this.active] : [])]) {
      await seg.retiring?.catch(() => undefined);
      await this.closeFile(seg);
    }
    await Promise.all(this.unlinks);
    if (this.failure) throw this.failure;
    if (cursorsError !== undefined) {
      throw new LogfsError(
        'LOGFS_E_JOURNAL_IO',
        `could not save consumer cursors in ${this.opts.dir} (${errorMessage(cursorsError)}); consumers will see entries again after restart`,
        { cause: cursorsError, context: { dir: this.opts.dir } },
      );
    }
    this.log.info({ nextLsn: this.next, durableLsn: this.durable }, 'journal closed');
  }
}

/** Reads cursors.json; a damaged file is moved aside and logged, costing re-delivery, not data. */
async function readCursorsFile(dir: string, log: Logger): Promise<CursorsFile> {
  const empty: CursorsFile = { version: 1, nextLsn: 0, consumers: {}, meta: {} };
  const path = join(dir, CURSORS_FILE);
  let text: string;
  try {
    text = await fsp.readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return empty;
    throw new LogfsError('LOGFS_E_JOURNAL_IO', `cannot read ${path}: ${errorMessage(err)}`, { cause: err });
  }
  try {
    return CursorsFileSchema.parse(JSON.parse(text));
  } catch (err) {
    const aside = `${path}.corrupt-${Date.now()}`;
    await fsp.rename(path, aside);
    log.error({ err, movedTo: aside }, 'journal: cursors.json is unreadable; consumers start from the oldest entry');
    return empty;
  }
}

async function fsyncPath(path: string): Promise<void> {
  const fh = await fsp.open(path, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Replaces a file so that a crash leaves either the old or the new content, never a mix. */
async function writeFileAtomic(path: string, data: string): Promise<void> {
  const tmp = `${path}.tmp`;
  const fh = await fsp.open(tmp, 'w', 0o640);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await fsp.rename(tmp, path);
  await fsyncPath(dirname(path));
}
