/**
 * Ships the journal to Kafka in journal order: one batch in flight (the idempotent producer needs
 * it, and it keeps per-instance order). A batch is acknowledged in the journal only after Kafka
 * acknowledged it; while Kafka is unreachable the same batch is retried with backoff and the journal
 * keeps accepting (up to its bound). The producer runs in a worker thread (kafka-producer-worker.ts),
 * which also reads each batch's entries from the segment file itself: the main thread only says
 * where they lie (Journal.locate), so none of a record's shipping work takes it from the FUSE
 * handlers.
 */
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { errorMessage, LogfsError } from '../core/errors.js';
import { componentLogger, type Logger } from '../core/logger.js';
import { Backoff, sleep } from '../core/retry.js';
import type { ProvisioningStore, ProvisioningState } from '../control/store.js';
import { topicForStream } from '../control/stream-name.js';
import { ACK_SECONDS_BUCKETS, AckLatency } from './ack-latency.js';
import type { GatewayConfig } from './config.js';
import type { Journal } from './journal.js';
import type { SendOutcome } from './kafka-producer.js';
import type { FromProducer, TopicSettings, ToProducer } from './kafka-producer-protocol.js';
import type { Counter, MetricsRegistry } from './metrics.js';

export { createKafka, kafkaLogCreator } from './kafka-producer.js';

const CONSUMER = 'kafka';
/** How much a segment grows between the `written` notices the worker gets. */
const WRITTEN_NOTICE_BYTES = 1024 * 1024;

/**
 * The compiled worker. Under vitest this module runs from TypeScript sources, where the sibling
 * is a .ts file Node cannot run as a worker; the build output (scripts/setup.sh builds) is used then.
 */
function workerFile(): URL {
  const sibling = new URL('./kafka-producer-worker.js', import.meta.url);
  if (fs.existsSync(fileURLToPath(sibling))) return sibling;
  return new URL('../dist/gateway/kafka-producer-worker.js', import.meta.url);
}

/** What the worker did with a ship request. */
interface Shipped {
  outcome: SendOutcome;
  /** Entries read from the ship's LSN on (all of them sent, or none when the outcome says so). */
  count: number;
  endPosition: number;
}

/** A ship the worker went on with by itself: the batch after the one answered last (FromProducer `next`). */
interface Continued {
  id: number;
  shipped: Promise<Shipped>;
}

/** The worker could not read a batch's entries from the segment file. */
class JournalReadError extends Error {}

export class KafkaShipper {
  private readonly log: Logger;
  private ackedLsn: number;
  private readonly ackWaiters: { lsn: number; resolve: () => void; reject: (err: Error) => void }[] = [];
  private readonly abort = new AbortController();
  private loop: Promise<void> | undefined;
  private unwatch: (() => void) | undefined;
  private unwatchWritten: (() => void) | undefined;
  private readonly counters: { out: Counter; bytesOut: Counter; errors: Counter; retries: Counter; batches: Counter; continued: Counter; readErrors: Counter; undeliverable: Counter };
  private connected = false;
  private worker: Worker | undefined;
  private readonly pending = new Map<number, { resolve: (s: Shipped) => void; reject: (e: Error) => void }>();
  private nextId = 1;
  /** The worker's answer to the ship it went on with after the last batch, if it did. */
  private continued: Continued | undefined;
  private workerStopped: (() => void) | undefined;
  private readonly ackLatency: AckLatency;
  /** Wall time (ms, sub-ms precision) of the last batch acknowledged. */
  private lastAckAt = 0;

  constructor(
    private readonly config: GatewayConfig,
    private readonly journal: Journal,
    private readonly store: ProvisioningStore,
    metrics: MetricsRegistry,
    parentLog?: Logger,
  ) {
    this.log = componentLogger('kafka-shipper', parentLog);
    this.ackedLsn = journal.cursor(CONSUMER);
    this.counters = {
      out: metrics.counter('logfs_records_out_total', 'Records acknowledged by Kafka'),
      bytesOut: metrics.counter('logfs_bytes_out_total', 'Bytes of Kafka message values acknowledged'),
      errors: metrics.counter('logfs_kafka_errors_total', 'Failed produce or admin requests'),
      retries: metrics.counter('logfs_kafka_retries_total', 'Produce batches sent again after a failure'),
      batches: metrics.counter('logfs_kafka_batches_total', 'Produce batches acknowledged'),
      continued: metrics.counter('logfs_kafka_batches_continued_total', 'Produce batches the producer thread sent right after the one before, without waiting for the main thread'),
      readErrors: metrics.counter('logfs_journal_read_errors_total', 'Journal reads by the shipper that failed and were retried'),
      undeliverable: metrics.counter('logfs_journal_undecodable_total', 'Journal entries that could not be decoded and were skipped (a bug: report it)'),
    };
    this.ackLatency = new AckLatency(
      metrics.histogram('logfs_kafka_ack_seconds', 'Seconds from the gateway accepting a record (its write() answered) to Kafka acknowledging it', ACK_SECONDS_BUCKETS),
      journal.nextLsn - 1,
    );
    metrics.gauge('logfs_kafka_connected', '1 when the last produce succeeded', () => (this.connected ? 1 : 0));
    metrics.gauge('logfs_kafka_acked_lsn', 'Last journal position acknowledged by Kafka', () => this.ackedLsn);
    metrics.gauge('logfs_kafka_last_ack_timestamp_seconds', 'Unix time of the last batch Kafka acknowledged (0 before the first)', () => this.lastAckAt / 1000);
  }

