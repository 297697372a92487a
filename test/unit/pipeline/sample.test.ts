import { describe, expect, it } from 'vitest';
import type { AgentRuntime } from '../../../pipeline/agent.js';
import { sample } from '../../../pipeline/agents/sample.js';
import type { PipelineRecord } from '../../../pipeline/record.js';
import { build, checkAgentCompliance, makeContext, makeRecord, run } from './agent-harness.js';

function issuePaths(config: unknown): string[] {
  const res = sample.configSchema.safeParse(config);
  expect(res.success, 'config should be rejected').toBe(false);
  return res.error!.issues.map((i) => i.path.join('.'));
}

function records(n: number, over: Partial<PipelineRecord> = {}): PipelineRecord[] {
  return Array.from({ length: n }, (_, i) => makeRecord(`line ${i}`, { seq: i + 1, ...over }));
}

/** Runs `batch` through in chunks of `chunk` and returns the records on out and on rest. */
async function sampled(runtime: AgentRuntime, batch: PipelineRecord[], chunk = batch.length): Promise<{ out: PipelineRecord[]; rest: PipelineRecord[] }> {
  const out: PipelineRecord[] = [];
  const rest: PipelineRecord[] = [];
  for (let i = 0; i < batch.length; i += chunk) {
    const c = await run(runtime, batch.slice(i, i + chunk));
    out.push(...c.on('out'));
    rest.push(...c.on('rest'));
  }
  expect(out.length + rest.length).toBe(batch.length);
  return { out, rest };
}

const ids = (rs: PipelineRecord[]) => rs.map((r) => r.id);

