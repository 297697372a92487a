/**
 * The fleet in cluster mode: topic `<topicPrefix>.fleet`, compacted, one partition, key = member
 * id, value = the member's message as JSON, a null value (tombstone) when a member stops cleanly.
 * A view is a consumer in a group of its own (random id, from the beginning, nothing committed)
 * keeping the latest message per key; compaction keeps the topic to about one message per member.
 */
// Before kafkajs loads (when this process has not loaded it through the gateway already).
import '../../gateway/kafkajs-patches.js';
import crypto from 'node:crypto';
import type { Admin, Consumer, Kafka, Producer } from 'kafkajs';
import type { Logger } from 'pino';
import { errorMessage, LogfsError } from '../../core/errors.js';
import { kafkaClient } from '../../gateway/kafka-producer.js';
import { MemberMessageSchema, type MemberMessage } from './member.js';
import { FLEET_DEFAULTS, type FleetTransport, type MemberUpdate } from './transport.js';

export interface KafkaFleetOptions {
  brokers: string[];
  topicPrefix: string;
  replicationFactor?: number;
  log: Logger;
  clientId?: string;
}

/**
 * Topic settings: compaction keeps the latest message per member; segments roll every 5 minutes
 * so that heartbeats (one a second per member) are compacted away soon; tombstones stay a minute,
 * long enough for every running view to see them.
 */
const TOPIC_CONFIG = [
  { name: 'cleanup.policy', value: 'compact' },
  { name: 'segment.ms', value: String(5 * 60_000) },
  { name: 'min.cleanable.dirty.ratio', value: '0.1' },
  { name: 'delete.retention.ms', value: String(60_000) },
];

export class KafkaFleet implements FleetTransport {
  readonly topic: string;
  private readonly kafka: Kafka;
  private producer: Promise<Producer> | undefined;
  private topicReady: Promise<void> | undefined;
  private readonly consumers = new Set<Consumer>();

  constructor(private readonly opts: KafkaFleetOptions) {
    if (opts.brokers.length === 0) throw new LogfsError('LOGFS_E_CONFIG', 'the Kafka fleet needs brokers (host:port)');
    this.topic = `${opts.topicPrefix}${FLEET_DEFAULTS.topicSuffix}`;
    this.kafka = kafkaClient({
      clientId: opts.clientId ?? 'logfs-fleet',
      brokers: opts.brokers,
      connectionTimeoutMs: 3_000,
      // A heartbeat that cannot get through is replaced by the next one a second later.
      requestTimeoutMs: 5_000,
      log: opts.log,
    });
  }

  async publish(message: MemberMessage): Promise<void> {
    await this.send(message.id, JSON.stringify(message));
  }

  async remove(id: string): Promise<void> {
    await this.send(id, null);
  }

  async subscribe(onUpdate: (update: MemberUpdate) => void): Promise<{ close(): Promise<void> }> {
    await this.ensureTopic();
    const end = await this.endOffset();
    const consumer = this.kafka.consumer({
      groupId: `${this.opts.topicPrefix}.fleet-view.${crypto.randomBytes(6).toString('hex')}`,
      maxWaitTimeInMs: 500,
      allowAutoTopicCreation: false,
    });
    this.consumers.add(consumer);
    let caughtUp!: () => void;
    const ready = new Promise<void>((resolve) => (caughtUp = resolve));
    if (end === 0) caughtUp();
    try {
      await consumer.connect();
      await consumer.subscribe({ topic: this.topic, fromBeginning: true });
      await consumer.run({
        autoCommit: false,
        eachMessage: async ({ message }) => {
          const id = message.key?.toString();
          if (id) {
            const update = this.decode(id, message.value);
            if (update) onUpdate(update);
          }
          if (Number(message.offset) >= end - 1) caughtUp();
        },
      });
    } catch (err) {
      this.consumers.delete(consumer);
      await consumer.disconnect().catch(() => {});
      throw new LogfsError('LOGFS_E_KAFKA', `cannot read the fleet topic ${this.topic}: ${errorMessage(err)}`, { cause: err, retriable: true });
    }
    const timeout = new Promise<boolean>((resolve) => setTimeout(() => resolve(false), FLEET_DEFAULTS.catchUpTimeoutMs).unref());
    if (!(await Promise.race([ready.then(() => true), timeout]))) {
      this.opts.log.warn({ topic: this.topic, timeoutMs: FLEET_DEFAULTS.catchUpTimeoutMs }, 'fleet: the view has not read the whole fleet topic yet; members will appear as it catches up');
    }
    return {
      close: async () => {
        this.consumers.delete(consumer);
        await consumer.disconnect().catch(() => {});
      },
    };
  }

