/**
 * Applies later changes of a stream's spec to its Kafka topic. The gateway creates a topic with the
 * spec's partitions and retention at first use (gateway/kafka-producer.ts) and never touches it
 * again; this runs in the control service and, on start, on every store change and every
 * `resyncMs`, brings each existing stream topic in line with the store:
 *
 * - partitions grow to the spec's `partitions` (Kafka cannot remove partitions, so a spec with
 *   fewer than the topic is only warned about, once);
 * - `retention.ms` follows `retentionHours`; null removes the topic's override so the broker's
 *   default applies.
 *
 * Topics that do not exist yet are left to the gateway. Runs are serialised: a change during a run
 * schedules one more run, which reads the store as it is then.
 */
// Loads the project's kafkajs patches before kafkajs itself (see gateway/kafka-producer.ts).
import '../gateway/kafkajs-patches.js';
import { kafkaClient, retentionMs } from '../gateway/kafka-producer.js';
import kafkajs, { type Admin, type Kafka } from 'kafkajs';
import { errorMessage, isLogfsError, isProgrammingError, LogfsError } from '../core/errors.js';
import { componentLogger, type Logger } from '../core/logger.js';
import { retry } from '../core/retry.js';
import type { ProvisioningStore } from './store.js';
import { topicForStream } from './stream-name.js';

// kafkajs' CommonJS exports these in a way Node's ESM named-export detection misses.
const { ConfigResourceTypes, ConfigSource } = kafkajs;

export const TOPIC_RECONCILER_DEFAULTS = {
  /** kafkajs client id of the reconciler's admin client (createReconcilerKafka). */
  clientId: 'logfs-control-topics',
  connectionTimeoutMs: 3_000,
  requestTimeoutMs: 10_000,
  /** Attempts after the first of a run that met a retriable Kafka error, with the project's backoff. */
  retries: 5,
  retryInitialMs: 200,
  retryMaxMs: 5_000,
  /**
   * A run also starts this often without a store change: it catches up after a run that gave up
   * while Kafka was down, and fixes a topic the gateway created from a spec that changed just before.
   * 0: only on start and store changes.
   */
  resyncMs: 60_000,
} as const;

const RETENTION = 'retention.ms';

export interface TopicReconcilerOptions {
  /** The caller's client; the reconciler opens (and closes) one admin connection on it. */
  kafka: Kafka;
  /** Topic prefix of the stream topics (`topicForStream`). */
  topicPrefix: string;
  store: ProvisioningStore;
  log: Logger;
  /** Default TOPIC_RECONCILER_DEFAULTS.resyncMs. */
  resyncMs?: number;
}

/** A kafkajs client for the reconciler: the control service has brokers, not a gateway config. */
export function createReconcilerKafka(brokers: string[], log: Logger): Kafka {
  // Runs own retrying (core/retry.ts).
  return kafkaClient({
    clientId: TOPIC_RECONCILER_DEFAULTS.clientId,
    brokers,
    connectionTimeoutMs: TOPIC_RECONCILER_DEFAULTS.connectionTimeoutMs,
    requestTimeoutMs: TOPIC_RECONCILER_DEFAULTS.requestTimeoutMs,
    log,
  });
}

/**
 * kafkajs gives up on a retriable error after its own short retries and wraps it as
 * non-retriable (KafkaJSNumberOfRetriesExceeded, KafkaJSNonRetriableError); what decides is the
 * error underneath.
 */
function isRetriableKafkaError(err: unknown): boolean {
  let e = err as { name?: string; cause?: unknown; retriable?: boolean; type?: string } | null;
  while (e && (e.name === 'KafkaJSNumberOfRetriesExceeded' || e.name === 'KafkaJSNonRetriableError') && e.cause && e.cause !== e) {
    e = e.cause as typeof e;
  }
  if (isProgrammingError(e)) return false;
  // The topic already has the partitions asked for: another control service, or metadata that had
  // not caught up with our own last change. The next attempt reads the topic again.
  if (e?.type === 'INVALID_PARTITIONS') return true;
  return e?.retriable !== false;
}

