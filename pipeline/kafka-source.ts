/**
 * A graph's records from Kafka: one consumer group per graph (and per phase), so several workers
 * share the partitions and a new worker rebalances without loss. Offsets are committed explicitly
 * after each batch has been through every sink; kafkajs' auto-commit is off.
 */
// Before kafkajs loads (when this process has not loaded it through the gateway already).
import { ConsumedMessage } from '../gateway/kafkajs-record-decoder.js';
import { SOURCE } from './graph/graph-schema.js';
import type { Consumer, EachBatchPayload, Kafka, KafkaMessage } from 'kafkajs';
import type { Logger } from 'pino';
import { errorMessage, LogfsError } from '../core/errors.js';
import type { GraphRuntime, EdgeBatch } from './engine.js';
import { decodeOrFlagAt, type Source, type Where } from './source.js';
import type { PipelineRecord } from './record.js';
import type { KeyLookup } from './record-keys.js';
import type { StreamKeyring } from '../gateway/record-crypto.js';

export const KAFKA_SOURCE_DEFAULTS = {
  sessionTimeoutMs: 30_000,
  /**
   * kafkajs' default. A member learns that its group rebalances from a heartbeat answer, and every
   * worker of a graph must rejoin before the new assignment starts, so this also bounds how long a
   * reconfiguration waits on the other workers (about 3 s). 500 ms cut that to under a second but
   * cost a quarter of an archive-only graph's records per CPU second (npm run bench:pipeline):
   * throughput wins.
   */
  heartbeatIntervalMs: 3_000,
  maxBytesPerPartition: 4 * 1024 * 1024,
  maxBytes: 16 * 1024 * 1024,
  maxWaitTimeMs: 200,
  /**
   * A fetched batch (up to tens of thousands of records) is decoded and run through the graph this
   * many records at a time, and committed once, after the sinks stored all of it
   * (GraphRuntime.runBatchInParts): about 10% more records per CPU second for parse → filter →
   * metric → archive (npm run bench:pipeline) than the whole batch at once; 512 and 2048 did about
   * as well, 8192 half as well.
   */
  partRecords: 1024,
  /** How often windowed agents are ticked when no records arrive. */
  tickMs: 1_000,
};

export interface TopicInput {
  topic: string;
  stream: string;
  provider: string;
}

/** A fetched batch, or a run of its messages. */
export type BatchMessages = Pick<EachBatchPayload['batch'], 'topic' | 'partition' | 'messages'>;

/**
 * Turns a fetched batch (or a part of one) into the runtime's input; phase topics carry the edge in
 * the message. `keys` opens records of encrypted streams.
 */
export type BatchDecoder = (batch: BatchMessages, input: TopicInput | undefined, keys?: StreamKeyring) => EdgeBatch[];

export interface KafkaSourceOptions {
  kafka: Kafka;
  groupId: string;
  topics: TopicInput[];
  log: Logger;
  /** Called after each (re)assignment of partitions: the archive re-reads what other workers stored. */
  onAssigned?: () => Promise<void>;
  decode?: BatchDecoder;
  fromBeginning?: boolean;
  /** Stream keys, to open records of encrypted streams (without: they go on flagged, still sealed). */
  keys?: KeyLookup;
}

export const decodeStreamBatch: BatchDecoder = (batch, input, keys) => {
  const records: PipelineRecord[] = new Array(batch.messages.length);
  const where = (m: KafkaMessage): Where => ({
    stream: input?.stream ?? batch.topic,
    provider: input?.provider ?? 'unknown',
    key: m.key?.toString() ?? null,
    position: `${batch.topic}/${batch.partition}@${m.offset}`,
  });
  for (let i = 0; i < batch.messages.length; i++) {
    const m = batch.messages[i]!;
    // The common case: the record read where it lies in the fetch response, with no Buffer of the value.
    records[i] =
      m instanceof ConsumedMessage && m.valueLength >= 0
        ? decodeOrFlagAt(m.buffer, m.valueStart, m.valueStart + m.valueLength, where, m, keys)
        : decodeOrFlagAt(m.value ?? EMPTY, 0, m.value?.length ?? 0, where, m, keys);
  }
  return [{ from: SOURCE, port: 'out', records }];
};

const EMPTY = Buffer.alloc(0);

/** `batch` decoded a part at a time, each when it is taken. */
function* batchParts(batch: BatchMessages, decode: BatchDecoder, input: TopicInput | undefined, keys: StreamKeyring | undefined): Generator<EdgeBatch[]> {
  const { messages } = batch;
  const size = KAFKA_SOURCE_DEFAULTS.partRecords;
  if (messages.length <= size) {
    yield decode(batch, input, keys);
    return;
  }
  for (let at = 0; at < messages.length; at += size) yield decode({ topic: batch.topic, partition: batch.partition, messages: messages.slice(at, at + size) }, input, keys);
}