  start(): void {
    this.spawnWorker();
    // The worker reads the next batch ahead up to what the journal says is written; told only of
    // the size of the ship it works on, a batch read ahead stopped there even when megabytes had
    // been written since (a short batch, then a fresh read for the next ship). Every MiB at most.
    let told = { path: '', size: 0 };
    this.unwatchWritten = this.journal.onWritten((path, size) => {
      if (path === told.path && size - told.size < WRITTEN_NOTICE_BYTES) return;
      told = { path, size };
      this.post({ t: 'written', path, size });
    });
    this.unwatch = this.store.watch((s) => this.onState(s));
    this.loop = this.run().catch((err) => {
      if (!this.abort.signal.aborted) this.log.fatal({ err: errorMessage(err) }, 'shipper loop died');
    });
  }

  /** The journal took records up to `lsn` just now (for logfs_kafka_ack_seconds). */
  accepted(lsn: number): void {
    this.ackLatency.accepted(lsn);
  }

  /** Resolves when Kafka has acknowledged every journal entry up to `lsn`. */
  whenAcked(lsn: number): Promise<void> {
    if (lsn <= this.ackedLsn) return Promise.resolve();
    return new Promise((resolve, reject) => this.ackWaiters.push({ lsn, resolve, reject }));
  }

  async stop(): Promise<void> {
    this.unwatch?.();
    this.unwatchWritten?.();
    this.abort.abort(new LogfsError('LOGFS_E_SHUTTING_DOWN', 'shipper stopping'));
    const worker = this.worker;
    if (worker) {
      // The worker abandons a batch in flight (it stays in the journal) and disconnects.
      const stopped = new Promise<void>((resolve) => (this.workerStopped = resolve));
      this.post({ t: 'stop' });
      await Promise.race([stopped, sleep(5_000)]);
      await worker.terminate();
      this.failPending(new LogfsError('LOGFS_E_SHUTTING_DOWN', 'shipper stopping'));
    }
    await this.loop;
    const stopping = new LogfsError('LOGFS_E_SHUTTING_DOWN', 'gateway stopped before Kafka acknowledged; records stay in the journal');
    for (const w of this.ackWaiters.splice(0)) w.reject(stopping);
  }

  /** Starts the producer worker; a worker that dies is replaced (its batch stays in the journal). */
  private spawnWorker(): void {
    // A small young generation: a batch's short-lived objects die young anyway, and the default
    // (up to 48 MiB) showed as resident memory of an otherwise small thread.
    const worker = new Worker(workerFile(), { workerData: { config: this.config, logLevel: this.log.level }, resourceLimits: { maxYoungGenerationSizeMb: 8 } });
    this.worker = worker;
    worker.on('message', (m: FromProducer) => this.onWorkerMessage(m));
    worker.on('error', (err) => this.log.fatal({ err: errorMessage(err) }, 'Kafka producer worker failed; records stay in the journal'));
    worker.on('exit', (code) => {
      this.failPending(new LogfsError('LOGFS_E_KAFKA', `Kafka producer worker exited with code ${code}`, { retriable: true }));
      if (this.worker === worker && !this.abort.signal.aborted) {
        this.log.error({ code }, 'restarting the Kafka producer worker');
        this.spawnWorker();
      }
    });
    this.onState(this.store.snapshot());
  }

  private failPending(err: Error): void {
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }

  private post(m: ToProducer, transfer: ArrayBuffer[] = []): void {
    this.worker?.postMessage(m, transfer);
  }

  private onWorkerMessage(m: FromProducer): void {
    switch (m.t) {
      case 'shipped':
        if (m.next !== undefined) {
          // Registered before this answer is handled: the next answer may be the next message.
          const id = m.next;
          const shipped = new Promise<Shipped>((resolve, reject) => this.pending.set(id, { resolve, reject }));
          shipped.catch(() => undefined); // awaited by run, which may see it only after a worker exit rejected it
          this.continued = { id, shipped };
        }
        this.pending.get(m.id)?.resolve({ outcome: m.outcome, count: m.count, endPosition: m.endPosition });
        this.pending.delete(m.id);
        break;
      case 'read-failed':
        this.pending.get(m.id)?.reject(new JournalReadError(m.message));
        this.pending.delete(m.id);
        break;
      case 'failed':
        this.pending.get(m.id)?.reject(new LogfsError('LOGFS_E_KAFKA', m.message));
        this.pending.delete(m.id);
        break;
      case 'error':
        this.counters.errors.inc();
        if (m.retrying) this.counters.retries.inc();
        break;
      case 'connected':
        this.connected = m.up;
        break;
      case 'stopped':
        this.workerStopped?.();
        break;
    }
  }

