/**
 * Phases on Kafka: records that cross from one phase of a graph into a later one go through an
 * intermediate topic per phase (`<prefix>.graph.<graph>.<phase>`), consumed by that phase's own
 * consumer group, so cheap high-volume phases and expensive ones scale separately (DESIGN.md).
 * A message carries the edge it travels (node and port) and the whole pipeline record, fields and
 * flags included, keyed by instance so a partition keeps each instance's order.
 */
import { Packr } from 'msgpackr';
import type { EachBatchPayload } from 'kafkajs';
import type { TopicProducer } from './agent.js';
import type { EdgeBatch, PhaseBoundary } from './engine.js';
import type { GraphPlan } from './graph/graph-validate.js';
import type { BatchDecoder } from './kafka-source.js';
import { decodeOrFlag } from './source.js';
import type { PipelineRecord } from './record.js';

const packr = new Packr({ useRecords: false, structuredClone: false, moreTypes: false, mapsAsObjects: true, int64AsType: 'number' });

export function phaseTopic(topicPrefix: string, graph: string, phase: string): string {
  return `${topicPrefix}.graph.${graph}.${phase}`;
}

interface PhaseMessage {
  from: string;
  port: string;
  record: PipelineRecord;
}

export class KafkaPhaseBoundary implements PhaseBoundary {
  /** "from.port" -> topics of the later phases that take it. */
  private readonly routes = new Map<string, string[]>();
  private pending = new Map<string, { key: string; value: Buffer }[]>();

  constructor(
    plan: GraphPlan,
    phase: string,
    topicPrefix: string,
    private readonly producer: TopicProducer,
  ) {
    for (const n of plan.nodes) {
      if (n.phase === phase) continue;
      for (const e of n.inputs) {
        const from = plan.nodes.find((m) => m.id === e.from);
        if (from?.phase !== phase) continue;
        const key = `${e.from}.${e.port}`;
        const topic = phaseTopic(topicPrefix, plan.name, n.phase);
        const list = this.routes.get(key) ?? [];
        if (!list.includes(topic)) list.push(topic);
        this.routes.set(key, list);
      }
    }
  }

  send(from: string, port: string, records: readonly PipelineRecord[]): void {
    const topics = this.routes.get(`${from}.${port}`) ?? [];
    for (const r of records) {
      const value = packr.pack({ from, port, record: r } satisfies PhaseMessage);
      for (const t of topics) {
        let list = this.pending.get(t);
        if (!list) this.pending.set(t, (list = []));
        list.push({ key: r.instance, value });
      }
    }
  }

  async flush(): Promise<void> {
    for (const [topic, messages] of this.pending) {
      await this.producer.send(topic, messages);
      // Kept until acknowledged, so a retried flush sends them again.
      this.pending.delete(topic);
    }
  }
}

/** Decodes a phase topic's batch into edge batches, keeping the order within each edge. */
export const decodePhaseBatch: BatchDecoder = (batch: EachBatchPayload['batch']) => {
  const edges = new Map<string, EdgeBatch>();
  for (const m of batch.messages) {
    let msg: PhaseMessage;
    try {
      msg = packr.unpack(m.value ?? Buffer.alloc(0)) as PhaseMessage;
      if (typeof msg?.from !== 'string' || typeof msg.port !== 'string' || typeof msg.record !== 'object') throw new Error('not a phase message');
      const r = msg.record;
      r.data = Buffer.isBuffer(r.data) ? r.data : Buffer.from(r.data as unknown as Uint8Array);
      r.fields ??= {};
      r.flags ??= [];
    } catch {
      // Not ours: keep the bytes, flagged, and let them continue where the stream would.
      const r = decodeOrFlag(m.value ?? Buffer.alloc(0), () => ({ stream: batch.topic, provider: 'unknown', key: m.key?.toString() ?? null, position: `${batch.topic}/${batch.partition}@${m.offset}` }));
      msg = { from: 'source', port: 'out', record: r };
    }
    const key = `${msg.from}.${msg.port}`;
    let e = edges.get(key);
    if (!e) edges.set(key, (e = { from: msg.from, port: msg.port, records: [] }));
    e.records.push(msg.record);
  }
  return [...edges.values()];
};
