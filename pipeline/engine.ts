/**
 * Runs one version of one graph (or one phase of it): hands batches to the agents in DAG order,
 * fans records out to every consumer of a port (copying, so branches never share mutable state),
 * then waits for every sink to make its records durable. The caller (a source: Kafka consumer or
 * journal reader) commits the batch's offsets only after `runBatch` resolved: that is the
 * "committed only after every sink acknowledged" contract of DESIGN.md.
 *
 * Sinks answer OK / RETRY / ERROR through `flush()`; retrying is the engine's job (Fluent Bit's
 * model): retriable errors are retried with backoff until they succeed or the runtime is stopped,
 * anything else fails the batch, so its offsets are never committed.
 */
import crypto from 'node:crypto';
import type { Logger } from 'pino';
import { errorMessage, LogfsError } from '../core/errors.js';
import { retry } from '../core/retry.js';
import type { AgentRuntime, AgentServices, Outputs } from './agent.js';
import { SOURCE } from './graph/graph-schema.js';
import type { GraphPlan, PlannedNode } from './graph/graph-validate.js';
import { cloneRecord, type PipelineRecord } from './record.js';

export const ENGINE_DEFAULTS = {
  /** Longest wait between two attempts of a failing sink flush. */
  flushRetryMaxMs: 5_000,
};

export const AGENT_ERROR_FLAG = 'agent_error';

export interface NodeStats {
  type: string;
  recordsIn: number;
  bytesIn: number;
  out: Record<string, number>;
  /** Records that left through a port nothing consumes (dropped on purpose: filter drop, sample rest). */
  unrouted: number;
  /** CPU time spent in the agent, microseconds. */
  cpuMicros: number;
  errors: number;
}

export interface GraphStats {
  graph: string;
  version: number;
  phase: string | null;
  batches: number;
  /** Records that arrived on an edge (or the source) that no node of this version takes. */
  unrouted: number;
  streams: Record<string, { records: number; bytes: number }>;
  nodes: Record<string, NodeStats>;
}

/** Records that cross into a later phase: the worker produces them to the phase topic. */
export interface PhaseBoundary {
  send(from: string, port: string, records: readonly PipelineRecord[]): void;
  flush(): Promise<void>;
}

export interface EdgeBatch {
  /** SOURCE, or the node (of an earlier phase) whose output these records are. */
  from: string;
  port: string;
  records: PipelineRecord[];
}

export interface GraphRuntimeOptions {
  version: number;
  services: AgentServices;
  log: Logger;
  /** Run only the nodes of this phase (records from earlier phases arrive as EdgeBatches). */
  phase?: string;
  boundary?: PhaseBoundary;
  /** Sees every record a node emits (graph test's dry run). */
  trace?: (node: string, port: string, record: PipelineRecord) => void;
}

/**
 * Who gets what of a record that one output (or the source) hands to several nodes. Agents that
 * only read records (AgentDefinition.readsOnly) share the object; so does the last of the others
 * in DAG order when it comes after every reader (the readers are done with the record by the time
 * it runs); every other consumer gets its own copy.
 */
interface FanOut {
  shared: RuntimeNode[];
  copies: RuntimeNode[];
}

function planFanOut(targets: readonly RuntimeNode[], order: ReadonlyMap<RuntimeNode, number>): FanOut {
  const readers = targets.filter((t) => t.plan.definition.readsOnly === true);
  const writers = targets.filter((t) => t.plan.definition.readsOnly !== true);
  const lastReader = Math.max(-1, ...readers.map((t) => order.get(t)!));
  const last = writers.reduce<RuntimeNode | undefined>((a, t) => (a === undefined || order.get(t)! > order.get(a)! ? t : a), undefined);
  if (last !== undefined && order.get(last)! > lastReader) return { shared: [...readers, last], copies: writers.filter((t) => t !== last) };
  if (readers.length > 0) return { shared: readers, copies: writers };
  return { shared: [], copies: writers };
}

/** Hands `record` to every node of `f`. */
function deliver(f: FanOut, record: PipelineRecord): void {
  for (let i = 0; i < f.copies.length; i++) f.copies[i]!.pending.push(cloneRecord(record));
  for (let i = 0; i < f.shared.length; i++) f.shared[i]!.pending.push(record);
}

class RuntimeNode implements Outputs {
  pending: PipelineRecord[] = [];
  readonly targets = new Map<string, RuntimeNode[]>();
  readonly fanOut = new Map<string, FanOut>();
  readonly crossing = new Set<string>(); // ports with consumers in later phases
  readonly stats: NodeStats;
  agent!: AgentRuntime;

