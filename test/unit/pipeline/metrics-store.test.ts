import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { metricsTable, printMetrics } from '../../../cli/metrics-command.js';
import { parseDurationArg, parseTimeArg } from '../../../cli/time-arg.js';
import { isLogfsError } from '../../../core/errors.js';
import type { MetricPoint } from '../../../pipeline/agent.js';
import { MetricsStore, parseMetricSelector, queryMetrics } from '../../../pipeline/metrics-store.js';

const DAY1 = Date.UTC(2024, 4, 1, 23, 58);
const DAY2 = Date.UTC(2024, 4, 2, 0, 1);

function point(name: string, bucketStart: number, group: Record<string, string>, count: number, bucketMs = 60_000): MetricPoint {
  return { name, bucketStart, bucketMs, group, values: { count, rate: count / 60 } };
}

let dir: string;
beforeEach(async () => {
  dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'logfs-metrics-'));
});
afterEach(async () => {
  await fsp.rm(dir, { recursive: true, force: true });
});

describe('metrics store', () => {
  it('writes one file per UTC day and reads points back filtered and sorted by time', async () => {
    const store = await MetricsStore.open({ dir });
    store.write([
      point('g.web.count', DAY2, { class: 'error' }, 4),
      point('g.web.count', DAY1, { class: 'error' }, 1),
      point('g.web.count', DAY1, { class: 'info' }, 2),
      point('g.api.fields.ms', DAY1, { class: 'error' }, 3, 300_000),
    ]);
    expect(await queryMetrics(dir)).toEqual([]); // nothing before the flush
    await store.flush();
    await store.close();
    expect((await fsp.readdir(dir)).sort()).toEqual(['points-2024-05-01.ndjson', 'points-2024-05-02.ndjson']);

    const all = await queryMetrics(dir);
    expect(all.map((p) => [p.bucketStart, p.bucketMs, p.name, p.group.class])).toEqual([
      [DAY1, 60_000, 'g.web.count', 'error'],
      [DAY1, 60_000, 'g.web.count', 'info'],
      [DAY1, 300_000, 'g.api.fields.ms', 'error'],
      [DAY2, 60_000, 'g.web.count', 'error'],
    ]);
    expect((await queryMetrics(dir, { name: 'g.web.count' })).map((p) => p.values.count)).toEqual([1, 2, 4]);
    expect((await queryMetrics(dir, { name: 'g.*.count', labels: { class: 'error' } })).map((p) => p.values.count)).toEqual([1, 4]);
    expect((await queryMetrics(dir, { name: 'g.*' })).length).toBe(4);
    expect((await queryMetrics(dir, { name: 'web' })).length).toBe(0); // a name without * is exact
    expect((await queryMetrics(dir, { from: DAY2 })).map((p) => p.values.count)).toEqual([4]);
    expect((await queryMetrics(dir, { to: DAY2 })).length).toBe(3);
    expect((await queryMetrics(dir, { bucketMs: 300_000 })).map((p) => p.name)).toEqual(['g.api.fields.ms']);
  });

  it('lets a point written again (after a restart) replace the earlier one: last write wins', async () => {
    const first = await MetricsStore.open({ dir });
    first.write([point('m', DAY1, { class: 'a', host: 'h' }, 1), point('m', DAY1, { class: 'b' }, 7)]);
    await first.flush();
    await first.close();

    const restarted = await MetricsStore.open({ dir });
    // Same identity, labels in another order.
    restarted.write([point('m', DAY1, { host: 'h', class: 'a' }, 5)]);
    await restarted.flush();
    await restarted.close();

    const points = await queryMetrics(dir);
    expect(points.map((p) => [p.group.class, p.values.count])).toEqual([
      ['a', 5],
      ['b', 7],
    ]);
  });

  it('ends a torn last line before appending and reports unreadable lines', async () => {
    const file = path.join(dir, 'points-2024-05-01.ndjson');
    await fsp.writeFile(file, JSON.stringify(point('m', DAY1, {}, 1)) + '\n{"name":"m","bucketSt');
    const store = await MetricsStore.open({ dir });
    store.write([point('m', DAY1 + 60_000, {}, 2)]);
    await store.flush();
    await store.close();
    const bad: number[] = [];
    const points = await queryMetrics(dir, {}, { onBadLine: (_f, line) => bad.push(line) });
    expect(points.map((p) => p.values.count)).toEqual([1, 2]);
    expect(bad).toEqual([2]);
  });

  it('fails a flush with a retriable error and keeps the points for the retry', async () => {
    const blocker = path.join(dir, 'file');
    await fsp.writeFile(blocker, '');
    const store = new MetricsStore(path.join(blocker, 'metrics'));
    store.write([point('m', DAY1, {}, 1)]);
    const err = await store.flush().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isLogfsError(err, 'LOGFS_E_ARCHIVE_IO') && err.retriable).toBe(true);
    await fsp.rm(blocker);
    await fsp.mkdir(blocker);
    await store.flush();
    await store.close();
    expect((await queryMetrics(path.join(blocker, 'metrics'))).map((p) => p.values.count)).toEqual([1]);
  });

  it('returns nothing for a store that does not exist yet', async () => {
    expect(await queryMetrics(path.join(dir, 'nope'))).toEqual([]);
  });
});

