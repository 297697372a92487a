/**
 * Checks a graph definition before anything runs, modelled on Vector's config/validation.rs:
 * every problem is collected and reported at once, each with the node id and the field, so an
 * operator fixes a graph in one round. On success it returns the plan the engine runs: nodes in
 * DAG order with parsed configs and resolved edges.
 */
import type { z } from 'zod';
import type { AgentDefinition } from '../agent.js';
import type { AgentRegistry } from '../registry.js';
import { GRAPH_NAME, GraphDefinitionSchema, NODE_ID, SOURCE, type GraphDefinition } from './graph-schema.js';

export interface GraphProblem {
  /** Stable machine-readable kind. */
  code:
    | 'invalid-definition'
    | 'invalid-name'
    | 'invalid-id'
    | 'duplicate-id'
    | 'unknown-type'
    | 'invalid-config'
    | 'dangling-input'
    | 'unknown-port'
    | 'cycle'
    | 'unreachable'
    | 'dead-end'
    | 'unknown-phase'
    | 'phase-order'
    | 'unknown-stream';
  /** Node id the problem is about, when there is one. */
  node?: string;
  /** Dotted path of the offending field, e.g. "config.pattern" or "inputs.1". */
  field?: string;
  message: string;
}

export interface PlannedEdge {
  /** Node id, or SOURCE. */
  from: string;
  port: string;
}

export interface PlannedNode {
  id: string;
  type: string;
  definition: AgentDefinition<any>;
  config: unknown;
  inputs: PlannedEdge[];
  ports: string[];
  phase: string;
}

export interface GraphPlan {
  name: string;
  streams: string[];
  phases: string[];
  /** Topological order: every node after all of its inputs. */
  nodes: PlannedNode[];
}

export type ValidationResult = { ok: true; plan: GraphPlan; problems: [] } | { ok: false; problems: GraphProblem[] };

export interface ValidateOptions {
  /** Provisioned stream names; when given, unknown streams are problems. */
  knownStreams?: ReadonlySet<string>;
}

export const DEFAULT_PHASE = 'main';

