import crypto from 'node:crypto';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isLogfsError, type ErrorCode } from '../../../core/errors.js';
import type { Principal } from '../../../control/auth.js';
import type { FleetMember, Usage } from '../../../control/fleet/index.js';
import { JobTracker } from '../../../control/jobs.js';
import { ControlService, ProblemsError, type FleetReader } from '../../../control/service/index.js';
import { FileProvisioningStore } from '../../../control/store.js';

const log = pino({ level: 'silent' });
const ADMIN: Principal = { scope: 'admin', name: 'root' };
const A: Principal = { scope: { provider: 'pa' }, name: 'alice' };
const B: Principal = { scope: { provider: 'pb' }, name: 'bob' };

/** A fleet whose members the test sets; listeners are told on every change. */
class FakeFleet implements FleetReader {
  list: FleetMember[] = [];
  private readonly listeners = new Set<(m: FleetMember[]) => void>();
  members(): FleetMember[] {
    return this.list;
  }
  watch(l: (m: FleetMember[]) => void): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }
  usage(): Usage {
    return { streams: {}, agents: {} };
  }
  set(members: Partial<FleetMember>[]): void {
    this.list = members.map((m) => ({ id: 'm', kind: 'daemon', host: 'h', pid: 1, storeVersion: 0, seenAt: new Date().toISOString(), usage: { streams: {}, agents: {} }, alive: true, ...m }) as FleetMember);
    for (const l of this.listeners) l(this.list);
  }
}

let dir: string;
let store: FileProvisioningStore;
let fleet: FakeFleet;
let jobs: JobTracker;
let service: ControlService;

async function open(timeoutMs = 30_000): Promise<void> {
  jobs = await JobTracker.open({ dataDir: dir, fleet, log, propagationTimeoutMs: timeoutMs });
  service = new ControlService({ store, fleet, jobs, topicPrefix: 'logfs', log });
}

beforeEach(async () => {
  dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'logfs-control-'));
  store = await FileProvisioningStore.open(dir);
  fleet = new FakeFleet();
  await open();
});

afterEach(async () => {
  await jobs.close();
  await store.close();
  await fsp.rm(dir, { recursive: true, force: true });
});

async function codeOf(p: Promise<unknown> | (() => unknown)): Promise<ErrorCode | undefined> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (err) {
    if (isLogfsError(err)) return err.code;
    throw err;
  }
  return undefined;
}

function graph(name: string, streams: string[], nodes: unknown[] = [{ id: 'store', type: 'archive', inputs: ['source'] }]) {
  return { name, streams, nodes };
}

async function seed(): Promise<void> {
  await service.createStream(ADMIN, { name: 'a/web', provider: 'pa' });
  await service.createStream(ADMIN, { name: 'b/web', provider: 'pb' });
  await service.applyGraph(ADMIN, graph('gb', ['b/web']));
}