describe('sample agent', () => {
  it('meets the agent contract in every mode', async () => {
    const rs = [makeRecord('a'), makeRecord('b', { class: 'debug' }), makeRecord('c', { class: 'error' })];
    await checkAgentCompliance(sample, { mode: 'random', rate: 0.5, seed: 7 }, rs);
    await checkAgentCompliance(sample, { mode: 'systematic', every: 2 }, rs);
    await checkAgentCompliance(sample, { mode: 'stratified', rates: { debug: 0.1 }, unlabelled: 0 }, rs);
  });

  describe('random', () => {
    const all = records(100_000);

    it('keeps rate × n records, within 3%', async () => {
      const { runtime } = await build(sample, { mode: 'random', rate: 0.1, seed: 42 });
      const { out } = await sampled(runtime, all);
      expect(out.length).toBeGreaterThanOrEqual(9_700);
      expect(out.length).toBeLessThanOrEqual(10_300);
    });

    it('picks the same records for the same seed, whatever the batches, and others for another seed', async () => {
      const a = await sampled((await build(sample, { mode: 'random', rate: 0.1, seed: 42 })).runtime, all);
      const b = await sampled((await build(sample, { mode: 'random', rate: 0.1, seed: 42 })).runtime, all, 333);
      expect(ids(b.out)).toEqual(ids(a.out));
      const c = await sampled((await build(sample, { mode: 'random', rate: 0.1, seed: 43 })).runtime, all);
      const picked = new Set(ids(a.out));
      const overlap = c.out.filter((r) => picked.has(r.id)).length;
      // Independent picks overlap in about rate² of the records (1,000 here).
      expect(overlap).toBeGreaterThan(800);
      expect(overlap).toBeLessThan(1_200);
    });

    it('picks the same records again when they are processed a second time (replay after a crash)', async () => {
      const { runtime } = await build(sample, { mode: 'random', rate: 0.3, seed: 1 });
      const first = await sampled(runtime, all.slice(0, 5_000));
      const again = await sampled(runtime, all.slice(0, 5_000));
      expect(ids(again.out)).toEqual(ids(first.out));
    });

    it('derives a different default seed for each node', async () => {
      const node = (nodeId: string) => build(sample, { mode: 'random', rate: 0.5 }, makeContext({ nodeId }));
      const a = await sampled((await node('s1')).runtime, all.slice(0, 10_000));
      const a2 = await sampled((await node('s1')).runtime, all.slice(0, 10_000));
      const b = await sampled((await node('s2')).runtime, all.slice(0, 10_000));
      expect(ids(a2.out)).toEqual(ids(a.out));
      expect(ids(b.out)).not.toEqual(ids(a.out));
    });

    it('keeps nothing at rate 0 and everything at rate 1', async () => {
      expect((await sampled((await build(sample, { mode: 'random', rate: 0 })).runtime, all.slice(0, 10_000))).out).toHaveLength(0);
      expect((await sampled((await build(sample, { mode: 'random', rate: 1 })).runtime, all.slice(0, 10_000))).rest).toHaveLength(0);
    });
  });

  describe('systematic', () => {
    it('keeps exactly every k-th record across batch boundaries', async () => {
      const all = records(1_000);
      const { runtime } = await build(sample, { mode: 'systematic', every: 10 });
      const { out } = await sampled(runtime, all, 7);
      expect(ids(out)).toEqual(all.filter((_, i) => i % 10 === 0).map((r) => r.id));
    });

    it('starts at the offset', async () => {
      const all = records(100);
      const { runtime } = await build(sample, { mode: 'systematic', every: 25, offset: 24 });
      const { out } = await sampled(runtime, all, 13);
      expect(ids(out)).toEqual([all[24]!.id, all[49]!.id, all[74]!.id, all[99]!.id]);
    });

    it('keeps everything with every: 1', async () => {
      const { runtime } = await build(sample, { mode: 'systematic', every: 1 });
      expect((await sampled(runtime, records(50))).out).toHaveLength(50);
    });
  });

  describe('stratified', () => {
    const config = { mode: 'stratified', rates: { debug: 0.01, info: 0.5, 'info/noisy': 0 }, unlabelled: 0, seed: 9 };

    it('samples each class at its own rate', async () => {
      const { runtime } = await build(sample, config);
      const debug = records(50_000, { class: 'debug' });
      const info = records(20_000, { class: 'info' });
      const errors = records(1_000, { class: 'error' });
      const none = records(1_000);
      const { out } = await sampled(runtime, [...debug, ...info, ...errors, ...none], 4_096);
      const count = (cls: string | null) => out.filter((r) => r.class === cls).length;
      expect(count('debug')).toBeGreaterThanOrEqual(425);
      expect(count('debug')).toBeLessThanOrEqual(575);
      expect(count('info')).toBeGreaterThanOrEqual(9_700);
      expect(count('info')).toBeLessThanOrEqual(10_300);
      // Classes that no rate names are kept (defaultRate 1); unlabelled 0 keeps no unlabelled record.
      expect(count('error')).toBe(1_000);
      expect(count(null)).toBe(0);
    });

    it('gives a sub-class the rate of its nearest listed parent', async () => {
      const { runtime } = await build(sample, config);
      const { out } = await sampled(runtime, [...records(2_000, { class: 'info/db' }), ...records(2_000, { class: 'info/noisy/x' })]);
      const kept = (cls: string) => out.filter((r) => r.class === cls).length;
      expect(kept('info/db')).toBeGreaterThan(850);
      expect(kept('info/db')).toBeLessThan(1_150);
      expect(kept('info/noisy/x')).toBe(0);
    });

    it('uses defaultRate for unlisted classes and for unlabelled records unless unlabelled is set', async () => {
      const { runtime } = await build(sample, { mode: 'stratified', rates: { keep: 1 }, defaultRate: 0 });
      const { out } = await sampled(runtime, [...records(100, { class: 'keep' }), ...records(100, { class: 'other' }), ...records(100)]);
      expect(out.map((r) => r.class)).toEqual(Array(100).fill('keep'));
    });
  });

  describe('config', () => {
    it('requires the option each mode needs', () => {
      expect(issuePaths({ mode: 'random' })).toContain('rate');
      expect(issuePaths({ mode: 'systematic' })).toContain('every');
      expect(issuePaths({ mode: 'stratified' })).toContain('rates');
    });

    it('rejects options of another mode, naming them', () => {
      expect(issuePaths({ mode: 'random', rate: 0.1, every: 3 })).toContain('every');
      expect(issuePaths({ mode: 'systematic', every: 3, seed: 1 })).toContain('seed');
      expect(issuePaths({ mode: 'stratified', rates: { a: 0.1 }, rate: 0.5 })).toContain('rate');
    });

    it('names the offending field of an ill-typed config', () => {
      expect(issuePaths({ mode: 'sometimes' })).toContain('mode');
      expect(issuePaths({ mode: 'random', rate: 1.5 })).toContain('rate');
      expect(issuePaths({ mode: 'random', rate: '0.1' })).toContain('rate');
      expect(issuePaths({ mode: 'systematic', every: 0 })).toContain('every');
      expect(issuePaths({ mode: 'systematic', every: 2.5 })).toContain('every');
      expect(issuePaths({ mode: 'systematic', every: 5, offset: 5 })).toContain('offset');
      expect(issuePaths({ mode: 'stratified', rates: { 'a@b': 0.1 } })).toContain('rates.a@b');
      expect(issuePaths({ mode: 'stratified', rates: { a: -1 } })).toContain('rates.a');
      expect(issuePaths({ mode: 'random', rate: 0.1, seed: -1 })).toContain('seed');
    });
  });
});
