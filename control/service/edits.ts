/**
 * The edits of a commit (docs/control-api.md, `Edit`) applied to a draft of the provisioning
 * state, with the same checks as the CLI: stream and provider names (control/stream-name.ts),
 * graph definitions (pipeline/graph: every problem), and the caller's scope. Every edit is checked
 * even after one failed, so a commit reports all its problems at once; the caller commits only a
 * draft with no problem (ControlService.commit), which makes a commit all or nothing.
 */
import { isLogfsError, LogfsError, type ErrorCode } from '../../core/errors.js';
import { generateStreamKey, parseStreamKey } from '../../gateway/record-crypto.js';
import { DEFAULT_GRAPH } from '../../pipeline/graph/graph-store.js';
import { validateGraph, type GraphProblem } from '../../pipeline/graph/graph-validate.js';
import { REGISTRY } from '../../pipeline/registry.js';
import type { Edit, Problem, StreamInput, StreamPatch } from '../api-schemas.js';
import { providerOf, type Principal } from '../auth.js';
import type { GraphSpec, ProvisioningState, StreamSpec } from '../store.js';
import { validateProviderName, validateStreamName } from '../stream-name.js';

/** The provider of streams an admin creates without naming one (as `logfsctl stream create`). */
export const DEFAULT_PROVIDER = 'default';

/** Several problems at once; the HTTP layer answers them as `error.problems`. */
export class ProblemsError extends LogfsError {
  constructor(
    code: ErrorCode,
    message: string,
    readonly problems: Problem[],
  ) {
    super(code, message, { context: { problems } });
  }
}

/** When a commit has problems of several kinds, the answer's status follows the most telling one. */
const PRECEDENCE: ErrorCode[] = ['LOGFS_E_FORBIDDEN', 'LOGFS_E_NOT_FOUND', 'LOGFS_E_EXISTS', 'LOGFS_E_CONFLICT', 'LOGFS_E_GRAPH_INVALID'];

export function problemsError(problems: Problem[]): ProblemsError {
  const codes = new Set(problems.map((p) => (p.code.startsWith('LOGFS_E_') ? p.code : 'LOGFS_E_GRAPH_INVALID')));
  const code = PRECEDENCE.find((c) => codes.has(c)) ?? 'LOGFS_E_CONFIG';
  const first = problems[0]!;
  const message =
    problems.length === 1 ? first.message : `${problems.length} problems; nothing was committed:\n${problems.map((p) => `${p.edit !== undefined ? `edit ${p.edit}: ` : ''}${p.node ? `node ${p.node}: ` : ''}${p.message}`).join('\n')}`;
  return new ProblemsError(code as ErrorCode, message, problems);
}

export function graphProblem(p: GraphProblem, prefix = ''): Problem {
  return { code: p.code, ...(p.node !== undefined ? { node: p.node } : {}), path: [prefix, p.field ?? ''].filter(Boolean).join('.'), message: p.message };
}

/** Whether the principal may see a stream or graph of `provider`. */
export function canSee(p: Principal, provider: string): boolean {
  const own = providerOf(p);
  return own === undefined || own === provider;
}

function notFound(kind: string, name: string): LogfsError {
  return new LogfsError('LOGFS_E_NOT_FOUND', `${kind} "${name}" does not exist`);
}

function adminOnly(p: Principal, what: string): void {
  if (providerOf(p) !== undefined) throw new LogfsError('LOGFS_E_FORBIDDEN', `${what} needs an admin token`);
}

export interface EditResult {
  /** One line per applied edit, for the job summary. */
  applied: string[];
  problems: Problem[];
}