function kafkaError(what: string, topic: string | undefined, err: unknown): LogfsError {
  if (isLogfsError(err)) return err;
  return new LogfsError('LOGFS_E_KAFKA', `${what}${topic ? ` of topic ${topic}` : ''} failed: ${errorMessage(err)}`, {
    retriable: isRetriableKafkaError(err),
    cause: err,
    context: topic ? { topic } : {},
  });
}

interface WantedTopic {
  topic: string;
  partitions: number;
  /** retention.ms as Kafka stores it; null: no topic-level override. */
  retentionMs: string | null;
}

export class TopicReconciler {
  private readonly log: Logger;
  private readonly admin: Admin;
  private readonly abort = new AbortController();
  private readonly resyncMs: number;
  private unwatch: (() => void) | undefined;
  private resync: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = false;
  /** Shrinks already warned about: `topic:spec:topic partitions`. */
  private readonly warned = new Set<string>();

  constructor(private readonly opts: TopicReconcilerOptions) {
    this.resyncMs = opts.resyncMs ?? TOPIC_RECONCILER_DEFAULTS.resyncMs;
    if (!Number.isFinite(this.resyncMs) || this.resyncMs < 0) {
      throw new LogfsError('LOGFS_E_CONFIG', `topic reconciler: resyncMs must be 0 or a positive number of milliseconds, got ${this.resyncMs}`);
    }
    this.log = componentLogger('topic-reconciler', opts.log);
    this.admin = opts.kafka.admin();
  }

  /** Resolves when the first run is done (whether or not Kafka answered; failures are logged). */
  async start(): Promise<void> {
    this.unwatch = this.opts.store.watch(() => this.schedule());
    if (this.resyncMs > 0) {
      this.resync = setInterval(() => this.schedule(), this.resyncMs);
      this.resync.unref();
    }
    this.schedule();
    await this.running;
  }

  /** Resolves when no run is in progress or scheduled: a change made before the call has been applied (or failed). */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  /** Waits for a run in progress (its retries are cut short) and disconnects. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.unwatch?.();
    if (this.resync) clearInterval(this.resync);
    this.abort.abort(new LogfsError('LOGFS_E_SHUTTING_DOWN', 'topic reconciler stopping'));
    await this.running;
    await this.admin.disconnect().catch(() => undefined);
  }

  /** One run at a time; a request during a run makes exactly one more run after it. */
  private schedule(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = (async () => {
      do {
        this.again = false;
        await this.runOnce();
      } while (this.again && !this.stopped);
    })().finally(() => (this.running = undefined));
  }

  /** Never throws: the caller is the store watcher or a timer. */
  private async runOnce(): Promise<void> {
    try {
      await retry(() => this.reconcile(), {
        retries: TOPIC_RECONCILER_DEFAULTS.retries,
        initialMs: TOPIC_RECONCILER_DEFAULTS.retryInitialMs,
        maxMs: TOPIC_RECONCILER_DEFAULTS.retryMaxMs,
        signal: this.abort.signal,
        onRetry: (err, attempt, delayMs) => this.log.warn({ err: errorMessage(err), attempt, delayMs }, 'could not apply stream specs to topics yet; retrying'),
      });
    } catch (err) {
      if (this.stopped) return;
      const next = this.resyncMs > 0 ? `the next store change or within ${Math.round(this.resyncMs / 1000)} s` : 'the next store change';
      this.log.error({ err: errorMessage(err) }, `could not apply stream specs to topics; trying again at ${next}`);
    }
  }

