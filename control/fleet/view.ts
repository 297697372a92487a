/**
 * The fleet as the control service sees it: the latest message of every member, whether it is
 * alive (heard from in the last 5 s), and the members' usage summed for the cost figure.
 */
import { LogfsError } from '../../core/errors.js';
import type { AgentReport, AgentUsage, FleetMember, MemberMessage, StreamUsage, Usage } from './member.js';
import { FLEET_DEFAULTS, type FleetTransport, type MemberUpdate } from './transport.js';

export interface FleetViewOptions {
  staleMs?: number;
  forgetMs?: number;
}

interface Entry {
  message: MemberMessage;
  /** Local time we last heard from it (see `heardAt`). */
  heardAt: number;
}

type Listener = (members: FleetMember[]) => void;

/** A graph's agent counters summed over the workers running it (GraphView.stats of the API). */
export type AgentStats = AgentReport & { ratePerSec: number };

/** Rates are measured over at least this long, so an early message (a new store version) does not make them jump. */
const RATE_WINDOW_MS = 900;

/** Per member: the message rates are measured from, and the last rates ("graph/node@version" → records in per second). */
interface RateSample {
  at: number;
  counts: Map<string, number>;
  rates: Map<string, number>;
}

/**
 * When we heard from a member: when its message arrived, unless the message says it was sent
 * earlier (a file or topic read at start holds messages of members long gone). Assumes the
 * cluster's clocks agree within about a second (NTP), as the propagation delay of jobs does.
 */
function heardAt(message: MemberMessage, receivedAt: number): number {
  const sent = Date.parse(message.seenAt);
  return Number.isFinite(sent) ? Math.min(receivedAt, sent) : receivedAt;
}

export class FleetView {
  private readonly entries = new Map<string, Entry>();
  private readonly listeners = new Set<Listener>();
  /** Usage of members that left, were forgotten or restarted under the same id, since this view opened. */
  private readonly carried: Usage = { streams: {}, agents: {} };
  private readonly rates = new Map<string, RateSample>();
  private readonly staleMs: number;
  private readonly forgetMs: number;
  private lastAlive = '';
  private sweeper: NodeJS.Timeout | undefined;
  private subscription: { close(): Promise<void> } | undefined;
  private closed = false;

  private constructor(opts: FleetViewOptions) {
    this.staleMs = opts.staleMs ?? FLEET_DEFAULTS.staleMs;
    this.forgetMs = opts.forgetMs ?? FLEET_DEFAULTS.forgetMs;
  }

  /** Resolves once the members the fleet held when it was opened are known. */
  static async open(transport: FleetTransport, opts: FleetViewOptions = {}): Promise<FleetView> {
    const view = new FleetView(opts);
    view.subscription = await transport.subscribe((u) => view.apply(u));
    // Members go stale without a message saying so: look every half of the smallest interval that matters.
    view.sweeper = setInterval(() => view.sweep(), Math.max(50, Math.min(500, view.staleMs / 4)));
    view.sweeper.unref();
    return view;
  }

  /** Every member heard from within `forgetMs`, by id; `alive` says whether within `staleMs`. */
  members(now = Date.now()): FleetMember[] {
    const out: FleetMember[] = [];
    for (const e of [...this.entries.values()].sort((a, b) => a.message.id.localeCompare(b.message.id))) {
      if (now - e.heardAt > this.forgetMs) continue;
      out.push({ ...e.message, alive: now - e.heardAt <= this.staleMs });
    }
    return out;
  }