/** Applies `edits` to `draft` in order. An edit with a problem changes nothing; the others still apply. */
export function applyEdits(draft: ProvisioningState, edits: readonly Edit[], p: Principal, now = new Date().toISOString()): EditResult {
  const applied: string[] = [];
  const problems: Problem[] = [];
  edits.forEach((edit, i) => {
    try {
      applied.push(applyEdit(draft, edit, p, now));
    } catch (err) {
      const at = edits.length > 1 ? { edit: i } : {};
      if (err instanceof ProblemsError) problems.push(...err.problems.map((q) => ({ ...q, ...at })));
      else if (isLogfsError(err)) problems.push({ code: err.code, path: '', message: err.message, ...at });
      else throw err;
    }
  });
  return { applied, problems };
}

export function describeEdit(e: Edit): string {
  switch (e.op) {
    case 'createStream':
      return `create stream ${e.stream.name}`;
    case 'updateStream':
      return `update stream ${e.name}`;
    case 'deleteStream':
      return `delete stream ${e.name}`;
    case 'applyGraph':
      return `apply graph ${String(e.definition.name ?? '(unnamed)')}`;
    case 'deleteGraph':
      return `delete graph ${e.name}`;
    case 'assignStreams':
      return `assign ${e.streams.length ? e.streams.join(', ') : 'no streams'} to graph ${e.graph}`;
    case 'createProvider':
      return `create provider ${e.name}`;
    case 'deleteProvider':
      return `delete provider ${e.name}`;
  }
}

function applyEdit(draft: ProvisioningState, e: Edit, p: Principal, now: string): string {
  switch (e.op) {
    case 'createStream':
      return createStream(draft, e.stream, p, now);
    case 'updateStream':
      return updateStream(draft, e.name, e.patch, p);
    case 'deleteStream':
      return deleteStream(draft, e.name, p, now);
    case 'applyGraph':
      return applyGraph(draft, e.definition, e.provider, p, now);
    case 'deleteGraph':
      return deleteGraph(draft, e.name, p);
    case 'assignStreams': {
      const g = visibleGraph(draft, e.graph, p);
      return applyGraph(draft, { ...g.definition, streams: e.streams }, g.provider, p, now);
    }
    case 'createProvider': {
      adminOnly(p, 'creating a provider');
      validateProviderName(e.name);
      if (draft.providers[e.name]) throw new LogfsError('LOGFS_E_EXISTS', `provider "${e.name}" already exists`);
      draft.providers[e.name] = { name: e.name, description: e.description ?? null, createdAt: now };
      return describeEdit(e);
    }
    case 'deleteProvider': {
      adminOnly(p, 'deleting a provider');
      const owned = Object.values(draft.streams).filter((s) => s.provider === e.name);
      const graphs = Object.values(draft.graphs).filter((g) => g.provider === e.name);
      if (!draft.providers[e.name] && owned.length === 0) throw notFound('provider', e.name);
      if (owned.length > 0 || graphs.length > 0) {
        const what = [...owned.map((s) => `stream ${s.name}`), ...graphs.map((g) => `graph ${g.name}`)];
        throw new LogfsError('LOGFS_E_CONFLICT', `provider "${e.name}" still owns ${what.slice(0, 5).join(', ')}${what.length > 5 ? ` and ${what.length - 5} more` : ''}; delete them first`);
      }
      delete draft.providers[e.name];
      return describeEdit(e);
    }
  }
}

/** The key an edit leaves a stream with: the one given, the one it had, or a new one if it is encrypted. */
function streamKey(name: string, encrypt: boolean, given: string | undefined, current: string | null): string | null {
  if (given !== undefined) {
    parseStreamKey(given, name);
    return given;
  }
  if (current !== null) return current;
  return encrypt ? generateStreamKey() : null;
}

