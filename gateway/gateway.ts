/**
 * The per-host gateway: stamps records with instance, provider, host, time and a per-instance
 * sequence; appends them to the journal; answers durability barriers; ships the journal to Kafka
 * (when brokers are configured). DESIGN.md "Durability" is the contract this file keeps.
 */
import fsp from 'node:fs/promises';
import path from 'node:path';
import v8 from 'node:v8';
import type http from 'node:http';
import { errorMessage, LogfsError } from '../core/errors.js';
import { componentLogger, type Logger } from '../core/logger.js';
import { processAlive } from '../core/process-alive.js';
import { topicForStream } from '../control/stream-name.js';
import type { ProvisioningStore } from '../control/store.js';
import type { GatewayConfig } from './config.js';
import { Journal } from './journal.js';
import { ENTRY_HEADER_BYTES } from './journal-segment.js';
import { nativeGateway } from './native.js';
import { decodeJournalEntry, JournalEntryHeader } from './journal-entry.js';
import { KafkaShipper } from './kafka-shipper.js';
import { MetricsRegistry, serveMetrics, type Counter } from './metrics.js';
import { RECORD_SCHEMA_VERSION, RecordTemplate, type RecordSource } from './record-codec.js';
import { recordAad, StoreKeyring } from './record-crypto.js';

export interface IngestLine {
  data: Buffer;
  part?: [number, boolean];
  /** Source-specific fields that travel with the record (syslog header fields, …). */
  attrs?: Record<string, unknown>;
}

export interface InstanceIdentity {
  instance: string;
  provider: string;
}

/** What producers (the FUSE mount, sockets, remote daemons) see of the gateway. */
export interface IngestSink {
  /**
   * Stamps and journals `lines`; returns the position to pass to `barrier`. Callers check
   * `refusing()` and `isFull()` first: the bound may be overshot by one write, never ignored.
   * The lines' data is copied before it returns (the FUSE fast path reuses its buffer).
   */
  ingest(who: InstanceIdentity, stream: string, label: string | null, lines: IngestLine[], source: RecordSource): number;
  /**
   * ingest() of the complete lines at the start of `chunk` (plain lines, no attrs), framed without
   * an object per line: those up to the first one longer than maxLine bytes or the unterminated
   * tail. Returns the bytes it took (0 when it takes none: the caller frames them and calls
   * ingest) and the LSN of the last record. Optional: a sink that cannot returns 0.
   */
  ingestChunk?(who: InstanceIdentity, stream: string, label: string | null, chunk: Buffer, maxLine: number, source: RecordSource): ChunkTaken;
  /** True when a write now has to wait for room. */
  isFull(): boolean;
  /** True when a write now must fail with ENOSPC (the "refuse" policy at the bound). */
  refusing(): boolean;
  waitForRoom(): Promise<void>;
  /** Resolves when everything up to `position` is durable by the configured policy. */
  barrier(position: number): Promise<void>;
  /** Counts a writer that had to wait or was refused. */
  noteBackpressure(kind: 'blocked' | 'refused'): void;
  /** What a full journal does to writes: they wait (block), or fail with ENOSPC (refuse). */
  readonly onFull: 'block' | 'refuse';
}

export interface ChunkTaken {
  taken: number;
  lsn: number;
}

const NOTHING_TAKEN: ChunkTaken = Object.freeze({ taken: 0, lsn: -1 });

interface GatewayCounters {
  recordsIn: Counter;
  bytesIn: Counter;
  blocked: Counter;
  refused: Counter;
}

export interface GatewayDeps {
  dataDir: string;
  store: ProvisioningStore;
  log?: Logger;
  /**
   * In embedded mode, journal consumers that must pass an entry before it may be deleted (the
   * in-process pipeline: the journal is its bus). With Kafka, Kafka is the one required consumer.
   */
  embeddedConsumers?: string[];
}