  /** Calls `listener` with the members after every message and whenever one turns alive or not alive. */
  watch(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Resolves with the first truthy value `predicate` returns for the members (checked now, at every
   * change and as members go stale); rejects with LOGFS_E_UNAVAILABLE after `timeoutMs`.
   */
  waitFor<T>(predicate: (members: FleetMember[]) => T | undefined | null | false, timeoutMs: number, signal?: AbortSignal): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      let unwatch = (): void => undefined;
      const done = (fn: () => void): void => {
        clearTimeout(timer);
        unwatch();
        signal?.removeEventListener('abort', onAbort);
        fn();
      };
      const check = (members: FleetMember[]): void => {
        let v: T | undefined | null | false;
        try {
          v = predicate(members);
        } catch (err) {
          done(() => reject(err));
          return;
        }
        if (v !== undefined && v !== null && v !== false) done(() => resolve(v));
      };
      const onAbort = (): void => done(() => reject(signal?.reason));
      const timer = setTimeout(
        () => done(() => reject(new LogfsError('LOGFS_E_UNAVAILABLE', `the fleet did not reach the expected state within ${timeoutMs} ms`, { retriable: true, context: { timeoutMs } }))),
        timeoutMs,
      );
      if (signal?.aborted) return onAbort();
      signal?.addEventListener('abort', onAbort);
      unwatch = this.watch(check);
      check(this.members());
    });
  }

  /**
   * Usage summed over every member: those heard from, plus those that left or restarted since this
   * view opened, so that a cost figure does not drop when a worker is replaced.
   */
  usage(): Usage {
    const sum: Usage = { streams: {}, agents: {} };
    addUsage(sum, this.carried);
    for (const e of this.entries.values()) addUsage(sum, e.message.usage);
    return sum;
  }

  /**
   * Per node of `graph`, its counters summed over the alive workers running it (each reports the
   * version it runs), with the records per second it took between the workers' last reports.
   */
  graphStats(graph: string, now = Date.now()): Record<string, AgentStats> {
    const out: Record<string, AgentStats> = {};
    for (const e of this.entries.values()) {
      const g = e.message.pipeline?.graphs[graph];
      if (!g || now - e.heardAt > this.staleMs) continue;
      const rates = this.rates.get(e.message.id)?.rates;
      for (const [node, a] of Object.entries(g.agents)) {
        const t = (out[node] ??= { in: 0, out: 0, errors: 0, cpuMs: 0, ratePerSec: 0 });
        t.in += a.in;
        t.out += a.out;
        t.errors += a.errors;
        t.cpuMs += a.cpuMs;
        t.ratePerSec += rates?.get(`${graph}/${node}@${g.version}`) ?? 0;
      }
    }
    return out;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.sweeper);
    this.listeners.clear();
    await this.subscription?.close();
  }

  /** Applies one member's message (the transports call this; tests may too). */
  apply(update: MemberUpdate, receivedAt = Date.now()): void {
    if (this.closed) return;
    const prev = this.entries.get(update.id);
    if (update.message === null) {
      if (!prev) return;
      addUsage(this.carried, prev.message.usage);
      this.entries.delete(update.id);
      this.rates.delete(update.id);
    } else {
      // The same id from a new process (a daemon restarted): its counters start again from zero.
      if (prev && (prev.message.pid !== update.message.pid || totalRecords(update.message.usage) < totalRecords(prev.message.usage))) {
        addUsage(this.carried, prev.message.usage);
      }
      this.entries.set(update.id, { message: update.message, heardAt: heardAt(update.message, receivedAt) });
      this.sampleRates(update.message);
    }
    this.notify();
  }

  /** Rates between two messages of the same member, by the member's own clock (`seenAt`). */
  private sampleRates(message: MemberMessage): void {
    const graphs = message.pipeline?.graphs;
    if (!graphs) return;
    const at = Date.parse(message.seenAt);
    const prev = this.rates.get(message.id);
    if (prev && at - prev.at < RATE_WINDOW_MS && at >= prev.at) return;
    const counts = new Map<string, number>();
    for (const [name, g] of Object.entries(graphs)) for (const [node, a] of Object.entries(g.agents)) counts.set(`${name}/${node}@${g.version}`, a.in);
    const rates = new Map<string, number>();
    if (prev && at > prev.at) {
      for (const [k, n] of counts) {
        const before = prev.counts.get(k);
        if (before !== undefined && n >= before) rates.set(k, ((n - before) * 1000) / (at - prev.at));
      }
    }
    this.rates.set(message.id, { at, counts, rates });
  }

  private sweep(now = Date.now()): void {
    for (const [id, e] of this.entries) {
      if (now - e.heardAt > this.forgetMs) {
        addUsage(this.carried, e.message.usage);
        this.entries.delete(id);
        this.rates.delete(id);
      }
    }
    const alive = this.aliveKey(now);
    if (alive !== this.lastAlive) this.notify();
  }

  private aliveKey(now: number): string {
    return [...this.entries.values()].filter((e) => now - e.heardAt <= this.staleMs).map((e) => e.message.id).sort().join('\n');
  }

  private notify(): void {
    const now = Date.now();
    this.lastAlive = this.aliveKey(now);
    if (this.listeners.size === 0) return;
    const members = this.members(now);
    for (const l of [...this.listeners]) l(members);
  }
}

function totalRecords(u: Usage): number {
  let n = 0;
  for (const s of Object.values(u.streams)) n += s.records;
  for (const a of Object.values(u.agents)) n += a.records;
  return n;
}

/** Adds `b` into `a`. */
export function addUsage(a: Usage, b: Usage): void {
  for (const [k, s] of Object.entries(b.streams)) {
    const t: StreamUsage = (a.streams[k] ??= { records: 0, bytes: 0, cpuMs: 0 });
    t.records += s.records;
    t.bytes += s.bytes;
    t.cpuMs += s.cpuMs;
  }
  for (const [k, s] of Object.entries(b.agents)) {
    const t: AgentUsage = (a.agents[k] ??= { records: 0, cpuMs: 0 });
    t.records += s.records;
    t.cpuMs += s.cpuMs;
  }
}
