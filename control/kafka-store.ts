/**
 * The provisioning store in cluster mode: one compacted topic `<prefix>.control` (one partition)
 * that every daemon, worker and control service reads from the beginning. It is a compare-and-set
 * on a log, so no lock service is needed:
 *
 * - Each committed version is one message, key `commit/<version, 10 digits>/<writer>`, value JSON
 *   `{ version, parent, writer, at, author, message, changes, state }` holding the whole state.
 * - Readers read in offset order. The winner of version n is the FIRST message (lowest offset)
 *   proposing n with parent n - 1 once n - 1 is known; any later proposal for n lost. Since every
 *   reader sees the same order, every reader picks the same winners.
 * - A writer proposes n + 1 only after it has read the winner of n. It produces (acks=all,
 *   idempotent, so a retried send is never written twice), waits until its own reader has passed
 *   its message's offset and looks whether that message won. If it lost, it produces a tombstone
 *   for its own key (compaction then removes the loser, while every winner's key stays, which is
 *   the history), re-applies the mutation to the state it has now read and proposes again, at most
 *   `maxAttempts` times before a retriable LOGFS_E_CONFLICT.
 * - Keys are never reused: a writer proposes each version once, and takes a new writer id after a
 *   send whose outcome it does not know. Compaction keeps the last message of a key, so a reused
 *   key could move a proposal behind another and change the winner for later readers.
 *
 * Limits: the topic keeps every version's full state, and opening reads all of them, so open time
 * grows with the number of commits (snapshots/pruning are not done yet). Only the last
 * `historyKeep` versions' states and commits are kept in memory: `history()` and `stateAt()`
 * answer within that window (undefined before it). A winning version whose state this process
 * cannot parse (written by a newer logFS) stops this reader at the version before, and updates fail
 * until logFS is upgraded, rather than letting readers disagree.
 */
// Loads the project's kafkajs patches before kafkajs itself (see gateway/kafka-producer.ts).
import '../gateway/kafkajs-patches.js';
import { kafkaClient } from '../gateway/kafka-producer.js';
import crypto from 'node:crypto';
import os from 'node:os';
import type { Admin, Consumer, Kafka, Producer } from 'kafkajs';
import { z } from 'zod';
import { errorMessage, isLogfsError, LogfsError } from '../core/errors.js';
import { componentLogger, type Logger } from '../core/logger.js';
import { retry } from '../core/retry.js';
import {
  CommitInfoSchema,
  EMPTY_STATE,
  prepareCommit,
  ProvisioningStateSchema,
  type CommitInfo,
  type CommitMeta,
  type ProvisioningState,
  type ProvisioningStore,
} from './store.js';

export const KAFKA_STORE_DEFAULTS = {
  /** The topic is `<topicPrefix>.<topicSuffix>`. */
  topicSuffix: 'control',
  replicationFactor: 1,
  clientId: 'logfs-control-store',
  /** Versions whose commit and state are kept in memory for history() and stateAt(). */
  historyKeep: 1000,
  /** Proposals per update() before it gives up with LOGFS_E_CONFLICT. */
  maxAttempts: 20,
  /** Retries of connecting and creating the topic at open, with the project's backoff. */
  openRetries: 5,
  connectionTimeoutMs: 3_000,
  requestTimeoutMs: 10_000,
  /** How long a fetch waits on an idle topic; new messages are delivered at once regardless. */
  maxWaitTimeInMs: 100,
  /** How long update() and open() wait for the reader to reach an offset. */
  readTimeoutMs: 30_000,
  /** Largest message (a whole state) the topic accepts. */
  maxMessageBytes: 8 * 1024 * 1024,
} as const;

export interface KafkaStoreOptions {
  brokers: string[];
  topicPrefix: string;
  replicationFactor?: number;
  clientId?: string;
  log?: Logger;
  historyKeep?: number;
  maxAttempts?: number;
  openRetries?: number;
  readTimeoutMs?: number;
  /**
   * Called with the version about to be proposed, before it is produced. A test seam: tests use it
   * to put a competing proposal in the log first.
   */
  beforePropose?: (version: number) => Promise<void>;
}

