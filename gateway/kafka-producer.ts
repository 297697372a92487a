/**
 * The kafkajs side of shipping: topics, the idempotent producer (acks=all, one request in flight,
 * key = instance ID) and the retry of one batch until Kafka acknowledges it. It runs in its own
 * worker thread (kafka-producer-worker.ts) so that kafkajs' per-record encoding does not compete
 * with the FUSE handlers for the main thread.
 */
// Must come before kafkajs is loaded: they replace kafkajs' quadratic partition grouping, its
// Long-based record encoding and decoding, and its byte-at-a-time CRC-32C.
import './kafkajs-patches.js';
import { linearGroupingInstalled } from './kafkajs-grouping.js';
import { Kafka, logLevel, Partitioners, CompressionTypes, type Producer, type Admin, type ITopicConfig, type TopicMessages, type Message } from 'kafkajs';
import { errorMessage } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { Backoff, sleep } from '../core/retry.js';
import type { GatewayConfig } from './config.js';
import { decodeJournalEntry, JournalEntryDecoder, type JournalEntry } from './journal-entry.js';
import type { TopicSettings } from './kafka-producer-protocol.js';
import { packWireRecords, WireProducer, type PackedBatch, type PreparedSend, type WireRecord } from './kafka-wire/index.js';
import { groupEntries } from './native.js';

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
  return kafkaClient({ clientId, brokers: config.kafka.brokers, connectionTimeoutMs: config.kafka.connectionTimeoutMs, requestTimeoutMs: config.kafka.requestTimeoutMs, log });
}

/**
 * The project's kafkajs client: warnings and errors through pino, and only brief retries inside a
 * request, because every user (the shipper, the store, the fleet, the topic reconciler) owns its
 * retrying with the one backoff helper.
 */
export function kafkaClient(opts: { clientId: string; brokers: string[]; connectionTimeoutMs: number; requestTimeoutMs: number; log: Logger }): Kafka {
  return new Kafka({
    clientId: opts.clientId,
    brokers: opts.brokers,
    connectionTimeout: opts.connectionTimeoutMs,
    requestTimeout: opts.requestTimeoutMs,
    logLevel: logLevel.WARN,
    logCreator: kafkaLogCreator(opts.log),
    retry: { retries: 2, initialRetryTime: 100, maxRetryTime: 1000 },
  });
}

/**
 * kafkajs' default partitioner, remembered per (topic, key, partition count): it hashes every key
 * (murmur2) and filters the partition list for every message, while a journal batch holds the
 * records of a handful of instances (the key) for a handful of topics. Same partitions as the
 * default, so records of one instance keep their order in one partition.
 */
export const keyMemoPartitioner: typeof Partitioners.DefaultPartitioner = () => {
  const inner = Partitioners.DefaultPartitioner();
  const memo = new Map<string, number>();
  return (args) => {
    const { topic, partitionMetadata, message } = args;
    if (typeof message.key !== 'string' || (message.partition !== null && message.partition !== undefined)) return inner(args);
    const k = `${topic}\u0000${partitionMetadata.length}\u0000${message.key}`;
    let partition = memo.get(k);
    if (partition === undefined) {
      partition = inner(args);
      if (memo.size >= 10_000) memo.clear();
      memo.set(k, partition);
    }
    return partition;
  };
};

/** A stream's `retentionHours` as Kafka's `retention.ms` (also used by control/topic-reconciler.ts). */
export function retentionMs(hours: number): number {
  return Math.round(hours * 3_600_000);
}

/**
 * How the gateway creates a stream topic: the store's partitions and retention (none when the
 * stream is unknown: 1 partition, the broker's retention). control/topic-reconciler.ts applies
 * later changes to topics that exist.
 */
export function streamTopicConfig(topic: string, settings: TopicSettings | undefined, config: GatewayConfig): ITopicConfig {
  const configEntries = [{ name: 'max.message.bytes', value: String(config.kafka.topicMaxMessageBytes) }];
  const hours = settings?.[2] ?? null;
  if (hours !== null) configEntries.push({ name: 'retention.ms', value: String(retentionMs(hours)) });
  return { topic, numPartitions: settings?.[1] ?? 1, replicationFactor: config.kafka.replicationFactor, configEntries };
}

