/**
 * Processing graphs on a real broker, fed through a real FUSE mount: live reconfiguration while
 * records flow, a worker killed mid-batch, a slow sink, and a second worker joining. Workers are
 * `logfsctl pipeline run` processes; graphs are applied with `logfsctl graph apply`.
 */
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ArchivedRecord } from '../../pipeline/archive/archive-line.js';
import { Daemon, ensureKafka, kafkaClient, randomName, sh, sleep, waitFor } from './harness.js';
import { decodeRecord } from '../../gateway/index.js';
import { applyGraph, archived, consumeRaw, waitForArchived, WorkerProcess } from './pipeline-harness.js';

/** Writes `count` numbered nginx-like lines in chunks, pausing between chunks so the flow lasts. */
function writeLines(file: string, prefix: string, count: number, chunk = 1000, pauseMs = 40): Promise<string> {
  return sh(
    `python3 - <<'PY'
import time
f = open(${JSON.stringify(file)}, 'a')
for start in range(0, ${count}, ${chunk}):
    lines = []
    for n in range(start, min(start + ${chunk}, ${count})):
        status = 500 if n % 10 == 0 else 200
        lines.append('${prefix}-%07d 10.0.%d.%d - - [22/Nov/2026:10:00:00 +0000] "GET /api/items/%d HTTP/1.1" %d %d "-" "curl/8.5"\\n' % (n, n % 256, n % 200, n, status, 100 + n % 900))
    f.write(''.join(lines))
    f.flush()
    time.sleep(${pauseMs / 1000})
f.close()
PY`,
    { timeout: 300_000 },
  );
}

function expectEachOnce(records: ArchivedRecord[], prefix: string, count: number): void {
  const ids = new Set(records.map((r) => r.id));
  expect(ids.size, 'duplicate record IDs in the archive').toBe(records.length);
  const numbers = new Set(records.map((r) => Number(/^[a-z0-9]+-(\d+)/.exec(r.data)?.[1])));
  expect(records.every((r) => r.data.startsWith(`${prefix}-`))).toBe(true);
  expect(numbers.size).toBe(count);
  expect(records).toHaveLength(count);
}

async function groupLag(groupId: string, topic: string): Promise<number> {
  const admin = kafkaClient().admin();
  await admin.connect();
  try {
    const ends = await admin.fetchTopicOffsets(topic);
    const committed = await admin.fetchOffsets({ groupId, topics: [topic] });
    let lag = 0;
    for (const p of ends) {
      const c = committed[0]?.partitions.find((x) => x.partition === p.partition);
      const at = c && Number(c.offset) >= 0 ? Number(c.offset) : 0;
      lag += Number(p.high) - at;
    }
    return lag;
  } finally {
    await admin.disconnect();
  }
}

