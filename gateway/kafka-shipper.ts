/**
 * Ships the journal to Kafka in journal order: one produce request in flight (the idempotent
 * producer needs it, and it keeps per-instance order), acks=all, key = instance ID. A batch is
 * acknowledged in the journal only after Kafka acknowledged it; while Kafka is unreachable the same
 * batch is retried with backoff and the journal keeps accepting (up to its bound).
 */
// Must come before kafkajs is loaded: it replaces kafkajs' quadratic partition grouping.
import { linearGroupingInstalled } from './kafkajs-grouping.js';
import { Kafka, logLevel, Partitioners, CompressionTypes, type Producer, type Admin, type TopicMessages, type Message } from 'kafkajs';
import { errorMessage, LogfsError } from '../core/errors.js';
import { componentLogger, type Logger } from '../core/logger.js';
import { Backoff, sleep } from '../core/retry.js';
import type { ProvisioningStore, ProvisioningState } from '../control/store.js';
import { topicForStream } from '../control/stream-name.js';
import type { GatewayConfig } from './config.js';
import type { Journal } from './journal.js';
import { decodeJournalEntry } from './journal-entry.js';
import type { Counter, MetricsRegistry } from './metrics.js';

const CONSUMER = 'kafka';

export function kafkaLogCreator(log: Logger) {
  return () =>
    ({ level, log: entry }: { level: number; log: { message: string } & Record<string, unknown> }) => {
      const { message, ...rest } = entry;
      if (level <= logLevel.ERROR) log.error(rest, message);
      else if (level === logLevel.WARN) log.warn(rest, message);
      else log.debug(rest, message);
    };
}

export function createKafka(config: GatewayConfig, log: Logger, clientId = config.kafka.clientId): Kafka {
  return new Kafka({
    clientId,
    brokers: config.kafka.brokers,
    connectionTimeout: config.kafka.connectionTimeoutMs,
    requestTimeout: config.kafka.requestTimeoutMs,
    logLevel: logLevel.WARN,
    logCreator: kafkaLogCreator(log),
    // The shipper owns retrying (forever, with backoff); kafkajs retries briefly within a request.
    retry: { retries: 2, initialRetryTime: 100, maxRetryTime: 1000 },
  });
}

export class KafkaShipper {
  private readonly log: Logger;
  private readonly kafka: Kafka;
  private producer: Producer | undefined;
  private admin: Admin | undefined;
  private readonly knownTopics = new Set<string>();
  private topicWork: Promise<void> = Promise.resolve();
  private readonly partitionsByTopic = new Map<string, number>();
  private ackedLsn: number;
  private readonly ackWaiters: { lsn: number; resolve: () => void; reject: (err: Error) => void }[] = [];
  private readonly abort = new AbortController();
  private loop: Promise<void> | undefined;
  private unwatch: (() => void) | undefined;
  private readonly counters: { out: Counter; bytesOut: Counter; errors: Counter; retries: Counter; batches: Counter; readErrors: Counter; undeliverable: Counter };
  private connected = false;

  constructor(
    private readonly config: GatewayConfig,
    private readonly journal: Journal,
    private readonly store: ProvisioningStore,
    metrics: MetricsRegistry,
    parentLog?: Logger,
  ) {
    this.log = componentLogger('kafka-shipper', parentLog);
    this.kafka = createKafka(config, this.log);
    this.ackedLsn = journal.cursor(CONSUMER);
    if (!linearGroupingInstalled) this.log.warn('kafkajs was loaded before the grouping fix; large batches will cost quadratic CPU');
    this.counters = {
      out: metrics.counter('logfs_records_out_total', 'Records acknowledged by Kafka'),
      bytesOut: metrics.counter('logfs_bytes_out_total', 'Bytes of Kafka message values acknowledged'),
      errors: metrics.counter('logfs_kafka_errors_total', 'Failed produce or admin requests'),
      retries: metrics.counter('logfs_kafka_retries_total', 'Produce batches sent again after a failure'),
      batches: metrics.counter('logfs_kafka_batches_total', 'Produce batches acknowledged'),
      readErrors: metrics.counter('logfs_journal_read_errors_total', 'Journal reads by the shipper that failed and were retried'),
      undeliverable: metrics.counter('logfs_journal_undecodable_total', 'Journal entries that could not be decoded and were skipped (a bug: report it)'),
    };
    metrics.gauge('logfs_kafka_connected', '1 when the last produce succeeded', () => (this.connected ? 1 : 0));
    metrics.gauge('logfs_kafka_acked_lsn', 'Last journal position acknowledged by Kafka', () => this.ackedLsn);
  }