export type SendResult = 'ok' | 'too-large' | 'stopped';

export interface SendOutcome {
  result: SendResult;
  /** Records handed to Kafka (entries that could not be decoded are skipped and counted). */
  delivered: number;
  bytes: number;
  undecodable: { lsn: number; error: string }[];
}

/** Journal entries ready to produce (prepareEntries): packed for the wire client, as payloads for kafkajs. */
export type PreparedEntries =
  | { lsn: number; packed: PackedBatch; delivered: number; bytes: number; undecodable: SendOutcome['undecodable']; send?: PreparedSend }
  | { lsn: number; payloads: Buffer[] };

/** What the producer reports for metrics and logs while it works. */
export interface ProducerEvents {
  error(retrying: boolean): void;
  connected(up: boolean): void;
}

export class KafkaProducerSession {
  private readonly kafka: Kafka;
  private producer: Producer | undefined;
  private admin: Admin | undefined;
  private readonly knownTopics = new Set<string>();
  private topicWork: Promise<void> = Promise.resolve();
  private readonly settingsByTopic = new Map<string, TopicSettings>();
  private connected = false;
  /** The built-in producer when `kafka.client` is 'wire' (created at the first send). */
  private wire: WireProducer | undefined;
  /** Reads the journal entries' headers of send, remembering the last one's topic and key. */
  private readonly entryHeaders = new JournalEntryDecoder();
  /** groupEntries' [start, length] of each distinct entry header of a run. */
  private readonly entryHeaderPlaces = new Int32Array(2 * 4096);
  /** Failed rounds of the wire send in progress (the first is logged even when not connected). */
  private wireRetries = 0;

  constructor(
    private readonly config: GatewayConfig,
    private readonly log: Logger,
    private readonly events: ProducerEvents,
  ) {
    this.kafka = createKafka(config, log);
    if (!linearGroupingInstalled) log.warn('kafkajs was loaded before the grouping fix; large batches will cost quadratic CPU');
  }

  /** Topics are created at provisioning (when the store says a stream exists) with its settings. */
  setTopics(topics: TopicSettings[]): void {
    for (const t of topics) this.settingsByTopic.set(t[0], t);
    void this.ensureTopics(topics.map(([t]) => t)).catch((err) => {
      this.log.warn({ err: errorMessage(err) }, 'could not create stream topics yet; will retry when shipping');
    });
  }

  /**
   * Sends journal entries (first one at `lsn`) and retries until Kafka acknowledges them, the broker
   * says the batch is too large, or `signal` stops us.
   */
  async send(lsn: number, payloads: Buffer[], signal: AbortSignal): Promise<SendOutcome> {
    const byTopic = new Map<string, WireRecord[]>();
    let bytes = 0;
    let delivered = 0;
    const undecodable: SendOutcome['undecodable'] = [];
    const decoder = new JournalEntryDecoder();
    for (const [i, p] of payloads.entries()) {
      let e: JournalEntry;
      try {
        e = decoder.decode(p);
      } catch (err) {
        // The entry passed its checksum, so this is a bug or a format change, not a torn write.
        // It can never be delivered; say so loudly and count it rather than stop every stream.
        undecodable.push({ lsn: lsn + i, error: errorMessage(err) });
        continue;
      }
      let list = byTopic.get(e.topic);
      if (!list) byTopic.set(e.topic, (list = []));
      list.push(e); // a WireRecord (and a kafkajs Message) as it is: no object per record
      bytes += e.value.length;
      delivered += 1;
    }
    let result: SendResult = 'ok';
    if (byTopic.size > 0 && this.config.kafka.client === 'wire') result = await this.sendWire(packWireRecords(byTopic), signal);
    else if (byTopic.size > 0) result = await this.sendUntilAcked([...byTopic].map(([topic, messages]): TopicMessages => ({ topic, messages: messages as Message[] })), signal);
    return { result, delivered, bytes, undecodable };
  }

