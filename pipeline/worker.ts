/**
 * A pipeline worker: runs the graphs of the provisioning store (all of them, or those it is told
 * to) and follows their changes live, by the seed's protocol. For each new version it initialises
 * the new runtime first (a config that cannot start leaves the old version running), then
 * stabilises the old one (stop fetching, finish the batch in flight and commit it, flush open
 * windows into the sinks), then activates the new one on the same consumer group / journal cursor,
 * so every record is processed by exactly one version and none is lost.
 */
import os from 'node:os';
import crypto from 'node:crypto';
import type { Admin, Kafka } from 'kafkajs';
import type { Logger } from 'pino';
import { errorMessage, LogfsError } from '../core/errors.js';
import { Backoff, isRetriable, sleep } from '../core/retry.js';
import { memberId, type AgentUsage, type Fleet, type FleetReporter } from '../control/fleet/index.js';
import type { ProvisioningState, ProvisioningStore } from '../control/store.js';
import { topicForStream } from '../control/stream-name.js';
import type { Journal } from '../gateway/index.js';
import { StoreKeyring } from '../gateway/record-crypto.js';
import type { AgentServices } from './agent.js';
import { GraphRuntime, type GraphStats } from './engine.js';
import { addAgentUsage, workerMemberState } from './fleet-member.js';
import { DEFAULT_GRAPH, defaultGraphDefinition, planGraph, unassignedStreams } from './graph/graph-store.js';
import type { GraphPlan } from './graph/graph-validate.js';
import { journalConsumerPrefix, JournalSource } from './journal-source.js';
import { KafkaSource, type TopicInput } from './kafka-source.js';
import { decodePhaseBatch, KafkaPhaseBoundary, phaseTopic } from './phase-topic.js';
import type { Source } from './source.js';

export const WORKER_DEFAULTS = {
  /** Consumer groups are `<topicPrefix>.graph.<name>`. */
  groupInfix: 'graph',
  /** Journal consumer that gates deletion in embedded mode: the slowest graph's position. */
  journalConsumer: 'pipeline',
  /** How long a failed version may try to flush its open windows before it is closed. */
  failedDrainMs: 5_000,
  /** How long stabilising may wait for the batch in flight, and then for the windows' flush. */
  stabiliseTimeoutMs: 30_000,
};

/** The services plus what the worker needs to manage them. */
export interface PipelineServices extends AgentServices {
  /** Re-reads state other workers wrote (archive de-duplication marks) after a rebalance. */
  refresh(): Promise<void>;
  close(): Promise<void>;
}

export type WorkerBus =
  | { kind: 'kafka'; kafka: Kafka; topicPrefix: string; replicationFactor?: number }
  | { kind: 'journal'; journal: Journal; topicPrefix: string };

export interface PipelineWorkerOptions {
  store: ProvisioningStore;
  bus: WorkerBus;
  services: PipelineServices;
  log: Logger;
  /** Run only these graphs (default: all, including the default graph). */
  graphs?: string[];
  workerId?: string;
  /** Report to the fleet (control/fleet): graphs, versions, lag, agent counters, applied store version. */
  fleet?: Fleet;
  /** Member id in the fleet; default `worker-<host>-<pid>`. */
  fleetMemberId?: string;
}

export interface GraphStatus {
  name: string;
  version: number;
  state: 'starting' | 'running' | 'failed' | 'stopped';
  error: string | null;
  streams: string[];
  /** Records (Kafka, as of each partition's last batch) or journal entries not yet processed; null when unknown. */
  lag: number | null;
  stats: GraphStats | null;
}

export class PipelineWorker {
  readonly workerId: string;
  private readonly runners = new Map<string, GraphRunner>();
  private chain: Promise<void> = Promise.resolve();
  private unwatch: (() => void) | undefined;
  private admin: Admin | undefined;
  private stopped = false;
  private reporter: FleetReporter | undefined;
  /** Agent use of graph versions no longer running, keyed "graph/node" (the fleet's cost figure). */
  private readonly retiredUsage: Record<string, AgentUsage> = {};
  /** Stream keys: sources open records of encrypted streams with them (docs/encryption.md). */
  private readonly keyring: StoreKeyring;

