import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LogfsError } from '../../core/errors.js';
import { FLEET_DEFAULTS, openFleet, type Fleet, type FleetMember, type FleetReporter, type FleetView, type MemberMessage } from '../../control/fleet/index.js';

const log = pino({ level: 'silent' });
let dir: string;
let fleet: Fleet;
const cleanup: (() => Promise<unknown>)[] = [];

beforeEach(async () => {
  dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'logfs-fleet-'));
  fleet = await openFleet({ kind: 'file', dataDir: dir, log });
});

afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
  await fleet.close();
  await fsp.rm(dir, { recursive: true, force: true });
});

function reporter(id: string, opts: { heartbeatMs?: number; records?: () => number } = {}): FleetReporter {
  const r = fleet.reporter({
    id,
    kind: id.startsWith('daemon') ? 'daemon' : 'worker',
    host: 'h1',
    heartbeatMs: opts.heartbeatMs ?? 100,
    collect: () => ({
      instance: 'i-1',
      usage: { streams: { 'app/a': { records: opts.records?.() ?? 10, bytes: 100, cpuMs: 1 } }, agents: {} },
    }),
  });
  cleanup.push(() => r.stop());
  return r;
}

async function view(opts: { staleMs?: number } = {}): Promise<FleetView> {
  const v = await fleet.view(opts);
  cleanup.push(() => v.close());
  return v;
}

const byId = (id: string) => (ms: FleetMember[]) => ms.find((m) => m.id === id);