  /**
   * The per-record part of sending journal entries at bytes[starts[i], starts[i] + lengths[i]) as
   * readSegmentRun reads them, which needs no broker: reading each entry's topic and key. With the
   * wire client the records are then produced from where they lie: no object and no Buffer per
   * record. The producer thread does it for the next batch while the broker works on the current
   * one; sendPrepared sends. `group`, when long enough, is the caller's reused memory for each
   * record's topic and key (the packed batch's group is a view of it).
   */
  prepareEntries(lsn: number, bytes: Buffer, starts: Int32Array, lengths: Int32Array, group?: Int32Array): PreparedEntries {
    if (this.config.kafka.client !== 'wire') {
      const payloads: Buffer[] = new Array(lengths.length);
      for (let i = 0; i < lengths.length; i++) payloads[i] = bytes.subarray(starts[i]!, starts[i]! + lengths[i]!);
      return { lsn, payloads };
    }
    // In place: each entry's place becomes its record's (groupEntries moves them past the header).
    const count = lengths.length;
    if (group === undefined || group.length < count) group = new Int32Array(count);
    const headers = this.entryHeaderPlaces;
    const distinct = groupEntries(bytes, starts, lengths, count, group, headers);
    if (distinct < 0) return this.prepareEntriesOneByOne(lsn, bytes, starts, lengths);
    const groups: PackedBatch['groups'] = new Array(distinct);
    for (let g = 0; g < distinct; g++) {
      const at = headers[2 * g]!;
      const e = decodeJournalEntry(bytes.subarray(at, at + headers[2 * g + 1]! + 8));
      groups[g] = { topic: e.topic, key: e.key };
    }
    const undecodable: SendOutcome['undecodable'] = [];
    let total = 0;
    let kept = 0;
    for (let i = 0; i < count; i++) {
      if (group[i]! < 0) {
        // It passed its checksum, so a bug or a format change, not a torn write: it can never be
        // delivered; counted and logged (as in send) rather than stopping every stream.
        undecodable.push({ lsn: lsn + i, error: undecodableReason(bytes.subarray(starts[i]!, starts[i]! + lengths[i]!)) });
        continue;
      }
      if (kept !== i) {
        group[kept] = group[i]!;
        starts[kept] = starts[i]!;
        lengths[kept] = lengths[i]!;
      }
      total += lengths[i]!;
      kept++;
    }
    const packed: PackedBatch = { source: bytes, groups, group: group.subarray(0, kept), starts: starts.subarray(0, kept), lengths: lengths.subarray(0, kept) };
    return { lsn, packed, delivered: kept, bytes: total, undecodable };
  }

  /** prepareEntries for a run of more distinct topics and keys than groupEntries numbers (4096). */
  private prepareEntriesOneByOne(lsn: number, bytes: Buffer, starts: Int32Array, lengths: Int32Array): PreparedEntries {
    const byTopic = new Map<string, WireRecord[]>();
    const undecodable: SendOutcome['undecodable'] = [];
    let total = 0;
    for (let i = 0; i < lengths.length; i++) {
      let e: JournalEntry;
      try {
        e = this.entryHeaders.decode(bytes.subarray(starts[i]!, starts[i]! + lengths[i]!));
      } catch (err) {
        undecodable.push({ lsn: lsn + i, error: errorMessage(err) });
        continue;
      }
      let list = byTopic.get(e.topic);
      if (!list) byTopic.set(e.topic, (list = []));
      list.push(e);
      total += e.value.length;
    }
    const packed = packWireRecords(byTopic);
    return { lsn, packed, delivered: packed.starts.length, bytes: total, undecodable };
  }

  /**
   * Encodes prepared entries into their Kafka batches now, ahead of their send (the wire client,
   * once it has sent a batch: WireProducer.prepare). True when the bytes the entries were prepared
   * from are no longer read.
   */
  encodeAhead(prepared: PreparedEntries): boolean {
    if (!('packed' in prepared) || this.wire === undefined || prepared.packed.starts.length === 0) return false;
    prepared.send = this.wire.prepare(prepared.packed);
    return prepared.send.encoded;
  }

  /** Prepared entries that will not be sent (encodeAhead's memory back). */
  discardPrepared(prepared: PreparedEntries): void {
    if ('packed' in prepared && prepared.send) this.wire?.discard(prepared.send);
  }