/** The value of a commit message; extra fields (from a newer logFS) are ignored. */
const CommitMessageSchema = z.object({
  ...CommitInfoSchema.shape,
  parent: z.number().int().nonnegative(),
  writer: z.string(),
  state: z.unknown(),
});
export type CommitMessage = z.infer<typeof CommitMessageSchema>;

const KEY_PREFIX = 'commit/';

export function commitKey(version: number, writer: string): string {
  return `${KEY_PREFIX}${String(version).padStart(10, '0')}/${writer}`;
}

export function controlTopic(topicPrefix: string): string {
  return `${topicPrefix}.${KAFKA_STORE_DEFAULTS.topicSuffix}`;
}

interface Waiter {
  offset: number;
  resolve: () => void;
  reject: (err: unknown) => void;
  timer: NodeJS.Timeout;
}

export class KafkaProvisioningStore implements ProvisioningStore {
  readonly topic: string;
  private readonly log: Logger;
  private readonly kafka: Kafka;
  private readonly admin: Admin;
  private readonly producer: Producer;
  private readonly consumer: Consumer;
  private readonly opts: Required<Omit<KafkaStoreOptions, 'log' | 'beforePropose'>> & Pick<KafkaStoreOptions, 'beforePropose'>;

  private state: ProvisioningState = EMPTY_STATE;
  /** The next offset the reader has not processed. */
  private position = 0;
  /** Commits and states of the last `historyKeep` versions, oldest first, versions contiguous. */
  private recent: { info: CommitInfo; state: ProvisioningState }[] = [];
  private readonly listeners = new Set<(s: ProvisioningState) => void>();
  private waiters: Waiter[] = [];
  private writer = newWriterId();
  /** Every writer id this instance used: its proposals, whichever id, are its own to tombstone. */
  private readonly writers = new Set<string>([this.writer]);
  /** Keys of proposals an update() is waiting on; it tombstones them itself if they lose. */
  private readonly inflight = new Set<string>();
  private readonly outcomes = new Map<string, 'won' | 'lost'>();
  /** Local updates run one at a time: they would only race each other. */
  private queue: Promise<unknown> = Promise.resolve();
  /** Set when this reader cannot apply a winning version (see the header); every update fails with it. */
  private failure: LogfsError | undefined;
  /** Set when the consumer stopped for good: nothing more will be read. */
  private readerError: LogfsError | undefined;
  private closed = false;