/** The journal's default cache for its in-process readers in embedded mode (gateway.journal.cacheBytes). */
const EMBEDDED_CACHE_BYTES = 4 * 1024 * 1024;

/**
 * How often the C heap's free pages go back to the system (nativeGateway.trimHeap). glibc keeps
 * what the threads free (the FUSE and I/O threads', the Kafka producer thread's) in its arenas:
 * under the write-path benchmark they held 20–30 MB free by the end of the 64 KiB writes. A call
 * took 0.4–0.7 ms then, a fraction of a percent of a core at this period.
 */
const TRIM_HEAP_MS = 250;

/**
 * One gateway per journal: two writers would corrupt it. The lock file holds the owner's pid; a lock
 * whose process is gone was left by a crash and is taken over.
 */
const heldLocks = new Set<string>();

async function lockDirectory(dir: string): Promise<() => Promise<void>> {
  await fsp.mkdir(dir, { recursive: true });
  const lock = path.join(dir, 'LOCK');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      await fsp.writeFile(lock, `${process.pid}\n`, { flag: 'wx' });
      heldLocks.add(lock);
      return async () => {
        heldLocks.delete(lock);
        await fsp.rm(lock, { force: true });
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const owner = Number((await fsp.readFile(lock, 'utf8').catch(() => '')).trim());
      // Our own pid in a lock we do not hold is a previous incarnation's (pid 1 in a container).
      const held = owner === process.pid ? heldLocks.has(lock) : Number.isInteger(owner) && owner > 0 && processAlive(owner);
      if (held) {
        throw new LogfsError('LOGFS_E_CONFIG', `journal ${dir} is in use by process ${owner}; one gateway per journal (use another --data)`);
      }
      await fsp.rm(lock, { force: true });
    }
  }
  throw new LogfsError('LOGFS_E_CONFIG', `cannot lock journal ${dir}`);
}

interface Template {
  record: RecordTemplate;
  header: JournalEntryHeader;
  usage: StreamUsage;
}

/** What the gateway spent on a stream since it started: the fleet's cost figure (docs/cost.md). */
export interface StreamUsage {
  records: number;
  bytes: number;
  /** Time in ingest's synchronous work (stamping, encoding, encrypting): wall time, which is CPU time there. */
  cpuMs: number;
}

/**
 * Reading the clock twice costs about 0.1 µs, 5% of a one-line ingest: calls of fewer lines than
 * `timeAllFromLines` are timed one in `sampleOneIn` on average (at random gaps, so that no
 * periodic pattern of writes is always or never timed) and count for `sampleOneIn` (docs/cost.md).
 */
export const USAGE_TIMING = { timeAllFromLines: 16, sampleOneIn: 16 };

interface SeqMeta {
  seqs: Record<string, number>;
  atLsn: number;
}

export class Gateway implements IngestSink {
  readonly metrics = new MetricsRegistry();
  readonly onFull: 'block' | 'refuse';
  private readonly seqs = new Map<string, number>();
  /**
   * Lowest sequence number of this run: the start time in microseconds. The journal's tail (and the
   * saved high-water marks) can be lost in a power cut after records already reached Kafka; starting
   * above every number issued before keeps record IDs unique as long as an instance averages under
   * a million records a second and the clock does not step back. Numbers stay below 2^53 until 2255.
   */
  private readonly seqFloor = Date.now() * 1000;
  private readonly templates = new Map<string, Template>();
  /** ingest's records encoded ahead of framing (attrs, sealed), reused between calls. */
  private readonly encodedScratch: (Buffer | undefined)[] = [];
  private readonly usage = new Map<string, StreamUsage>();
  /** Small ingest calls left until the next timed one (USAGE_TIMING). */
  private untimed = 0;
  private readonly counters: GatewayCounters;
  private blockedNow = 0;
  private shipper: KafkaShipper | undefined;
  private metricsServer: http.Server | undefined;
  private closed = false;
  private metaDirty = false;
  private metaTimer: NodeJS.Timeout | undefined;
  private trimTimer: NodeJS.Timeout | undefined;
  private releaseLock: () => Promise<void> = async () => undefined;
  /** Encryption settings of the streams (docs/encryption.md); empty until start() sets the store's. */
  private keyring = new StoreKeyring({ snapshot: () => ({ streams: {} }) });
  /** When each stream's "encrypted but no key" refusal was last logged (one line per stream a minute). */
  private readonly noKeyLogged = new Map<string, number>();

