/**
 * Graphs in the provisioning store, by the seed's protocol: edit -> validate -> commit atomically
 * as a new version -> notify watchers (the store's watch) -> workers initialise the new version,
 * stabilise the old one and activate the new one (pipeline/worker.ts).
 */
import { LogfsError } from '../../core/errors.js';
import type { GraphSpec, ProvisioningState, ProvisioningStore } from '../../control/store.js';
import { REGISTRY, type AgentRegistry } from '../registry.js';
import { SOURCE, type GraphDefinition } from './graph-schema.js';
import { formatProblems, validateGraph, type GraphPlan, type GraphProblem } from './graph-validate.js';

/** The graph that takes every stream no other graph takes: one archive agent (DESIGN.md). */
export const DEFAULT_GRAPH = 'default';

export function defaultGraphDefinition(streams: string[]): GraphDefinition {
  return {
    name: DEFAULT_GRAPH,
    description: 'Archives every stream that no graph takes',
    streams,
    nodes: [{ id: 'archive', type: 'archive', inputs: [SOURCE], config: {} }],
  };
}

/** Streams that no graph of the state takes. */
export function unassignedStreams(state: ProvisioningState): string[] {
  const taken = new Set<string>();
  for (const g of Object.values(state.graphs)) for (const s of (g.definition.streams as string[] | undefined) ?? []) taken.add(s);
  return Object.keys(state.streams)
    .filter((s) => !taken.has(s))
    .sort();
}

export class GraphValidationError extends LogfsError {
  constructor(
    readonly graph: string,
    readonly problems: GraphProblem[],
  ) {
    super('LOGFS_E_GRAPH_INVALID', `graph ${graph || '(unnamed)'} has ${problems.length} problem${problems.length === 1 ? '' : 's'}:\n${formatProblems(problems)}`, {
      context: { problems },
    });
  }
}

/** Validates a definition against the registry and the provisioned streams; throws every problem at once. */
export function planGraph(definition: unknown, state?: ProvisioningState, registry: AgentRegistry = REGISTRY): GraphPlan {
  const result = validateGraph(definition, registry, state ? { knownStreams: new Set(Object.keys(state.streams)) } : {});
  if (!result.ok) throw new GraphValidationError(String((definition as { name?: unknown } | null)?.name ?? ''), result.problems);
  return result.plan;
}

/**
 * Validates and commits a definition as the graph's next version. `edit` may instead derive the
 * definition from the committed one, inside the store's lock (so concurrent edits do not clobber).
 */
export async function applyGraph(store: ProvisioningStore, edit: unknown | ((state: ProvisioningState) => unknown)): Promise<GraphSpec> {
  let committed: GraphSpec | undefined;
  await store.update((draft) => {
    const definition = typeof edit === 'function' ? (edit as (s: ProvisioningState) => unknown)(draft) : edit;
    const plan = planGraph(definition, draft);
    if (plan.name === DEFAULT_GRAPH) {
      throw new LogfsError('LOGFS_E_CONFIG', `"${DEFAULT_GRAPH}" is the built-in graph for unassigned streams; choose another name`);
    }
    const previous = draft.graphs[plan.name];
    if (previous && JSON.stringify(previous.definition) === JSON.stringify(definition)) {
      committed = previous; // unchanged: no new version, nothing to reload
      return;
    }
    committed = {
      name: plan.name,
      provider: previous?.provider ?? 'default',
      version: (previous?.version ?? 0) + 1,
      definition: definition as Record<string, unknown>,
      updatedAt: new Date().toISOString(),
    };
    draft.graphs[plan.name] = committed;
  });
  return committed!;
}

export async function deleteGraph(store: ProvisioningStore, name: string): Promise<void> {
  await store.update((draft) => {
    if (!draft.graphs[name]) throw new LogfsError('LOGFS_E_NOT_FOUND', `graph "${name}" does not exist`);
    delete draft.graphs[name];
  });
}

/** Adds streams to a graph (a stream may feed several graphs); a new version like any edit. */
export async function assignStreams(store: ProvisioningStore, name: string, streams: string[]): Promise<GraphSpec> {
  return applyGraph(store, (state: ProvisioningState) => {
    const current = state.graphs[name];
    if (!current) throw new LogfsError('LOGFS_E_NOT_FOUND', `graph "${name}" does not exist (logfsctl graph apply FILE first)`);
    const before = (current.definition.streams as string[] | undefined) ?? [];
    return { ...current.definition, streams: [...new Set([...before, ...streams])] };
  });
}