describe('file fleet', () => {
  it('shows every reporter to a view, alive, with what it collected', async () => {
    const v = await view();
    reporter('daemon-h1-i-1').start();
    reporter('worker-h1-42').start();
    const members = await v.waitFor((ms) => (ms.length === 2 ? ms : undefined), 2000);
    expect(members.map((m) => [m.id, m.kind, m.alive])).toEqual([
      ['daemon-h1-i-1', 'daemon', true],
      ['worker-h1-42', 'worker', true],
    ]);
    expect(members[0]).toMatchObject({ host: 'h1', pid: process.pid, instance: 'i-1', storeVersion: 0 });
    expect(Date.parse(members[0]!.seenAt)).toBeGreaterThan(Date.now() - 5000);
    expect(fs.readdirSync(path.join(dir, FLEET_DEFAULTS.dirName)).sort()).toEqual(['daemon-h1-i-1.json', 'worker-h1-42.json']);
  });

  it('marks a member that stopped reporting (crashed) not alive, and tells watchers', async () => {
    const v = await view({ staleMs: 300 });
    reporter('worker-h1-1', { heartbeatMs: 60_000 }).start(); // one message, then silence
    await v.waitFor((ms) => byId('worker-h1-1')(ms)?.alive, 2000);
    const seen: boolean[] = [];
    v.watch((ms) => seen.push(byId('worker-h1-1')(ms)?.alive ?? false));
    const t0 = Date.now();
    await v.waitFor((ms) => byId('worker-h1-1')(ms)?.alive === false, 2000);
    expect(Date.now() - t0).toBeLessThan(1500);
    expect(seen.at(-1)).toBe(false);
    expect(v.members()).toHaveLength(1); // still listed until forgotten
  });

  it('publishes a new store version at once, not at the next heartbeat', async () => {
    const v = await view();
    const r = reporter('daemon-h1-i-1', { heartbeatMs: 60_000 });
    r.noteStoreVersion(3);
    r.start();
    await v.waitFor((ms) => byId('daemon-h1-i-1')(ms)?.storeVersion === 3, 2000);
    const t0 = Date.now();
    r.noteStoreVersion(4);
    await v.waitFor((ms) => byId('daemon-h1-i-1')(ms)?.storeVersion === 4, 2000);
    // The folder is polled every 250 ms (fs.watch usually sooner): far from the 60 s heartbeat.
    expect(Date.now() - t0).toBeLessThan(FLEET_DEFAULTS.pollMs + 500);
  });

  it('drops a member that stops cleanly, and keeps its usage in the view\'s sums', async () => {
    const v = await view();
    const a = reporter('worker-h1-1');
    const b = reporter('worker-h1-2');
    a.start();
    b.start();
    await v.waitFor((ms) => ms.length === 2, 2000);
    expect(v.usage().streams['app/a']).toEqual({ records: 20, bytes: 200, cpuMs: 2 });
    await a.stop();
    await v.waitFor((ms) => ms.length === 1 && ms[0]!.id === 'worker-h1-2', 2000);
    expect(fs.existsSync(path.join(dir, FLEET_DEFAULTS.dirName, 'worker-h1-1.json'))).toBe(false);
    expect(v.usage().streams['app/a']).toEqual({ records: 20, bytes: 200, cpuMs: 2 });
  });

  it('carries the usage of a member that restarted under the same id', async () => {
    // Driven directly: a restart is a new pid with counters from zero.
    const v = await view();
    const msg = (pid: number, records: number): MemberMessage => ({
      id: 'daemon-h-i',
      kind: 'daemon',
      host: 'h',
      pid,
      storeVersion: 1,
      seenAt: new Date().toISOString(),
      usage: { streams: { s: { records, bytes: records, cpuMs: 0 } }, agents: { 'g/n': { records, cpuMs: 1 } } },
    });
    v.apply({ id: 'daemon-h-i', message: msg(10, 50) });
    v.apply({ id: 'daemon-h-i', message: msg(10, 70) });
    v.apply({ id: 'daemon-h-i', message: msg(11, 5) });
    expect(v.usage().streams.s!.records).toBe(75);
    expect(v.usage().agents['g/n']).toEqual({ records: 75, cpuMs: 2 });
  });

  it('sums a graph\'s agent counters over the workers running it, with rates between their reports', async () => {
    const v = await view();
    const t = Date.now() - 2000;
    const msg = (id: string, at: number, n: number): MemberMessage => ({
      id,
      kind: 'worker',
      host: 'h',
      pid: 1,
      storeVersion: 1,
      seenAt: new Date(at).toISOString(),
      pipeline: { graphs: { web: { version: 2, state: 'running', lag: 0, agents: { parse: { in: n, out: n, errors: 0, cpuMs: n / 100 } } } } },
      usage: { streams: {}, agents: {} },
    });
    v.apply({ id: 'w1', message: msg('w1', t, 100) });
    v.apply({ id: 'w2', message: msg('w2', t, 50) });
    v.apply({ id: 'w1', message: msg('w1', t + 300, 400) }); // too soon to measure a rate from
    v.apply({ id: 'w1', message: msg('w1', t + 1000, 1100) });
    v.apply({ id: 'w2', message: msg('w2', t + 1000, 550) });
    const stats = v.graphStats('web');
    expect(stats.parse).toMatchObject({ in: 1650, out: 1650, errors: 0 });
    expect(stats.parse!.cpuMs).toBeCloseTo(16.5);
    expect(stats.parse!.ratePerSec).toBeCloseTo(1000 + 500);
    expect(v.graphStats('other')).toEqual({});
  });

  it('skips files that are not members, and sees members already there when it opens', async () => {
    reporter('worker-h1-7').start();
    await fsp.mkdir(path.join(dir, FLEET_DEFAULTS.dirName), { recursive: true });
    await fsp.writeFile(path.join(dir, FLEET_DEFAULTS.dirName, 'junk.json'), '{"id":"junk"}');
    await fsp.writeFile(path.join(dir, FLEET_DEFAULTS.dirName, 'broken.json'), '{');
    const first = await view();
    await first.waitFor((ms) => ms.length > 0, 2000);
    const v = await view();
    expect(v.members().map((m) => m.id)).toEqual(['worker-h1-7']);
  });

  it('waitFor rejects with LOGFS_E_UNAVAILABLE when the fleet does not get there', async () => {
    const v = await view();
    const err = await v.waitFor((ms) => ms.length === 5, 100).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LogfsError);
    expect((err as LogfsError).code).toBe('LOGFS_E_UNAVAILABLE');
  });
});