  constructor(private readonly opts: PipelineWorkerOptions) {
    this.keyring = new StoreKeyring(opts.store);
    this.workerId = opts.workerId ?? `${os.hostname()}-${process.pid}-${crypto.randomBytes(3).toString('hex')}`;
  }

  async start(): Promise<void> {
    this.reporter = this.opts.fleet?.reporter({
      id: this.opts.fleetMemberId ?? memberId('worker', os.hostname(), process.pid),
      kind: 'worker',
      collect: () => workerMemberState(this.status(), this.agentUsage()),
    });
    await this.reconcile(this.opts.store.snapshot());
    this.reporter?.start();
    this.unwatch = this.opts.store.watch((s) => void this.reconcile(s));
    this.opts.log.info({ workerId: this.workerId, bus: this.opts.bus.kind }, 'pipeline worker started');
  }

  /** Stabilises every graph (commit, flush windows) and stops. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.unwatch?.();
    // Leaving: jobs stop waiting for this worker to apply versions.
    await this.reporter?.stop();
    await this.chain;
    await Promise.all([...this.runners.values()].map((r) => r.stop()));
    this.ackJournal();
    await this.opts.services.close();
    await this.admin?.disconnect().catch(() => {});
  }

  status(): GraphStatus[] {
    return [...this.runners.values()].map((r) => r.status());
  }

  /** Resolves when every change seen so far has been applied (tests). */
  settled(): Promise<void> {
    return this.chain;
  }

  /** Agent use since the worker started, every graph version included, keyed "graph/node". */
  agentUsage(): Record<string, AgentUsage> {
    const usage = structuredClone(this.retiredUsage);
    for (const r of this.runners.values()) r.addUsage(usage);
    return usage;
  }

  private reconcile(state: ProvisioningState): Promise<void> {
    // The fleet learns the version once its graphs run (or were rejected, which their state shows).
    const run = this.chain.then(() => this.reconcileNow(state)).then(() => {
      if (!this.stopped) this.reporter?.noteStoreVersion(state.version);
    });
    this.chain = run.catch((err: unknown) => this.opts.log.error({ err }, 'pipeline: reconciling graphs failed'));
    return this.chain;
  }

  private async reconcileNow(state: ProvisioningState): Promise<void> {
    if (this.stopped) return;
    const wanted = new Map<string, { version: number; definition: unknown }>();
    for (const g of Object.values(state.graphs)) wanted.set(g.name, { version: g.version, definition: g.definition });
    const rest = unassignedStreams(state);
    if (rest.length > 0) wanted.set(DEFAULT_GRAPH, { version: state.version, definition: defaultGraphDefinition(rest) });
    if (this.opts.graphs) for (const name of [...wanted.keys()]) if (!this.opts.graphs.includes(name)) wanted.delete(name);

    for (const [name, runner] of this.runners) {
      if (!wanted.has(name)) {
        await runner.stop();
        runner.addUsage(this.retiredUsage);
        this.runners.delete(name);
      }
    }
    // Every graph's streams hold their journal entries from now on, before any graph is (re)started:
    // a graph starting first must not let the journal drop what a later one has not read.
    const planned: { name: string; want: { version: number }; plan: GraphPlan; topics: TopicInput[] }[] = [];
    for (const [name, want] of wanted) {
      let plan: GraphPlan;
      try {
        // Streams deleted since the graph was committed are left out rather than failing the graph.
        plan = planGraph(want.definition);
      } catch (err) {
        this.opts.log.error({ graph: name, err: errorMessage(err) }, 'pipeline: graph in the store is invalid; keeping what runs');
        continue;
      }
      const topics = plan.streams.flatMap((s): TopicInput[] => {
        const spec = state.streams[s];
        if (!spec) {
          this.opts.log.warn({ graph: name, stream: s }, 'pipeline: graph takes a stream that is not provisioned; skipping it');
          return [];
        }
        return [{ stream: s, provider: spec.provider, topic: topicForStream(spec.provider, s, this.opts.bus.topicPrefix) }];
      });
      let runner = this.runners.get(name);
      if (!runner) {
        runner = new GraphRunner(name, this);
        this.runners.set(name, runner);
      }
      runner.expect(topics);
      planned.push({ name, want, plan, topics });
    }
    for (const { name, want, plan, topics } of planned) {
      const runner = this.runners.get(name)!;
      // The default graph's definition changes only with its streams; other store changes must not restart it.
      const key = `${name === DEFAULT_GRAPH ? 'default' : want.version}|${JSON.stringify(topics)}`;
      if (runner.key === key) continue;
      await runner.apply(plan, want.version, topics, key);
    }
  }

