/**
 * Embedded mode (no Kafka): logfsd runs the pipeline on its own journal. Records written through
 * the FUSE mount reach the default graph's archive, a graph applied with logfsctl parses,
 * classifies, measures and alarms on them, a graph change while records flow keeps each record
 * once, and a logfsd killed with SIGKILL loses nothing on restart.
 */
import fsp from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Daemon, logfsctl, randomName, sh, waitFor } from './harness.js';
import { applyGraph, archived, waitForArchived } from './pipeline-harness.js';

async function writeNumbered(file: string, prefix: string, count: number, chunk = 1000, pauseMs = 20): Promise<void> {
  await sh(`python3 - <<'PY'
import time
f = open(${JSON.stringify(file)}, 'a')
for start in range(0, ${count}, ${chunk}):
    f.write(''.join('${prefix}-%07d level=%s latency_ms=%d\\n' % (n, 'error' if n % 50 == 0 else 'info', n % 100) for n in range(start, min(start + ${chunk}, ${count}))))
    f.flush()
    time.sleep(${pauseMs / 1000})
f.close()
PY`);
}

/** Writes numbered lines like writeNumbered until `stopFile` exists (at most `max`); resolves with how many. */
async function writeUntil(file: string, prefix: string, stopFile: string, max: number, chunk = 200, pauseMs = 20): Promise<number> {
  const out = await sh(`python3 - <<'PY'
import os, time
f = open(${JSON.stringify(file)}, 'a')
n = 0
while n < ${max} and not os.path.exists(${JSON.stringify(stopFile)}):
    end = min(n + ${chunk}, ${max})
    f.write(''.join('${prefix}-%07d level=%s latency_ms=%d\\n' % (i, 'error' if i % 50 == 0 else 'info', i % 100) for i in range(n, end)))
    f.flush()
    n = end
    time.sleep(${pauseMs / 1000})
f.close()
print(n)
PY`);
  return Number(out.trim());
}