  start(): void {
    this.onState(this.store.snapshot());
    this.unwatch = this.store.watch((s) => this.onState(s));
    this.loop = this.run().catch((err) => {
      if (!this.abort.signal.aborted) this.log.fatal({ err }, 'shipper loop died');
    });
  }

  /** Resolves when Kafka has acknowledged every journal entry up to `lsn`. */
  whenAcked(lsn: number): Promise<void> {
    if (lsn <= this.ackedLsn) return Promise.resolve();
    return new Promise((resolve, reject) => this.ackWaiters.push({ lsn, resolve, reject }));
  }

  async stop(): Promise<void> {
    this.unwatch?.();
    this.abort.abort(new LogfsError('LOGFS_E_SHUTTING_DOWN', 'shipper stopping'));
    await this.loop;
    const stopping = new LogfsError('LOGFS_E_SHUTTING_DOWN', 'gateway stopped before Kafka acknowledged; records stay in the journal');
    for (const w of this.ackWaiters.splice(0)) w.reject(stopping);
    await Promise.allSettled([this.producer?.disconnect(), this.admin?.disconnect()]);
  }

  /** Topics are created at provisioning (when the store says a stream exists) with its partitions. */
  private onState(state: ProvisioningState): void {
    for (const s of Object.values(state.streams)) {
      this.partitionsByTopic.set(topicForStream(s.provider, s.name, this.config.kafka.topicPrefix), s.partitions);
    }
    void this.ensureTopics([...this.partitionsByTopic.keys()]).catch((err) => {
      this.log.warn({ err: errorMessage(err) }, 'could not create stream topics yet; will retry when shipping');
    });
  }

  /** One topic check at a time: the store watcher and the send loop both ask. */
  private ensureTopics(topics: string[]): Promise<void> {
    if (topics.every((t) => this.knownTopics.has(t))) return Promise.resolve();
    const run = this.topicWork.then(() => this.createMissingTopics(topics));
    this.topicWork = run.catch(() => undefined);
    return run;
  }

  private async createMissingTopics(topics: string[]): Promise<void> {
    const missing = topics.filter((t) => !this.knownTopics.has(t));
    if (missing.length === 0) return;
    if (!this.admin) {
      this.admin = this.kafka.admin();
      await this.admin.connect();
    }
    const existing = new Set(await this.admin.listTopics());
    const toCreate = missing.filter((t) => !existing.has(t));
    if (toCreate.length > 0) {
      await this.admin.createTopics({
        waitForLeaders: true,
        topics: toCreate.map((topic) => ({
          topic,
          numPartitions: this.partitionsByTopic.get(topic) ?? 1,
          replicationFactor: this.config.kafka.replicationFactor,
          configEntries: [{ name: 'max.message.bytes', value: String(this.config.kafka.topicMaxMessageBytes) }],
        })),
      });
      this.log.info({ topics: toCreate }, 'created stream topics');
    }
    for (const t of missing) this.knownTopics.add(t);
  }

