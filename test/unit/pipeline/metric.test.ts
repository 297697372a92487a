import { describe, expect, it, vi } from 'vitest';
import { metric, OVERFLOW_LABEL } from '../../../pipeline/agents/metric.js';
import type { PipelineRecord } from '../../../pipeline/record.js';
import { build, checkAgentCompliance, Collector, makeContext, makeRecord, MemoryServices } from './agent-harness.js';

// A minute boundary (and so a 5-minute one too: 1_699_999_800_000 is one).
const M0 = 1_699_999_800_000;
const S = 1000;

function rec(ts: number, v: unknown, cls: string | null = 'x', over: Partial<PipelineRecord> = {}): PipelineRecord {
  return makeRecord(`v=${String(v)}`, { ts, class: cls, fields: v === undefined ? {} : { v }, ...over });
}

async function setup(config: Record<string, unknown>) {
  const services = new MemoryServices();
  const { runtime } = await build(metric, { bucketsMinutes: [1], allowedLatenessMs: 0, ...config }, makeContext({ graph: 'g', nodeId: 'm', services }));
  return { rt: runtime, services };
}

describe('metric agent', () => {
  it('meets the agent contract', async () => {
    await checkAgentCompliance(metric, { field: 'fields.v', transform: { a: 2 } }, [rec(M0, 1), rec(M0 + S, 'oops'), rec(M0 + 70 * S, 3)]);
  });

  it('computes the statistics of a transformed field, hand-checked', async () => {
    const { rt, services } = await setup({ field: 'fields.v', transform: { a: 2, b: 1 } });
    const out = new Collector();
    // Transformed values 3, 5, 9 at 0 s, 10 s, 20 s; then a non-numeric and a missing field.
    rt.process([rec(M0, 1), rec(M0 + 10 * S, '2'), rec(M0 + 20 * S, 4), rec(M0 + 30 * S, 'abc'), rec(M0 + 40 * S, undefined)], out);
    expect(services.points).toHaveLength(0);
    rt.process([rec(M0 + 60 * S, 100)], out); // watermark reaches the bucket end (lateness 0)

    expect(services.points).toHaveLength(1);
    const p = services.points[0]!;
    expect(p).toMatchObject({ name: 'g.m.fields.v', bucketStart: M0, bucketMs: 60_000, group: { class: 'x' } });
    const v = p.values;
    expect(v.count).toBe(5);
    expect(v.invalid).toBe(2);
    expect(v.rate).toBeCloseTo(5 / 60, 12);
    expect(v.sum).toBe(17);
    expect(v.avg).toBeCloseTo(17 / 3, 12);
    expect(v.min).toBe(3);
    expect(v.max).toBe(9);
    // Population stddev: mean 17/3, squared deviations 64/9 + 4/9 + 100/9 = 168/9, / 3 = 56/9.
    expect(v.stddev).toBeCloseTo(Math.sqrt(56 / 9), 12);
    // (9 - 3) / 20 s.
    expect(v.derivative).toBeCloseTo(0.3, 12);
    // Trapezoids: (3+5)/2·10 + (5+9)/2·10 = 40 + 70 value·seconds.
    expect(v.integral).toBeCloseTo(110, 12);
    expect(v.late).toBe(0);
    expect(v.outOfOrder).toBe(0);

    const r = out.on('out')[0]!;
    expect(r.kind).toBe('metric');
    expect(r.id).toBe(`g/m@v1-test:g.m.fields.v:60000:x:${M0}`);
    expect(r.ts).toBe(M0);
    expect(r.fields).toMatchObject({ name: 'g.m.fields.v', bucketStart: M0, bucketEnd: M0 + 60_000, bucketMs: 60_000, group: { class: 'x' }, sum: 17, count: 5 });
  });

  it('counts records without a field as count and rate only', async () => {
    const { rt, services } = await setup({ groupBy: [] });
    const out = new Collector();
    rt.process([rec(M0, 1, 'a'), rec(M0 + 1, 1, 'b'), rec(M0 + 2, 1, null)], out);
    rt.drain!(out);
    expect(services.points).toEqual([{ name: 'g.m.count', bucketStart: M0, bucketMs: 60_000, group: {}, values: { count: 3, rate: 3 / 60, late: 0 }, run: 'v1-test' }]);
  });

  it('fills one bucket of every configured size, aligned to the size', async () => {
    const { rt, services } = await setup({ bucketsMinutes: [1, 5], groupBy: ['class', 'instance'] });
    const out = new Collector();
    rt.process([rec(M0 + 30 * S, 1), rec(M0 + 90 * S, 1), rec(M0 + 95 * S, 1, 'x', { instance: 'i-2' })], out);
    rt.drain!(out);
    const rows = services.points.map((p) => [p.bucketMs / 60_000, p.bucketStart - M0, p.group.instance, p.values.count]);
    expect(rows).toEqual(
      expect.arrayContaining([
        [1, 0, 'i-1', 1],
        [1, 60_000, 'i-1', 1],
        [1, 60_000, 'i-2', 1],
        [5, 0, 'i-1', 2],
        [5, 0, 'i-2', 1],
      ]),
    );
    expect(rows).toHaveLength(5);
  });

  it('counts a record whose bucket already closed as late in the newest bucket, leaving the closed point alone', async () => {
    const { rt, services } = await setup({ field: 'fields.v' });
    const out = new Collector();
    rt.process([rec(M0 + 1, 5), rec(M0 + 61 * S, 7)], out);
    expect(services.points).toHaveLength(1);
    rt.process([rec(M0 + 2, 1000)], out); // belongs to the closed bucket
    rt.drain!(out);
    expect(services.points).toHaveLength(2);
    expect(services.points[0]!.values).toMatchObject({ count: 1, sum: 5 });
    expect(services.points[1]!).toMatchObject({ bucketStart: M0 + 60_000 });
    expect(services.points[1]!.values).toMatchObject({ count: 1, sum: 7, late: 1 });
  });

  it('writes changed buckets on idle and writes them again, cumulatively, when they change', async () => {
    const { rt, services } = await setup({ field: 'fields.v', idleFlushMs: 10_000 });
    const out = new Collector();
    rt.process([rec(M0, 1)], out);
    rt.tick!(100, out);
    rt.tick!(10_099, out);
    expect(services.points).toHaveLength(0);
    rt.tick!(10_100, out);
    expect(services.points).toHaveLength(1);
    rt.tick!(30_000, out); // nothing changed: nothing more
    expect(services.points).toHaveLength(1);
    rt.process([rec(M0 + 5 * S, 3)], out);
    rt.drain!(out);
    expect(services.points.map((p) => p.values.sum)).toEqual([1, 4]);
    expect(services.points.map((p) => p.values.count)).toEqual([1, 2]);
    const ids = out.on('out').map((r) => r.id);
    expect(ids).toEqual([`g/m@v1-test:g.m.fields.v:60000:x:${M0}`, `g/m@v1-test:g.m.fields.v:60000:x:${M0}#2`]);
  });

  it('keeps out-of-order records out of derivative and integral, and counts them', async () => {
    const { rt, services } = await setup({ field: 'fields.v' });
    const out = new Collector();
    rt.process([rec(M0, 0), rec(M0 + 20 * S, 10), rec(M0 + 10 * S, 1000)], out);
    rt.drain!(out);
    const v = services.points[0]!.values;
    expect(v).toMatchObject({ count: 3, sum: 1010, max: 1000, outOfOrder: 1 });
    expect(v.integral).toBeCloseTo(100, 12); // (0+10)/2 · 20 s
    expect(v.derivative).toBeCloseTo(0.5, 12);
  });

  it('counts groups beyond maxGroups in an overflow group', async () => {
    const { rt, services } = await setup({ maxGroups: 1 });
    const out = new Collector();
    rt.process([rec(M0, 1, 'a'), rec(M0, 1, 'b'), rec(M0, 1, 'c')], out);
    rt.drain!(out);
    expect(services.points.map((p) => [p.group.class, p.values.count])).toEqual([
      ['a', 1],
      [OVERFLOW_LABEL, 2],
    ]);
  });

  it('flush is the metric sink\'s flush', async () => {
    const { rt, services } = await setup({});
    const spy = vi.spyOn(services.metrics, 'flush');
    await rt.flush!();
    expect(spy).toHaveBeenCalledTimes(1);
  });

  it('rejects a transform without a field, duplicate and fractional-millisecond buckets', () => {
    expect(metric.configSchema.safeParse({ transform: { a: 2 } }).success).toBe(false);
    expect(metric.configSchema.safeParse({ bucketsMinutes: [1, 1] }).success).toBe(false);
    expect(metric.configSchema.safeParse({ bucketsMinutes: [1e-7] }).success).toBe(false);
    expect(metric.configSchema.parse({})).toMatchObject({ bucketsMinutes: [1, 5, 15, 30, 60], groupBy: ['class'] });
  });
});
