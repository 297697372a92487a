/**
 * Produces what the pipeline publishes to Kafka (relayed records, phase boundaries, metric points,
 * alarms): idempotent, acks=all, one request in flight, topics created on first use. `send`
 * resolves only once Kafka acknowledged, so sinks built on it can be acknowledged in turn.
 */
import type { Admin, Kafka, Producer } from 'kafkajs';
import type { Logger } from 'pino';
import { errorMessage, LogfsError } from '../core/errors.js';
import type { TopicProducer } from './agent.js';

export interface KafkaTopicProducerOptions {
  kafka: Kafka;
  log: Logger;
  /** Partitions of topics this producer creates (phase topics: as many as the streams have). */
  partitions?: (topic: string) => number;
  replicationFactor?: number;
}

export class KafkaTopicProducer implements TopicProducer {
  private producer: Producer | undefined;
  private admin: Admin | undefined;
  private readonly known = new Set<string>();

  constructor(private readonly opts: KafkaTopicProducerOptions) {}

  async send(topic: string, messages: readonly { key: string | null; value: Buffer }[]): Promise<void> {
    if (messages.length === 0) return;
    try {
      await this.ensureTopic(topic);
      if (!this.producer) {
        const p = this.opts.kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false });
        await p.connect();
        this.producer = p;
      }
      await this.producer.send({ topic, acks: -1, messages: messages.map((m) => ({ key: m.key, value: m.value })) });
    } catch (err) {
      // kafkajs marks what may succeed later; the engine retries those with backoff.
      const retriable = (err as { retriable?: boolean }).retriable !== false;
      throw new LogfsError('LOGFS_E_KAFKA', `could not produce to ${topic}: ${errorMessage(err)}`, { cause: err, retriable });
    }
  }

  async close(): Promise<void> {
    await Promise.allSettled([this.producer?.disconnect(), this.admin?.disconnect()]);
    this.producer = undefined;
    this.admin = undefined;
  }

  private async ensureTopic(topic: string): Promise<void> {
    if (this.known.has(topic)) return;
    if (!this.admin) {
      const a = this.opts.kafka.admin();
      await a.connect();
      this.admin = a;
    }
    const existing = new Set(await this.admin.listTopics());
    if (!existing.has(topic)) {
      await this.admin.createTopics({
        waitForLeaders: true,
        topics: [{ topic, numPartitions: this.opts.partitions?.(topic) ?? 1, replicationFactor: this.opts.replicationFactor ?? 1 }],
      });
      this.opts.log.info({ topic }, 'created pipeline topic');
    }
    this.known.add(topic);
  }
}
