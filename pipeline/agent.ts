/**
 * The agent contract. Every agent under pipeline/agents/ exports one `AgentDefinition`: its type
 * name, a one-line description, a strict zod config schema (unknown keys rejected, every field
 * described), its output ports, and a factory that builds the runtime object from a parsed config.
 *
 * The engine (pipeline/engine.ts) hands each node whole batches in DAG order (a Kafka source's
 * batch in parts of about a thousand records). Sinks (archive, relay, the metric store, the alarm
 * log) buffer in `process` and make the records durable in `flush`; the engine commits a batch's
 * source offsets only after every sink's flush resolved.
 * Like Fluent Bit's outputs, a sink answers OK (resolve), RETRY (reject with a retriable
 * LogfsError) or ERROR (reject otherwise); the engine owns the retrying.
 */
import type { Logger } from 'pino';
import type { z } from 'zod';
import type { PipelineRecord } from './record.js';
import type { KeyLookup } from './record-keys.js';

/** Where an agent sends records: `emit('out', r)`; the port must be one the definition declares. */
export interface Outputs {
  emit(port: string, record: PipelineRecord): void;
}

/** Backends that sinks write to; the worker provides them (Kafka or embedded flavour). */
export interface AgentServices {
  /** The archive store named `name` (see pipeline/archive/). */
  archive(name: string): ArchiveWriter;
  /** Metric points go here (and, with Kafka, to the metrics topic). */
  metrics: MetricSink;
  /** Alarms and resolutions go here (the alarms topic, or a log file in embedded mode). */
  alarms: AlarmSink;
  /** Produces raw messages to a Kafka topic (relay); undefined in embedded mode. */
  topicProducer?: TopicProducer;
  /** Stream keys: sinks keep records of encrypted streams sealed (docs/encryption.md). */
  keys?: KeyLookup;
  /** Replaces the TCP connection of a relay (graph test's dry run keeps what would be sent). */
  tcpRelay?(target: string): ArchiveWriter & { close(): Promise<void> };
}

export interface ArchiveWriter {
  /** Buffers records; `graph` and `version` say which graph version processed them. */
  append(records: readonly PipelineRecord[], origin: { graph: string; version: number }): void;
  /** Resolves once everything appended so far is durable. */
  flush(): Promise<void>;
}

export interface MetricPoint {
  /** Metric name: `<graph>.<node>.<field or count>`. */
  name: string;
  /** Bucket start, ms since the epoch. */
  bucketStart: number;
  bucketMs: number;
  /** Group key values, e.g. { class: 'error' }. */
  group: Record<string, string>;
  values: Record<string, number>;
  /**
   * The runtime that computed it (AgentContext.run). A run rewrites its own point of a bucket as
   * the bucket fills; points of different runs (versions, workers, restarts) add up.
   */
  run?: string;
}

export interface MetricSink {
  write(points: readonly MetricPoint[]): void;
  flush(): Promise<void>;
}

export interface AlarmEvent {
  /** Stable ID of the alarm rule instance: `<graph>.<node>.<rule>[.<instance>]`. */
  alarm: string;
  state: 'firing' | 'resolved';
  condition: string;
  value: number | string | null;
  instance: string | null;
  /** Event time (ms since epoch) at which the state changed. */
  time: number;
  sampleRecordIds: string[];
  graph: string;
  node: string;
}

export interface AlarmSink {
  publish(events: readonly AlarmEvent[]): void;
  flush(): Promise<void>;
}

export interface TopicProducer {
  send(topic: string, messages: readonly { key: string | null; value: Buffer }[]): Promise<void>;
}

export interface AgentContext {
  graph: string;
  version: number;
  nodeId: string;
  /**
   * Identifies this runtime of the graph (version and a random part). IDs of derived records carry
   * it, so that an aggregate of one run never takes the ID, and the archive place, of another's.
   */
  run: string;
  log: Logger;
  services: AgentServices;
}

export interface AgentRuntime {
  /** Processes one batch, emitting results through `out`. May be async (custom agents). */
  process(batch: PipelineRecord[], out: Outputs): void | Promise<void>;
  /**
   * Called after every batch (or part of one) and on an idle timer with the current time: windowed
   * agents emit what closed (event time passed the window end plus lateness, or the stream went
   * idle).
   */
  tick?(now: number, out: Outputs): void | Promise<void>;
  /** Sinks: resolves when every record processed so far is durable. */
  flush?(): Promise<void>;
  /** Shutdown or reconfiguration: emit everything still open (windows), nothing is dropped. */
  drain?(out: Outputs): void | Promise<void>;
  close?(): Promise<void>;
}

export interface AgentDefinition<C = unknown> {
  /** Type name used in graph definitions. */
  type: string;
  /** One line for `logfsctl graph agents` and the docs. */
  description: string;
  /** Strict schema of `config`; defaults filled by parsing. */
  configSchema: z.ZodType<C>;
  /** Output ports for this config; the first is the default one (`inputs: [id]`). Empty for pure sinks. */
  ports(config: C): string[];
  /**
   * True when the agent has an effect of its own (archive, relay, metric, alarm, discard), so its
   * outputs may go unused; any other node whose default port feeds nothing is a validation error,
   * because its records would vanish.
   */
  sink: boolean;
  /**
   * True when the agent neither changes the records it is given nor holds on to them (or emits
   * them) once process() returns: the engine then lets it share a record with the other consumers
   * of the same output instead of copying it (pipeline/engine.ts, FanOut).
   */
  readsOnly?: boolean;
  create(config: C, ctx: AgentContext): AgentRuntime | Promise<AgentRuntime>;
}

/** Keeps the config type of each definition checked while the registry holds them as one list. */
export function defineAgent<C>(def: AgentDefinition<C>): AgentDefinition<C> {
  return def;
}