describe('pipeline on Kafka', () => {
  let d: Daemon;
  const workers: WorkerProcess[] = [];

  beforeAll(async () => {
    await ensureKafka();
    d = await Daemon.start({ kafka: true, streams: [{ name: 'reload', partitions: 2 }, 'crash', 'slow', { name: 'scale', partitions: 4 }, 'pub', 'phased'] });
  });

  afterAll(async () => {
    await Promise.all(workers.map((w) => w.stop()));
    await d?.cleanup();
  });

  it('replaces a graph twice while 100,000 records flow: each record archived once, by exactly one version', async () => {
    const w = await WorkerProcess.start(d.dataDir, 'reload');
    workers.push(w);
    const base = { name: 'reload', streams: ['reload'] };
    const parse = { id: 'parse', type: 'parse', inputs: ['source'], config: { format: 'regex', pattern: '^(?<n>[a-z0-9]+-\\d+) \\S+ .*" (?<status>\\d{3}) (?<bytes>\\d+)', types: { status: 'int', bytes: 'int' } } };
    const store = { id: 'store', type: 'archive', inputs: ['parse'], config: { name: 'reload' } };
    const v1 = { ...base, nodes: [parse, { id: 'sample', type: 'sample', inputs: ['parse'], config: { mode: 'random', rate: 0.5, seed: 1 } }, { id: 'sampled', type: 'discard', inputs: ['sample'] }, store] };
    const v2 = {
      ...base,
      nodes: [
        parse,
        { id: 'sample', type: 'sample', inputs: ['parse'], config: { mode: 'random', rate: 0.2, seed: 1 } },
        { id: 'sampled', type: 'discard', inputs: ['sample'] },
        { id: 'errors', type: 'filter', inputs: ['parse'], config: { pass: { when: { field: 'fields.status', gte: 500 } } } },
        { id: 'error-sink', type: 'discard', inputs: ['errors'] },
        store,
      ],
    };
    const v3 = { ...base, nodes: [parse, { id: 'errors', type: 'filter', inputs: ['parse'], config: { pass: { when: { field: 'fields.status', gte: 500 } } } }, { id: 'error-sink', type: 'discard', inputs: ['errors'] }, store] };

    expect(await applyGraph(d.dataDir, v1)).toMatch(/^graph \S+ version 1 committed$/m);
    const prefix = randomName('r');
    let writerDone = false;
    const writing = writeLines(d.path('reload'), prefix, 100_000, 1000, 120).then(() => (writerDone = true));
    await waitFor('some records archived by version 1', async () => (await archived(d.dataDir, 'reload', { stream: 'reload' })).length > 5_000, 60_000, 200);
    expect(await applyGraph(d.dataDir, v2)).toMatch(/^graph \S+ version 2 committed$/m);
    await waitFor('some records archived by version 2', async () => (await archived(d.dataDir, 'reload', { stream: 'reload' })).some((r) => r.version === 2), 60_000, 200);
    expect(await applyGraph(d.dataDir, v3)).toMatch(/^graph \S+ version 3 committed$/m);
    // The premise of the test: both changes happened while records were still being written.
    expect(writerDone).toBe(false);
    await writing;

    const records = await waitForArchived(d.dataDir, 'reload', 100_000, 180_000, 'reload');
    expectEachOnce(records, prefix, 100_000);
    const versions = new Set(records.map((r) => r.version));
    expect([...versions].sort()).toEqual([1, 2, 3]);
    // Per partition (one instance writes, so in seq order) a later record never has an older version.
    const bySeq = [...records].sort((a, b) => a.seq - b.seq);
    for (let i = 1; i < bySeq.length; i++) expect(bySeq[i]!.version).toBeGreaterThanOrEqual(bySeq[i - 1]!.version);
    // Fields from parse reached the archive.
    expect(records.find((r) => r.data.startsWith(`${prefix}-0000010 `))!.fields).toMatchObject({ status: 500 });
    await w.stop();
  });

  it('a worker killed mid-batch resumes from the committed position; the archive still holds each record once', async () => {
    await applyGraph(d.dataDir, { name: 'crash', streams: ['crash'], nodes: [{ id: 'store', type: 'archive', inputs: ['source'], config: { name: 'crash' } }] });
    const w = await WorkerProcess.start(d.dataDir, 'crash', ['--graphs', 'crash']);
    workers.push(w);
    const prefix = randomName('c');
    const writing = writeLines(d.path('crash'), prefix, 40_000, 500, 20);
    await waitFor('records flowing into the archive', async () => (await archived(d.dataDir, 'crash', { stream: 'crash' })).length > 3_000, 60_000, 100);
    await w.kill9();
    const atKill = (await archived(d.dataDir, 'crash', { stream: 'crash' })).length;
    await w.launch();
    await writing;
    const records = await waitForArchived(d.dataDir, 'crash', 40_000, 180_000, 'crash');
    expect(atKill).toBeLessThan(40_000);
    expectEachOnce(records, prefix, 40_000);
    await w.stop();
  });

  it('a slow sink slows the consumer (offsets stay uncommitted) and loses nothing', async () => {
    const received: string[] = [];
    let paused = true;
    const sockets: net.Socket[] = [];
    const server = net.createServer((s) => {
      sockets.push(s);
      let buf = '';
      s.setEncoding('utf8');
      s.on('data', (chunk: string) => {
        buf += chunk;
        const lines = buf.split('\n');
        buf = lines.pop()!;
        for (const l of lines) received.push(l);
      });
      if (paused) s.pause();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as net.AddressInfo).port;
    try {
      await applyGraph(d.dataDir, { name: 'slow', streams: ['slow'], nodes: [{ id: 'relay', type: 'archive', inputs: ['source'], config: { relay: { tcp: `127.0.0.1:${port}` } } }] });
      const w = await WorkerProcess.start(d.dataDir, 'slow', ['--graphs', 'slow']);
      workers.push(w);
      const prefix = randomName('s');
      await writeLines(d.path('slow'), prefix, 30_000, 1000, 0);
      // The reader does not read: the relay's writes stop completing, so offsets are not committed.
      await sleep(3_000);
      const lag = await groupLag('logfs.graph.slow', d.topic('slow'));
      expect(lag).toBeGreaterThan(0);
      paused = false;
      for (const s of sockets) s.resume();
      await waitFor('every record relayed', () => received.length >= 30_000, 120_000, 200);
      const numbers = new Set(received.map((l) => Number(/"data":"[a-z0-9]+-(\d+)/.exec(l)?.[1])));
      expect(numbers.size).toBe(30_000);
      await waitFor('offsets committed', async () => (await groupLag('logfs.graph.slow', d.topic('slow'))) === 0, 30_000, 200);
      await w.stop();
    } finally {
      for (const s of sockets) s.destroy();
      server.close();
    }
  });

  it('publishes metric points and alarms to their topics and relays records to another topic', async () => {
    const name = randomName('pub');
    const relayTopic = `relay.${name}`;
    await applyGraph(d.dataDir, {
      name,
      streams: ['pub'],
      nodes: [
        { id: 'parse', type: 'parse', inputs: ['source'], config: { format: 'logfmt', types: { latency_ms: 'int' } } },
        { id: 'lat', type: 'metric', inputs: ['parse'], config: { field: 'fields.latency_ms', groupBy: [], bucketsMinutes: [1], idleFlushMs: 1000 } },
        { id: 'errors', type: 'alarm', inputs: ['parse'], config: { rules: [{ name: 'error-level', match: { field: 'fields.level', eq: 'error' } }] } },
        { id: 'forward', type: 'archive', inputs: ['parse'], config: { relay: { topic: relayTopic } } },
      ],
    });
    const w = await WorkerProcess.start(d.dataDir, 'pub', ['--graphs', name]);
    workers.push(w);
    await sh(`for i in $(seq 1 100); do if [ $((i % 10)) = 0 ]; then l=error; else l=info; fi; echo "level=$l latency_ms=$i"; done >> ${d.path('pub')}`);

    const relayed = (await consumeRaw(relayTopic, (v) => v.length >= 100)).map((v) => decodeRecord(v));
    expect(relayed.map((r) => r.data.toString())).toEqual(Array.from({ length: 100 }, (_, i) => `level=${(i + 1) % 10 === 0 ? 'error' : 'info'} latency_ms=${i + 1}`));
    const points = await consumeRaw('logfs.metrics', (v) => v.some((m) => m.toString().includes(`"${name}.lat.`) && JSON.parse(m.toString()).values.count === 100));
    const point = points.map((m) => JSON.parse(m.toString())).filter((p) => p.name === `${name}.lat.fields.latency_ms`).pop();
    expect(point.values).toMatchObject({ count: 100, sum: 5050, min: 1, max: 100 });
    const alarms = await consumeRaw('logfs.alarms', (v) => v.some((m) => m.toString().includes(name)));
    const firing = alarms.map((m) => JSON.parse(m.toString())).find((a) => a.graph === name);
    expect(firing).toMatchObject({ state: 'firing', node: 'errors', instance: null });
    expect(firing.sampleRecordIds.length).toBeGreaterThan(0);
    await w.stop();
  });

  it('runs a graph cut into phases through an intermediate topic, each phase with its own consumer group', async () => {
    const name = randomName('ph');
    await applyGraph(d.dataDir, {
      name,
      streams: ['phased'],
      phases: ['cheap', 'costly'],
      nodes: [
        { id: 'parse', type: 'parse', inputs: ['source'], config: { format: 'logfmt' }, phase: 'cheap' },
        { id: 'store', type: 'archive', inputs: ['parse'], config: { name }, phase: 'costly' },
      ],
    });
    const w = await WorkerProcess.start(d.dataDir, 'phased', ['--graphs', name]);
    workers.push(w);
    await sh(`for i in $(seq 1 500); do echo "n=$i phase=test"; done >> ${d.path('phased')}`);
    const recs = await waitForArchived(d.dataDir, 'phased', 500, 60_000, name);
    expect(new Set(recs.map((r) => r.id)).size).toBe(500);
    expect(recs.every((r) => r.fields.phase === 'test' && r.version === 1)).toBe(true);
    const groups = await kafkaClient().admin();
    await groups.connect();
    try {
      const list = (await groups.listGroups()).groups.map((g) => g.groupId);
      expect(list).toEqual(expect.arrayContaining([`logfs.graph.${name}`, `logfs.graph.${name}.costly`]));
      expect(await groups.listTopics()).toContain(`logfs.graph.${name}.costly`);
    } finally {
      await groups.disconnect();
    }
    await w.stop();
  });

  it('a second worker joining rebalances the group without loss or duplicates', async () => {
    await applyGraph(d.dataDir, { name: 'scale', streams: ['scale'], nodes: [{ id: 'store', type: 'archive', inputs: ['source'], config: { name: 'scale' } }] });
    const w1 = await WorkerProcess.start(d.dataDir, 'scale1', ['--graphs', 'scale']);
    workers.push(w1);
    const prefix = randomName('g');
    // Several writers (instances share one here, but separate handles) spread over time.
    const writing = writeLines(d.path('scale'), prefix, 30_000, 500, 30);
    await waitFor('records flowing', async () => (await archived(d.dataDir, 'scale', { stream: 'scale' })).length > 2_000, 60_000, 200);
    const w2 = await WorkerProcess.start(d.dataDir, 'scale2', ['--graphs', 'scale']);
    workers.push(w2);
    await writing;
    const records = await waitForArchived(d.dataDir, 'scale', 30_000, 180_000, 'scale');
    expectEachOnce(records, prefix, 30_000);
    await Promise.all([w1.stop(), w2.stop()]);
  });
});