  /**
   * One pass over the store as it is now. Reads fail the pass (and are retried); a write that fails
   * is logged for its topic and the others go on, and a retriable one fails the pass at the end so
   * that it is retried (topics already done are no-ops then).
   */
  private async reconcile(): Promise<void> {
    const wanted = new Map<string, WantedTopic>();
    for (const s of Object.values(this.opts.store.snapshot().streams)) {
      const topic = topicForStream(s.provider, s.name, this.opts.topicPrefix);
      wanted.set(topic, { topic, partitions: s.partitions, retentionMs: s.retentionHours === null ? null : String(retentionMs(s.retentionHours)) });
    }
    if (wanted.size === 0) return;

    let topics: string[];
    let partitionsOf: Map<string, number>;
    let overridesOf: Map<string, Overrides>;
    try {
      await this.admin.connect();
      const existing = new Set(await this.admin.listTopics());
      topics = [...wanted.keys()].filter((t) => existing.has(t));
      if (topics.length === 0) return;
      const meta = await this.admin.fetchTopicMetadata({ topics });
      partitionsOf = new Map(meta.topics.map((t) => [t.name, t.partitions.length]));
      const described = await this.admin.describeConfigs({ includeSynonyms: false, resources: topics.map((name) => ({ type: ConfigResourceTypes.TOPIC, name })) });
      overridesOf = new Map(
        described.resources.map((r) => [
          r.resourceName,
          r.configEntries.filter((e) => e.configSource === ConfigSource.TOPIC_CONFIG).map((e) => ({ name: e.configName, value: e.isSensitive ? null : e.configValue })),
        ]),
      );
    } catch (err) {
      throw kafkaError('reading stream topics', undefined, err);
    }

    let retriable: LogfsError | undefined;
    for (const topic of topics) {
      if (this.stopped) return;
      const want = wanted.get(topic) as WantedTopic;
      try {
        await this.growPartitions(want, partitionsOf.get(topic));
        const overrides = overridesOf.get(topic);
        // Unknown overrides are not "none": writing then would wipe the topic's other overrides.
        if (overrides) await this.applyRetention(want, overrides);
      } catch (err) {
        const e = kafkaError('updating', topic, err);
        if (e.retriable) retriable ??= e;
        else this.log.error({ topic, err: e.message }, 'could not apply the stream spec to its topic');
      }
    }
    if (retriable) throw retriable;
  }

  private async growPartitions(want: WantedTopic, have: number | undefined): Promise<void> {
    const { topic } = want;
    if (have === undefined || have === want.partitions) return;
    if (want.partitions < have) {
      const key = `${topic}:${want.partitions}:${have}`;
      if (!this.warned.has(key)) {
        this.warned.add(key);
        this.log.warn({ topic, partitions: { spec: want.partitions, topic: have } }, 'the stream spec has fewer partitions than its topic; Kafka cannot remove partitions, so the topic keeps its');
      }
      return;
    }
    try {
      await this.admin.createPartitions({ topicPartitions: [{ topic, count: want.partitions }] });
    } catch (err) {
      throw kafkaError(`growing partitions ${have} → ${want.partitions}`, topic, err);
    }
    this.log.info({ topic, partitions: { from: have, to: want.partitions } }, 'grew topic partitions');
  }

  /**
   * kafkajs 2.2.4 has only the legacy AlterConfigs request (no IncrementalAlterConfigs, KIP-339),
   * and that request REPLACES the topic's whole set of overrides: an entry left out goes back to
   * the broker default. So the request carries every current override (read just before) with
   * `retention.ms` set, or left out to remove it when `retentionHours` is null: that is how the
   * override is deleted. Limits: an override another tool changes between our read and our write is
   * lost, and a topic with a sensitive override (its value is not readable) is not touched.
   */
  private async applyRetention(want: WantedTopic, overrides: Overrides): Promise<void> {
    const { topic } = want;
    const current = overrides.find((o) => o.name === RETENTION)?.value ?? null;
    if (current === want.retentionMs) return;
    if (overrides.some((o) => o.value === null)) {
      throw new LogfsError('LOGFS_E_KAFKA', `topic ${topic} has a sensitive config override that cannot be read back; set retention.ms by hand (kafka-configs.sh)`, {
        context: { topic },
      });
    }
    const configEntries = overrides.filter((o) => o.name !== RETENTION).map((o) => ({ name: o.name, value: o.value as string }));
    if (want.retentionMs !== null) configEntries.push({ name: RETENTION, value: want.retentionMs });
    try {
      await this.admin.alterConfigs({ validateOnly: false, resources: [{ type: ConfigResourceTypes.TOPIC, name: topic, configEntries }] });
    } catch (err) {
      throw kafkaError('setting retention.ms', topic, err);
    }
    const retentionMsNow = want.retentionMs === null ? null : Number(want.retentionMs);
    this.log.info({ topic, retentionMs: retentionMsNow }, retentionMsNow === null ? 'removed topic retention override; the broker default applies' : 'set topic retention');
  }
}

/** A topic's topic-level config overrides; value null when Kafka does not show it (sensitive). */
type Overrides = { name: string; value: string | null }[];