describe('provider isolation', () => {
  it('a provider sees and changes only its own streams; others answer not found', async () => {
    await seed();
    expect(service.listStreams(A).map((s) => s.name)).toEqual(['a/web']);
    expect(service.listStreams(ADMIN).map((s) => s.name)).toEqual(['a/web', 'b/web']);
    expect(await codeOf(() => service.getStream(A, 'b/web'))).toBe('LOGFS_E_NOT_FOUND');
    // The same answer as for a stream that does not exist at all.
    expect(await codeOf(() => service.getStream(A, 'nope'))).toBe('LOGFS_E_NOT_FOUND');
    expect(await codeOf(service.updateStream(A, 'b/web', { rate: 5 }))).toBe('LOGFS_E_NOT_FOUND');
    expect(await codeOf(service.deleteStream(A, 'b/web'))).toBe('LOGFS_E_NOT_FOUND');
    expect(await codeOf(() => service.tailTarget(A, 'b/web'))).toBe('LOGFS_E_NOT_FOUND');
    expect(store.snapshot().streams['b/web']?.rate).toBeNull();
    // Creating in another provider is refused; without one, the stream is the token's provider's.
    expect(await codeOf(service.createStream(A, { name: 'x', provider: 'pb' }))).toBe('LOGFS_E_FORBIDDEN');
    await service.createStream(A, { name: 'a/api' });
    expect(store.snapshot().streams['a/api']?.provider).toBe('pa');
    expect(service.listProviders(A).map((p) => p.name)).toEqual(['pa']);
  });

  it("a provider's graphs take only its streams, and other providers' graphs are invisible", async () => {
    await seed();
    expect(service.listGraphs(A).map((g) => g.name)).toEqual(['default']);
    expect(service.listGraphs(A).find((g) => g.name === 'default')?.streams).toEqual(['a/web']);
    expect(await codeOf(() => service.getGraph(A, 'gb'))).toBe('LOGFS_E_NOT_FOUND');
    expect(await codeOf(service.deleteGraph(A, 'gb'))).toBe('LOGFS_E_NOT_FOUND');
    expect(await codeOf(service.assignStreams(A, 'gb', ['a/web']))).toBe('LOGFS_E_NOT_FOUND');
    const err = await service.applyGraph(A, graph('ga', ['a/web', 'b/web'])).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProblemsError);
    expect((err as ProblemsError).problems).toEqual([expect.objectContaining({ code: 'unknown-stream', path: 'streams.1', message: expect.stringContaining('not provisioned') })]);
    // Same name as another provider's graph: refused, not replaced.
    expect(await codeOf(service.applyGraph(A, graph('gb', ['a/web'])))).toBe('LOGFS_E_EXISTS');
    expect(store.snapshot().graphs.gb?.provider).toBe('pb');
    await service.applyGraph(A, graph('ga', ['a/web']));
    expect(store.snapshot().graphs.ga?.provider).toBe('pa');
    expect(service.listGraphs(B).map((g) => g.name)).toEqual(['gb']);
    expect(service.validateGraph(A, graph('gx', ['b/web'])).problems[0]?.code).toBe('unknown-stream');
  });

  it('providers, tokens, history and rollback are admin-only; jobs are per provider', async () => {
    await seed();
    expect(await codeOf(() => service.listTokens(A))).toBe('LOGFS_E_FORBIDDEN');
    expect(await codeOf(service.createToken(A, { name: 'x', scope: 'admin' }))).toBe('LOGFS_E_FORBIDDEN');
    expect(await codeOf(service.createProvider(A, { name: 'pc' }))).toBe('LOGFS_E_FORBIDDEN');
    expect(await codeOf(service.history(A))).toBe('LOGFS_E_FORBIDDEN');
    expect(await codeOf(service.rollback(A, 1))).toBe('LOGFS_E_FORBIDDEN');
    const job = await service.createStream(A, { name: 'a/x' });
    expect(service.listJobs(A).map((j) => j.id)).toEqual([job.id]);
    expect(service.listJobs(B)).toEqual([]);
    expect(await codeOf(service.getJob(B, job.id))).toBe('LOGFS_E_NOT_FOUND');
    expect(service.listJobs(ADMIN).length).toBeGreaterThan(1);
  });
});