  private onState(state: ProvisioningState): void {
    const topics: TopicSettings[] = Object.values(state.streams).map((s) => [topicForStream(s.provider, s.name, this.config.kafka.topicPrefix), s.partitions, s.retentionHours]);
    this.post({ t: 'topics', topics });
  }

  /** Has the worker read and ship what `at` locates: at most maxEntries entries and maxBytes of payload. */
  private ship(at: NonNullable<ReturnType<Journal['locate']>>, maxEntries: number, maxBytes: number): Promise<Shipped> {
    const id = this.nextId++;
    return new Promise<Shipped>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.post({ t: 'ship', id, lsn: at.lsn, path: at.path, size: at.size, position: at.position, skip: at.skip, maxEntries, maxBytes });
    });
  }

  private async run(): Promise<void> {
    const signal = this.abort.signal;
    const { batchMaxRecords, batchMaxBytes } = this.config.kafka;
    let next = this.ackedLsn + 1;
    // Shrinks when the broker says a batch is too large (a topic created elsewhere with a smaller
    // max.message.bytes), down to one record a request.
    let maxBytes = batchMaxBytes;
    // Where the last batch ended in its segment: the next one starts there without skipping.
    let hint: { lsn: number; path: string; position: number } | undefined;
    const readBackoff = new Backoff({ initialMs: 100, maxMs: 5_000 });
    while (!signal.aborted) {
      // The batch after the last one when the worker went on with it by itself (its read-ahead:
      // the entries from `next` on in the same segment); else a ship for what the journal has.
      const continued = this.continued;
      this.continued = undefined;
      let at: { lsn: number; path: string };
      let shipped: Shipped;
      try {
        if (continued !== undefined && hint !== undefined) {
          at = { lsn: next, path: hint.path };
          this.counters.continued.inc();
          shipped = await continued.shipped;
        } else {
          const located = this.journal.locate(next, hint);
          if (!located) {
            await this.journal.waitForEntries(next - 1, signal).catch(() => undefined);
            // Linger: a request per handful of records costs far more CPU than the wait.
            if (this.config.kafka.lingerMs > 0) await sleep(this.config.kafka.lingerMs, signal).catch(() => undefined);
            continue;
          }
          at = located;
          shipped = await this.ship(located, Math.min(batchMaxRecords, located.available), maxBytes);
        }
      } catch (err) {
        if (signal.aborted) return;
        hint = undefined;
        if (err instanceof JournalReadError) {
          // A disk read error may pass (EIO on a flaky device): keep the position and try again.
          this.counters.readErrors.inc();
          this.log.error({ err: err.message, lsn: next }, 'cannot read the journal; retrying');
          await sleep(readBackoff.next(), signal).catch(() => undefined);
          continue;
        }
        this.log.error({ err: errorMessage(err) }, 'Kafka producer worker failed a batch; retrying it');
        await sleep(1_000, signal).catch(() => undefined);
        continue;
      }
      readBackoff.reset();
      const { outcome, count } = shipped;
      for (const u of outcome.undecodable) {
        this.counters.undeliverable.inc();
        this.log.error({ err: u.error, lsn: u.lsn }, 'journal entry cannot be decoded; skipped');
      }
      if (outcome.result === 'stopped') return;
      if (outcome.result === 'too-large') {
        if (count > 1) {
          maxBytes = Math.max(1, Math.floor(outcome.bytes / 2));
          this.log.warn({ maxBytes }, 'broker refused a batch as too large; sending smaller batches');
          continue;
        }
        // One record larger than the topic allows: it can never be delivered. Stop shipping
        // rather than drop it; the operator must raise the topic's max.message.bytes.
        this.log.fatal({ lsn: at.lsn, bytes: outcome.bytes }, 'a single record exceeds the topic max.message.bytes; shipping stopped until the topic allows it');
        await sleep(30_000, signal).catch(() => undefined);
        continue;
      }
      if (count === 0) {
        // Journal.locate said there were entries; the file had none where it said. Read again.
        hint = undefined;
        continue;
      }
      const last = at.lsn + count - 1;
      this.journal.ack(CONSUMER, last);
      this.ackedLsn = last;
      this.ackLatency.acked(last);
      this.lastAckAt = performance.timeOrigin + performance.now();
      this.counters.out.inc(outcome.delivered);
      this.counters.bytesOut.inc(outcome.bytes);
      this.counters.batches.inc();
      this.releaseWaiters();
      next = last + 1;
      hint = { lsn: next, path: at.path, position: shipped.endPosition };
    }
  }

  private releaseWaiters(): void {
    // Waiters are few (one per fsync in progress); keep it simple.
    for (let i = this.ackWaiters.length - 1; i >= 0; i--) {
      const w = this.ackWaiters[i] as (typeof this.ackWaiters)[number];
      if (w.lsn <= this.ackedLsn) {
        this.ackWaiters.splice(i, 1);
        w.resolve();
      }
    }
  }
}