  // ---- what GraphRunner needs --------------------------------------------------------------------

  get log(): Logger {
    return this.opts.log;
  }

  get services(): PipelineServices {
    return this.opts.services;
  }

  /**
   * Builds a version's runtimes and their sources (not started): one for the whole graph, or with
   * phases on Kafka one per phase, each phase after the first reading its intermediate topic with
   * its own consumer group. If one runtime cannot be built, the others are closed and it throws.
   */
  async makeParts(graph: string, plan: GraphPlan, version: number, topics: TopicInput[], log: Logger): Promise<Part[]> {
    const bus = this.opts.bus;
    const keys = (): ReturnType<StoreKeyring['current']> => this.keyring.current();
    // Stream topics exist before the consumer subscribes (a stream nobody has written to yet has none).
    if (bus.kind === 'kafka') await this.ensureTopics(topics, { partitions: (t) => this.partitionsOf(t.stream) });
    if (bus.kind === 'journal' || plan.phases.length === 1) {
      const runtime = await GraphRuntime.create(plan, { version, services: this.opts.services, log });
      const source: Source =
        bus.kind === 'journal'
          ? new JournalSource({ journal: bus.journal, consumerPrefix: journalConsumerPrefix(graph), topics, log, keys, onAck: () => this.ackJournal() })
          : new KafkaSource({ kafka: bus.kafka, groupId: `${bus.topicPrefix}.${WORKER_DEFAULTS.groupInfix}.${graph}`, topics, log, keys, onAssigned: () => this.opts.services.refresh() });
      return [{ runtime, source }];
    }
    const producer = this.opts.services.topicProducer;
    if (!producer) throw new LogfsError('LOGFS_E_INTERNAL', 'phases on Kafka need the pipeline topic producer');
    // Phase topics exist before their consumers subscribe; as many partitions as the widest stream.
    const width = Math.max(1, ...topics.map((t) => this.partitionsOf(t.stream)));
    await this.ensureTopics(
      plan.phases.slice(1).map((ph) => ({ topic: phaseTopic(bus.topicPrefix, graph, ph), stream: '', provider: '' })),
      { partitions: () => width },
    );
    const parts: Part[] = [];
    try {
      for (const [i, phase] of plan.phases.entries()) {
        const runtime = await GraphRuntime.create(plan, { version, services: this.opts.services, log: log.child({ phase }), phase, boundary: new KafkaPhaseBoundary(plan, phase, bus.topicPrefix, producer, keys) });
        const group = `${bus.topicPrefix}.${WORKER_DEFAULTS.groupInfix}.${graph}`;
        const phaseIn: TopicInput = { topic: phaseTopic(bus.topicPrefix, graph, phase), stream: `${graph}/${phase}`, provider: 'pipeline' };
        const source =
          i === 0
            ? new KafkaSource({ kafka: bus.kafka, groupId: group, topics, log, keys, onAssigned: () => this.opts.services.refresh() })
            : new KafkaSource({ kafka: bus.kafka, groupId: `${group}.${phase}`, topics: [phaseIn], log: log.child({ phase }), keys, decode: decodePhaseBatch, onAssigned: () => this.opts.services.refresh() });
        parts.push({ runtime, source });
      }
    } catch (err) {
      await Promise.allSettled(parts.map((p) => p.runtime.close()));
      throw err;
    }
    return parts;
  }