  constructor(
    readonly plan: PlannedNode,
    private readonly boundary: PhaseBoundary | undefined,
    private readonly trace: GraphRuntimeOptions['trace'],
  ) {
    this.stats = { type: plan.type, recordsIn: 0, bytesIn: 0, out: {}, unrouted: 0, cpuMicros: 0, errors: 0 };
  }

  emit(port: string, record: PipelineRecord): void {
    const targets = this.targets.get(port);
    this.stats.out[port] = (this.stats.out[port] ?? 0) + 1;
    this.trace?.(this.plan.id, port, record);
    const crossing = this.crossing.has(port);
    if (!targets || targets.length === 0) {
      if (crossing) this.boundary!.send(this.plan.id, port, [record]);
      else if (!this.plan.ports.includes(port)) throw new LogfsError('LOGFS_E_INTERNAL', `agent ${this.plan.id} (${this.plan.type}) emitted on undeclared port "${port}"`);
      else this.stats.unrouted++;
      return;
    }
    // The boundary encodes at once, so sharing the object with a local consumer is safe.
    if (crossing) this.boundary!.send(this.plan.id, port, [record]);
    if (targets.length === 1) targets[0]!.pending.push(record);
    else deliver(this.fanOut.get(port)!, record);
  }
}

export class GraphRuntime {
  private readonly nodes: RuntimeNode[];
  private readonly byId: Map<string, RuntimeNode>;
  private readonly entries: RuntimeNode[] = []; // nodes taking SOURCE
  private readonly entryFanOut: FanOut;
  /** Per node, the wall time it took in the current pass (pass). */
  private readonly took: number[];
  private readonly sinks: RuntimeNode[];
  private readonly statsValue: GraphStats;
  private chain: Promise<unknown> = Promise.resolve();
  private readonly abort = new AbortController();
  private closed = false;
  /** Records that arrived for no node of this runtime (see enter). */
  private unrouted = 0;

  private constructor(
    readonly plan: GraphPlan,
    private readonly opts: GraphRuntimeOptions,
  ) {
    const mine = opts.phase === undefined ? plan.nodes : plan.nodes.filter((n) => n.phase === opts.phase);
    this.nodes = mine.map((n) => new RuntimeNode(n, opts.boundary, opts.trace));
    this.byId = new Map(this.nodes.map((n) => [n.plan.id, n]));
    const phaseOf = new Map(plan.nodes.map((n) => [n.id, n.phase]));
    for (const node of this.nodes) {
      for (const e of node.plan.inputs) {
        if (e.from === SOURCE) {
          if (!this.entries.includes(node)) this.entries.push(node);
          continue;
        }
        const from = this.byId.get(e.from);
        if (!from) continue; // an earlier phase: arrives as an EdgeBatch
        if (!from.targets.has(e.port)) from.targets.set(e.port, []);
        from.targets.get(e.port)!.push(node);
      }
    }
    this.took = this.nodes.map(() => 0);
    const order = new Map(this.nodes.map((n, i) => [n, i]));
    for (const node of this.nodes) for (const [port, targets] of node.targets) node.fanOut.set(port, planFanOut(targets, order));
    this.entryFanOut = planFanOut(this.entries, order);
    if (opts.phase !== undefined) {
      // Ports of my nodes that feed nodes of later phases cross the boundary.
      for (const n of plan.nodes) {
        if (phaseOf.get(n.id) === opts.phase) continue;
        for (const e of n.inputs) this.byId.get(e.from)?.crossing.add(e.port);
      }
      if (this.nodes.some((n) => n.crossing.size > 0) && !opts.boundary) {
        throw new LogfsError('LOGFS_E_INTERNAL', `phase ${opts.phase} of graph ${plan.name} feeds later phases but has no boundary`);
      }
    }
    this.sinks = this.nodes.filter((n) => n.plan.definition.sink);
    this.statsValue = {
      graph: plan.name,
      version: opts.version,
      phase: opts.phase ?? null,
      batches: 0,
      unrouted: 0,
      streams: {},
      nodes: Object.fromEntries(this.nodes.map((n) => [n.plan.id, n.stats])),
    };
  }