export function validateGraph(input: unknown, registry: AgentRegistry, opts: ValidateOptions = {}): ValidationResult {
  const shape = GraphDefinitionSchema.safeParse(input);
  if (!shape.success) return { ok: false, problems: zodProblems(shape.error, 'invalid-definition') };
  const def: GraphDefinition = shape.data;
  const problems: GraphProblem[] = [];

  if (!GRAPH_NAME.test(def.name)) {
    problems.push({ code: 'invalid-name', field: 'name', message: `graph name "${def.name}" must be lower-case letters, digits and - (at most 63, starting with a letter)` });
  }
  if (opts.knownStreams) {
    def.streams.forEach((s, i) => {
      if (!opts.knownStreams!.has(s)) problems.push({ code: 'unknown-stream', field: `streams.${i}`, message: `stream "${s}" is not provisioned (logfsctl stream create ${s})` });
    });
  }
  const phases = def.phases && def.phases.length > 0 ? def.phases : [DEFAULT_PHASE];
  if (new Set(phases).size !== phases.length) problems.push({ code: 'invalid-definition', field: 'phases', message: 'phase names must be unique' });

  // Nodes: ids, types and configs.
  const planned = new Map<string, PlannedNode>();
  const seen = new Set<string>();
  def.nodes.forEach((n, i) => {
    const at = { node: n.id };
    if (n.id === SOURCE) problems.push({ ...at, code: 'invalid-id', field: `nodes.${i}.id`, message: `"${SOURCE}" is reserved for the graph's streams; rename the node` });
    else if (!NODE_ID.test(n.id)) problems.push({ ...at, code: 'invalid-id', field: `nodes.${i}.id`, message: `node id "${n.id}" must be lower-case letters, digits, _ and -, starting with a letter` });
    if (seen.has(n.id)) problems.push({ ...at, code: 'duplicate-id', field: `nodes.${i}.id`, message: `node id "${n.id}" is used more than once` });
    seen.add(n.id);
    const phase = n.phase ?? phases[0]!;
    if (!phases.includes(phase)) problems.push({ ...at, code: 'unknown-phase', field: `nodes.${i}.phase`, message: `phase "${phase}" is not one of: ${phases.join(', ')}` });
    const agent = registry.get(n.type);
    if (!agent) {
      problems.push({ ...at, code: 'unknown-type', field: `nodes.${i}.type`, message: `unknown agent type "${n.type}"; known types: ${[...registry.keys()].sort().join(', ')}` });
      return;
    }
    const cfg = agent.configSchema.safeParse(n.config);
    if (!cfg.success) {
      for (const p of zodProblems(cfg.error, 'invalid-config', `config`)) problems.push({ ...p, node: n.id, message: `${n.type}: ${p.message}` });
      return;
    }
    if (!planned.has(n.id)) planned.set(n.id, { id: n.id, type: n.type, definition: agent, config: cfg.data, inputs: [], ports: agent.ports(cfg.data), phase });
  });

  // Edges.
  const consumers = new Map<string, Set<string>>(); // "id.port" -> consumers
  def.nodes.forEach((n, i) => {
    const node = planned.get(n.id);
    n.inputs.forEach((ref, j) => {
      const field = `nodes.${i}.inputs.${j}`;
      if (ref === SOURCE) {
        // With Kafka, only the first phase consumes the stream topics; later ones read their phase topic.
        if (node && node.phase !== phases[0]) {
          problems.push({ node: n.id, field, code: 'phase-order', message: `"${n.id}" (phase ${node.phase}) takes "${SOURCE}", which only nodes of the first phase (${phases[0]}) may take` });
        }
        node?.inputs.push({ from: SOURCE, port: 'out' });
        return;
      }
      const dot = ref.indexOf('.');
      const fromId = dot < 0 ? ref : ref.slice(0, dot);
      const from = planned.get(fromId);
      const known = def.nodes.some((m) => m.id === fromId);
      if (!known) {
        problems.push({ node: n.id, field, code: 'dangling-input', message: `input "${ref}" names no node of this graph (nor "${SOURCE}")` });
        return;
      }
      if (!from) return; // its own problem (type or config) is already reported
      if (from.ports.length === 0) {
        problems.push({ node: n.id, field, code: 'unknown-port', message: `"${fromId}" (${from.type}) is a sink and has no outputs` });
        return;
      }
      const port = dot < 0 ? from.ports[0]! : ref.slice(dot + 1);
      if (!from.ports.includes(port)) {
        problems.push({ node: n.id, field, code: 'unknown-port', message: `"${fromId}" (${from.type}) has no output "${port}"; its outputs: ${from.ports.join(', ')}` });
        return;
      }
      if (fromId === n.id) {
        problems.push({ node: n.id, field, code: 'cycle', message: `node "${n.id}" takes its own output` });
        return;
      }
      const key = `${fromId}.${port}`;
      if (!consumers.has(key)) consumers.set(key, new Set());
      consumers.get(key)!.add(n.id);
      node?.inputs.push({ from: fromId, port });
      if (node && phases.indexOf(from.phase) > phases.indexOf(node.phase)) {
        problems.push({ node: n.id, field, code: 'phase-order', message: `"${n.id}" (phase ${node.phase}) takes input from "${fromId}" in the later phase ${from.phase}; records only flow to the same or later phases` });
      }
    });
  });

  // Cycles and order (Kahn's algorithm), then reachability from the source.
  const order = topologicalOrder([...planned.values()]);
  for (const id of order.cyclic) problems.push({ node: id, field: 'inputs', code: 'cycle', message: `node "${id}" is part of a cycle; a graph must be acyclic` });
  const reachable = new Set<string>();
  for (const n of order.sorted) if (n.inputs.some((e) => e.from === SOURCE || reachable.has(e.from))) reachable.add(n.id);
  for (const n of order.sorted) {
    if (!reachable.has(n.id)) problems.push({ node: n.id, field: 'inputs', code: 'unreachable', message: `node "${n.id}" gets no records: none of its inputs leads back to "${SOURCE}"` });
  }
  // A non-sink whose default output feeds nothing would lose those records without a trace.
  for (const n of planned.values()) {
    if (n.definition.sink || n.ports.length === 0) continue;
    const main = n.ports[0]!;
    if (!consumers.has(`${n.id}.${main}`)) {
      problems.push({ node: n.id, field: 'id', code: 'dead-end', message: `records leaving "${n.id}" (${n.type}, output "${main}") go nowhere; add a node that takes "${n.id}", or send them to a discard node to drop them on purpose` });
    }
  }

  if (problems.length > 0) return { ok: false, problems };
  return { ok: true, problems: [], plan: { name: def.name, streams: def.streams, phases, nodes: order.sorted } };
}

function topologicalOrder(nodes: PlannedNode[]): { sorted: PlannedNode[]; cyclic: string[] } {
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const indegree = new Map(nodes.map((n) => [n.id, n.inputs.filter((e) => e.from !== SOURCE && byId.has(e.from)).length]));
  const out = new Map<string, string[]>();
  for (const n of nodes) for (const e of n.inputs) if (e.from !== SOURCE) out.set(e.from, [...(out.get(e.from) ?? []), n.id]);
  // Definition order breaks ties, so the plan is stable for the same text.
  const ready = nodes.filter((n) => indegree.get(n.id) === 0).map((n) => n.id);
  const sorted: PlannedNode[] = [];
  while (ready.length > 0) {
    const id = ready.shift()!;
    sorted.push(byId.get(id)!);
    for (const next of out.get(id) ?? []) {
      const d = indegree.get(next)! - 1;
      indegree.set(next, d);
      if (d === 0) ready.push(next);
    }
  }
  const cyclic = nodes.filter((n) => !sorted.includes(n)).map((n) => n.id);
  return { sorted, cyclic };
}

function zodProblems(err: z.ZodError, code: GraphProblem['code'], prefix?: string): GraphProblem[] {
  return err.issues.map((i) => {
    const field = [prefix, ...i.path.map(String)].filter((p) => p !== undefined && p !== '').join('.');
    return { code, ...(field ? { field } : {}), message: field ? `${field}: ${i.message}` : i.message };
  });
}

/** One line per problem, for the CLI and error messages. */
export function formatProblems(problems: readonly GraphProblem[]): string {
  return problems.map((p) => `${p.node ? `node ${p.node}: ` : ''}${p.message} [${p.code}]`).join('\n');
}
