/**
 * The backends sinks write to, as a worker provides them: archives under `<data>/archive/<name>`,
 * the metric store and the alarm log under `<data>`, and, with Kafka, the metrics and alarms
 * topics and a producer for relays and phase boundaries.
 */
import path from 'node:path';
import type { Logger } from 'pino';
import type { AlarmEvent, AlarmSink, ArchiveWriter, MetricPoint, MetricSink } from './agent.js';
import { ArchiveStore } from './archive/archive-store.js';
import type { ArchiveOrigin } from './archive/archive-line.js';
import type { KafkaTopicProducer } from './kafka-topic-producer.js';
import type { PipelineRecord } from './record.js';
import type { KeyLookup } from './record-keys.js';
import type { PipelineServices } from './worker.js';

export interface PipelineServicesOptions {
  dataDir: string;
  log: Logger;
  /** Local file backends for metric points and alarms (always written, so `logfsctl metrics/alarms` work). */
  metrics: MetricSink & { close?(): Promise<void> };
  alarms: AlarmSink & { close?(): Promise<void> };
  /** With Kafka: where metric points and alarms are also published. */
  kafka?: { producer: KafkaTopicProducer; topicPrefix: string };
  /** Stream keys: archives and relays keep records of encrypted streams sealed (docs/encryption.md). */
  keys?: KeyLookup;
}

/**
 * An archive opened on first use. `append` may come before the store is open (agents are built
 * synchronously); the records wait here and go to the store at the next flush.
 */
class LazyArchive implements ArchiveWriter {
  private store: ArchiveStore | undefined;
  private opening: Promise<ArchiveStore> | undefined;
  private waiting: { records: readonly PipelineRecord[]; origin: ArchiveOrigin }[] = [];

  constructor(
    private readonly dir: string,
    private readonly log: Logger,
    private readonly keys: KeyLookup | undefined,
  ) {}

  append(records: readonly PipelineRecord[], origin: ArchiveOrigin): void {
    if (this.store && this.waiting.length === 0) this.store.append(records, origin);
    else this.waiting.push({ records, origin });
  }

  async flush(): Promise<void> {
    const store = await this.open();
    for (const w of this.waiting) store.append(w.records, w.origin);
    this.waiting = [];
    await store.flush();
  }

  async refresh(): Promise<void> {
    if (this.store) await this.store.refresh();
  }

  async close(): Promise<void> {
    if (this.opening) await (await this.opening.catch(() => undefined))?.close();
  }

  private open(): Promise<ArchiveStore> {
    this.opening ??= ArchiveStore.open({ dir: this.dir, log: this.log, ...(this.keys ? { keys: this.keys } : {}) }).then(
      (s) => (this.store = s),
      (err: unknown) => {
        this.opening = undefined; // the next flush tries again (the engine retries with backoff)
        throw err;
      },
    );
    return this.opening;
  }
}

/** Writes locally and, with Kafka, publishes the same items as JSON messages to a topic. */
class PublishingSink<T> {
  private pending: T[] = [];

  constructor(
    private readonly local: { flush(): Promise<void> },
    private readonly topic: string | undefined,
    private readonly producer: KafkaTopicProducer | undefined,
    private readonly keyOf: (item: T) => string,
  ) {}

  add(items: readonly T[]): void {
    if (this.topic) for (const i of items) this.pending.push(i);
  }

  private chain: Promise<void> = Promise.resolve();

  /**
   * One flush at a time: two graphs share this sink, and a flush must not resolve for items that
   * another flush took and has not got acknowledged yet.
   */
  flush(): Promise<void> {
    const run = this.chain.then(() => this.flushOnce());
    this.chain = run.catch(() => {});
    return run;
  }

  private async flushOnce(): Promise<void> {
    await this.local.flush();
    if (!this.topic || !this.producer || this.pending.length === 0) return;
    const batch = this.pending;
    this.pending = [];
    try {
      await this.producer.send(this.topic, batch.map((i) => ({ key: this.keyOf(i), value: Buffer.from(JSON.stringify(i)) })));
    } catch (err) {
      // Not acknowledged: the engine retries the flush, which sends these items again first.
      this.pending = batch.concat(this.pending);
      throw err;
    }
  }
}

export function createPipelineServices(opts: PipelineServicesOptions): PipelineServices {
  const archives = new Map<string, LazyArchive>();
  const producer = opts.kafka?.producer;
  const metricsOut = new PublishingSink<MetricPoint>(opts.metrics, opts.kafka ? `${opts.kafka.topicPrefix}.metrics` : undefined, producer, (p) => p.name);
  const alarmsOut = new PublishingSink<AlarmEvent>(opts.alarms, opts.kafka ? `${opts.kafka.topicPrefix}.alarms` : undefined, producer, (a) => a.alarm);
  return {
    archive(name: string): ArchiveWriter {
      let a = archives.get(name);
      if (!a) archives.set(name, (a = new LazyArchive(path.join(opts.dataDir, 'archive', name), opts.log.child({ archive: name }), opts.keys)));
      return a;
    },
    metrics: {
      write(points) {
        opts.metrics.write(points);
        metricsOut.add(points);
      },
      flush: () => metricsOut.flush(),
    },
    alarms: {
      publish(events) {
        opts.alarms.publish(events);
        alarmsOut.add(events);
      },
      flush: () => alarmsOut.flush(),
    },
    ...(producer ? { topicProducer: producer } : {}),
    ...(opts.keys ? { keys: opts.keys } : {}),
    async refresh() {
      await Promise.all([...archives.values()].map((a) => a.refresh()));
    },
    async close() {
      await Promise.allSettled([...[...archives.values()].map((a) => a.close()), opts.metrics.close?.(), opts.alarms.close?.(), producer?.close()]);
    },
  };
}