describe('commits', () => {
  it('commits several edits as one version, and nothing when one edit is bad, reporting every problem', async () => {
    await seed();
    const before = store.snapshot().version;
    const err = (await service
      .commit(ADMIN, [
        { op: 'createStream', stream: { name: 'c/one', provider: 'pa' } },
        { op: 'applyGraph', definition: graph('gc', ['c/one', 'missing'], [{ id: 'p', type: 'nope', inputs: ['source'] }]) },
        { op: 'updateStream', name: 'ghost', patch: { rate: 1 } },
        { op: 'createStream', stream: { name: 'bad name!' } },
      ])
      .catch((e: unknown) => e)) as ProblemsError;
    expect(err).toBeInstanceOf(ProblemsError);
    expect(err.code).toBe('LOGFS_E_NOT_FOUND');
    expect(err.problems.map((p) => [p.edit, p.code])).toEqual([
      [1, 'unknown-stream'],
      [1, 'unknown-type'],
      [2, 'LOGFS_E_NOT_FOUND'],
      [3, 'LOGFS_E_INVALID_NAME'],
    ]);
    expect(store.snapshot().version).toBe(before);
    expect(store.snapshot().streams['c/one']).toBeUndefined();
    const failed = service.listJobs(ADMIN)[0]!;
    expect(failed.state).toBe('failed');
    expect(failed.reason).toContain('nothing was committed');

    const job = await service.commit(
      ADMIN,
      [
        { op: 'createStream', stream: { name: 'c/one', provider: 'pa' } },
        { op: 'applyGraph', definition: graph('gc', ['c/one']) },
      ],
      'stream and its graph',
    );
    expect(job.version).toBe(before + 1);
    expect(store.snapshot().graphs.gc?.provider).toBe('pa');
    const [last] = await service.history(ADMIN, 1);
    expect(last).toMatchObject({ version: before + 1, author: 'root', message: 'stream and its graph' });
    expect(last!.changes).toEqual(expect.arrayContaining([expect.stringContaining('stream c/one created'), expect.stringContaining('graph gc created')]));
  });

  it('partitions only grow; deleting a stream takes it out of graphs', async () => {
    await service.createStream(ADMIN, { name: 's', partitions: 3 });
    expect(await codeOf(service.updateStream(ADMIN, 's', { partitions: 2 }))).toBe('LOGFS_E_CONFLICT');
    await service.applyGraph(ADMIN, graph('g', ['s']));
    await service.deleteStream(ADMIN, 's');
    expect(store.snapshot().graphs.g).toMatchObject({ version: 2, definition: { streams: [] } });
  });
});

describe('history and rollback', () => {
  it('rolls streams, graphs and providers back as a new commit; tokens stay; unchanged graphs keep their version', async () => {
    await service.createStream(ADMIN, { name: 's1' }); // v1
    await service.applyGraph(ADMIN, graph('g', ['s1'])); // v2
    await service.applyGraph(ADMIN, graph('keep', ['s1'])); // v3
    const target = store.snapshot().version;
    await service.applyGraph(ADMIN, graph('g', ['s1'], [{ id: 'drop', type: 'discard', inputs: ['source'] }])); // g v2
    await service.createStream(ADMIN, { name: 's2' });
    await service.createProvider(ADMIN, { name: 'later' });
    const { token } = await service.createToken(ADMIN, { name: 'ci', scope: { provider: 'later' } });
    const before = store.snapshot();
    expect(before.graphs.g?.version).toBe(2);

    const job = await service.rollback(ADMIN, target);
    expect(job.kind).toBe('rollback');
    const after = store.snapshot();
    expect(after.version).toBe(before.version + 1);
    expect(Object.keys(after.streams)).toEqual(['s1']);
    expect(after.providers.later).toBeUndefined();
    expect(after.tokens[token.id]).toBeDefined();
    expect(after.graphs.g?.definition).toEqual(graph('g', ['s1']));
    expect(after.graphs.g?.version).toBe(3);
    expect(after.graphs.keep?.version).toBe(1);
    const [commit] = await service.history(ADMIN, 1);
    expect(commit?.message).toBe(`rollback to version ${target}`);
    const at = await service.historyAt(ADMIN, target);
    expect(at.commit.version).toBe(target);
    expect(Object.keys(at.state.graphs as object).sort()).toEqual(['g', 'keep']);
    expect(await codeOf(service.rollback(ADMIN, 999))).toBe('LOGFS_E_NOT_FOUND');
  });
});