  private constructor(
    readonly config: GatewayConfig,
    readonly journal: Journal,
    private readonly log: Logger,
  ) {
    this.onFull = config.onFull;
    const m = this.metrics;
    this.counters = {
      recordsIn: m.counter('logfs_records_in_total', 'Records accepted by the gateway'),
      bytesIn: m.counter('logfs_bytes_in_total', 'Bytes of record data accepted by the gateway'),
      blocked: m.counter('logfs_writes_blocked_total', 'Writes that waited for room in the journal'),
      refused: m.counter('logfs_writes_refused_total', 'Writes refused with ENOSPC because the journal was full'),
    };
    m.gauge('logfs_blocked_writers', 'Writers waiting for room in the journal now', () => this.blockedNow);
    m.gauge('logfs_journal_bytes', 'Bytes in journal segments', () => this.journal.stats().bytes);
    m.gauge('logfs_journal_unacked_bytes', 'Journal bytes not yet acknowledged by Kafka', () => this.journal.stats().unackedBytes);
    m.gauge('logfs_journal_segments', 'Journal segment files', () => this.journal.stats().segments);
    m.gauge('logfs_journal_next_lsn', 'Next journal position', () => this.journal.nextLsn);
    m.gauge('logfs_journal_write_errors', 'Journal write errors (disk full, I/O) since start', () => this.journal.stats().writeErrors);
    // The process's memory, under the names Prometheus' Node.js clients use (the main thread's heap;
    // the Kafka producer thread's heap counts in the resident size).
    // (V8's heap statistics, not process.memoryUsage(), which reads the resident size each time.)
    m.gauge('process_resident_memory_bytes', 'Resident memory of the process', () => process.memoryUsage.rss());
    m.gauge('nodejs_heap_size_used_bytes', 'V8 heap in use (main thread)', () => v8.getHeapStatistics().used_heap_size);
    m.gauge('nodejs_heap_size_total_bytes', 'V8 heap reserved (main thread)', () => v8.getHeapStatistics().total_heap_size);
    m.gauge('nodejs_external_memory_bytes', 'Memory held outside the V8 heap by JavaScript objects (buffers included)', () => v8.getHeapStatistics().external_memory);
  }

  static async start(config: GatewayConfig, deps: GatewayDeps): Promise<Gateway> {
    const log = componentLogger('gateway', deps.log);
    if (config.durability === 'kafka' && config.kafka.brokers.length === 0) {
      throw new LogfsError('LOGFS_E_CONFIG', 'durability "kafka" needs kafka.brokers; without brokers use durability "journal"');
    }
    const embedded = config.kafka.brokers.length === 0;
    const journalDir = config.journal.dir ?? path.join(deps.dataDir, 'journal');
    const releaseLock = await lockDirectory(journalDir);
    let journal: Journal;
    try {
      journal = await Journal.open(
        {
          ...config.journal,
          dir: journalDir,
          requiredConsumers: embedded ? (deps.embeddedConsumers ?? []) : ['kafka'],
          // With Kafka nothing in this process reads the journal's memory: the shipper reads the
          // segment files, the pipeline reads Kafka. Kept entries would only keep their memory busy.
          cacheBytes: config.journal.cacheBytes ?? (embedded ? EMBEDDED_CACHE_BYTES : 0),
        },
        componentLogger('journal', deps.log),
      );
    } catch (err) {
      await releaseLock();
      throw err;
    }
    const gw = new Gateway(config, journal, log);
    gw.releaseLock = releaseLock;
    gw.keyring = new StoreKeyring(deps.store);
    await gw.recoverSequences();
    if (!embedded) {
      gw.shipper = new KafkaShipper(config, journal, deps.store, gw.metrics, deps.log);
      gw.shipper.start();
    }
    if (config.metricsListen) gw.metricsServer = await serveMetrics(gw.metrics, config.metricsListen, log);
    const native = nativeGateway;
    if (native) gw.trimTimer = setInterval(() => native.trimHeap(), TRIM_HEAP_MS).unref();
    log.info({ mode: embedded ? 'embedded' : 'kafka', brokers: config.kafka.brokers, durability: config.durability }, 'gateway started');
    return gw;
  }