describe('metric selectors and logfsctl metrics', () => {
  it('parses name{label=value,...}', () => {
    expect(parseMetricSelector('g.web.count')).toEqual({ name: 'g.web.count', labels: {} });
    expect(parseMetricSelector('g.*{class=error, fields.status="5,0"}')).toEqual({ name: 'g.*', labels: { class: 'error', 'fields.status': '5,0' } });
    expect(parseMetricSelector('{class=}')).toEqual({ name: undefined, labels: { class: '' } });
    expect(() => parseMetricSelector('g{class}')).toThrow(/name\{label=value/);
    expect(() => parseMetricSelector('g{a=b')).toThrow(/bad metric query/);
  });

  it('parses durations and times', () => {
    expect(parseDurationArg('5m', 'bucket')).toBe(300_000);
    expect(parseDurationArg('1.5s', 'bucket')).toBe(1500);
    expect(() => parseDurationArg('5 minutes', 'bucket')).toThrow(/--bucket/);
    expect(parseTimeArg('-15m', 'from', 1_000_000)).toBe(100_000);
    expect(parseTimeArg('2024-05-01T00:00:00Z', 'from')).toBe(Date.UTC(2024, 4, 1));
    expect(() => parseTimeArg('yesterday', 'from')).toThrow(/--from/);
  });

  it('prints a table with a column per value, or JSON lines', async () => {
    const store = await MetricsStore.open({ dir: path.join(dir, 'metrics') });
    store.write([point('g.web.count', DAY1, { class: 'error' }, 3), { name: 'g.web.fields.ms', bucketStart: DAY1, bucketMs: 300_000, group: {}, values: { count: 2, avg: 12.345678 } }]);
    await store.close();
    const lines: string[] = [];
    const warnings: string[] = [];
    const n = await printMetrics({ dataDir: dir, query: 'g.web.*', from: '2024-05-01T00:00:00Z', json: false, print: (l) => lines.push(l), warn: (l) => warnings.push(l) });
    expect(n).toBe(2);
    expect(warnings).toEqual([]);
    expect(lines[0]!.split(/\s+/)).toEqual(['TIME', 'BUCKET', 'NAME', 'GROUP', 'COUNT', 'RATE', 'AVG']);
    expect(lines[1]!.split(/\s+/)).toEqual(['2024-05-01T23:58:00.000Z', '1m', 'g.web.count', 'class=error', '3', '0.05', '-']);
    expect(lines[2]!.split(/\s+/)).toEqual(['2024-05-01T23:58:00.000Z', '5m', 'g.web.fields.ms', '-', '2', '-', '12.3457']);

    const json: string[] = [];
    await printMetrics({ dataDir: dir, query: '*{class=error}', from: '2024-05-01T00:00:00Z', bucket: '1m', json: true, print: (l) => json.push(l), warn: () => {} });
    expect(json.map((l) => JSON.parse(l).name)).toEqual(['g.web.count']);

    const none: string[] = [];
    expect(await printMetrics({ dataDir: dir, query: 'nothing', json: false, print: () => {}, warn: (l) => none.push(l) })).toBe(0);
    expect(none[0]).toMatch(/no metric points match "nothing"/);
    expect(metricsTable([])).toHaveLength(1);
  });
});

describe('combining runs of a bucket', () => {
  it('adds the points of different runs and keeps the last write within a run', async () => {
    const fsp = await import('node:fs/promises');
    const os = await import('node:os');
    const path = await import('node:path');
    const { MetricsStore, queryMetrics } = await import('../../../pipeline/metrics-store.js');
    const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'logfs-metric-runs-'));
    try {
      const store = await MetricsStore.open({ dir });
      const at = Date.UTC(2026, 10, 22, 10, 0);
      const point = (run: string, values: Record<string, number>) => ({ name: 'g.m.fields.v', bucketStart: at, bucketMs: 60_000, group: {}, values, run });
      // Run a: values 1 and 3, first written after one record, then again cumulatively.
      store.write([point('a', { count: 1, sum: 1, avg: 1, min: 1, max: 1, stddev: 0, invalid: 0 })]);
      store.write([point('a', { count: 2, sum: 4, avg: 2, min: 1, max: 3, stddev: 1, invalid: 0 })]);
      // Run b (the next graph version): values 5 and 7, plus one record without a value.
      store.write([point('b', { count: 3, sum: 12, avg: 6, min: 5, max: 7, stddev: 1, invalid: 1 })]);
      await store.flush();
      await store.close();
      const [p] = await queryMetrics(dir, { name: 'g.m.*' });
      // Together: 1, 3, 5, 7 (and one invalid): mean 4, population stddev sqrt(5).
      expect(p!.values).toMatchObject({ count: 5, sum: 16, min: 1, max: 7, invalid: 1, avg: 4, rate: 5 / 60 });
      expect(p!.values.stddev).toBeCloseTo(Math.sqrt(5), 10);
      expect(p).not.toHaveProperty('run');
    } finally {
      await fsp.rm(dir, { recursive: true, force: true });
    }
  });
});
