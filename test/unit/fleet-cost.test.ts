import { describe, expect, it } from 'vitest';
import { costOf, CostRatesSchema, DEFAULT_COST_RATES, type Usage } from '../../control/fleet/index.js';

const GIB = 2 ** 30;

function usage(u: Partial<Usage>): Usage {
  return { streams: {}, agents: {}, ...u };
}

describe('costOf', () => {
  it('charges a stream its records, bytes and gateway CPU at the default rates', () => {
    const r = costOf({ usage: usage({ streams: { 'app/a': { records: 2e6, bytes: GIB, cpuMs: 4000 } } }), graphs: {} });
    // 2 M records × 1 + 1 GiB × 10 + 4 CPU s × 0.5
    expect(r.streams['app/a']).toEqual({ records: 2e6, bytes: GIB, cpuMs: 4000, agentCpuMs: 0, cost: 14 });
    expect(r.total).toBe(14);
    expect(DEFAULT_COST_RATES).toEqual({ perMillionRecords: 1, perGiB: 10, perCpuSecond: 0.5 });
  });

  it('splits a graph\'s agent CPU among its streams by their records', () => {
    const r = costOf({
      usage: usage({
        streams: { a: { records: 3000, bytes: 0, cpuMs: 0 }, b: { records: 1000, bytes: 0, cpuMs: 0 } },
        agents: { 'web/parse': { records: 4000, cpuMs: 600 }, 'web/store': { records: 4000, cpuMs: 200 } },
      }),
      graphs: { web: ['a', 'b'] },
    });
    expect(r.streams.a!.agentCpuMs).toBeCloseTo(600);
    expect(r.streams.b!.agentCpuMs).toBeCloseTo(200);
    expect(r.agents['web/parse']).toEqual({ records: 4000, cpuMs: 600, cost: 0.3 });
    expect(r.unattributedCpuMs).toBe(0);
    // The agents' CPU is in the streams' figures once, not twice.
    expect(r.total).toBeCloseTo((4000 / 1e6) * 1 + 0.8 * 0.5);
  });

  it('splits evenly while no stream of the graph has records, and counts a stream in every graph taking it', () => {
    const r = costOf({
      usage: usage({ agents: { 'g1/n': { records: 0, cpuMs: 90 }, 'g2/n': { records: 0, cpuMs: 30 } } }),
      graphs: { g1: ['a', 'b', 'c'], g2: ['a'] },
    });
    expect(r.streams.a!.agentCpuMs).toBeCloseTo(60);
    expect(r.streams.b!.agentCpuMs).toBeCloseTo(30);
    expect(r.streams.c!.agentCpuMs).toBeCloseTo(30);
    expect(r.streams.a!.records).toBe(0);
  });

  it('keeps the CPU of agents of a graph that takes no stream out of every stream but in the total', () => {
    const r = costOf({ usage: usage({ agents: { 'gone/n': { records: 5, cpuMs: 2000 } } }), graphs: {} });
    expect(r.unattributedCpuMs).toBe(2000);
    expect(r.streams).toEqual({});
    expect(r.total).toBeCloseTo(1);
  });

  it('takes other rates, and rejects unknown or negative ones', () => {
    const rates = CostRatesSchema.parse({ perCpuSecond: 2 });
    const r = costOf({ usage: usage({ streams: { a: { records: 0, bytes: 0, cpuMs: 1500 } } }), graphs: {} }, rates);
    expect(r.streams.a!.cost).toBe(3);
    expect(CostRatesSchema.safeParse({ perRecord: 1 }).success).toBe(false);
    expect(CostRatesSchema.safeParse({ perGiB: -1 }).success).toBe(false);
  });
});