  /**
   * Produces prepared entries until Kafka acknowledges them (as send). With the wire client,
   * `encoded` is called once the bytes the entries were prepared from are no longer read
   * (WireProducer.sendPacked); else they are read until the send ends.
   */
  async sendPrepared(prepared: PreparedEntries, signal: AbortSignal, encoded?: () => void): Promise<SendOutcome> {
    if ('payloads' in prepared) return this.send(prepared.lsn, prepared.payloads, signal);
    const { packed, delivered, bytes, undecodable } = prepared;
    const result = packed.starts.length > 0 ? await this.sendWire(packed, signal, encoded, prepared.send) : 'ok';
    return { result, delivered, bytes, undecodable };
  }

  async close(): Promise<void> {
    await Promise.allSettled([this.producer?.disconnect(), this.admin?.disconnect(), this.wire?.close()]);
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
        topics: toCreate.map((topic) => streamTopicConfig(topic, this.settingsByTopic.get(topic), this.config)),
      });
      this.log.info({ topics: toCreate }, 'created stream topics');
    }
    for (const t of missing) this.knownTopics.add(t);
  }

  private async sendUntilAcked(topicMessages: TopicMessages[], signal: AbortSignal): Promise<SendResult> {
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
          compression: { none: CompressionTypes.None, gzip: CompressionTypes.GZIP, lz4: CompressionTypes.LZ4 }[this.config.kafka.compression],
        });
        this.reachable();
        return 'ok';
      } catch (err) {
        const tooLarge = (err as { type?: string }).type === 'MESSAGE_TOO_LARGE';
        if (tooLarge) {
          this.events.error(false);
          return 'too-large';
        }
        const delay = backoff.next();
        this.failed(err, delay, backoff.attempts === 1);
        await sleep(delay, signal).catch(() => undefined);
      }
    }
  }

  /**
   * The wire client: topics as with kafkajs (admin), then the wire producer, which owns the
   * retrying of a batch (it must resend the same sequence numbers, docs/kafka.md "Wire client").
   */
  private async sendWire(batch: PackedBatch, signal: AbortSignal, encoded?: () => void, prepared?: PreparedSend): Promise<SendResult> {
    const backoff = new Backoff({ initialMs: 200, maxMs: 5_000 });
    for (;;) {
      if (signal.aborted) return 'stopped';
      try {
        await this.ensureTopics([...new Set(batch.groups.map((g) => g.topic))]);
        break;
      } catch (err) {
        const delay = backoff.next();
        this.failed(err, delay, backoff.attempts === 1);
        await sleep(delay, signal).catch(() => undefined);
      }
    }
    this.wireRetries = 0;
    if (!this.wire) this.log.info('shipping with the wire producer (gateway.kafka.client "wire")');
    this.wire ??= new WireProducer(this.config.kafka, {
      retrying: (err, delay) => this.failed(err, delay, ++this.wireRetries === 1),
      tooLarge: () => this.events.error(false),
    });
    const result = await this.wire.sendPacked(batch, signal, encoded, prepared);
    if (result === 'ok') this.reachable();
    return result;
  }

  private reachable(): void {
    if (!this.connected) {
      this.log.info('Kafka reachable; shipping');
      this.events.connected(true);
    }
    this.connected = true;
  }

  /** A produce attempt failed and is retried after `delay`: counted, logged once per outage. */
  private failed(err: unknown, delay: number, firstAttempt: boolean): void {
    this.events.error(true);
    if (this.connected || firstAttempt) {
      this.log.warn({ err: errorMessage(err), retryInMs: delay }, 'Kafka produce failed; records stay in the journal and are retried');
    }
    if (this.connected) this.events.connected(false);
    this.connected = false;
  }

  private async connectedProducer(): Promise<Producer> {
    if (!this.producer) {
      const producer = this.kafka.producer({
        idempotent: true,
        maxInFlightRequests: 1,
        allowAutoTopicCreation: false,
        createPartitioner: keyMemoPartitioner,
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
}

/** Why decodeJournalEntry refuses `entry`. */
function undecodableReason(entry: Buffer): string {
  try {
    decodeJournalEntry(entry);
    return 'not a journal entry of format 1';
  } catch (err) {
    return errorMessage(err);
  }
}