function createStream(draft: ProvisioningState, input: StreamInput, p: Principal, now: string): string {
  const own = providerOf(p);
  if (own !== undefined && input.provider !== undefined && input.provider !== own) {
    throw new LogfsError('LOGFS_E_FORBIDDEN', `a token of provider "${own}" cannot create streams of provider "${input.provider}"`);
  }
  const provider = validateProviderName(own ?? input.provider ?? DEFAULT_PROVIDER);
  validateStreamName(input.name);
  // Stream names are one namespace (the store's keys), so a name another provider took is taken.
  if (draft.streams[input.name]) throw new LogfsError('LOGFS_E_EXISTS', `stream "${input.name}" already exists; choose another name`);
  for (const other of Object.keys(draft.streams)) {
    if (other.startsWith(input.name + '/') || input.name.startsWith(other + '/')) {
      throw new LogfsError('LOGFS_E_EXISTS', `stream "${input.name}" conflicts with an existing stream: a stream cannot also be a namespace of another`);
    }
  }
  const encrypt = input.encrypt ?? false;
  const spec: StreamSpec = {
    name: input.name,
    provider,
    partitions: input.partitions ?? 1,
    encrypt,
    key: streamKey(input.name, encrypt, input.key, null),
    rate: input.rate ?? null,
    retentionHours: input.retentionHours ?? null,
    description: input.description ?? null,
    createdAt: now,
  };
  // A provider exists once it has a stream, whether or not an admin created it first.
  draft.providers[provider] ??= { name: provider, description: null, createdAt: now };
  draft.streams[input.name] = spec;
  return `create stream ${input.name}`;
}

function visibleStream(draft: ProvisioningState, name: string, p: Principal): StreamSpec {
  const s = draft.streams[name];
  if (!s || !canSee(p, s.provider)) throw notFound('stream', name);
  return s;
}

function updateStream(draft: ProvisioningState, name: string, patch: StreamPatch, p: Principal): string {
  const s = visibleStream(draft, name, p);
  if (patch.partitions !== undefined && patch.partitions < s.partitions) {
    // A conflict with the stream's current state, not a malformed request: 409.
    throw new LogfsError('LOGFS_E_CONFLICT', `stream "${name}" has ${s.partitions} partitions; Kafka can add partitions but not remove them`);
  }
  const encrypt = patch.encrypt ?? s.encrypt;
  const next: StreamSpec = {
    ...s,
    partitions: patch.partitions ?? s.partitions,
    encrypt,
    key: streamKey(name, encrypt, patch.key, s.key),
    rate: patch.rate !== undefined ? patch.rate : s.rate,
    retentionHours: patch.retentionHours !== undefined ? patch.retentionHours : s.retentionHours,
    description: patch.description !== undefined ? patch.description : s.description,
  };
  draft.streams[name] = next;
  return `update stream ${name}`;
}

function deleteStream(draft: ProvisioningState, name: string, p: Principal, now: string): string {
  visibleStream(draft, name, p);
  delete draft.streams[name];
  // Graphs stop taking it (a new version each), so no graph names a stream that does not exist.
  for (const g of Object.values(draft.graphs)) {
    const streams = graphStreams(g);
    if (!streams.includes(name)) continue;
    draft.graphs[g.name] = { ...g, version: g.version + 1, updatedAt: now, definition: { ...g.definition, streams: streams.filter((s) => s !== name) } };
  }
  return `delete stream ${name}`;
}

/** Literal segments beside /graphs/{name} in the API: a graph of that name could not be read by name. */
const RESERVED_GRAPH_NAMES = new Set(['validate']);

export function graphStreams(g: Pick<GraphSpec, 'definition'>): string[] {
  const s = g.definition.streams;
  return Array.isArray(s) ? s.filter((x): x is string => typeof x === 'string') : [];
}

function visibleGraph(draft: ProvisioningState, name: string, p: Principal): GraphSpec {
  // The built-in graph exists and is read-only: the request is well formed, the target refuses it.
  if (name === DEFAULT_GRAPH) throw new LogfsError('LOGFS_E_FORBIDDEN', `"${DEFAULT_GRAPH}" is the built-in graph for streams no graph takes; it cannot be changed`);
  const g = draft.graphs[name];
  if (!g || !canSee(p, g.provider)) throw notFound('graph', name);
  return g;
}