  async close(): Promise<void> {
    await Promise.all([...this.consumers].map((c) => c.disconnect().catch(() => {})));
    this.consumers.clear();
    const producer = await this.producer?.catch(() => undefined);
    this.producer = undefined;
    await producer?.disconnect().catch(() => {});
  }

  private decode(id: string, value: Buffer | null): MemberUpdate | undefined {
    if (value === null || value.length === 0) return { id, message: null };
    let json: unknown;
    try {
      json = JSON.parse(value.toString('utf8'));
    } catch (err) {
      this.opts.log.warn({ id, err: errorMessage(err) }, 'fleet: message is not JSON; skipped');
      return undefined;
    }
    const parsed = MemberMessageSchema.safeParse(json);
    if (!parsed.success || parsed.data.id !== id) {
      this.opts.log.warn({ id, problems: parsed.error?.issues.map((i) => `${i.path.join('.')}: ${i.message}`) ?? ['key and id differ'] }, 'fleet: message does not match the member schema; skipped');
      return undefined;
    }
    return { id, message: parsed.data };
  }

  private async send(key: string, value: string | null): Promise<void> {
    await this.ensureTopic();
    this.producer ??= (async () => {
      const p = this.kafka.producer({ allowAutoTopicCreation: false });
      await p.connect();
      return p;
    })();
    let producer: Producer;
    try {
      producer = await this.producer;
    } catch (err) {
      this.producer = undefined; // the next call connects again
      throw new LogfsError('LOGFS_E_KAFKA', `cannot connect to Kafka for the fleet: ${errorMessage(err)}`, { cause: err, retriable: true });
    }
    await producer.send({ topic: this.topic, messages: [{ key, value }] });
  }

  /** Created once per process by whoever comes first; a failure is tried again at the next call. */
  private ensureTopic(): Promise<void> {
    this.topicReady ??= this.withAdmin(async (admin) => {
      const existing = await admin.listTopics();
      if (existing.includes(this.topic)) return;
      try {
        await admin.createTopics({
          waitForLeaders: true,
          topics: [{ topic: this.topic, numPartitions: 1, replicationFactor: this.opts.replicationFactor ?? 1, configEntries: TOPIC_CONFIG }],
        });
      } catch (err) {
        // Another member created it meanwhile.
        if (!(await admin.listTopics()).includes(this.topic)) throw err;
      }
    }).catch((err: unknown) => {
      this.topicReady = undefined;
      throw new LogfsError('LOGFS_E_KAFKA', `cannot create the fleet topic ${this.topic}: ${errorMessage(err)}`, { cause: err, retriable: true });
    });
    return this.topicReady;
  }

  private endOffset(): Promise<number> {
    return this.withAdmin(async (admin) => {
      const offsets = await admin.fetchTopicOffsets(this.topic);
      return Number(offsets[0]?.high ?? 0) > Number(offsets[0]?.low ?? 0) ? Number(offsets[0]?.high) : 0;
    });
  }

  private async withAdmin<T>(fn: (admin: Admin) => Promise<T>): Promise<T> {
    const admin = this.kafka.admin();
    await admin.connect();
    try {
      return await fn(admin);
    } finally {
      await admin.disconnect().catch(() => {});
    }
  }
}