describe('stream keys', () => {
  it('generates a key for an encrypted stream and shows only its fingerprint', async () => {
    await service.createStream(ADMIN, { name: 'sec', encrypt: true });
    const key = store.snapshot().streams.sec!.key!;
    expect(Buffer.from(key, 'base64')).toHaveLength(32);
    const view = service.getStream(ADMIN, 'sec');
    expect(view.keyId).toBe(crypto.createHash('sha256').update(Buffer.from(key, 'base64')).digest('hex').slice(0, 16));
    expect(JSON.stringify(view)).not.toContain(key);
    expect(JSON.stringify(service.listStreams(ADMIN))).not.toContain(key);
    expect(JSON.stringify(await service.historyAt(ADMIN, store.snapshot().version))).not.toContain(key);

    await service.createStream(ADMIN, { name: 'plain' });
    expect(service.getStream(ADMIN, 'plain').keyId).toBeNull();
    await service.updateStream(ADMIN, 'plain', { encrypt: true });
    expect(service.getStream(ADMIN, 'plain').keyId).toMatch(/^[0-9a-f]{16}$/);
    // Turning encryption off keeps the key: archived records stay readable.
    await service.updateStream(ADMIN, 'plain', { encrypt: false });
    expect(store.snapshot().streams.plain?.key).not.toBeNull();

    const given = crypto.randomBytes(32).toString('base64');
    await service.createStream(ADMIN, { name: 'given', encrypt: true, key: given });
    expect(store.snapshot().streams.given?.key).toBe(given);
    expect(await codeOf(service.createStream(ADMIN, { name: 'badkey', encrypt: true, key: 'abc' }))).toBe('LOGFS_E_CONFIG');
  });
});

describe('jobs', () => {
  it('goes pending → validating → committing → propagating → active as members report the version', async () => {
    fleet.set([
      { id: 'd1', kind: 'daemon', storeVersion: 0 },
      { id: 'w1', kind: 'worker', storeVersion: 0 },
      { id: 'c1', kind: 'control', storeVersion: 0 },
      { id: 'gone', kind: 'worker', storeVersion: 0, alive: false },
    ]);
    const job = await service.createStream(ADMIN, { name: 's' });
    expect(job.state).toBe('propagating');
    expect(job.propagation.members.map((m) => m.id)).toEqual(['d1', 'w1']);
    fleet.set([
      { id: 'd1', kind: 'daemon', storeVersion: job.version! },
      { id: 'w1', kind: 'worker', storeVersion: 0 },
    ]);
    await expect(service.getJob(ADMIN, job.id)).resolves.toMatchObject({ state: 'propagating' });
    await new Promise((r) => setTimeout(r, 20));
    fleet.set([
      { id: 'd1', kind: 'daemon', storeVersion: job.version! },
      { id: 'w1', kind: 'worker', storeVersion: job.version! + 3 },
    ]);
    const done = await service.getJob(ADMIN, job.id, 1000);
    expect(done.state).toBe('active');
    expect(done.transitions.map((t) => t.state)).toEqual(['pending', 'validating', 'committing', 'propagating', 'active']);
    expect(done.propagation.members.every((m) => m.appliedAt !== null)).toBe(true);
    expect(done.propagation.delayMs).toBeGreaterThanOrEqual(15);
  });

  it('fails naming the member that did not apply the version in time; with no members it is active at once', async () => {
    await jobs.close();
    await open(200);
    const quick = await service.createStream(ADMIN, { name: 'first' });
    expect(quick.state).toBe('active');
    expect(quick.propagation.delayMs).toBe(0);

    fleet.set([
      { id: 'd1', kind: 'daemon', host: 'hosta', storeVersion: 0 },
      { id: 'w-stuck', kind: 'worker', host: 'hostb', storeVersion: 0 },
    ]);
    const job = await service.createStream(ADMIN, { name: 's' });
    fleet.set([
      { id: 'd1', kind: 'daemon', host: 'hosta', storeVersion: job.version! },
      { id: 'w-stuck', kind: 'worker', host: 'hostb', storeVersion: 0 },
    ]);
    const done = await service.getJob(ADMIN, job.id, 2000);
    expect(done.state).toBe('failed');
    expect(done.reason).toContain('worker w-stuck on hostb');
    expect(done.reason).not.toContain('d1');
    expect(store.snapshot().streams.s).toBeDefined(); // the change stays committed
  });

  it('fails when a worker refuses the new graph version, with its reason; an old refusal does not count', async () => {
    await service.createStream(ADMIN, { name: 's' });
    await service.applyGraph(ADMIN, graph('g', ['s']));
    // A refusal of version 1 long ago is not about this change (version 2).
    fleet.set([{ id: 'w1', kind: 'worker', host: 'hostw', storeVersion: 0, pipeline: { graphs: { g: { version: 1, state: 'running', lag: 0, error: 'version 1 rejected: old', agents: {} } } } }]);
    const job = await service.applyGraph(ADMIN, graph('g', ['s'], [{ id: 'keep', type: 'archive', inputs: ['source'], config: { name: 'two' } }]));
    expect(store.snapshot().graphs.g!.version).toBe(2);
    fleet.set([{ id: 'w1', kind: 'worker', host: 'hostw', storeVersion: job.version!, pipeline: { graphs: { g: { version: 1, state: 'running', lag: 0, error: 'version 2 rejected: custom agent failed its trial', agents: {} } } } }]);
    const done = await service.getJob(ADMIN, job.id, 1000);
    expect(done.state).toBe('failed');
    expect(done.reason).toContain('worker w1 on hostw: graph g: version 2 rejected: custom agent failed its trial');

    fleet.set([{ id: 'w1', kind: 'worker', host: 'hostw', storeVersion: 0, pipeline: { graphs: { g: { version: 2, state: 'running', lag: 0, error: 'version 1 rejected: old', agents: {} } } } }]);
    const ok = await service.applyGraph(ADMIN, graph('g', ['s'], [{ id: 'keep', type: 'archive', inputs: ['source'], config: { name: 'three' } }]));
    fleet.set([{ id: 'w1', kind: 'worker', host: 'hostw', storeVersion: ok.version!, pipeline: { graphs: { g: { version: 3, state: 'running', lag: 0, error: null, agents: {} } } } }]);
    await expect(service.getJob(ADMIN, ok.id, 1000)).resolves.toMatchObject({ state: 'active' });
  });

  it('keeps jobs across a restart; one interrupted while propagating is failed', async () => {
    fleet.set([{ id: 'd1', kind: 'daemon', storeVersion: 0 }]);
    const job = await service.createStream(ADMIN, { name: 's' });
    expect(job.state).toBe('propagating');
    await jobs.close();
    await open();
    const again = await service.getJob(ADMIN, job.id);
    expect(again.state).toBe('failed');
    expect(again.version).toBe(job.version);
    expect(JSON.parse(await fsp.readFile(path.join(dir, 'jobs.json'), 'utf8')).jobs).toHaveLength(1);
  });
});