  private async run(): Promise<void> {
    const signal = this.abort.signal;
    const { batchMaxRecords, batchMaxBytes } = this.config.kafka;
    let next = this.ackedLsn + 1;
    // Shrinks when the broker says a batch is too large (a topic created elsewhere with a smaller
    // max.message.bytes), down to one record a request.
    let maxBytes = batchMaxBytes;
    const readBackoff = new Backoff({ initialMs: 100, maxMs: 5_000 });
    while (!signal.aborted) {
      let lsn: number;
      let payloads: Buffer[];
      try {
        ({ lsn, payloads } = await this.journal.read(next, batchMaxRecords, maxBytes));
        readBackoff.reset();
      } catch (err) {
        // A disk read error may pass (EIO on a flaky device): keep the position and try again.
        this.counters.readErrors.inc();
        this.log.error({ err: errorMessage(err), lsn: next }, 'cannot read the journal; retrying');
        await sleep(readBackoff.next(), signal).catch(() => undefined);
        continue;
      }
      if (payloads.length === 0) {
        await this.journal.waitForEntries(next - 1, signal).catch(() => undefined);
        // Linger: a request per handful of records costs far more CPU than the wait.
        if (this.config.kafka.lingerMs > 0) await sleep(this.config.kafka.lingerMs, signal).catch(() => undefined);
        continue;
      }
      const byTopic = new Map<string, Message[]>();
      let bytes = 0;
      let delivered = 0;
      for (const [i, p] of payloads.entries()) {
        let e: ReturnType<typeof decodeJournalEntry>;
        try {
          e = decodeJournalEntry(p);
        } catch (err) {
          // The entry passed its checksum, so this is a bug or a format change, not a torn write.
          // It can never be delivered; say so loudly and count it rather than stop every stream.
          this.counters.undeliverable.inc();
          this.log.error({ err: errorMessage(err), lsn: lsn + i }, 'journal entry cannot be decoded; skipped');
          continue;
        }
        let list = byTopic.get(e.topic);
        if (!list) byTopic.set(e.topic, (list = []));
        list.push({ key: e.key, value: e.value });
        bytes += e.value.length;
        delivered += 1;
      }
      const topicMessages: TopicMessages[] = [...byTopic].map(([topic, messages]) => ({ topic, messages }));
      const sent = topicMessages.length === 0 ? 'ok' : await this.sendUntilAcked(topicMessages, signal);
      if (sent === 'stopped') return;
      if (sent === 'too-large') {
        if (payloads.length > 1) {
          maxBytes = Math.max(1, Math.floor(bytes / 2));
          this.log.warn({ maxBytes }, 'broker refused a batch as too large; sending smaller batches');
          continue;
        }
        // One record larger than the topic allows: it can never be delivered. Stop shipping
        // rather than drop it; the operator must raise the topic's max.message.bytes.
        this.log.fatal({ lsn, bytes, topic: topicMessages[0]?.topic }, 'a single record exceeds the topic max.message.bytes; shipping stopped until the topic allows it');
        await sleep(30_000, signal).catch(() => undefined);
        continue;
      }
      const last = lsn + payloads.length - 1;
      this.journal.ack(CONSUMER, last);
      this.ackedLsn = last;
      this.counters.out.inc(delivered);
      this.counters.bytesOut.inc(bytes);
      this.counters.batches.inc();
      this.releaseWaiters();
      next = last + 1;
    }
  }

  /** Retries one batch until Kafka acknowledges it (or says it is too large, or we stop). */
  private async sendUntilAcked(topicMessages: TopicMessages[], signal: AbortSignal): Promise<'ok' | 'too-large' | 'stopped'> {
    const backoff = new Backoff({ initialMs: 200, maxMs: 5_000 });
    for (;;) {
      if (signal.aborted) return 'stopped';
      try {
        await this.ensureTopics(topicMessages.map((t) => t.topic));
        const producer = await this.connectedProducer();
        await producer.sendBatch({
          topicMessages,
          acks: -1,
          timeout: this.config.kafka.requestTimeoutMs,
          compression: this.config.kafka.compression === 'gzip' ? CompressionTypes.GZIP : CompressionTypes.None,
        });
        if (!this.connected) this.log.info('Kafka reachable; shipping');
        this.connected = true;
        return 'ok';
      } catch (err) {
        this.counters.errors.inc();
        if ((err as { type?: string }).type === 'MESSAGE_TOO_LARGE') return 'too-large';
        this.counters.retries.inc();
        const delay = backoff.next();
        if (this.connected || backoff.attempts === 1) {
          this.log.warn({ err: errorMessage(err), retryInMs: delay }, 'Kafka produce failed; records stay in the journal and are retried');
        }
        this.connected = false;
        await sleep(delay, signal).catch(() => undefined);
      }
    }
  }

  private async connectedProducer(): Promise<Producer> {
    if (!this.producer) {
      const producer = this.kafka.producer({
        idempotent: true,
        maxInFlightRequests: 1,
        allowAutoTopicCreation: false,
        createPartitioner: Partitioners.DefaultPartitioner,
      });
      // Keep the producer (and with it the idempotent producer id and sequences) only once it is
      // connected, so a retry after a failed connect starts clean.
      await producer.connect().catch(async (err: unknown) => {
        await producer.disconnect().catch(() => undefined);
        throw err;
      });
      this.producer = producer;
    }
    return this.producer;
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