  /** Embedded mode: the journal may drop an entry once every running graph has passed it. */
  ackJournal(): void {
    const bus = this.opts.bus;
    if (bus.kind !== 'journal') return;
    const cursors = [...this.runners.values()].flatMap((r) => r.journalConsumers()).map((c) => bus.journal.cursor(c));
    const last = bus.journal.nextLsn - 1;
    const min = cursors.length === 0 ? last : Math.min(...cursors);
    if (min > bus.journal.cursor(WORKER_DEFAULTS.journalConsumer) && min <= last) bus.journal.ack(WORKER_DEFAULTS.journalConsumer, min);
  }

  private partitionsOf(stream: string): number {
    return this.opts.store.snapshot().streams[stream]?.partitions ?? 1;
  }

  private async ensureTopics(topics: TopicInput[], sizes: { partitions(t: TopicInput): number }): Promise<void> {
    const bus = this.opts.bus;
    if (bus.kind !== 'kafka' || topics.length === 0) return;
    if (!this.admin) {
      this.admin = bus.kafka.admin();
      await this.admin.connect();
    }
    const existing = new Set(await this.admin.listTopics());
    const missing = topics.filter((t) => !existing.has(t.topic));
    if (missing.length === 0) return;
    await this.admin.createTopics({
      waitForLeaders: true,
      topics: missing.map((t) => ({ topic: t.topic, numPartitions: sizes.partitions(t), replicationFactor: bus.replicationFactor ?? 1 })),
    });
  }
}

/** A runtime and the source feeding it: the whole graph, or one phase of it. */
export interface Part {
  runtime: GraphRuntime;
  source: Source;
}

interface Active {
  parts: Part[];
  /** Being stabilised: a batch abandoned on purpose is not a failure to restart from. */
  stopping?: boolean;
}

/** The stats of a version's parts as one: phases hold different nodes; streams enter at the first. */
function mergeStats(parts: Part[]): GraphStats | null {
  if (parts.length === 0) return null;
  const all = parts.map((p) => p.runtime.stats());
  const first = all[0]!;
  return { ...first, phase: null, batches: all.reduce((n, s) => n + s.batches, 0), unrouted: all.reduce((n, s) => n + s.unrouted, 0), nodes: Object.assign({}, ...all.map((s) => s.nodes)) };
}

/** One graph in one worker: its active version, and the switch to the next. */
class GraphRunner {
  key: string | undefined;
  private active: Active | undefined;
  private plan: GraphPlan | undefined;
  private version = 0;
  private topics: TopicInput[] = [];
  private expected: TopicInput[] = [];
  private state: GraphStatus['state'] = 'starting';
  private error: string | null = null;
  private restartTimer: NodeJS.Timeout | undefined;
  private readonly backoff = new Backoff({ initialMs: 500, maxMs: 30_000 });
  private work: Promise<void> = Promise.resolve();
  private readonly retired: Record<string, AgentUsage> = {};
  /** Runtimes activated and not yet retired, whatever `active` says meanwhile. */
  private readonly running = new Set<GraphRuntime>();

  constructor(
    readonly name: string,
    private readonly worker: PipelineWorker,
  ) {}

  /**
   * Journal cursors of the graph's streams (embedded mode), running or failed: the journal keeps
   * what they have not passed, so a failed graph holds entries (and at the bound, writers) back.
   */
  journalConsumers(): string[] {
    const topics = new Set([...this.topics, ...this.expected].map((t) => t.topic));
    return [...topics].map((t) => journalConsumerPrefix(this.name) + t);
  }

