import { describe, expect, it } from 'vitest';
import { aggregate, sampleOf } from '../../../pipeline/agents/aggregate.js';
import type { PipelineRecord } from '../../../pipeline/record.js';
import { build, checkAgentCompliance, Collector, makeContext, makeRecord } from './agent-harness.js';

// Aligned to 1 s windows.
const T0 = 1_700_000_000_000;

function rec(ts: number, cls: string | null, data = `line at ${ts - T0}`, over: Partial<PipelineRecord> = {}): PipelineRecord {
  return makeRecord(data, { ts, class: cls, ...over });
}

async function agg(config: Record<string, unknown>) {
  const { runtime } = await build(aggregate, { windowMs: 1000, allowedLatenessMs: 500, ...config }, makeContext({ graph: 'g', nodeId: 'agg' }));
  return runtime;
}

function byClass(records: PipelineRecord[]): Record<string, PipelineRecord> {
  return Object.fromEntries(records.map((r) => [String((r.fields.group as Record<string, unknown>).class), r]));
}

describe('aggregate agent', () => {
  it('meets the agent contract', async () => {
    await checkAgentCompliance(aggregate, { windowMs: 1000, passThrough: true }, [rec(T0, 'a'), rec(T0 + 10, 'b'), rec(T0 + 2000, 'a')]);
  });

  it('does not let a record from a clock far ahead close the current windows', async () => {
    const rt = await agg({ idleFlushMs: 3_600_000 });
    const now = Math.floor(Date.now() / 1000) * 1000;
    const out = new Collector();
    rt.process([rec(now + 100, 'a', 'on time'), rec(now + 10 * 365 * 86_400_000, 'z', 'from a clock ten years ahead'), rec(now + 200, 'a', 'also on time')], out);
    rt.tick!(Date.now(), out);
    // Both on-time records are still counted in their open window, neither of them late.
    expect(out.on('out').filter((r) => (r.fields.group as Record<string, unknown>).class === 'a')).toEqual([]);
    await rt.drain!(out);
    const a = out.on('out').find((r) => (r.fields.group as Record<string, unknown>).class === 'a')!;
    expect(a.fields.count).toBe(2);
    expect(a.flags).not.toContain('late');
  });

  it('closes a window once event time passes its end plus the allowed lateness', async () => {
    const rt = await agg({});
    const a1 = rec(T0 + 100, 'a', 'first a');
    const a2 = rec(T0 + 200, 'a', 'second a');
    const b1 = rec(T0 + 300, 'b', 'only b');
    const out = new Collector();
    rt.process([a1, a2, b1, rec(T0 + 1400, 'a')], out);
    rt.tick!(0, out);
    expect(out.on('out')).toEqual([]); // watermark T0+900: the first window is still open

    rt.process([rec(T0 + 1500, 'c')], out); // watermark T0+1000 = the window end
    const closed = byClass(out.on('out'));
    expect(Object.keys(closed).sort()).toEqual(['a', 'b']);
    const a = closed.a!;
    expect(a.kind).toBe('aggregate');
    expect(a.id).toBe(`g/agg@v1-test:a:${T0}`);
    expect(a.ts).toBe(T0);
    expect(a.fields).toEqual({
      count: 2,
      firstTs: T0 + 100,
      lastTs: T0 + 200,
      firstId: a1.id,
      lastId: a2.id,
      sample: 'first a',
      group: { class: 'a' },
      windowStart: T0,
      windowEnd: T0 + 1000,
    });
    expect(a.flags).toEqual([]);
    expect(a.data.toString()).toBe('2 × first a');
    expect(closed.b!.fields.count).toBe(1);
    expect(closed.b!.id).toBe(`g/agg@v1-test:b:${T0}`);
  });

  it('drain emits every open window', async () => {
    const rt = await agg({});
    const out = new Collector();
    rt.process([rec(T0 + 1, 'a'), rec(T0 + 1001, 'a'), rec(T0 + 1002, null)], out);
    expect(out.on('out')).toHaveLength(0);
    rt.drain!(out);
    const emitted = out.on('out').map((r) => [r.fields.windowStart, (r.fields.group as Record<string, unknown>).class, r.fields.count]);
    expect(emitted).toEqual([
      [T0, 'a', 1],
      [T0 + 1000, 'a', 1],
      [T0 + 1000, null, 1],
    ]);
    expect(out.on('out').map((r) => r.id)).toContain(`g/agg@v1-test:%00:${T0 + 1000}`);
  });

  it('counts records later than the lateness in a late aggregate instead of dropping them', async () => {
    const rt = await agg({});
    const out = new Collector();
    rt.process([rec(T0 + 100, 'a'), rec(T0 + 2600, 'a')], out); // closes [T0, T0+1000)
    expect(out.on('out')).toHaveLength(1);
    const late1 = rec(T0 + 50, 'a', 'late one');
    const late2 = rec(T0 + 70, 'a', 'late two');
    rt.process([late1, late2], out);
    const late = out.on('out')[1]!;
    expect(late.flags).toContain('late');
    expect(late.fields).toMatchObject({ late: true, count: 2, windowStart: T0, firstId: late1.id, sample: 'late one' });
    expect(late.id).toBe(`g/agg@v1-test:a:${T0}+${late1.id}`);
    expect(late.id).not.toBe(out.on('out')[0]!.id);
    rt.drain!(out);
    const total = out.on('out').reduce((n, r) => n + (r.fields.count as number), 0);
    expect(total).toBe(4);
  });

  it('flushes on idle (processing time) and gives a window reopened afterwards its own ID', async () => {
    const rt = await agg({ idleFlushMs: 5000, windowMs: 60_000 });
    const W0 = Math.floor(T0 / 60_000) * 60_000;
    const out = new Collector();
    const first = rec(T0 + 10, 'a');
    rt.process([first], out);
    rt.tick!(1_000, out);
    rt.tick!(5_999, out);
    expect(out.on('out')).toHaveLength(0);
    rt.tick!(6_000, out);
    expect(out.on('out')).toHaveLength(1);
    expect(out.on('out')[0]!.id).toBe(`g/agg@v1-test:a:${W0}`);

    const again = rec(T0 + 20, 'a');
    rt.process([again], out);
    rt.tick!(7_000, out);
    rt.drain!(out);
    expect(out.on('out')).toHaveLength(2);
    expect(out.on('out')[1]!.id).toBe(`g/agg@v1-test:a:${W0}+${again.id}`);
    expect(out.on('out')[1]!.flags).toEqual([]);
  });

  it('passes the original records through on "records" when asked', async () => {
    const rt = await agg({ passThrough: true });
    expect(aggregate.ports(aggregate.configSchema.parse({ passThrough: true }))).toEqual(['out', 'records']);
    expect(aggregate.ports(aggregate.configSchema.parse({}))).toEqual(['out']);
    const records = [rec(T0, 'a'), rec(T0 + 1, 'b')];
    const out = new Collector();
    rt.process(records, out);
    expect(out.on('records')).toEqual(records);
  });

  it('groups by several fields, and gives the same input the same IDs', async () => {
    const input = () => [
      rec(T0, 'web', 'x', { fields: { status: 500 } }),
      rec(T0 + 1, 'web', 'y', { fields: { status: 500 } }),
      rec(T0 + 2, 'web', 'z', { fields: { status: 404 } }),
      rec(T0 + 3, 'web', 'w', { fields: {} }),
    ];
    const ids: string[][] = [];
    for (let i = 0; i < 2; i++) {
      const rt = await agg({ by: ['class', 'fields.status'] });
      const out = new Collector();
      rt.process(input(), out);
      rt.drain!(out);
      expect(out.on('out').map((r) => [r.fields.group, r.fields.count])).toEqual([
        [{ class: 'web', 'fields.status': 500 }, 2],
        [{ class: 'web', 'fields.status': 404 }, 1],
        [{ class: 'web', 'fields.status': null }, 1],
      ]);
      ids.push(out.on('out').map((r) => r.id));
    }
    expect(ids[0]).toEqual(ids[1]);
    expect(new Set(ids[0]).size).toBe(3);
    expect(ids[0]![0]).toBe(`g/agg@v1-test:web,500:${T0}`);
  });

  it('keeps memory bounded by emitting early at maxOpenWindows, losing nothing', async () => {
    const rt = await agg({ maxOpenWindows: 2 });
    const out = new Collector();
    rt.process([rec(T0, 'a'), rec(T0 + 1, 'b'), rec(T0 + 2, 'c'), rec(T0 + 3, 'a')], out);
    expect(out.on('out')).toHaveLength(2); // a and b went out when c needed room
    rt.drain!(out);
    const all = out.on('out');
    expect(all.reduce((n, r) => n + (r.fields.count as number), 0)).toBe(4);
    expect(new Set(all.map((r) => r.id)).size).toBe(all.length);
  });

  it('cuts the sample at sampleMaxChars characters, not bytes', async () => {
    expect(sampleOf(Buffer.from('héllo wörld'), 5)).toBe('héllo…');
    expect(sampleOf(Buffer.from('short'), 5)).toBe('short');
    expect(sampleOf(Buffer.from('😀😀😀'), 3)).toBe('😀…'); // never half a surrogate pair
    const rt = await agg({ sampleMaxChars: 4 });
    const out = new Collector();
    rt.process([rec(T0, 'a', 'abcdefgh')], out);
    rt.drain!(out);
    expect(out.on('out')[0]!.fields.sample).toBe('abcd…');
  });

  it('rejects unknown options and bad values', () => {
    expect(aggregate.configSchema.safeParse({ windowMs: 0 }).success).toBe(false);
    expect(aggregate.configSchema.safeParse({ by: ['nonsense'] }).success).toBe(false);
    const parsed = aggregate.configSchema.parse({});
    expect(parsed).toMatchObject({ by: ['class'], windowMs: 60_000, passThrough: false });
  });
});
