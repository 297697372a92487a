/**
 * The cost figure of streams and agents, from measured use (docs/cost.md):
 *
 *   cost = records / 1e6 × perMillionRecords + GiB × perGiB + CPU seconds × perCpuSecond
 *
 * A stream is charged its records and bytes, the gateway's CPU time spent accepting them, and a
 * share of the CPU time of the agents of every graph taking it, split by the stream's records
 * among the graph's streams (evenly while none has records). An agent's own figure is its CPU time.
 * Pure: the control service calls it with the fleet's summed usage and the store's graph assignment.
 */
import { z } from 'zod';
import type { Usage } from './member.js';

export const CostRatesSchema = z.strictObject({
  perMillionRecords: z.number().nonnegative().default(1).describe('Cost units per million records accepted'),
  perGiB: z.number().nonnegative().default(10).describe('Cost units per GiB (2^30 bytes) of record data accepted'),
  perCpuSecond: z.number().nonnegative().default(0.5).describe('Cost units per CPU second (gateway ingest and agents)'),
});
export type CostRates = z.infer<typeof CostRatesSchema>;

export const DEFAULT_COST_RATES: CostRates = Object.freeze(CostRatesSchema.parse({}));

export interface CostInput {
  /** Summed over the fleet (FleetView.usage()). */
  usage: Usage;
  /** Graph name → the streams it takes (the default graph: the streams no other graph takes). */
  graphs: Record<string, readonly string[]>;
}

export interface StreamCost {
  records: number;
  bytes: number;
  /** Gateway CPU time. */
  cpuMs: number;
  /** This stream's share of the CPU time of the agents of the graphs taking it. */
  agentCpuMs: number;
  cost: number;
}

export interface AgentCost {
  records: number;
  cpuMs: number;
  cost: number;
}

export interface CostReport {
  /** Every stream with usage or taken by a graph. */
  streams: Record<string, StreamCost>;
  /** By "graph/node". */
  agents: Record<string, AgentCost>;
  /** CPU time of agents whose graph takes no stream (or whose graph is unknown): in `total`, in no stream. */
  unattributedCpuMs: number;
  /** Every stream's cost plus the unattributed CPU time's. */
  total: number;
}

const GIB = 2 ** 30;

export function costOf(input: CostInput, rates: CostRates = DEFAULT_COST_RATES): CostReport {
  const cpuCost = (ms: number): number => (ms / 1000) * rates.perCpuSecond;
  const streams: Record<string, StreamCost> = {};
  const stream = (name: string): StreamCost => (streams[name] ??= { records: 0, bytes: 0, cpuMs: 0, agentCpuMs: 0, cost: 0 });
  for (const [name, u] of Object.entries(input.usage.streams)) Object.assign(stream(name), { records: u.records, bytes: u.bytes, cpuMs: u.cpuMs });
  for (const names of Object.values(input.graphs)) for (const name of names) stream(name);

  const agents: Record<string, AgentCost> = {};
  const graphCpuMs = new Map<string, number>();
  for (const [key, u] of Object.entries(input.usage.agents)) {
    agents[key] = { records: u.records, cpuMs: u.cpuMs, cost: cpuCost(u.cpuMs) };
    // Node ids have no "/", graph names neither: the key is "graph/node".
    const graph = key.slice(0, key.lastIndexOf('/'));
    graphCpuMs.set(graph, (graphCpuMs.get(graph) ?? 0) + u.cpuMs);
  }

  let unattributedCpuMs = 0;
  for (const [graph, cpuMs] of graphCpuMs) {
    const taken = [...new Set(input.graphs[graph] ?? [])];
    if (taken.length === 0) {
      unattributedCpuMs += cpuMs;
      continue;
    }
    const records = taken.reduce((n, s) => n + stream(s).records, 0);
    for (const s of taken) stream(s).agentCpuMs += records > 0 ? (cpuMs * stream(s).records) / records : cpuMs / taken.length;
  }

  let total = cpuCost(unattributedCpuMs);
  for (const s of Object.values(streams)) {
    s.cost = (s.records / 1e6) * rates.perMillionRecords + (s.bytes / GIB) * rates.perGiB + cpuCost(s.cpuMs + s.agentCpuMs);
    total += s.cost;
  }
  return { streams, agents, unattributedCpuMs, total };
}