function deleteGraph(draft: ProvisioningState, name: string, p: Principal): string {
  visibleGraph(draft, name, p);
  delete draft.graphs[name];
  return `delete graph ${name}`;
}

/**
 * The provider a graph belongs to: a provider token's own; for an admin the one given, else the
 * graph's current one, else the one provider of the streams it takes, else "default".
 */
export function graphOwner(draft: ProvisioningState, definition: Record<string, unknown>, given: string | undefined, p: Principal): string {
  const own = providerOf(p);
  if (own !== undefined) {
    if (given !== undefined && given !== own) throw new LogfsError('LOGFS_E_FORBIDDEN', `a token of provider "${own}" cannot apply graphs of provider "${given}"`);
    return own;
  }
  if (given !== undefined) return validateProviderName(given);
  const current = typeof definition.name === 'string' ? draft.graphs[definition.name] : undefined;
  if (current) return current.provider;
  const streams = Array.isArray(definition.streams) ? definition.streams : [];
  const owners = new Set(streams.map((s) => (typeof s === 'string' ? draft.streams[s]?.provider : undefined)).filter((x): x is string => x !== undefined));
  return owners.size === 1 ? [...owners][0]! : DEFAULT_PROVIDER;
}

/** Every problem of a definition as a graph of `owner`: it may take only that provider's streams. */
export function checkGraph(draft: ProvisioningState, definition: unknown, owner: string, p: Principal): { problems: Problem[]; name?: string } {
  const known = new Set(Object.values(draft.streams).filter((s) => s.provider === owner).map((s) => s.name));
  const result = validateGraph(definition, REGISTRY, { knownStreams: known });
  const problems: Problem[] = result.ok ? [] : result.problems.map((q) => graphProblem(q));
  const name = result.ok ? result.plan.name : undefined;
  for (const q of problems) {
    // An admin is told why; a provider gets the same answer as for a stream that does not exist.
    const m = q.code === 'unknown-stream' && providerOf(p) === undefined ? /^stream "(.*)" is not provisioned/.exec(q.message) : null;
    const other = m ? draft.streams[m[1]!] : undefined;
    if (other) q.message = `stream "${other.name}" belongs to provider "${other.provider}"; a graph of provider "${owner}" takes only that provider's streams`;
  }
  if (result.ok && result.plan.name === DEFAULT_GRAPH) {
    problems.push({ code: 'invalid-name', path: 'name', message: `"${DEFAULT_GRAPH}" is the built-in graph for streams no graph takes; choose another name` });
  }
  const given = (definition as { name?: unknown } | null)?.name;
  if (typeof given === 'string' && RESERVED_GRAPH_NAMES.has(given)) {
    problems.push({ code: 'invalid-name', path: 'name', message: `"${given}" is a path of the API (POST /graphs/${given}); choose another name` });
  }
  return { problems, ...(name !== undefined ? { name } : {}) };
}

function applyGraph(draft: ProvisioningState, definition: Record<string, unknown>, given: string | undefined, p: Principal, now: string): string {
  const owner = graphOwner(draft, definition, given, p);
  const { problems, name } = checkGraph(draft, definition, owner, p);
  if (problems.length > 0 || name === undefined) throw problemsError(problems);
  const previous = draft.graphs[name];
  // Graph names are one namespace too: a provider cannot replace another provider's graph.
  if (previous && !canSee(p, previous.provider)) throw new LogfsError('LOGFS_E_EXISTS', `graph "${name}" already exists; choose another name`);
  if (previous && previous.provider === owner && JSON.stringify(previous.definition) === JSON.stringify(definition)) return `graph ${name} unchanged`;
  draft.graphs[name] = { name, provider: owner, version: (previous?.version ?? 0) + 1, definition, updatedAt: now };
  return `apply graph ${name}`;
}