  /** The streams the version about to be applied takes: their entries are held from now on. */
  expect(topics: TopicInput[]): void {
    this.expected = topics;
  }

  status(): GraphStatus {
    return { name: this.name, version: this.version, state: this.state, error: this.error, streams: this.topics.map((t) => t.stream), lag: this.lag(), stats: this.active ? mergeStats(this.active.parts) : null };
  }

  /** The first phase's: what later phases have not read is in topics of their own. */
  private lag(): number | null {
    return this.active?.parts[0]?.source.lag?.() ?? null;
  }

  /** Adds this graph's agent use (versions retired and the running one) into `into`, keyed "graph/node". */
  addUsage(into: Record<string, AgentUsage>): void {
    for (const [k, u] of Object.entries(this.retired)) {
      const t = (into[k] ??= { records: 0, cpuMs: 0 });
      t.records += u.records;
      t.cpuMs += u.cpuMs;
    }
    for (const runtime of this.running) addAgentUsage(into, this.name, runtime.stats());
  }

  /** A version's runtime closed for good: its counters move to the graph's retired use (counted once, never dropped). */
  private retire(runtime: GraphRuntime): void {
    if (!this.running.delete(runtime)) return;
    addAgentUsage(this.retired, this.name, runtime.stats());
  }

  apply(plan: GraphPlan, version: number, topics: TopicInput[], key: string): Promise<void> {
    this.key = key;
    clearTimeout(this.restartTimer);
    return this.serial(() => this.switchTo(plan, version, topics));
  }

  private async switchTo(plan: GraphPlan, version: number, topics: TopicInput[]): Promise<void> {
    const log = this.worker.log.child({ graph: this.name, version });
    // 1. Initialise the new version; if it cannot start, the old one keeps running.
    let parts: Part[];
    try {
      parts = await this.worker.makeParts(this.name, plan, version, topics, log);
    } catch (err) {
      // Its streams' journal cursors keep holding their entries (expect()) until a version runs.
      if (!this.active) this.state = 'failed';
      if (isRetriable(err)) {
        // Kafka unreachable, say: try the same version again later.
        this.error = `version ${version} not started yet: ${errorMessage(err)}`;
        log.warn({ err: errorMessage(err) }, 'pipeline: cannot start the graph version now; retrying');
        this.schedule(() => this.switchTo(plan, version, topics));
      } else {
        this.error = `version ${version} rejected: ${errorMessage(err)}`;
        log.error({ err: errorMessage(err) }, 'pipeline: new graph version cannot start; the previous version keeps running');
        // The previous version may itself be down (failed, waiting to restart): bring it back.
        if (!this.active && this.plan) this.scheduleRestart();
      }
      return;
    }
    // 2. Stabilise the old version: stop fetching, finish and commit the batch in flight, flush windows.
    if (this.active) await this.stabilise(this.active, log);
    // 3. Activate the new one from where the old one stopped.
    this.plan = plan;
    this.version = version;
    this.topics = topics;
    await this.activate(parts, log);
  }

  stop(): Promise<void> {
    clearTimeout(this.restartTimer);
    return this.serial(async () => {
      if (this.active) await this.stabilise(this.active, this.worker.log.child({ graph: this.name }));
      this.active = undefined;
      this.state = 'stopped';
    });
  }

  private async activate(parts: Part[], log: Logger): Promise<void> {
    const active: Active = { parts };
    for (const p of parts) this.running.add(p.runtime);
    this.active = active;
    this.state = 'running';
    this.error = null;
    try {
      for (const p of parts) await p.source.start(p.runtime, (err) => this.failed(active, err));
      if (this.active === active) this.backoff.reset();
      log.info({ streams: this.topics.map((t) => t.stream), phases: parts.length }, 'pipeline: graph version active');
    } catch (err) {
      this.failed(active, err);
    }
  }