describe('metrics and alarms', () => {
  it('reads series and alarm episodes through the stores the CLI reads, scoped to the graphs a provider sees', async () => {
    const { MetricsStore } = await import('../../../pipeline/metrics-store.js');
    const { AlarmLog } = await import('../../../pipeline/alarm-log.js');
    await seed();
    await service.applyGraph(A, graph('ga', ['a/web']));
    const metricsDir = path.join(dir, 'metrics');
    const alarmsDir = path.join(dir, 'alarms');
    const m = await MetricsStore.open({ dir: metricsDir });
    const t = Date.now() - 120_000;
    m.write([
      { name: 'ga.count.count', bucketStart: t, bucketMs: 60_000, group: { class: 'error' }, values: { count: 3, rate: 0.05 } },
      { name: 'ga.count.count', bucketStart: t + 60_000, bucketMs: 60_000, group: { class: 'error' }, values: { count: 5, rate: 0.08 } },
      { name: 'gb.count.count', bucketStart: t, bucketMs: 60_000, group: {}, values: { count: 1 } },
    ]);
    await m.close();
    const alarms = await AlarmLog.open({ dir: alarmsDir });
    const ev = (graph: string, state: 'firing' | 'resolved', time: number) => ({ alarm: `${graph}.al.high`, state, condition: 'count > 2', value: 3, instance: null, time, sampleRecordIds: [], graph, node: 'al' });
    alarms.publish([ev('ga', 'firing', t), ev('ga', 'firing', t + 1), ev('ga', 'resolved', t + 2), ev('ga', 'firing', t + 3), ev('gb', 'firing', t)]);
    await alarms.flush();
    await alarms.close();
    service = new ControlService({ store, fleet, jobs, topicPrefix: 'logfs', log, metricsDir, alarmsDir });

    const mine = await service.metrics(A, { from: t - 1 });
    expect(mine.series).toEqual([{ name: 'ga.count.count', group: 'class=error', labels: { class: 'error' }, bucketMs: 60_000, points: [{ t, count: 3, rate: 0.05 }, { t: t + 60_000, count: 5, rate: 0.08 }] }]);
    expect((await service.metrics(ADMIN, { from: t - 1 })).series).toHaveLength(2);
    expect((await service.metrics(ADMIN, { from: t - 1, group: 'class=error' })).series).toHaveLength(1);

    const episodes = await service.alarms(A, 'all');
    expect(episodes.map((e) => [e.name, e.state, e.count])).toEqual([
      ['ga.al.high', 'active', 1],
      ['ga.al.high', 'resolved', 2],
    ]);
    expect(await service.alarms(A, 'active')).toHaveLength(1);
    expect(await service.alarms(ADMIN, 'active')).toHaveLength(2);
  });
});