export class KafkaSource implements Source {
  private consumer: Consumer | undefined;
  private failed = false;
  private joins = 0;
  private ticker: NodeJS.Timeout | undefined;
  /** Per assigned partition, the records after the last batch processed, as of that batch. */
  private readonly lags = new Map<string, number>();

  constructor(private readonly opts: KafkaSourceOptions) {}

  async start(runtime: GraphRuntime, onFailure: (err: unknown) => void): Promise<void> {
    const { kafka, groupId, topics, log } = this.opts;
    const byTopic = new Map(topics.map((t) => [t.topic, t]));
    const decode = this.opts.decode ?? decodeStreamBatch;
    const consumer = kafka.consumer({
      groupId,
      sessionTimeout: KAFKA_SOURCE_DEFAULTS.sessionTimeoutMs,
      heartbeatInterval: KAFKA_SOURCE_DEFAULTS.heartbeatIntervalMs,
      maxBytesPerPartition: KAFKA_SOURCE_DEFAULTS.maxBytesPerPartition,
      maxBytes: KAFKA_SOURCE_DEFAULTS.maxBytes,
      maxWaitTimeInMs: KAFKA_SOURCE_DEFAULTS.maxWaitTimeMs,
      allowAutoTopicCreation: false,
    });
    this.consumer = consumer;
    consumer.on(consumer.events.GROUP_JOIN, (e) => {
      this.joins++;
      this.lags.clear(); // partitions may have gone to another worker
      log.info({ groupId, assigned: e.payload.memberAssignment }, 'partitions assigned');
    });
    consumer.on(consumer.events.CRASH, (e) => {
      // kafkajs restarts itself on retriable errors; anything else ends this source.
      if (!e.payload.restart) this.fail(new LogfsError('LOGFS_E_KAFKA', `consumer group ${groupId} stopped: ${errorMessage(e.payload.error)}`, { cause: e.payload.error }), onFailure);
    });
    await consumer.connect();
    await consumer.subscribe({ topics: topics.map((t) => t.topic), fromBeginning: this.opts.fromBeginning ?? true });
    let assignedSeen = 0;
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: 1,
      eachBatch: async (payload) => {
        const { batch, resolveOffset, heartbeat, isRunning, isStale } = payload;
        if (this.failed || !isRunning() || isStale() || batch.messages.length === 0) return;
        // A rebalance since the last batch: another worker may have archived records we now own.
        if (this.joins !== assignedSeen) {
          const joins = this.joins;
          await this.opts.onAssigned?.();
          assignedSeen = joins; // only once the refresh worked: a failed one is tried again
        }
        // A batch can take long (a sink retrying): keep the group membership alive meanwhile, or the
        // partition would go to another worker while this one still processes it.
        const beat = setInterval(() => void heartbeat().catch(() => {}), KAFKA_SOURCE_DEFAULTS.heartbeatIntervalMs);
        try {
          await runtime.runBatchInParts(batchParts(batch, decode, byTopic.get(batch.topic), this.opts.keys?.()));
        } catch (err) {
          // Nothing of this batch is committed: a restarted runtime reads it again.
          this.fail(err, onFailure);
          return;
        } finally {
          clearInterval(beat);
        }
        // Reassigned meanwhile: the new owner starts from the last commit; the archive keeps each record once.
        if (isStale()) return;
        resolveOffset(batch.lastOffset());
        this.lags.set(`${batch.topic}/${batch.partition}`, Number(batch.offsetLag()));
        try {
          await consumer.commitOffsets([{ topic: batch.topic, partition: batch.partition, offset: (BigInt(batch.lastOffset()) + 1n).toString() }]);
          await heartbeat();
        } catch (err) {
          // The records are stored; an uncommitted offset only means they are read again (and de-duplicated).
          log.warn({ err: errorMessage(err), topic: batch.topic, partition: batch.partition }, 'could not commit offsets; the batch will be read again');
        }
      },
    });
    this.ticker = setInterval(() => {
      if (this.failed) return;
      runtime.tick().catch((err: unknown) => this.fail(err, onFailure));
    }, KAFKA_SOURCE_DEFAULTS.tickMs);
    this.ticker.unref();
  }

  lag(): number {
    let n = 0;
    for (const l of this.lags.values()) n += l;
    return n;
  }

  async stop(): Promise<void> {
    clearInterval(this.ticker);
    const c = this.consumer;
    this.consumer = undefined;
    if (!c) return;
    // stop() waits for the batch in flight (whose offsets it then commits) and leaves the group.
    await c.stop().catch(() => {});
    await c.disconnect().catch(() => {});
  }

  private fail(err: unknown, onFailure: (err: unknown) => void): void {
    if (this.failed) return;
    this.failed = true;
    this.consumer?.pause(this.opts.topics.map((t) => ({ topic: t.topic })));
    onFailure(err);
  }
}
