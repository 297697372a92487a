import { describe, expect, it, vi } from 'vitest';
import type { AlarmEvent } from '../../../pipeline/agent.js';
import { alarm, describePredicate } from '../../../pipeline/agents/alarm.js';
import { metric } from '../../../pipeline/agents/metric.js';
import { FLAGS, type PipelineRecord } from '../../../pipeline/record.js';
import { build, checkAgentCompliance, Collector, makeContext, makeRecord, MemoryServices } from './agent-harness.js';

const T0 = 1_700_000_000_000;
const S = 1000;

function rec(ts: number, data = 'ok', over: Partial<PipelineRecord> = {}): PipelineRecord {
  return makeRecord(data, { ts, ...over });
}

async function setup(config: Record<string, unknown>) {
  const services = new MemoryServices();
  const { runtime } = await build(alarm, config, makeContext({ graph: 'g', nodeId: 'al', services }));
  return { rt: runtime, events: services.alarmEvents, services };
}

const states = (events: AlarmEvent[]) => events.map((e) => `${e.state} ${e.alarm} @${e.time - T0}`);

describe('alarm agent', () => {
  it('meets the agent contract', async () => {
    await checkAgentCompliance(
      alarm,
      {
        rules: [
          { name: 'panic', pattern: 'panic' },
          { name: 'errors', classCount: { class: 'error', above: 0 }, perInstance: true },
          { name: 'invalid', invalidCount: { above: 0 } },
          { name: 'slow', metric: { name: '*', stat: 'avg', above: 1 } },
          { name: 'status', match: { field: 'fields.status', gte: 500 } },
        ],
      },
      [rec(T0, 'panic!'), rec(T0, 'x', { class: 'error', flags: [FLAGS.invalid] }), rec(T0, 'y', { fields: { status: 503 } })],
    );
  });

  it('fires a field rule only once the condition held for forMs, with value, condition and samples', async () => {
    const { rt, events } = await setup({ rules: [{ name: 'http5xx', match: { field: 'fields.status', gte: 500 }, forMs: 10_000 }] });
    const out = new Collector();
    const first = rec(T0, 'a', { fields: { status: 500 } });
    rt.process([first, rec(T0 + 1, 'b', { fields: { status: 200 } }), rec(T0 + 5 * S, 'c', { fields: { status: 503 } })], out);
    rt.tick!(0, out);
    expect(events).toHaveLength(0);
    const third = rec(T0 + 10 * S, 'd', { fields: { status: 502 } });
    rt.process([third], out);
    expect(events).toHaveLength(1);
    expect(events[0]).toEqual({
      alarm: 'g.al.http5xx',
      state: 'firing',
      condition: 'fields.status >= 500 for 10s',
      value: 502,
      instance: null,
      time: T0 + 10 * S,
      sampleRecordIds: [first.id, expect.any(String), third.id],
      graph: 'g',
      node: 'al',
    });
    const r = out.on('out')[0]!;
    expect(r.kind).toBe('alarm');
    expect(r.fields).toMatchObject({ alarm: 'g.al.http5xx', state: 'firing', rule: 'http5xx' });
    rt.process([rec(T0 + 11 * S, 'e', { fields: { status: 500 } })], out);
    expect(events).toHaveLength(1); // still firing, not again
  });

  it('resolves a field rule after clearAfterMs without a match, by event time or when idle', async () => {
    const rules = [{ name: 'panic', pattern: 'pan+ic', clearAfterMs: 30_000 }];
    const byEventTime = await setup({ rules });
    const out = new Collector();
    byEventTime.rt.process([rec(T0, 'kernel panic'), rec(T0 + 29 * S)], out);
    expect(states(byEventTime.events)).toEqual(['firing g.al.panic @0']);
    byEventTime.rt.process([rec(T0 + 45 * S)], out);
    expect(states(byEventTime.events)).toEqual(['firing g.al.panic @0', 'resolved g.al.panic @30000']);
    expect(byEventTime.events[1]!.sampleRecordIds).toEqual([]);

    const idle = await setup({ rules });
    idle.rt.process([rec(T0, 'panic')], out);
    idle.rt.tick!(1_000, out);
    idle.rt.tick!(30_999, out);
    expect(idle.events).toHaveLength(1);
    idle.rt.tick!(31_000, out);
    expect(states(idle.events)).toEqual(['firing g.al.panic @0', 'resolved g.al.panic @30000']);
  });

  it('gives a pattern rule the number of matching records as its value', async () => {
    const { rt, events } = await setup({ rules: [{ name: 'panic', pattern: 'panic', forMs: 2_000 }] });
    const out = new Collector();
    rt.process([rec(T0, 'panic one'), rec(T0 + S, 'panic two'), rec(T0 + 2 * S, 'panic three')], out);
    expect(events).toHaveLength(1);
    expect(events[0]!.value).toBe(3);
  });

  it('fires at most maxPerPeriod times per period and rule', async () => {
    const { rt, events } = await setup({ rules: [{ name: 'boom', pattern: 'boom', clearAfterMs: 1000, maxPerPeriod: 2, periodMs: 60_000 }] });
    const out = new Collector();
    // Each boom fires, then clears 1 s later (the next record moves event time on).
    for (const t of [0, 5, 10, 15]) rt.process([rec(T0 + t * S, 'boom'), rec(T0 + (t + 2) * S)], out);
    expect(events.filter((e) => e.state === 'firing').map((e) => e.time - T0)).toEqual([0, 5000]);
    rt.process([rec(T0 + 61 * S, 'boom')], out);
    expect(events.filter((e) => e.state === 'firing').map((e) => e.time - T0)).toEqual([0, 5000, 61_000]);
    // Suppressed firings are not published, so neither is their resolution.
    expect(events.filter((e) => e.state === 'resolved')).toHaveLength(2);
    expect(out.on('out').at(-1)!.fields.suppressedBefore).toBe(2);
  });

  it('keeps separate state per instance and resolves a count rule when a window ends below the threshold', async () => {
    const { rt, events } = await setup({ rules: [{ name: 'errors', classCount: { class: 'error', above: 2, windowMs: 10_000 }, perInstance: true }], allowedLatenessMs: 0 });
    const out = new Collector();
    const err = (t: number, instance: string) => rec(T0 + t, 'e', { class: 'error', instance });
    rt.process([err(0, 'i-1'), err(1, 'i-2'), err(2, 'i-1'), err(3, 'i-2'), rec(T0 + 4, 'fine', { instance: 'i-2' }), err(5, 'i-1')], out);
    expect(events.map((e) => [e.state, e.alarm, e.instance, e.value])).toEqual([['firing', 'g.al.errors.i-1', 'i-1', 3]]);
    expect(events[0]!.sampleRecordIds).toHaveLength(3);
    // Next window: i-1 errs only once; once that window ends the alarm resolves.
    rt.process([err(10_000, 'i-1')], out);
    expect(events).toHaveLength(1);
    rt.process([rec(T0 + 20_000, 'later', { instance: 'i-3' })], out);
    expect(events.map((e) => [e.state, e.alarm, e.time - T0, e.value])).toEqual([
      ['firing', 'g.al.errors.i-1', 5, 3],
      ['resolved', 'g.al.errors.i-1', 20_000, 1],
    ]);
  });

  it('treats a window with no records at all as below the threshold', async () => {
    const { rt, events } = await setup({ rules: [{ name: 'inv', invalidCount: { above: 1, windowMs: 10_000 } }], allowedLatenessMs: 0 });
    const out = new Collector();
    const bad = (t: number) => rec(T0 + t, 'x', { flags: [FLAGS.invalid] });
    rt.process([bad(0), bad(1), rec(T0 + 2)], out);
    expect(states(events)).toEqual(['firing g.al.inv @1']);
    rt.process([rec(T0 + 15_000)], out); // first window judged: above, the chain goes on
    expect(events).toHaveLength(1);
    rt.process([rec(T0 + 20_000)], out); // second window ended empty
    expect(states(events)).toEqual(['firing g.al.inv @1', 'resolved g.al.inv @20000']);
  });

  it('needs consecutive windows above the threshold for a forMs longer than a window', async () => {
    const { rt, events } = await setup({ rules: [{ name: 'c', classCount: { class: 'error', above: 0, windowMs: 10_000 }, forMs: 15_000 }], allowedLatenessMs: 0 });
    const out = new Collector();
    const err = (t: number) => rec(T0 + t, 'e', { class: 'error' });
    rt.process([err(0), err(9_000), err(12_000)], out);
    expect(events).toHaveLength(0);
    rt.process([err(15_000)], out);
    expect(states(events)).toEqual(['firing g.al.c @15000']);
  });

  it('fires on metric points above a threshold and resolves on the first point below', async () => {
    const services = new MemoryServices();
    const ctx = (nodeId: string) => makeContext({ graph: 'g', nodeId, services });
    const m = (await build(metric, { field: 'fields.ms', bucketsMinutes: [1], allowedLatenessMs: 0, groupBy: [] }, ctx('lat'))).runtime;
    const a = (await build(alarm, { rules: [{ name: 'slow', metric: { name: 'g.lat.*', stat: 'avg', above: 100, bucketMinutes: 1 } }] }, ctx('al'))).runtime;
    const M0 = Math.floor(T0 / 60_000) * 60_000;
    const metricOut = new Collector();
    m.process([rec(M0, 'x', { fields: { ms: 150 } }), rec(M0 + 30 * S, 'x', { fields: { ms: 250 } })], metricOut);
    m.process([rec(M0 + 60 * S, 'x', { fields: { ms: 20 } })], metricOut);
    m.process([rec(M0 + 120 * S, 'x', { fields: { ms: 20 } })], metricOut);
    expect(metricOut.on('out')).toHaveLength(2);

    const out = new Collector();
    a.process([metricOut.on('out')[0]!], out);
    expect(services.alarmEvents.map((e) => [e.state, e.alarm, e.value, e.time - M0])).toEqual([['firing', 'g.al.slow{}:1m', 200, 60_000]]);
    expect(services.alarmEvents[0]!.condition).toBe('g.lat.* avg > 100');
    a.process([metricOut.on('out')[1]!], out);
    expect(services.alarmEvents.map((e) => [e.state, e.value])).toEqual([
      ['firing', 200],
      ['resolved', 20],
    ]);
  });

  it('resolves what is firing on drain, saying why', async () => {
    const { rt, events } = await setup({ rules: [{ name: 'p', pattern: 'panic' }] });
    const out = new Collector();
    rt.process([rec(T0, 'panic')], out);
    rt.drain!(out);
    expect(events.map((e) => e.state)).toEqual(['firing', 'resolved']);
    expect(events[1]!.condition).toContain('alarm node stopped');
  });

  it('does not test field rules on metric records', async () => {
    const { rt, events } = await setup({ rules: [{ name: 'p', pattern: '.' }] });
    rt.process([rec(T0, 'anything', { kind: 'metric' })], new Collector());
    expect(events).toHaveLength(0);
  });

  it('flush is the alarm sink\'s flush', async () => {
    const { rt, services } = await setup({ rules: [{ name: 'p', pattern: 'x' }] });
    const spy = vi.spyOn(services.alarms, 'flush');
    await rt.flush!();
    expect(spy).toHaveBeenCalledTimes(1);
  });

  it('rejects rules with no or several conditions, and duplicate names', () => {
    const parse = (rules: unknown[]) => alarm.configSchema.safeParse({ rules });
    expect(parse([{ name: 'a' }]).success).toBe(false);
    expect(parse([{ name: 'a', pattern: 'x', classCount: { class: 'e', above: 1 } }]).success).toBe(false);
    expect(parse([{ name: 'a', pattern: 'x' }, { name: 'a', pattern: 'y' }]).success).toBe(false);
    expect(parse([{ name: 'a', metric: { name: 'x', stat: 'avg' } }]).success).toBe(false);
    expect(parse([{ name: 'a', pattern: '(' }]).success).toBe(false);
    expect(parse([{ name: 'a', pattern: 'x' }]).success).toBe(true);
  });

  it('describes predicates readably', () => {
    expect(describePredicate({ all: [{ field: 'fields.status', gte: 500 }, { not: { field: 'class', eq: 'debug' } }] })).toBe('(fields.status >= 500 and not class == "debug")');
  });
});