describe('archive browse', () => {
  it('walks provider → stream → class → instance → hour and pages records, a provider its own only', async () => {
    const { ArchiveStore } = await import('../../../pipeline/archive/index.js');
    const { makeRecord } = await import('../pipeline/agent-harness.js');
    const H = 3_600_000;
    const T0 = Date.UTC(2024, 4, 1, 10, 0, 0);
    const archiveDir = path.join(dir, 'archive');
    const a = await ArchiveStore.open({ dir: path.join(archiveDir, 'default'), log, writerId: 'wa' });
    const origin = { graph: 'g', version: 1 };
    const recs = [];
    for (let i = 0; i < 5; i++) recs.push(makeRecord(`line ${i}`, { provider: 'pa', stream: 'a/web', seq: i + 1, ts: T0 + i * 1000, class: i % 2 ? 'error' : null }));
    recs.push(makeRecord('next hour', { provider: 'pa', stream: 'a/web', seq: 6, ts: T0 + H }));
    recs.push(makeRecord('other', { provider: 'pb', stream: 'b/web', seq: 1, ts: T0 }));
    a.append(recs, origin);
    await a.flush();
    await a.close();
    await seed();
    service = new ControlService({ store, fleet, jobs, topicPrefix: 'logfs', log, archiveDir });

    expect((await service.archiveTree(ADMIN, {})).items.map((i) => [i.key, i.records])).toEqual([['pa', 6], ['pb', 1]]);
    const streams = await service.archiveTree(A, {});
    expect(streams.level).toBe('stream');
    expect(streams.archives).toEqual(['default']);
    expect(streams.items.map((i) => i.key)).toEqual(['a/web']);
    expect((await service.archiveTree(A, { provider: 'pb' })).items).toEqual([]);
    const classes = await service.archiveTree(A, { stream: 'a/web' });
    expect(classes.items.map((i) => [i.key, i.label, i.records])).toEqual([['', '(no class)', 4], ['error', 'error', 2]]);
    const instances = await service.archiveTree(A, { stream: 'a/web', class: 'error' });
    expect(instances.items.map((i) => [i.key, i.seq])).toEqual([['i-1', [1, 5]]]);
    const hours = await service.archiveTree(A, { stream: 'a/web', class: '', instance: 'i-1' });
    expect(hours.items.map((i) => i.key)).toEqual([new Date(T0).toISOString(), new Date(T0 + H).toISOString()]);

    const first = await service.archiveRecords(A, { stream: 'a/web', limit: 4 });
    expect(first.records.map((r) => r.data)).toEqual(['line 0', 'line 1', 'line 2', 'line 3']);
    const second = await service.archiveRecords(A, { stream: 'a/web', limit: 4, after: first.next! });
    expect(second.records.map((r) => r.data)).toEqual(['line 4', 'next hour']);
    expect(second.next).toBeUndefined();
    expect((await service.archiveRecords(A, { class: '' })).records.map((r) => r.data)).toEqual(['line 0', 'line 2', 'line 4', 'next hour']);
    expect((await service.archiveRecords(A, {})).records.every((r) => r.provider === 'pa')).toBe(true);
    expect(await codeOf(service.archiveRecords(A, { after: 'garbage' }))).toBe('LOGFS_E_CONFIG');
  });
});
