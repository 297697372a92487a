/**
 * Unit-test kit for agents: records, an output collector, in-memory services, and the shared
 * compliance check every agent's test runs (STYLE.md: an explicit registry plus a test that each
 * agent meets the contract).
 */
import pino from 'pino';
import { expect } from 'vitest';
import { z } from 'zod';
import type { AgentContext, AgentDefinition, AgentRuntime, AgentServices, AlarmEvent, MetricPoint, Outputs, TopicProducer } from '../../../pipeline/agent.js';
import { fromLogRecord, type PipelineRecord } from '../../../pipeline/record.js';

let seq = 1;

export function makeRecord(data: string | Buffer, over: Partial<PipelineRecord> = {}): PipelineRecord {
  const r = fromLogRecord({
    v: 1,
    provider: 'acme',
    stream: 'web',
    class: null,
    instance: 'i-1',
    host: 'h1',
    seq: seq++,
    ts: 1_700_000_000_000,
    source: 'fuse',
    data: Buffer.isBuffer(data) ? data : Buffer.from(data),
  });
  return Object.assign(r, over, over.seq !== undefined ? { id: `${over.instance ?? r.instance}:${over.seq}` } : {});
}

/** Collects what an agent emits, by port. */
export class Collector implements Outputs {
  readonly ports = new Map<string, PipelineRecord[]>();
  emit(port: string, record: PipelineRecord): void {
    let list = this.ports.get(port);
    if (!list) this.ports.set(port, (list = []));
    list.push(record);
  }
  on(port: string): PipelineRecord[] {
    return this.ports.get(port) ?? [];
  }
  all(): PipelineRecord[] {
    return [...this.ports.values()].flat();
  }
}

export class MemoryServices implements AgentServices {
  readonly archived: { record: PipelineRecord; graph: string; version: number }[] = [];
  readonly points: MetricPoint[] = [];
  readonly alarmEvents: AlarmEvent[] = [];
  readonly sent: { topic: string; key: string | null; value: Buffer }[] = [];
  flushes = 0;

  archive(_name: string) {
    return {
      append: (records: readonly PipelineRecord[], origin: { graph: string; version: number }) => {
        for (const record of records) this.archived.push({ record, ...origin });
      },
      flush: async () => {
        this.flushes++;
      },
    };
  }
  metrics = {
    write: (p: readonly MetricPoint[]) => void this.points.push(...p),
    flush: async () => {},
  };
  alarms = {
    publish: (e: readonly AlarmEvent[]) => void this.alarmEvents.push(...e),
    flush: async () => {},
  };
  topicProducer: TopicProducer = {
    send: async (topic, messages) => {
      for (const m of messages) this.sent.push({ topic, ...m });
    },
  };
}

export function makeContext(over: Partial<AgentContext> = {}): AgentContext {
  return { graph: 'g', version: 1, nodeId: 'n', run: 'v1-test', log: pino({ level: 'silent' }), services: new MemoryServices(), ...over };
}

/** Parses `config` with the agent's schema and builds its runtime. */
export async function build<C>(def: AgentDefinition<C>, config: unknown, ctx: AgentContext = makeContext()): Promise<{ runtime: AgentRuntime; config: C; ctx: AgentContext }> {
  const parsed = def.configSchema.parse(config);
  return { runtime: await def.create(parsed, ctx), config: parsed, ctx };
}

/** Runs one batch (and a tick) and returns what came out. */
export async function run(runtime: AgentRuntime, batch: PipelineRecord[], now = Date.now()): Promise<Collector> {
  const out = new Collector();
  await runtime.process(batch, out);
  await runtime.tick?.(now, out);
  return out;
}

/**
 * The contract every agent meets: a kebab-case type, a one-line description, a strict config
 * schema whose fields are all described, declared ports, and a runtime that emits only on those
 * ports, only well-formed records, and loses nothing on drain.
 */
export async function checkAgentCompliance<C>(def: AgentDefinition<C>, validConfig: unknown, sample: PipelineRecord[]): Promise<void> {
  expect(def.type).toMatch(/^[a-z][a-z0-9-]*$/);
  expect(def.description.length).toBeGreaterThan(10);
  expect(def.description).not.toContain('\n');

  const parsed = def.configSchema.safeParse(validConfig);
  expect(parsed.success, JSON.stringify(parsed.error?.issues)).toBe(true);
  const unknownKey = def.configSchema.safeParse({ ...(validConfig as object), definitelyNotAnOption: 1 });
  expect(unknownKey.success, 'unknown config keys must be rejected').toBe(false);

  // Every top-level config field carries a description (the docs and `graph agents` print them).
  const schema = def.configSchema as unknown as z.ZodType;
  const shape = objectShape(schema);
  expect(shape, 'config schema must be an object').toBeDefined();
  for (const [key, field] of Object.entries(shape ?? {})) {
    expect(describedAnywhere(field as z.ZodType), `config field "${key}" of ${def.type} has no description`).toBe(true);
  }

  const config = parsed.data as C;
  const ports = def.ports(config);
  if (!def.sink) expect(ports.length, 'a non-sink agent needs at least one output port').toBeGreaterThan(0);

  const ctx = makeContext({ nodeId: `compliance-${def.type}` });
  const runtime = await def.create(config, ctx);
  const out = new Collector();
  await runtime.process(sample.map((r) => ({ ...r, fields: { ...r.fields }, flags: [...r.flags] })), out);
  await runtime.tick?.(Date.now(), out);
  await runtime.drain?.(out);
  await runtime.flush?.();
  await runtime.close?.();
  for (const [port, records] of out.ports) {
    expect(ports, `${def.type} emitted on undeclared port "${port}"`).toContain(port);
    for (const r of records) {
      expect(typeof r.id).toBe('string');
      expect(Buffer.isBuffer(r.data)).toBe(true);
      expect(Array.isArray(r.flags)).toBe(true);
      expect(typeof r.fields).toBe('object');
    }
  }
}

function objectShape(schema: z.ZodType): Record<string, unknown> | undefined {
  let s: unknown = schema;
  for (let i = 0; i < 5 && s; i++) {
    const def = (s as { def?: { type?: string; shape?: Record<string, unknown>; innerType?: unknown; in?: unknown; schema?: unknown } }).def;
    if (!def) return undefined;
    if (def.type === 'object') return (s as { shape: Record<string, unknown> }).shape;
    s = def.innerType ?? def.in ?? def.schema;
  }
  return undefined;
}

function describedAnywhere(s: z.ZodType): boolean {
  let cur: unknown = s;
  for (let i = 0; i < 6 && cur; i++) {
    if ((cur as z.ZodType).description) return true;
    const def = (cur as { def?: { innerType?: unknown; in?: unknown; schema?: unknown } }).def;
    cur = def?.innerType ?? def?.in ?? def?.schema;
  }
  return false;
}
