/**
 * Services for `logfsctl graph test`: sinks write into memory instead of the archive, the metric
 * store, the alarm log or Kafka, so a graph can be tried on sample lines without side effects.
 */
import type { AlarmEvent, ArchiveWriter, MetricPoint, TopicProducer } from './agent.js';
import type { PipelineRecord } from './record.js';
import type { PipelineServices } from './worker.js';

export class DryRunServices implements PipelineServices {
  readonly archived: { archive: string; record: PipelineRecord; graph: string; version: number }[] = [];
  readonly points: MetricPoint[] = [];
  readonly alarmEvents: AlarmEvent[] = [];
  readonly relayed: { topic: string; key: string | null; bytes: number }[] = [];

  archive(name: string): ArchiveWriter {
    return {
      append: (records, origin) => {
        for (const record of records) this.archived.push({ archive: name, record, ...origin });
      },
      flush: async () => {},
    };
  }

  readonly metrics = {
    write: (points: readonly MetricPoint[]): void => void this.points.push(...points),
    flush: async (): Promise<void> => {},
  };

  readonly alarms = {
    publish: (events: readonly AlarmEvent[]): void => void this.alarmEvents.push(...events),
    flush: async (): Promise<void> => {},
  };

  readonly topicProducer: TopicProducer = {
    send: async (topic, messages) => {
      for (const m of messages) this.relayed.push({ topic, key: m.key, bytes: m.value.length });
    },
  };

  tcpRelay(target: string): ArchiveWriter & { close(): Promise<void> } {
    return {
      append: (records) => {
        for (const r of records) this.relayed.push({ topic: `tcp://${target}`, key: r.instance, bytes: r.data.length });
      },
      flush: async () => {},
      close: async () => {},
    };
  }

  async refresh(): Promise<void> {}
  async close(): Promise<void> {}
}