describe('pipeline in embedded mode (journal as the bus)', () => {
  let d: Daemon;

  beforeAll(async () => {
    d = await Daemon.start({ streams: ['plain', 'app', 'flow'] });
  });

  afterAll(async () => {
    await d?.cleanup();
  });

  it('archives a stream with no graph through the default graph; logfsctl archive reads it back', async () => {
    await sh(`printf 'first line\\nsecond line\\n' >> ${d.path('plain')} && printf 'labelled\\n' >> ${d.path('plain', 'critical')}`);
    const recs = await waitForArchived(d.dataDir, 'plain', 3, 30_000);
    expect(recs.map((r) => r.data).sort()).toEqual(['first line', 'labelled', 'second line']);
    expect(recs.find((r) => r.data === 'labelled')!.class).toBe('critical');
    expect(recs.every((r) => r.graph === 'default' && r.instance === d.instance)).toBe(true);
    const q = await logfsctl(['archive', 'query', '--data', d.dataDir, '--stream', 'plain', '--class', 'critical', '--json']);
    expect(q.code, q.stderr).toBe(0);
    expect(q.stdout.trim().split('\n').map((l) => JSON.parse(l).data)).toEqual(['labelled']);
    const cat = await logfsctl(['archive', 'cat', '--data', d.dataDir, '--stream', 'plain']);
    expect(cat.stdout.split('\n').filter(Boolean).sort()).toEqual(['first line', 'labelled', 'second line']);
    // The segments are ordinary gzip files.
    const root = path.join(d.dataDir, 'archive', 'default');
    const z = await sh(`find ${root} -name '*.ndjson.gz' | xargs zcat | wc -l`);
    expect(Number(z.trim())).toBeGreaterThanOrEqual(3);
  });

  it('runs an applied graph: parse, validate, classify, metric, alarm and archive; stats per agent', async () => {
    const graph = {
      name: 'app',
      streams: ['app'],
      nodes: [
        { id: 'parse', type: 'parse', inputs: ['source'], config: { format: 'logfmt', types: { latency_ms: 'int' } } },
        { id: 'check', type: 'validate', inputs: ['parse'], config: { required: ['fields.level', 'fields.latency_ms'] } },
        { id: 'classes', type: 'classify', inputs: ['check.valid'], config: { rules: [{ fromField: 'fields.level' }] } },
        { id: 'latency', type: 'metric', inputs: ['classes'], config: { field: 'fields.latency_ms', groupBy: ['class'], bucketsMinutes: [1], idleFlushMs: 1000 } },
        { id: 'errors', type: 'alarm', inputs: ['classes', 'check.invalid'], config: { rules: [{ name: 'error-seen', match: { field: 'class', eq: 'error' } }, { name: 'bad-lines', invalidCount: { above: 0, windowMs: 1000 } }] } },
        { id: 'store', type: 'archive', inputs: ['classes', 'check.invalid'] },
      ],
    };
    expect(await applyGraph(d.dataDir, graph)).toMatch(/^graph app version 1 committed$/m);
    const prefix = randomName('a');
    await writeNumbered(d.path('app'), prefix, 500);
    await sh(`printf 'not logfmt at all\\n' >> ${d.path('app')}`);
    const recs = await waitForArchived(d.dataDir, 'app', 501, 60_000);
    const valid = recs.filter((r) => r.data.startsWith(prefix));
    expect(valid).toHaveLength(500);
    expect(valid.filter((r) => r.class === 'error')).toHaveLength(10);
    expect(valid[0]!.fields).toMatchObject({ level: expect.any(String), latency_ms: expect.any(Number) });
    const bad = recs.find((r) => r.data === 'not logfmt at all')!;
    expect(bad.flags).toEqual(expect.arrayContaining(['parse_failed', 'invalid']));
    expect(bad.version).toBe(1);

    await waitFor('alarms in the log', async () => {
      const a = await logfsctl(['alarms', '--data', d.dataDir, '--json']);
      const events = a.stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));
      return events.some((e) => e.alarm.includes('error-seen') && e.state === 'firing') && events.some((e) => e.alarm.includes('bad-lines')) ? events : undefined;
    });

    // The metric buckets close once the stream is idle for a second; the store answers logfsctl metrics.
    const points = await waitFor('metric points', async () => {
      const m = await logfsctl(['metrics', 'app.latency.*', '--data', d.dataDir, '--json', '--from', '-1d']);
      const list = m.stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));
      return list.length > 0 ? list : undefined;
    });
    const errorPoint = points.find((p) => p.group.class === 'error');
    expect(errorPoint.values.count).toBe(10);
    // Lines 0, 50, 100, ... 450 are the errors; latency = n % 100 → 0 or 50, five of each.
    expect(errorPoint.values.avg).toBe(25);

    const stats = await waitFor('stats with the records', async () => {
      const s = await logfsctl(['graph', 'show', 'app', '--stats', '--data', d.dataDir]);
      return /parse\s+parse\s+501\b/.test(s.stdout) ? s.stdout : undefined;
    });
    expect(stats).toMatch(/store\s+archive\s+501\b/);
  });

  it('replaces a graph while records flow: each record archived once, by one version', async () => {
    await applyGraph(d.dataDir, { name: 'flow', streams: ['flow'], nodes: [{ id: 'store', type: 'archive', inputs: ['source'], config: { name: 'flow' } }] });
    const prefix = randomName('f');
    // The writer goes on until the new version is active and has had records of its own.
    const stopFile = path.join(d.dataDir, `stop-${prefix}`);
    const writing = writeUntil(d.path('flow'), prefix, stopFile, 200_000);
    await waitFor('records flowing', async () => (await archived(d.dataDir, 'flow', { stream: 'flow' })).length > 1_000, 60_000, 100);
    await applyGraph(
      d.dataDir,
      {
        name: 'flow',
        streams: ['flow'],
        nodes: [
          { id: 'parse', type: 'parse', inputs: ['source'], config: { format: 'logfmt' } },
          { id: 'store', type: 'archive', inputs: ['parse'], config: { name: 'flow' } },
        ],
      },
    );
    await waitFor('records archived by version 2', async () => (await archived(d.dataDir, 'flow', { stream: 'flow' })).some((r) => r.version === 2), 60_000, 100);
    await fsp.writeFile(stopFile, '');
    const written = await writing;
    expect(written).toBeLessThan(200_000); // it was stopped, not run dry
    const recs = await waitForArchived(d.dataDir, 'flow', written, 120_000, 'flow');
    expect(recs).toHaveLength(written);
    expect(new Set(recs.map((r) => r.id)).size).toBe(written);
    expect(new Set(recs.map((r) => r.version))).toEqual(new Set([1, 2]));
    expect(recs.filter((r) => r.version === 2).every((r) => r.fields.level !== undefined)).toBe(true);
  });

  it('after logfsd is killed with SIGKILL, the restarted pipeline archives every record once', async () => {
    const prefix = randomName('k');
    const before = (await archived(d.dataDir, 'flow', { stream: 'flow' })).length;
    await writeNumbered(d.path('flow'), prefix, 5_000, 1000, 0);
    await d.kill9();
    await sh(`fusermount -uz ${d.mnt} || true`);
    await d.launch();
    const recs = (await waitForArchived(d.dataDir, 'flow', before + 5_000, 120_000, 'flow')).filter((r) => r.data.startsWith(prefix));
    expect(recs).toHaveLength(5_000);
    expect(new Set(recs.map((r) => r.id)).size).toBe(5_000);
  });
});
