/**
 * Cluster mode (issue 5): one broker; a control service on its own (`logfsctl control run`, the
 * store on the compacted topic <prefix>.control); two logfsd with different instance IDs and mount
 * points watching that store; two pipeline workers sharing a consumer group and an archive dir.
 * A stream created through the API appears in both mounts within a second; a graph change is
 * applied by both workers (the reconfiguration protocol) while both hosts write; every record
 * arrives in the archive exactly once, stamped with the instance ID of the host that wrote it.
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Daemon, KAFKA, ManagedChild, randomName, ROOT, tempDir, waitFor } from './harness.js';
import { archived, WorkerProcess } from './pipeline-harness.js';

class ControlProcess extends ManagedChild {
  url = '';
  constructor(readonly dataDir: string) {
    super(path.join(dataDir, 'control.log'));
  }

  async launch(args: string[]): Promise<void> {
    const child = this.spawnNode([path.join(ROOT, 'bin/logfsctl.js'), 'control', 'run', '--data', this.dataDir, '--listen', '127.0.0.1:0', ...args]);
    this.url = await waitFor('the control service to listen', async () => {
      if (child.exitCode !== null) throw new Error(`control run exited with ${child.exitCode}: ${await this.logTail()}`);
      return /control service on \S+ at (http:\/\/\S+)/.exec(await this.logTail(200))?.[1];
    });
  }
}

interface Job {
  id: string;
  state: string;
  reason: string | null;
  version: number | null;
  propagation: { members: { id: string; kind: string; appliedAt: string | null }[]; delayMs: number | null };
}

interface Member {
  id: string;
  kind: string;
  instance?: string;
  alive: boolean;
  storeVersion: number;
  pipeline?: { graphs: Record<string, { version: number; state: string }> };
}

describe('cluster: two hosts, two workers, one broker, the store on Kafka', () => {
  const prefix = randomName('lc');
  const provider = randomName('acme');
  let base: string;
  let shared: string;
  const control = { proc: undefined as ControlProcess | undefined, token: '' };
  const hosts: Daemon[] = [];
  const workers: WorkerProcess[] = [];
  const figures: Record<string, number> = {};

  async function api<T>(method: string, route: string, body?: unknown): Promise<T> {
    const res = await fetch(`${control.proc!.url}/api/v1${route}`, {
      method,
      headers: { authorization: `Bearer ${control.token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const json = (await res.json()) as T;
    if (!res.ok) throw new Error(`${method} ${route}: ${res.status} ${JSON.stringify(json)}`);
    return json;
  }

  async function untilActive(job: Job): Promise<Job> {
    let j = job;
    for (let i = 0; i < 4 && j.state !== 'active' && j.state !== 'failed'; i++) j = await api<Job>('GET', `/jobs/${j.id}?wait=active`);
    expect(j.reason).toBeNull();
    expect(j.state).toBe('active');
    return j;
  }

  async function fleet(): Promise<Member[]> {
    return (await api<{ members: Member[] }>('GET', '/fleet')).members.filter((m) => m.alive);
  }

  beforeAll(async () => {
    base = await tempDir('logfs-cluster-');
    shared = path.join(base, 'shared');
    await fsp.mkdir(shared, { recursive: true });
    control.proc = new ControlProcess(shared);
    await control.proc.launch(['--kafka', KAFKA, '--topic-prefix', prefix, '--log-level', 'debug']);
    control.token = (await fsp.readFile(path.join(shared, 'admin.token'), 'utf8')).trim();
    for (const name of ['a', 'b']) {
      hosts.push(
        await Daemon.start({
          kafka: true,
          provider,
          instance: `host-${name}-${prefix}`,
          dataDir: path.join(base, `host-${name}`, 'data'),
          mountDir: path.join(base, `host-${name}`, 'mnt'),
          config: { store: 'kafka', pipeline: 'off', gateway: { kafka: { topicPrefix: prefix } } },
        }),
      );
    }
    for (const name of ['w1', 'w2']) workers.push(await WorkerProcess.start(shared, name, ['--topic-prefix', prefix, '--store', 'kafka']));
    await waitFor('both daemons and both workers in the fleet', async () => {
      const m = await fleet();
      return m.filter((x) => x.kind === 'daemon').length === 2 && m.filter((x) => x.kind === 'worker').length === 2;
    });
  }, 120_000);

  afterAll(async () => {
    await Promise.all(workers.map((w) => w.stop()));
    await Promise.all(hosts.map((h) => h.cleanup()));
    await control.proc?.stop();
    await fsp.mkdir(path.join(ROOT, 'test-artifacts'), { recursive: true });
    await fsp.writeFile(path.join(ROOT, 'test-artifacts', 'cluster-propagation.json'), JSON.stringify(figures, null, 2) + '\n');
    if (base) await fsp.rm(base, { recursive: true, force: true });
  }, 120_000);

  it('a stream created through the API appears in both mounts within a second', async () => {
    await untilActive(await api<Job>('POST', '/providers', { name: provider }));
    const t0 = performance.now();
    const job = await api<Job>('POST', '/streams', { name: 'web', provider, partitions: 2 });
    const seen: number[] = [];
    await waitFor(
      'web in both mounts',
      () => {
        hosts.forEach((h, i) => {
          if (seen[i] === undefined && fs.existsSync(path.join(h.mnt, 'web'))) seen[i] = performance.now() - t0;
        });
        return seen.filter((x) => x !== undefined).length === 2;
      },
      5_000,
      5,
    );
    figures.streamVisibleInMountsMs = Math.round(Math.max(...seen));
    expect(Math.max(...seen)).toBeLessThan(1000);
    const done = await untilActive(job);
    figures.streamJobPropagationMs = done.propagation.delayMs ?? -1;
    // Every live member (two daemons, two workers) reported the version.
    expect(done.propagation.members.filter((m) => m.appliedAt !== null).length).toBeGreaterThanOrEqual(4);
  }, 60_000);

  it('records written on both hosts arrive exactly once, stamped with their instance, across a graph change applied by both workers', async () => {
    const graph = (version: number): Record<string, unknown> => ({
      name: 'web-main',
      streams: ['web'],
      nodes: [
        { id: 'parse', type: 'parse', inputs: ['source'], config: { format: 'kv' } },
        ...(version === 2 ? [{ id: 'classify', type: 'classify', inputs: ['parse'], config: { rules: [{ class: 'from-b', match: 'host=b' }] } }] : []),
        { id: 'archive', type: 'archive', inputs: [version === 2 ? 'classify' : 'parse'], config: { name: 'main' } },
      ],
    });
    const v1 = await untilActive(await api<Job>('POST', '/graphs', { definition: graph(1) }));
    figures.graphV1JobPropagationMs = v1.propagation.delayMs ?? -1;
    await waitFor('both workers run version 1', async () => (await fleet()).filter((m) => m.kind === 'worker' && m.pipeline?.graphs['web-main']?.version === 1).length === 2);

    const perHost = 300;
    const write = async (h: Daemon, tag: string, from: number, to: number): Promise<void> => {
      const fh = await fsp.open(path.join(h.mnt, 'web'), 'a');
      for (let i = from; i < to; i += 50) {
        const lines = Array.from({ length: Math.min(50, to - i) }, (_, k) => `host=${tag} n=${i + k}\n`).join('');
        await fh.write(lines);
      }
      await fh.close(); // a durability barrier: journaled on the host
    };
    await Promise.all([write(hosts[0]!, 'a', 0, perHost / 2), write(hosts[1]!, 'b', 0, perHost / 2)]);
    // The change lands while records flow: both workers stabilise version 1 and activate version 2.
    const [v2] = await Promise.all([
      api<Job>('POST', '/graphs', { definition: graph(2) }).then(untilActive),
      write(hosts[0]!, 'a', perHost / 2, perHost),
      write(hosts[1]!, 'b', perHost / 2, perHost),
    ]);
    figures.graphV2JobPropagationMs = v2.propagation.delayMs ?? -1;
    const workersNow = (await fleet()).filter((m) => m.kind === 'worker');
    expect(workersNow.map((w) => w.pipeline?.graphs['web-main']?.version)).toEqual([2, 2]);

    const records = await waitFor(
      `${2 * perHost} archived records`,
      async () => {
        const recs = await archived(shared, 'main', { stream: 'web' });
        return recs.length >= 2 * perHost ? recs : undefined;
      },
      120_000,
      500,
    );
    const ids = records.map((r) => `${r.instance}:${r.seq}`);
    expect(new Set(ids).size).toBe(ids.length); // exactly once: no record twice
    expect(records.length).toBe(2 * perHost);
    const byHost = { a: new Set<string>(), b: new Set<string>() };
    for (const r of records) {
      const tag = /host=(a|b) n=(\d+)/.exec(r.data);
      expect(tag, r.data).not.toBeNull();
      expect(r.instance).toBe(hosts[tag![1] === 'a' ? 0 : 1]!.instance);
      byHost[tag![1] as 'a' | 'b'].add(tag![2]!);
    }
    expect(byHost.a.size).toBe(perHost);
    expect(byHost.b.size).toBe(perHost);
    // Version 2 classified what it saw from host b; version 1 did not.
    expect(records.some((r) => r.version === 2 && r.class === 'from-b')).toBe(true);
    expect(records.filter((r) => r.version === 1).every((r) => r.class !== 'from-b')).toBe(true);
  }, 240_000);
});