  private constructor(opts: KafkaStoreOptions) {
    if (opts.brokers.length === 0) throw new LogfsError('LOGFS_E_CONFIG', 'the Kafka provisioning store needs at least one broker (--kafka host:port)');
    this.opts = {
      brokers: opts.brokers,
      topicPrefix: opts.topicPrefix,
      replicationFactor: opts.replicationFactor ?? KAFKA_STORE_DEFAULTS.replicationFactor,
      clientId: opts.clientId ?? KAFKA_STORE_DEFAULTS.clientId,
      historyKeep: opts.historyKeep ?? KAFKA_STORE_DEFAULTS.historyKeep,
      maxAttempts: opts.maxAttempts ?? KAFKA_STORE_DEFAULTS.maxAttempts,
      openRetries: opts.openRetries ?? KAFKA_STORE_DEFAULTS.openRetries,
      readTimeoutMs: opts.readTimeoutMs ?? KAFKA_STORE_DEFAULTS.readTimeoutMs,
      beforePropose: opts.beforePropose,
    };
    this.topic = controlTopic(opts.topicPrefix);
    this.log = componentLogger('control-store', opts.log).child({ topic: this.topic });
    // open() owns retrying the first connection.
    this.kafka = kafkaClient({
      clientId: this.opts.clientId,
      brokers: opts.brokers,
      connectionTimeoutMs: KAFKA_STORE_DEFAULTS.connectionTimeoutMs,
      requestTimeoutMs: KAFKA_STORE_DEFAULTS.requestTimeoutMs,
      log: this.log,
    });
    this.admin = this.kafka.admin();
    this.producer = this.kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false });
    this.consumer = this.kafka.consumer({
      // A group of its own: every store reads the whole topic; no offsets are ever committed.
      groupId: `${opts.topicPrefix}.control-store.${crypto.randomUUID()}`,
      maxWaitTimeInMs: KAFKA_STORE_DEFAULTS.maxWaitTimeInMs,
      allowAutoTopicCreation: false,
    });
  }

  /** Connects, creates the topic if missing and reads it to the end: snapshot() is current. */
  static async open(opts: KafkaStoreOptions): Promise<KafkaProvisioningStore> {
    const store = new KafkaProvisioningStore(opts);
    try {
      await store.start();
    } catch (err) {
      await store.close().catch(() => undefined);
      throw err;
    }
    return store;
  }

  snapshot(): ProvisioningState {
    return this.state;
  }

  update(mutate: (draft: ProvisioningState) => void, meta?: Partial<CommitMeta>): Promise<ProvisioningState> {
    const run = this.queue.then(() => this.commit(mutate, meta));
    this.queue = run.catch(() => undefined);
    return run;
  }

  watch(listener: (state: ProvisioningState) => void): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  /** The last `historyKeep` commits at most, newest first. */
  async history(limit = Infinity): Promise<CommitInfo[]> {
    return this.recent
      .map((r) => r.info)
      .reverse()
      .slice(0, limit);
  }

  /** A state among the last `historyKeep` versions; undefined for older or unknown versions. */
  async stateAt(version: number): Promise<ProvisioningState | undefined> {
    const first = this.recent[0]?.info.version;
    if (first === undefined) return undefined;
    return this.recent[version - first]?.state;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.listeners.clear();
    this.failWaiters(new LogfsError('LOGFS_E_SHUTTING_DOWN', 'the provisioning store is closing'));
    const results = await Promise.allSettled([this.consumer.disconnect(), this.producer.disconnect(), this.admin.disconnect()]);
    for (const r of results) if (r.status === 'rejected') this.log.warn({ err: errorMessage(r.reason) }, 'closing a Kafka client failed');
  }

  private async start(): Promise<void> {
    const { brokers, openRetries } = this.opts;
    try {
      await retry(
        async () => {
          await this.admin.connect();
          await this.ensureTopic();
          await this.producer.connect();
        },
        { retries: openRetries, initialMs: 200, maxMs: 3_000, onRetry: (err, attempt, delayMs) => this.log.warn({ err: errorMessage(err), attempt, delayMs }, 'Kafka not reachable yet; retrying') },
      );
    } catch (err) {
      if (isLogfsError(err) && !err.retriable) throw err;
      throw new LogfsError(
        'LOGFS_E_KAFKA',
        `cannot open the provisioning store on Kafka (brokers ${brokers.join(', ')}, topic ${this.topic}): ${errorMessage(err)}; check that the brokers are up and reachable`,
        { retriable: true, cause: err, context: { brokers, topic: this.topic } },
      );
    }
    this.consumer.on(this.consumer.events.CRASH, (e) => {
      // kafkajs restarts the consumer itself after retriable errors; it re-reads from the start and
      // read() skips what it has seen. Anything else stops this store's reader.
      if (!e.payload.restart) this.stop(new LogfsError('LOGFS_E_KAFKA', `the provisioning store's reader stopped: ${errorMessage(e.payload.error)}`, { cause: e.payload.error }));
    });
    await this.consumer.connect();
    await this.consumer.subscribe({ topics: [this.topic], fromBeginning: true });
    await this.consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        for (const m of batch.messages) this.read(Number(m.offset), m.key, m.value);
      },
    });
    await this.catchUp();
    this.log.info({ version: this.state.version, offset: this.position }, 'provisioning store read');
  }

  private async ensureTopic(): Promise<void> {
    const created = await this.admin.createTopics({
      waitForLeaders: true,
      topics: [
        {
          topic: this.topic,
          numPartitions: 1,
          replicationFactor: this.opts.replicationFactor,
          configEntries: [
            { name: 'cleanup.policy', value: 'compact' },
            { name: 'max.message.bytes', value: String(KAFKA_STORE_DEFAULTS.maxMessageBytes) },
          ],
        },
      ],
    });
    if (created) {
      this.log.info({ replicationFactor: this.opts.replicationFactor }, 'created the provisioning store topic');
      return;
    }
    const { topics } = await this.admin.fetchTopicMetadata({ topics: [this.topic] });
    const partitions = topics[0]?.partitions.length ?? 0;
    if (partitions !== 1) {
      throw new LogfsError('LOGFS_E_CONFIG', `topic ${this.topic} has ${partitions} partitions; the provisioning store needs exactly 1 (its order decides every commit)`);
    }
  }

  /** One message of the topic, in offset order: decides winners and advances the state. */
  private read(offset: number, rawKey: Buffer | null, value: Buffer | null): void {
    if (offset < this.position) return; // re-read after a consumer restart
    this.position = offset + 1;
    try {
      const key = rawKey?.toString('utf8');
      if (key === undefined || !key.startsWith(KEY_PREFIX) || value === null) return; // tombstone
      let msg: CommitMessage;
      try {
        msg = CommitMessageSchema.parse(JSON.parse(value.toString('utf8')));
      } catch (err) {
        this.log.warn({ offset, key, err: errorMessage(err) }, 'skipping a message that is not a commit');
        return;
      }
      const wins = this.failure === undefined && msg.version === this.state.version + 1 && msg.parent === this.state.version;
      if (this.inflight.has(key)) this.outcomes.set(key, wins ? 'won' : 'lost');
      else if (!wins && this.writers.has(msg.writer)) {
        // A proposal of ours nobody waits for (its send failed, yet it landed later): clean it up here.
        void this.tombstone(key).catch((err: unknown) => this.log.warn({ key, err: errorMessage(err) }, 'could not tombstone a lost proposal'));
      }
      if (wins) this.accept(msg);
    } finally {
      this.wakeWaiters();
    }
  }

  private accept(msg: CommitMessage): void {
    const parsed = ProvisioningStateSchema.safeParse(msg.state);
    if (!parsed.success || parsed.data.version !== msg.version) {
      this.failure = new LogfsError(
        'LOGFS_E_CONFIG',
        `provisioning store version ${msg.version} (topic ${this.topic}, by ${msg.writer}) cannot be read by this logFS: ${parsed.success ? 'its state has another version' : parsed.error.message}; upgrade logFS`,
      );
      this.log.error({ version: msg.version, err: this.failure.message }, 'provisioning store reader stopped');
      return;
    }
    const state = parsed.data;
    const { version, at, author, message, changes } = msg;
    this.recent.push({ info: { version, at, author, message, changes }, state });
    if (this.recent.length > this.opts.historyKeep) this.recent.shift();
    this.state = state;
    for (const l of this.listeners) {
      try {
        l(state);
      } catch (err) {
        this.log.error({ err: errorMessage(err), version }, 'a provisioning store listener threw');
      }
    }
  }

  private async commit(mutate: (draft: ProvisioningState) => void, meta?: Partial<CommitMeta>): Promise<ProvisioningState> {
    for (let attempt = 1; ; attempt++) {
      if (this.closed) throw new LogfsError('LOGFS_E_SHUTTING_DOWN', 'the provisioning store is closed');
      if (this.failure) throw this.failure;
      const { state, commit } = prepareCommit(this.state, mutate, meta);
      await this.opts.beforePropose?.(state.version);
      const key = commitKey(state.version, this.writer);
      const value: CommitMessage = { ...commit, parent: state.version - 1, writer: this.writer, state };
      this.inflight.add(key);
      try {
        const outcome = await this.propose(key, value);
        if (outcome === 'won') return state;
        await this.tombstone(key);
      } finally {
        this.inflight.delete(key);
        this.outcomes.delete(key);
      }
      if (attempt >= this.opts.maxAttempts) {
        throw new LogfsError('LOGFS_E_CONFLICT', `the provisioning store changed under ${attempt} attempts in a row (topic ${this.topic}); try again`, {
          retriable: true,
        });
      }
      this.log.debug({ version: state.version, attempt }, 'lost a proposal; retrying on the newer state');
    }
  }

  /** Produces a proposal and answers whether it won, once the reader has passed it. */
  private async propose(key: string, value: CommitMessage): Promise<'won' | 'lost'> {
    let offset: number;
    try {
      const [meta] = await this.producer.send({ topic: this.topic, acks: -1, messages: [{ key, value: JSON.stringify(value) }] });
      offset = Number(meta?.baseOffset ?? NaN);
      if (!Number.isFinite(offset)) throw new LogfsError('LOGFS_E_INTERNAL', `Kafka did not return the offset of ${key}`);
    } catch (err) {
      // Did it land anyway? Read to the end and look; the key is never proposed again either way.
      this.writer = newWriterId();
      this.writers.add(this.writer);
      await this.catchUp().catch(() => undefined);
      const outcome = this.outcomes.get(key);
      if (outcome) return outcome;
      throw new LogfsError('LOGFS_E_KAFKA', `could not commit to the provisioning store (topic ${this.topic}): ${errorMessage(err)}`, { retriable: true, cause: err });
    }
    await this.waitPast(offset);
    const outcome = this.outcomes.get(key);
    if (!outcome) throw new LogfsError('LOGFS_E_INTERNAL', `the reader passed offset ${offset} without seeing proposal ${key}`);
    return outcome;
  }

  private async tombstone(key: string): Promise<void> {
    await this.producer.send({ topic: this.topic, acks: -1, messages: [{ key, value: null }] });
  }

  /** Waits until the reader has processed everything written before this call. */
  private async catchUp(): Promise<void> {
    const offsets = await this.admin.fetchTopicOffsets(this.topic);
    const end = Number(offsets.find((o) => o.partition === 0)?.high ?? 0);
    if (end > 0) await this.waitPast(end - 1);
  }

  private waitPast(offset: number): Promise<void> {
    if (this.position > offset) return Promise.resolve();
    if (this.readerError) return Promise.reject(this.readerError);
    if (this.closed) return Promise.reject(new LogfsError('LOGFS_E_SHUTTING_DOWN', 'the provisioning store is closed'));
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
        offset,
        resolve,
        reject,
        timer: setTimeout(() => {
          this.waiters = this.waiters.filter((w) => w !== waiter);
          reject(
            new LogfsError('LOGFS_E_KAFKA', `the provisioning store's reader did not reach offset ${offset} of ${this.topic} within ${this.opts.readTimeoutMs} ms (at ${this.position})`, {
              retriable: true,
            }),
          );
        }, this.opts.readTimeoutMs),
      };
      this.waiters.push(waiter);
    });
  }

  private wakeWaiters(): void {
    if (this.waiters.length === 0) return;
    const ready = this.waiters.filter((w) => this.position > w.offset);
    if (ready.length === 0) return;
    this.waiters = this.waiters.filter((w) => this.position <= w.offset);
    for (const w of ready) {
      clearTimeout(w.timer);
      w.resolve();
    }
  }

  private failWaiters(err: LogfsError): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) {
      clearTimeout(w.timer);
      w.reject(err);
    }
  }

  private stop(err: LogfsError): void {
    this.readerError ??= err;
    this.failure ??= err;
    this.log.error({ err: err.message }, 'provisioning store reader stopped');
    this.failWaiters(err);
  }
}

function newWriterId(): string {
  return `${os.hostname()}-${process.pid}-${crypto.randomBytes(4).toString('hex')}`;
}