  /**
   * Builds every agent of the plan. If one fails (a custom agent rejected on its samples, a relay
   * config that cannot work here) the ones already built are closed and the error is thrown: the
   * old version keeps running (rollback, as in Vector's reload).
   */
  static async create(plan: GraphPlan, opts: GraphRuntimeOptions): Promise<GraphRuntime> {
    const rt = new GraphRuntime(plan, opts);
    const run = `v${opts.version}-${crypto.randomBytes(4).toString('hex')}`;
    const built: RuntimeNode[] = [];
    try {
      for (const node of rt.nodes) {
        node.agent = await node.plan.definition.create(node.plan.config, {
          graph: plan.name,
          version: opts.version,
          nodeId: node.plan.id,
          run,
          log: opts.log.child({ node: node.plan.id }),
          services: opts.services,
        });
        built.push(node);
      }
    } catch (err) {
      await Promise.allSettled(built.map((n) => n.agent.close?.()));
      throw new LogfsError('LOGFS_E_AGENT', `graph ${plan.name}: cannot start: ${errorMessage(err)}`, { cause: err });
    }
    return rt;
  }

  get version(): number {
    return this.opts.version;
  }

  stats(): GraphStats {
    this.statsValue.unrouted = this.unrouted;
    return this.statsValue;
  }

  /** Runs records through the graph and resolves once every sink holds them durably. */
  runBatch(inputs: EdgeBatch[], now = Date.now()): Promise<void> {
    return this.runBatchInParts([inputs], now);
  }

  /**
   * runBatch for one batch that comes in parts (taken from `parts` one at a time): each part goes
   * through the agents before the next is taken, and the sinks are flushed once, after the last.
   * A source that decodes a part only when it is taken never holds a large batch as records all at
   * once: a record that lives through a young-generation collection is copied by it, and those of a
   * Kafka fetch (17,000 parsed records) lived through several. Garbage collection was 13% of a
   * parse → filter → metric → archive graph's CPU time, a quarter less in parts (issue 3).
   */
  runBatchInParts(parts: Iterable<EdgeBatch[]>, now = Date.now()): Promise<void> {
    return this.exclusive(async () => {
      for (const inputs of parts) {
        for (const input of inputs) this.enter(input);
        await this.pass(now, 'process');
      }
      this.statsValue.batches++;
      await this.flushSinks();
    });
  }

  /** Lets windowed agents close what is due when no records arrive. */
  tick(now = Date.now()): Promise<void> {
    return this.exclusive(async () => {
      await this.pass(now, 'tick');
      await this.flushSinks();
    });
  }

  /** Stabilise: every agent emits what it still holds open (windows), and the sinks store it. */
  drain(now = Date.now()): Promise<void> {
    return this.exclusive(async () => {
      await this.pass(now, 'drain');
      await this.flushSinks();
    });
  }

  /** Stops retrying flushes and closes the agents; call after drain (or on a failure). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.abort.abort(new LogfsError('LOGFS_E_SHUTTING_DOWN', `graph ${this.plan.name} v${this.opts.version} is stopping`));
    await this.chain.catch(() => {});
    const results = await Promise.allSettled(this.nodes.map((n) => n.agent?.close?.()));
    for (const r of results) if (r.status === 'rejected') this.opts.log.warn({ err: r.reason }, 'agent close failed');
  }

  private enter(input: EdgeBatch): void {
    if (input.from === SOURCE) {
      for (const r of input.records) {
        const s = (this.statsValue.streams[r.stream] ??= { records: 0, bytes: 0 });
        s.records++;
        s.bytes += r.data.length;
      }
      if (this.entries.length === 0) this.unrouted += input.records.length;
      else if (this.entries.length === 1) for (const r of input.records) this.entries[0]!.pending.push(r);
      else for (const r of input.records) deliver(this.entryFanOut, r);
      return;
    }
    const takers = this.nodes.filter((node) => node.plan.inputs.some((e) => e.from === input.from && e.port === input.port));
    if (takers.length === 0) {
      // A phase topic holding records for an edge this version no longer has (a renamed node).
      this.unrouted += input.records.length;
      this.opts.log.error({ from: input.from, port: input.port, records: input.records.length }, 'records for an edge this graph version does not have; they are counted and not processed');
      return;
    }
    const fanOut = planFanOut(takers, new Map(this.nodes.map((n, i) => [n, i])));
    for (const r of input.records) deliver(fanOut, r);
  }

  /** One walk over the nodes in DAG order; what a node emits is processed by later nodes in the same walk. */
  private async pass(now: number, mode: 'process' | 'tick' | 'drain'): Promise<void> {
    // The CPU time of the pass, shared out by the time each node took: process.cpuUsage() is a
    // system call that adds up every thread, and one per node and step was 2% of a graph's CPU.
    const cpuStart = process.cpuUsage();
    const wallStart = performance.now();
    const took = this.took;
    try {
      for (let i = 0; i < this.nodes.length; i++) {
        const node = this.nodes[i]!;
        const t0 = performance.now();
        const batch = node.pending;
        if (batch.length > 0) {
          node.pending = [];
          node.stats.recordsIn += batch.length;
          for (const r of batch) node.stats.bytesIn += r.data.length;
          await this.processSafely(node, batch);
        }
        if (node.agent.tick) await node.agent.tick(now, node);
        if (mode === 'drain' && node.agent.drain) await node.agent.drain(node);
        took[i] = performance.now() - t0;
      }
    } finally {
      const cpu = process.cpuUsage(cpuStart);
      const wall = performance.now() - wallStart;
      const micros = cpu.user + cpu.system;
      for (let i = 0; i < this.nodes.length; i++) {
        if (wall > 0) this.nodes[i]!.stats.cpuMicros += (micros * took[i]!) / wall;
        took[i] = 0;
      }
    }
  }

