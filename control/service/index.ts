/**
 * The control service without a transport (docs/control-api.md): every resource of the API as a
 * method taking the caller's Principal, so the HTTP layer (control/http/) and anything in-process
 * share one implementation of scope, validation and commits.
 *
 * Scope: a provider's token sees its provider's streams and graphs only; anything else answers
 * LOGFS_E_NOT_FOUND exactly as if it did not exist, and admin-only resources LOGFS_E_FORBIDDEN.
 * Changes: every change is `commit(principal, edits, message)`: validated on the current state
 * (every problem of every edit), then applied again inside one store.update (all edits or none),
 * run as a provisioning job (control/jobs.ts).
 */
import { z } from 'zod';
import { LogfsError } from '../../core/errors.js';
import type { Logger } from '../../core/logger.js';
import { keyId as keyIdBytes, parseStreamKey, StreamKeyring } from '../../gateway/record-crypto.js';
import type { ArchivedRecord } from '../../pipeline/archive/index.js';
import { DEFAULT_GRAPH, unassignedStreams } from '../../pipeline/graph/graph-store.js';
import { DEFAULT_PHASE } from '../../pipeline/graph/graph-validate.js';
import { AGENTS } from '../../pipeline/registry.js';
import type {
  AgentInfo,
  AlarmView,
  ArchiveTree,
  CommitInfoView,
  Edit,
  GraphView,
  JobView,
  MetricSeries,
  Problem,
  ProviderView,
  StreamInput,
  StreamPatch,
  StreamView,
  TokenInfo,
} from '../api-schemas.js';
import { hashToken, isAdmin, newTokenId, newTokenSecret, providerOf, type Principal } from '../auth.js';
import { costOf, DEFAULT_COST_RATES, type CostRates, type FleetMember, type Usage } from '../fleet/index.js';
import type { JobTracker } from '../jobs.js';
import type { GraphSpec, ProvisioningState, ProvisioningStore, StreamSpec, TokenScope, TokenSpec } from '../store.js';
import { topicForStream, validateProviderName } from '../stream-name.js';
import { archiveNames, archivePage, archiveRootOf, archiveTree, ARCHIVE_BROWSE_DEFAULTS, type RecordQuery, type TreeQuery } from './archive-browse.js';
import { applyEdits, canSee, checkGraph, describeEdit, graphOwner, graphStreams, problemsError } from './edits.js';
import { alarmEpisodes, metricSeries, type SeriesQuery } from './observe.js';
import { RateMeter } from './rate-meter.js';

export { ProblemsError, problemsError, DEFAULT_PROVIDER } from './edits.js';
export type { Principal } from '../auth.js';

/** The part of the fleet view the service reads (control/fleet FleetView). */
export interface FleetReader {
  members(): FleetMember[];
  watch(listener: (members: FleetMember[]) => void): () => void;
  usage(): Usage;
}

export interface ControlServiceOptions {
  store: ProvisioningStore;
  fleet: FleetReader;
  jobs: JobTracker;
  topicPrefix: string;
  log: Logger;
  /** Holds one directory per archive (`<dir>/<name>`); embedded: `<data>/archive`. */
  archiveDir?: string;
  metricsDir?: string;
  alarmsDir?: string;
  costRates?: CostRates;
}

export const SERVICE_DEFAULTS = { listLimit: 100 } as const;

/** What the live tail of a stream needs (control/http/sse-tail.ts). */
export interface TailTarget {
  provider: string;
  stream: string;
  topic: string;
  /** The stream's key, to open sealed records for the caller. */
  keys: StreamKeyring;
}

export class ControlService {
  private readonly rates = new RateMeter();

  constructor(private readonly opts: ControlServiceOptions) {}

  private get state(): ProvisioningState {
    return this.opts.store.snapshot();
  }

  // -- who -----------------------------------------------------------------------------------

  health(): { ok: true; version: number } {
    return { ok: true, version: this.state.version };
  }

  whoami(p: Principal): { scope: TokenScope; name: string } {
    return { scope: p.scope, name: p.name };
  }

  // -- providers and tokens (admin) ------------------------------------------------------------

