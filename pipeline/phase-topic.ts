/**
 * Phases on Kafka: records that cross from one phase of a graph into a later one go through an
 * intermediate topic per phase (`<prefix>.graph.<graph>.<phase>`), consumed by that phase's own
 * consumer group, so cheap high-volume phases and expensive ones scale separately (DESIGN.md).
 * A message carries the edge it travels (node and port) and the whole pipeline record, fields and
 * flags included, keyed by instance so a partition keeps each instance's order.
 */
import { Packr } from 'msgpackr';
import type { TopicProducer } from './agent.js';
import type { EdgeBatch, PhaseBoundary } from './engine.js';
import type { GraphPlan } from './graph/graph-validate.js';
import type { BatchDecoder } from './kafka-source.js';
import { decodeOrFlag } from './source.js';
import type { PipelineRecord } from './record.js';
import { errorMessage } from '../core/errors.js';
import { ENC_A256GCM, recordAad } from '../gateway/record-crypto.js';
import { sealForRest } from './archive/archive-sealing.js';
import { DECRYPT_FAILED_FLAG, type KeyLookup } from './record-keys.js';

const packr = new Packr({ useRecords: false, structuredClone: false, moreTypes: false, mapsAsObjects: true, int64AsType: 'number' });

export function phaseTopic(topicPrefix: string, graph: string, phase: string): string {
  return `${topicPrefix}.graph.${graph}.${phase}`;
}

interface PhaseMessage {
  from: string;
  port: string;
  record: PipelineRecord;
  /**
   * A record of an encrypted stream crosses sealed, as in the archive (docs/encryption.md): its
   * `data` is sealed, its fields are in `sealedFields` and `record.fields` is empty.
   */
  enc?: string;
  kid?: string;
  sealedFields?: Buffer;
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
    private readonly keys?: KeyLookup,
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
    const ring = this.keys?.();
    const encrypted = ring !== undefined && ring.size > 0;
    for (const r of records) {
      const sealed = encrypted ? sealForRest(r, ring.get(r.provider, r.stream)) : undefined;
      const msg: PhaseMessage =
        sealed === undefined
          ? { from, port, record: r }
          : { from, port, record: { ...r, data: sealed.data, fields: {} }, enc: ENC_A256GCM, kid: sealed.kid, ...(sealed.fields ? { sealedFields: sealed.fields } : {}) };
      const value = packr.pack(msg);
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
export const decodePhaseBatch: BatchDecoder = (batch, _input, keys) => {
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
      if (msg.enc !== undefined) openPhaseRecord(msg, keys);
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

/** Opens a sealed phase message's record in place; one that does not open goes on flagged, sealed. */
function openPhaseRecord(msg: PhaseMessage, keys: Parameters<BatchDecoder>[2]): void {
  const r = msg.record;
  const key = keys?.get(r.provider, r.stream)?.key;
  let problem: string | undefined;
  if (msg.enc !== ENC_A256GCM) problem = `sealed with "${String(msg.enc)}", which this version cannot open`;
  else if (!key) problem = `sealed with key ${String(msg.kid)}; the key of stream "${r.stream}" is not available here`;
  else if (key.kid !== msg.kid) problem = `sealed with key ${String(msg.kid)}, but the stream's key is ${key.kid}`;
  else {
    try {
      r.data = key.sealer.open(r.data, recordAad(r.provider, r.stream, r.id, 'data'));
      if (msg.sealedFields) {
        const sealedFields = Buffer.isBuffer(msg.sealedFields) ? msg.sealedFields : Buffer.from(msg.sealedFields as Uint8Array);
        r.fields = JSON.parse(key.sealer.open(sealedFields, recordAad(r.provider, r.stream, r.id, 'fields')).toString('utf8')) as Record<string, unknown>;
      }
    } catch (err) {
      problem = errorMessage(err);
    }
  }
  if (problem !== undefined) {
    if (!r.flags.includes(DECRYPT_FAILED_FLAG)) r.flags.push(DECRYPT_FAILED_FLAG);
    r.fields._decrypt_error = problem;
    // Kept, still sealed, rather than lost.
    if (msg.sealedFields) r.fields._sealed_fields = Buffer.from(msg.sealedFields).toString('base64');
  }
}