  /**
   * A built-in agent that throws has met input it does not handle (a bug, but the records must not
   * be lost nor stop the graph): the batch is retried record by record, and each record that still
   * fails leaves through the default port flagged `agent_error`, with the message in a field.
   * A sink has no port to send them to, so its failure fails the batch (nothing is committed).
   */
  private async processSafely(node: RuntimeNode, batch: PipelineRecord[]): Promise<void> {
    // Where each consumer's input stood, so that what the failed call emitted can be taken back.
    const marks = [...node.targets.values()].flat().map((t) => [t, t.pending.length] as const);
    try {
      await node.agent.process(batch, node);
      return;
    } catch (err) {
      if (err instanceof LogfsError && err.code === 'LOGFS_E_INTERNAL') throw err;
      const port = node.plan.ports[0];
      if (port === undefined) {
        throw new LogfsError('LOGFS_E_AGENT', `node ${node.plan.id} (${node.plan.type}) failed: ${errorMessage(err)}`, { cause: err, retriable: true });
      }
      for (const [t, length] of marks) t.pending.length = length;
      this.opts.log.error({ err, node: node.plan.id }, 'agent threw on a batch; retrying its records one at a time');
      for (const r of batch) {
        try {
          await node.agent.process([r], node);
        } catch (e) {
          node.stats.errors++;
          // An agent that only reads may share the record with other nodes (FanOut): flag a copy.
          const failed = node.plan.definition.readsOnly === true ? cloneRecord(r) : r;
          if (!failed.flags.includes(AGENT_ERROR_FLAG)) failed.flags.push(AGENT_ERROR_FLAG);
          failed.fields._agent_error = `${node.plan.id}: ${errorMessage(e)}`;
          node.emit(port, failed);
        }
      }
    }
  }

  private async flushSinks(): Promise<void> {
    const flushes: Promise<void>[] = this.sinks
      .filter((n) => n.agent.flush)
      .map((n) =>
        retry(() => n.agent.flush!(), {
          retries: Infinity,
          maxMs: ENGINE_DEFAULTS.flushRetryMaxMs,
          signal: this.abort.signal,
          onRetry: (err, attempt, delayMs) => {
            n.stats.errors++;
            this.opts.log.warn({ err, node: n.plan.id, attempt, delayMs }, 'sink not ready; retrying (offsets stay uncommitted meanwhile)');
          },
        }).catch((err: unknown) => {
          throw new LogfsError('LOGFS_E_AGENT', `sink ${n.plan.id} (${n.plan.type}) failed: ${errorMessage(err)}`, { cause: err });
        }),
      );
    const boundary = this.opts.boundary;
    if (boundary) {
      flushes.push(
        retry(() => boundary.flush(), {
          retries: Infinity,
          maxMs: ENGINE_DEFAULTS.flushRetryMaxMs,
          signal: this.abort.signal,
          onRetry: (err, attempt, delayMs) => this.opts.log.warn({ err, attempt, delayMs }, 'phase topic not reachable; retrying (offsets stay uncommitted meanwhile)'),
        }),
      );
    }
    await Promise.all(flushes);
  }

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new LogfsError('LOGFS_E_SHUTTING_DOWN', `graph ${this.plan.name} v${this.opts.version} is closed`));
    const run = this.chain.then(fn, fn);
    this.chain = run.catch(() => {});
    return run;
  }
}