  listProviders(p: Principal): ProviderView[] {
    const state = this.state;
    const names = new Set([...Object.keys(state.providers), ...Object.values(state.streams).map((s) => s.provider)]);
    const own = providerOf(p);
    return [...names]
      .filter((n) => own === undefined || n === own)
      .sort()
      .map((name) => {
        const spec = state.providers[name];
        const streams = Object.values(state.streams).filter((s) => s.provider === name);
        return {
          name,
          description: spec?.description ?? null,
          createdAt: spec?.createdAt ?? streams.map((s) => s.createdAt).sort()[0] ?? '',
          streams: streams.length,
        };
      });
  }

  async createProvider(p: Principal, input: { name: string; description?: string | null | undefined }): Promise<JobView> {
    this.requireAdmin(p, 'creating a provider');
    return this.commit(p, [{ op: 'createProvider', name: input.name, ...(input.description !== undefined ? { description: input.description } : {}) }]);
  }

  async deleteProvider(p: Principal, name: string): Promise<JobView> {
    this.requireAdmin(p, 'deleting a provider');
    return this.commit(p, [{ op: 'deleteProvider', name }]);
  }

  listTokens(p: Principal): TokenInfo[] {
    this.requireAdmin(p, 'listing tokens');
    return Object.values(this.state.tokens)
      .sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id))
      .map(tokenInfo);
  }

  /** A new token; its secret is in the answer and nowhere else. Tokens are not provisioning jobs. */
  async createToken(p: Principal, input: { name: string; scope: TokenScope }): Promise<{ token: TokenInfo; secret: string }> {
    this.requireAdmin(p, 'creating tokens');
    if (input.scope !== 'admin') validateProviderName(input.scope.provider);
    const secret = newTokenSecret();
    const spec: TokenSpec = { id: newTokenId(), name: input.name, scope: input.scope, hash: hashToken(secret), createdAt: new Date().toISOString() };
    await this.opts.store.update(
      (draft) => {
        draft.tokens[spec.id] = spec;
      },
      { author: p.name, message: `token ${spec.name} created`, changes: [`token ${spec.name} (${spec.id}) created`] },
    );
    return { token: tokenInfo(spec), secret };
  }

  async revokeToken(p: Principal, id: string): Promise<{ ok: true }> {
    this.requireAdmin(p, 'revoking tokens');
    let name = id;
    await this.opts.store.update(
      (draft) => {
        const t = draft.tokens[id];
        if (!t) throw new LogfsError('LOGFS_E_NOT_FOUND', `token "${id}" does not exist`);
        // Without an admin token nobody could change providers or tokens through the API again.
        if (t.scope === 'admin' && !Object.values(draft.tokens).some((o) => o.id !== id && o.scope === 'admin')) {
          throw new LogfsError('LOGFS_E_CONFLICT', `token "${t.name}" (${id}) is the last admin token; create another admin token before revoking it`);
        }
        name = t.name;
        delete draft.tokens[id];
      },
      { author: p.name, message: `token ${id} revoked`, changes: [`token ${id} deleted`] },
    );
    this.opts.log.info({ token: id, name, by: p.name }, 'token revoked');
    return { ok: true };
  }

  // -- streams ---------------------------------------------------------------------------------

  listStreams(p: Principal): StreamView[] {
    const state = this.state;
    const costs = this.costs(state);
    return Object.values(state.streams)
      .filter((s) => canSee(p, s.provider))
      .sort((a, b) => a.name.localeCompare(b.name))
      .map((s) => this.streamView(s, state, costs));
  }

  getStream(p: Principal, name: string): StreamView {
    const state = this.state;
    return this.streamView(this.visibleStream(state, p, name), state, this.costs(state));
  }

  createStream(p: Principal, input: StreamInput): Promise<JobView> {
    return this.commit(p, [{ op: 'createStream', stream: input }]);
  }

  updateStream(p: Principal, name: string, patch: StreamPatch): Promise<JobView> {
    return this.commit(p, [{ op: 'updateStream', name, patch }]);
  }

  deleteStream(p: Principal, name: string): Promise<JobView> {
    return this.commit(p, [{ op: 'deleteStream', name }]);
  }

  tailTarget(p: Principal, name: string): TailTarget {
    const s = this.visibleStream(this.state, p, name);
    return { provider: s.provider, stream: s.name, topic: topicForStream(s.provider, s.name, this.opts.topicPrefix), keys: new StreamKeyring([s]) };
  }

  // -- graphs ----------------------------------------------------------------------------------

  listGraphs(p: Principal): GraphView[] {
    const state = this.state;
    const views = Object.values(state.graphs)
      .filter((g) => canSee(p, g.provider))
      .sort((a, b) => a.name.localeCompare(b.name))
      .map((g) => this.graphView(g));
    const builtIn = this.defaultGraph(p, state);
    return builtIn ? [...views, builtIn] : views;
  }

  getGraph(p: Principal, name: string): GraphView {
    const state = this.state;
    if (name === DEFAULT_GRAPH) {
      const g = this.defaultGraph(p, state, true);
      if (g) return g;
    }
    const g = state.graphs[name];
    if (!g || !canSee(p, g.provider)) throw new LogfsError('LOGFS_E_NOT_FOUND', `graph "${name}" does not exist`);
    return this.graphView(g);
  }

  applyGraph(p: Principal, definition: Record<string, unknown>, provider?: string): Promise<JobView> {
    return this.commit(p, [{ op: 'applyGraph', definition, ...(provider !== undefined ? { provider } : {}) }]);
  }

  /** Every problem of a definition, as `applyGraph` would find them; nothing is committed. */
  validateGraph(p: Principal, definition: unknown, provider?: string): { ok: boolean; problems: Problem[] } {
    const state = this.state;
    const def = typeof definition === 'object' && definition !== null && !Array.isArray(definition) ? (definition as Record<string, unknown>) : {};
    const owner = graphOwner(state, def, provider, p);
    const { problems } = checkGraph(state, definition, owner, p);
    return { ok: problems.length === 0, problems };
  }

  deleteGraph(p: Principal, name: string): Promise<JobView> {
    return this.commit(p, [{ op: 'deleteGraph', name }]);
  }

  assignStreams(p: Principal, graph: string, streams: string[]): Promise<JobView> {
    return this.commit(p, [{ op: 'assignStreams', graph, streams }]);
  }

  listAgents(): AgentInfo[] {
    return AGENTS.map((a) => {
      const defaults = a.configSchema.safeParse({});
      let outputs: string[] = [];
      try {
        outputs = defaults.success ? a.ports(defaults.data) : a.sink ? [] : ['out'];
      } catch {
        outputs = [];
      }
      return {
        type: a.type,
        description: a.description,
        sink: a.sink,
        outputs,
        configSchema: jsonSchemaOf(a.configSchema),
      };
    });
  }

  // -- commits, history, rollback --------------------------------------------------------------

  /**
   * The one way to change provisioning: a job that validates every edit against the current state,
   * commits them in one store.update (re-checked there against the latest state: all or none) and
   * propagates. Resolves with the job once committed; rejects (the job failed) on any problem.
   */
  async commit(p: Principal, edits: Edit[], message?: string): Promise<JobView> {
    const summary = edits.length === 1 ? describeEdit(edits[0]!) : `${edits.length} edits: ${edits.map(describeEdit).join('; ')}`;
    const job = this.opts.jobs.create('commit', summary, p.name, providerOf(p) ?? null);
    return this.runJob(job, p, message ?? summary, () => {
      const dry = applyEdits(structuredClone(this.state), edits, p);
      if (dry.problems.length > 0) throw problemsError(dry.problems);
      return (draft) => {
        const r = applyEdits(draft, edits, p);
        if (r.problems.length > 0) throw problemsError(r.problems);
      };
    });
  }

  /**
   * The steps of every change: validating (`prepare` checks the request and returns the mutation),
   * committing (one store update, re-checked there against the latest state), then propagating in
   * the background. A failure at any step fails the job and is thrown with the job's id.
   */
  private async runJob(
    job: JobView,
    p: Principal,
    message: string,
    prepare: () => ((draft: ProvisioningState) => void) | Promise<(draft: ProvisioningState) => void>,
  ): Promise<JobView> {
    try {
      this.opts.jobs.transition(job, 'validating');
      const mutate = await prepare();
      const before = this.state;
      this.opts.jobs.transition(job, 'committing');
      const next = await this.opts.store.update(mutate, { author: p.name, message });
      void this.opts.jobs.propagate(job, next.version, Date.now(), changedGraphVersions(before, next));
      return job;
    } catch (err) {
      this.opts.jobs.fail(job, err);
      if (err instanceof LogfsError) err.context.job = job.id;
      throw err;
    }
  }

  async history(p: Principal, limit: number = SERVICE_DEFAULTS.listLimit): Promise<CommitInfoView[]> {
    this.requireAdmin(p, 'the history');
    return this.opts.store.history(limit);
  }

  async historyAt(p: Principal, version: number): Promise<{ commit: CommitInfoView; state: Record<string, unknown> & { version: number } }> {
    this.requireAdmin(p, 'the history');
    const [state, commit] = await Promise.all([this.opts.store.stateAt(version), this.commitInfo(version)]);
    if (!state || !commit) throw new LogfsError('LOGFS_E_NOT_FOUND', `version ${version} is not in the history (it keeps the last ${1000} versions or more)`);
    const streams = Object.fromEntries(Object.entries(state.streams).map(([n, s]) => [n, redactStream(s)]));
    return { commit, state: { version: state.version, providers: state.providers, streams, graphs: state.graphs } };
  }

  /**
   * A new commit whose providers, streams and graphs equal those of `version` (tokens are never
   * rolled back). A graph whose definition differs gets a new version number; an unchanged one
   * keeps its own, so workers do not restart it.
   */
  async rollback(p: Principal, version: number): Promise<JobView> {
    this.requireAdmin(p, 'rollback');
    const job = this.opts.jobs.create('rollback', `rollback to version ${version}`, p.name, null);
    return this.runJob(job, p, `rollback to version ${version}`, async () => {
      const target = await this.opts.store.stateAt(version);
      if (!target) throw new LogfsError('LOGFS_E_NOT_FOUND', `version ${version} is not in the history; logfsctl history lists the versions kept`);
      // The same request is fine once the store has moved on: a conflict with its state, not bad input.
      if (version >= this.state.version) throw new LogfsError('LOGFS_E_CONFLICT', `version ${version} is not older than the current version ${this.state.version}`);
      const now = new Date().toISOString();
      return (draft) => {
        draft.providers = structuredClone(target.providers);
        draft.streams = structuredClone(target.streams);
        const graphs: Record<string, GraphSpec> = {};
        for (const [name, g] of Object.entries(target.graphs)) {
          const cur = draft.graphs[name];
          const same = cur && cur.provider === g.provider && JSON.stringify(cur.definition) === JSON.stringify(g.definition);
          graphs[name] = same ? cur : { ...structuredClone(g), version: Math.max(cur?.version ?? 0, g.version) + 1, updatedAt: now };
        }
        draft.graphs = graphs;
      };
    });
  }

  // -- jobs and fleet --------------------------------------------------------------------------

  listJobs(p: Principal, limit: number = SERVICE_DEFAULTS.listLimit): JobView[] {
    const own = providerOf(p);
    return this.opts.jobs.list(limit, (j) => own === undefined || j.provider === own);
  }

  async getJob(p: Principal, id: string, waitMs?: number): Promise<JobView> {
    const own = providerOf(p);
    const visible = (j: JobView | undefined): j is JobView => j !== undefined && (own === undefined || j.provider === own);
    const job = this.opts.jobs.get(id);
    if (!visible(job)) throw new LogfsError('LOGFS_E_NOT_FOUND', `job "${id}" does not exist (the last 500 are kept)`);
    if (waitMs === undefined) return job;
    const done = await this.opts.jobs.waitFinal(id, waitMs);
    return done ?? job;
  }

  fleet(p: Principal): { members: FleetMember[] } {
    const own = providerOf(p);
    const members = this.opts.fleet.members();
    return { members: own === undefined ? members : members.filter((m) => m.provider === own) };
  }

  // -- archive, metrics, alarms ----------------------------------------------------------------

  async archiveTree(p: Principal, q: TreeQuery & { archive?: string }): Promise<ArchiveTree> {
    const dir = this.dir('archiveDir', 'archive');
    const root = archiveRootOf(dir, q.archive ?? ARCHIVE_BROWSE_DEFAULTS.archive);
    const own = providerOf(p);
    if (own !== undefined && q.provider !== undefined && q.provider !== own) return { archives: await archiveNames(dir), level: 'stream', items: [] };
    const query: TreeQuery = { ...q, ...(own !== undefined ? { provider: own } : {}) };
    delete (query as { archive?: string }).archive;
    const tree = await archiveTree(root, query, (m) => this.opts.log.warn({ problem: m }, 'archive'));
    return { archives: await archiveNames(dir), ...tree };
  }

  async archiveRecords(p: Principal, q: Omit<RecordQuery, 'limit'> & { limit?: number; archive?: string }): Promise<{ records: ArchivedRecord[]; next?: string }> {
    const root = archiveRootOf(this.dir('archiveDir', 'archive'), q.archive ?? ARCHIVE_BROWSE_DEFAULTS.archive);
    const own = providerOf(p);
    if (own !== undefined && q.provider !== undefined && q.provider !== own) return { records: [] };
    const state = this.state;
    const query: RecordQuery = { ...q, limit: q.limit ?? ARCHIVE_BROWSE_DEFAULTS.pageSize, ...(own !== undefined ? { provider: own } : {}) };
    delete (query as { archive?: string }).archive;
    // Only the keys of streams the caller sees: another provider's records never match anyway.
    const keys = new StreamKeyring(Object.values(state.streams).filter((s) => canSee(p, s.provider)));
    return archivePage(root, query, keys, (m) => this.opts.log.warn({ problem: m }, 'archive'));
  }

  async metrics(p: Principal, q: SeriesQuery): Promise<{ series: MetricSeries[] }> {
    const graphs = this.visibleGraphNames(p);
    const series = await metricSeries(this.dir('metricsDir', 'metrics'), q, (name) => graphs === undefined || graphs.has(name.split('.')[0]!));
    return { series };
  }

  async alarms(p: Principal, state: 'active' | 'resolved' | 'all', limit = 1000): Promise<AlarmView[]> {
    const graphs = this.visibleGraphNames(p);
    return alarmEpisodes(this.dir('alarmsDir', 'alarms'), state, limit, (g) => graphs === undefined || graphs.has(g));
  }

  // -- views -----------------------------------------------------------------------------------

  private requireAdmin(p: Principal, what: string): void {
    if (!isAdmin(p)) throw new LogfsError('LOGFS_E_FORBIDDEN', `${what} needs an admin token`);
  }

  private visibleStream(state: ProvisioningState, p: Principal, name: string): StreamSpec {
    const s = state.streams[name];
    if (!s || !canSee(p, s.provider)) throw new LogfsError('LOGFS_E_NOT_FOUND', `stream "${name}" does not exist`);
    return s;
  }

  /** Names of the graphs the principal sees; undefined for an admin (everything). */
  private visibleGraphNames(p: Principal): Set<string> | undefined {
    if (isAdmin(p)) return undefined;
    return new Set(Object.values(this.state.graphs).filter((g) => canSee(p, g.provider)).map((g) => g.name));
  }

  private dir(key: 'archiveDir' | 'metricsDir' | 'alarmsDir', what: string): string {
    const dir = this.opts[key];
    if (!dir) throw new LogfsError('LOGFS_E_NOT_FOUND', `this control service has no ${what} directory (start it with --${what}-dir, or inside logfsctl up)`);
    return dir;
  }

  private async commitInfo(version: number): Promise<CommitInfoView | undefined> {
    const current = this.state.version;
    // history() is newest first: the entry of `version` is at index current - version.
    const list = await this.opts.store.history(Math.max(1, current - version + 1));
    return list.find((c) => c.version === version);
  }

  /** Graph → streams it takes (the default graph: those no other takes), for the cost figure. */
  private costs(state: ProvisioningState): ReturnType<typeof costOf> {
    const graphs: Record<string, string[]> = {};
    for (const g of Object.values(state.graphs)) graphs[g.name] = graphStreams(g);
    graphs[DEFAULT_GRAPH] = unassignedStreams(state);
    return costOf({ usage: this.opts.fleet.usage(), graphs }, this.opts.costRates ?? DEFAULT_COST_RATES);
  }

  private streamView(s: StreamSpec, state: ProvisioningState, costs: ReturnType<typeof costOf>): StreamView {
    const graphs = Object.values(state.graphs)
      .filter((g) => graphStreams(g).includes(s.name))
      .map((g) => g.name)
      .sort();
    const c = costs.streams[s.name];
    return {
      name: s.name,
      provider: s.provider,
      partitions: s.partitions,
      encrypt: s.encrypt,
      keyId: s.key ? keyIdOf(s.key) : null,
      rate: s.rate,
      retentionHours: s.retentionHours,
      description: s.description,
      createdAt: s.createdAt,
      topic: topicForStream(s.provider, s.name, this.opts.topicPrefix),
      graphs: graphs.length > 0 ? graphs : [DEFAULT_GRAPH],
      usage: { records: c?.records ?? 0, bytes: c?.bytes ?? 0, cpuMs: round(c?.cpuMs ?? 0), agentCpuMs: round(c?.agentCpuMs ?? 0) },
      cost: Number((c?.cost ?? 0).toFixed(6)),
    };
  }

  private graphView(g: Pick<GraphSpec, 'name' | 'provider' | 'version' | 'updatedAt' | 'definition'>, builtIn = false): GraphView {
    const phases = Array.isArray(g.definition.phases) && g.definition.phases.length > 0 ? (g.definition.phases as string[]) : [DEFAULT_PHASE];
    const nodes = (Array.isArray(g.definition.nodes) ? (g.definition.nodes as Record<string, unknown>[]) : []).map((n) => ({
      id: String(n.id),
      type: String(n.type),
      inputs: Array.isArray(n.inputs) ? n.inputs.map(String) : [],
      phase: typeof n.phase === 'string' ? n.phase : phases[0]!,
    }));
    const stats = this.graphStats(g.name);
    return {
      name: g.name,
      provider: g.provider,
      version: g.version,
      updatedAt: g.updatedAt,
      builtIn,
      definition: g.definition,
      streams: graphStreams(g),
      nodes,
      ...(stats ? { stats } : {}),
    };
  }

  /** The built-in default graph as a provider sees it: the streams of theirs that no graph takes. */
  private defaultGraph(p: Principal, state: ProvisioningState, evenIfEmpty = false): GraphView | undefined {
    const streams = unassignedStreams(state).filter((s) => canSee(p, state.streams[s]!.provider));
    if (streams.length === 0 && !evenIfEmpty && !isAdmin(p)) return undefined;
    const definition = {
      name: DEFAULT_GRAPH,
      description: 'Archives every stream that no graph takes',
      streams,
      nodes: [{ id: 'archive', type: 'archive', inputs: ['source'], config: {} }],
    };
    return this.graphView({ name: DEFAULT_GRAPH, provider: providerOf(p) ?? 'default', version: state.version, updatedAt: '', definition }, true);
  }

  /** Per node, summed over the members running the graph; rates from the change of `in` over time. */
  private graphStats(name: string): GraphView['stats'] | undefined {
    const stats: NonNullable<GraphView['stats']> = {};
    let seen = false;
    for (const m of this.opts.fleet.members()) {
      const g = m.pipeline?.graphs[name];
      if (!g || !m.alive) continue;
      seen = true;
      for (const [id, a] of Object.entries(g.agents)) {
        const t = (stats[id] ??= { in: 0, out: 0, errors: 0, cpuMs: 0, ratePerSec: 0 });
        t.in += a.in;
        t.out += a.out;
        t.errors += a.errors;
        t.cpuMs += a.cpuMs;
        t.ratePerSec += this.rates.rate(`${m.id}/${name}/${id}`, a.in);
      }
    }
    for (const t of Object.values(stats)) {
      t.cpuMs = round(t.cpuMs);
      t.ratePerSec = round(t.ratePerSec);
    }
    return seen ? stats : undefined;
  }
}

function round(n: number): number {
  return Math.round(n * 1000) / 1000;
}

function tokenInfo(t: TokenSpec): TokenInfo {
  return { id: t.id, name: t.name, scope: t.scope, createdAt: t.createdAt };
}

/** keyId of a stored key; "invalid" for a key that is not base64 of 32 bytes (the store refuses those). */
export function keyIdOf(key: string): string {
  try {
    return keyIdBytes(parseStreamKey(key));
  } catch {
    return 'invalid';
  }
}


/** A stream spec without its key (history answers), with the key's fingerprint instead. */
function redactStream(s: StreamSpec): Record<string, unknown> {
  const { key, ...rest } = s;
  return { ...rest, keyId: key ? keyIdOf(key) : null };
}

function jsonSchemaOf(schema: z.ZodType): Record<string, unknown> {
  try {
    const js = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
    delete js.$schema;
    return js;
  } catch {
    return {};
  }
}

/** Graphs whose version a commit changed (name → new version): the ones workers may refuse. */
function changedGraphVersions(before: ProvisioningState, after: ProvisioningState): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [name, g] of Object.entries(after.graphs)) if (before.graphs[name]?.version !== g.version) out[name] = g.version;
  return out;
}