  /** Phase by phase, so what an earlier phase flushes reaches its topic before the next one stops. */
  private async stabilise(a: Active, log: Logger): Promise<void> {
    a.stopping = true;
    for (const p of a.parts) {
      // The batch in flight finishes and is committed, unless a sink keeps refusing it: then, after
      // a deadline, its retries are ended and it stays uncommitted (the next version reads it again),
      // so that a reconfiguration or a stop never waits for a sink that may not come back.
      const stopped = p.source.stop();
      const abandoned = await Promise.race([stopped.then(() => false), sleep(WORKER_DEFAULTS.stabiliseTimeoutMs).then(() => true)]);
      if (abandoned) {
        log.warn({ timeoutMs: WORKER_DEFAULTS.stabiliseTimeoutMs }, 'pipeline: a sink does not take the batch in flight; it is left uncommitted and read again by the next version');
        await p.runtime.close();
        this.retire(p.runtime);
        await stopped;
        continue;
      }
      const drained = await Promise.race([
        p.runtime.drain().then(
          () => true,
          (err: unknown) => {
            log.error({ err: errorMessage(err) }, 'pipeline: flushing open windows of the old version failed');
            return true;
          },
        ),
        sleep(WORKER_DEFAULTS.stabiliseTimeoutMs).then(() => false),
      ]);
      if (!drained) log.warn('pipeline: open windows of the old version could not be flushed in time');
      await p.runtime.close();
      this.retire(p.runtime);
    }
    log.info({ version: a.parts[0]?.runtime.version }, 'pipeline: graph version stabilised and stopped');
  }

  /**
   * A batch could not be stored (a sink failed for good, the consumer crashed): its offsets were not
   * committed. Restart from the committed position with a fresh runtime, after a backoff.
   */
  private failed(a: Active, err: unknown): void {
    if (this.active !== a || a.stopping) return;
    this.active = undefined;
    this.state = 'failed';
    this.error = errorMessage(err);
    this.worker.log.error({ graph: this.name, err: this.error }, 'pipeline: graph failed; restarting from the last committed position');
    void this.serial(async () => {
      for (const p of a.parts) {
        await p.source.stop();
        // Best effort, for a while: what open windows hold is emitted and stored if the sinks still
        // take it (a sink that keeps failing would retry forever; close() ends that).
        const drained = p.runtime.drain().then(
          () => true,
          () => false,
        );
        const ok = await Promise.race([drained, sleep(WORKER_DEFAULTS.failedDrainMs).then(() => false)]);
        if (!ok) this.worker.log.warn({ graph: this.name }, 'pipeline: open windows of the failed version could not be flushed');
        await p.runtime.close();
        this.retire(p.runtime);
      }
    });
    this.scheduleRestart();
  }

  private scheduleRestart(): void {
    this.schedule(() => this.restart());
  }

  private schedule(step: () => Promise<void>): void {
    clearTimeout(this.restartTimer);
    this.restartTimer = setTimeout(() => {
      if (this.state !== 'stopped') void this.serial(step);
    }, this.backoff.next());
    this.restartTimer.unref();
  }

  private async restart(): Promise<void> {
    if (this.active || !this.plan || this.state === 'stopped') return;
    const log = this.worker.log.child({ graph: this.name, version: this.version });
    let parts: Part[];
    try {
      parts = await this.worker.makeParts(this.name, this.plan, this.version, this.topics, log);
    } catch (err) {
      this.error = errorMessage(err);
      if (isRetriable(err)) this.scheduleRestart();
      else this.worker.log.error({ graph: this.name, err: this.error }, 'pipeline: graph cannot start; apply a corrected version');
      return;
    }
    await this.activate(parts, log);
  }

  private serial(fn: () => Promise<void>): Promise<void> {
    const run = this.work.then(fn);
    this.work = run.catch((err: unknown) => this.worker.log.error({ graph: this.name, err }, 'pipeline: graph runner step failed'));
    return run;
  }
}