  get embedded(): boolean {
    return this.shipper === undefined;
  }

  get metricsAddress(): string | null {
    const addr = this.metricsServer?.address();
    return typeof addr === 'object' && addr ? `${addr.address}:${addr.port}` : null;
  }

  ingest(who: InstanceIdentity, stream: string, label: string | null, lines: IngestLine[], source: RecordSource): number {
    if (this.closed) throw new LogfsError('LOGFS_E_SHUTTING_DOWN', 'gateway is shutting down');
    if (lines.length === 0) return this.journal.nextLsn - 1;
    const timed = lines.length >= USAGE_TIMING.timeAllFromLines || --this.untimed < 0;
    const started = timed ? performance.now() : 0;
    // One lookup that misses for a plain stream; an encrypted one seals every line's data.
    const crypt = this.keyring.current().get(who.provider, stream);
    const sealer = crypt?.encrypt ? (crypt.key?.sealer ?? this.refuseWithoutKey(who, stream, crypt.keyError)) : undefined;
    const { record, header, usage } = this.template(who, stream, label, source);
    const first = (this.seqs.get(who.instance) ?? this.seqFloor) + 1;
    const ts = Date.now();
    // Journal entries are framed straight into the journal's memory. A plain line's record is
    // written there; one with attrs or sealed is encoded first (its size is known only then).
    const encoded = this.encodedScratch;
    const headerBytes = ENTRY_HEADER_BYTES + header.bytes.length;
    let room = 0;
    let bytes = 0;
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i] as IngestLine;
      const seq = first + i;
      if (sealer !== undefined) {
        encoded[i] = record.encode(seq, ts, sealer.seal(line.data, recordAad(who.provider, stream, `${who.instance}:${seq}`)), line.part, line.attrs, 0, sealer.kid);
      } else if (line.attrs !== undefined) {
        encoded[i] = record.encode(seq, ts, line.data, line.part, line.attrs);
      } else {
        encoded[i] = undefined;
      }
      room += headerBytes + (encoded[i]?.length ?? record.plainBound(line.data.length, line.part));
      bytes += line.data.length;
    }
    const lsn = this.journal.appendFramed(room, (buf, start) => {
      let o = start;
      for (let i = 0; i < lines.length; i++) {
        const line = lines[i] as IngestLine;
        const at = o;
        o = header.fillAt(buf, o + ENTRY_HEADER_BYTES, first + i);
        const pre = encoded[i];
        if (pre === undefined) {
          o = record.encodePlainInto(buf, o, first + i, ts, line.data, line.part);
        } else {
          buf.set(pre, o);
          o += pre.length;
        }
        buf.writeUInt32BE(o - at - ENTRY_HEADER_BYTES, at);
      }
      return o;
    });
    encoded.length = 0;
    this.shipper?.accepted(lsn);
    this.seqs.set(who.instance, first + lines.length - 1);
    this.accepted(usage, lines.length, bytes, timed ? started : undefined);
    return lsn;
  }

  ingestChunk(who: InstanceIdentity, stream: string, label: string | null, chunk: Buffer, maxLine: number, source: RecordSource): ChunkTaken {
    // C frames the lines (logfs-gateway.c, frameLines); without the build, ingest() does.
    const native = nativeGateway;
    if (native === undefined) return NOTHING_TAKEN;
    if (this.closed) throw new LogfsError('LOGFS_E_SHUTTING_DOWN', 'gateway is shutting down');
    // An encrypted stream's lines are sealed one by one (ingest).
    if (this.keyring.current().get(who.provider, stream)?.encrypt) return NOTHING_TAKEN;
    const [lines, taken] = native.scanLines(chunk, 0, chunk.length, maxLine);
    if (lines === 0) return NOTHING_TAKEN;
    const timed = lines >= USAGE_TIMING.timeAllFromLines || --this.untimed < 0;
    const started = timed ? performance.now() : 0;
    const { record, header, usage } = this.template(who, stream, label, source);
    const first = (this.seqs.get(who.instance) ?? this.seqFloor) + 1;
    const ts = Date.now();
    // Each line's entry takes at most its bytes plus what an empty line's does.
    const room = lines * (ENTRY_HEADER_BYTES + header.bytes.length + record.plainBound(0)) + taken;
    const lsn = this.journal.appendFramed(room, (buf, start, ends) => native.frameLines(chunk, 0, taken, buf, start, header.constant, record.prefixBytes, first, ts, ends), { count: lines });
    this.shipper?.accepted(lsn);
    this.seqs.set(who.instance, first + lines - 1);
    this.accepted(usage, lines, taken - lines, timed ? started : undefined);
    return { taken, lsn };
  }

  /** Counts accepted records; `started` (performance.now()) when the call was timed. */
  private accepted(usage: StreamUsage, records: number, bytes: number, started: number | undefined): void {
    this.counters.recordsIn.inc(records);
    this.counters.bytesIn.inc(bytes);
    usage.records += records;
    usage.bytes += bytes;
    if (started !== undefined) usage.cpuMs += (performance.now() - started) * this.timingWeight(records);
    this.scheduleMetaPersist();
  }

  isFull(): boolean {
    return this.journal.isFull();
  }

  /** Per stream, what the gateway accepted and the time it spent on it since it started. */
  streamUsage(): Record<string, StreamUsage> {
    const out: Record<string, StreamUsage> = {};
    for (const [stream, u] of this.usage) out[stream] = { ...u };
    return out;
  }

  /** What a timed call stands for: itself, or (a sampled small call) the small calls of its gap. */
  private timingWeight(lines: number): number {
    if (lines >= USAGE_TIMING.timeAllFromLines) return 1;
    // Uniform 0 … 2n-2 calls untimed: one timed in n on average.
    this.untimed = Math.floor(Math.random() * (2 * USAGE_TIMING.sampleOneIn - 1));
    return USAGE_TIMING.sampleOneIn;
  }

  private usageOf(stream: string): StreamUsage {
    let u = this.usage.get(stream);
    if (!u) this.usage.set(stream, (u = { records: 0, bytes: 0, cpuMs: 0 }));
    return u;
  }

  /** An encrypted stream without a usable key: writing its lines in clear is never the fallback. */
  private refuseWithoutKey(who: InstanceIdentity, stream: string, keyError: string | undefined): never {
    const now = Date.now();
    if (now - (this.noKeyLogged.get(stream) ?? -Infinity) >= 60_000) {
      this.noKeyLogged.set(stream, now);
      this.log.error({ stream, provider: who.provider, instance: who.instance, keyError }, 'stream is encrypted but has no usable key; refusing its writes (EIO) instead of writing them in clear');
    }
    throw new LogfsError('LOGFS_E_NO_KEY', `stream "${stream}" is encrypted but ${keyError ?? 'has no key'}; its writes are refused until the stream has a key (docs/encryption.md)`, {
      context: { stream, provider: who.provider },
    });
  }

  refusing(): boolean {
    return this.onFull === 'refuse' && this.journal.isFull();
  }

  /** Encoders for one (instance, stream, label, source), kept while they are in use. */
  private template(who: InstanceIdentity, stream: string, label: string | null, source: RecordSource): Template {
    const key = `${who.provider}\0${who.instance}\0${stream}\0${label ?? '\u0001'}\0${source}`;
    let t = this.templates.get(key);
    if (!t) {
      if (this.templates.size >= 4096) this.templates.clear();
      t = {
        record: new RecordTemplate({ v: RECORD_SCHEMA_VERSION, provider: who.provider, stream, class: label, instance: who.instance, host: this.config.host, source }),
        header: new JournalEntryHeader(topicForStream(who.provider, stream, this.config.kafka.topicPrefix), who.instance),
        usage: this.usageOf(stream),
      };
      this.templates.set(key, t);
    }
    return t;
  }

  async waitForRoom(): Promise<void> {
    this.blockedNow += 1;
    try {
      await this.journal.waitForRoom();
    } finally {
      this.blockedNow -= 1;
    }
  }

  noteBackpressure(kind: 'blocked' | 'refused'): void {
    (kind === 'blocked' ? this.counters.blocked : this.counters.refused).inc();
  }

  barrier(position: number): Promise<void> {
    if (position < 0) return Promise.resolve();
    if (this.config.durability === 'kafka' && this.shipper) return this.shipper.whenAcked(position);
    return this.journal.whenDurable(position);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.metaTimer) clearTimeout(this.metaTimer);
    clearInterval(this.trimTimer);
    this.persistMeta();
    await this.shipper?.stop();
    await this.journal.close();
    await this.releaseLock();
    await new Promise<void>((resolve) => (this.metricsServer ? this.metricsServer.close(() => resolve()) : resolve()));
    this.log.info('gateway stopped');
  }

  /**
   * Sequence numbers continue across restarts: the journal's meta holds the high-water marks as of
   * some position; entries appended after it are scanned for higher ones.
   */
  private async recoverSequences(): Promise<void> {
    const meta = this.journal.meta as Partial<SeqMeta>;
    for (const [inst, seq] of Object.entries(meta.seqs ?? {})) this.seqs.set(inst, Math.max(seq, this.seqFloor));
    let from = Math.max(meta.atLsn ?? 0, this.journal.firstLsn);
    let scanned = 0;
    for (;;) {
      const { lsn, payloads } = await this.journal.read(from, 10_000, 16 * 1024 * 1024);
      if (payloads.length === 0) break;
      for (const [i, p] of payloads.entries()) {
        let entry: ReturnType<typeof decodeJournalEntry>;
        try {
          entry = decodeJournalEntry(p);
        } catch (err) {
          // The shipper skips and counts such an entry too; starting must not fail on it.
          this.log.error({ err: errorMessage(err), lsn: lsn + i }, 'journal entry cannot be decoded while recovering sequences');
          continue;
        }
        if (entry.seq > (this.seqs.get(entry.key) ?? this.seqFloor)) this.seqs.set(entry.key, entry.seq);
      }
      scanned += payloads.length;
      from = lsn + payloads.length;
    }
    this.log.info({ instances: this.seqs.size, scanned }, 'sequence numbers recovered');
  }

  private scheduleMetaPersist(): void {
    this.metaDirty = true;
    if (this.metaTimer) return;
    this.metaTimer = setTimeout(() => {
      this.metaTimer = undefined;
      this.persistMeta();
    }, 100);
  }

  private persistMeta(): void {
    if (!this.metaDirty) return;
    this.metaDirty = false;
    const meta: SeqMeta = { seqs: Object.fromEntries(this.seqs), atLsn: this.journal.nextLsn };
    this.journal.setMeta(meta as unknown as Record<string, unknown>);
  }
}
