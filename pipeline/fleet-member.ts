/**
 * What a pipeline worker tells the fleet (control/fleet): per graph its running version, state,
 * lag and per-agent counters of that version; and its cumulative use per agent for the cost figure.
 */
import type { AgentReport, AgentUsage, GraphReport, MemberState } from '../control/fleet/index.js';
import type { GraphStats, NodeStats } from './engine.js';

export interface WorkerGraphStatus {
  name: string;
  version: number;
  state: GraphReport['state'];
  lag: number | null;
  error: string | null;
  stats: GraphStats | null;
}

export function agentReport(s: NodeStats): AgentReport {
  let out = 0;
  for (const n of Object.values(s.out)) out += n;
  return { in: s.recordsIn, out, errors: s.errors, cpuMs: s.cpuMicros / 1000 };
}

/** `usage` is keyed "graph/node" and counts every version the worker ran. */
export function workerMemberState(graphs: WorkerGraphStatus[], usage: Record<string, AgentUsage>): MemberState {
  const reports: Record<string, GraphReport> = {};
  for (const g of graphs) {
    const agents: Record<string, AgentReport> = {};
    for (const [id, s] of Object.entries(g.stats?.nodes ?? {})) agents[id] = agentReport(s);
    reports[g.name] = { version: g.version, state: g.state, lag: g.lag, error: g.error, agents };
  }
  return { pipeline: { graphs: reports }, usage: { streams: {}, agents: usage } };
}

/** Adds a graph version's node counters into `into` (keyed "graph/node"). */
export function addAgentUsage(into: Record<string, AgentUsage>, graph: string, stats: GraphStats | null): void {
  for (const [id, s] of Object.entries(stats?.nodes ?? {})) {
    const u = (into[`${graph}/${id}`] ??= { records: 0, cpuMs: 0 });
    u.records += s.recordsIn;
    u.cpuMs += s.cpuMicros / 1000;
  }
}
