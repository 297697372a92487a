/**
 * logfsd in the fleet (embedded mode, file fleet in the data dir): the daemon and its embedded
 * pipeline worker report who they are, what they applied and measured use; both leave on stop.
 */
import fsp from 'node:fs/promises';
import os from 'node:os';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openFleet, type Fleet, type FleetMember, type FleetView } from '../../control/fleet/index.js';
import { Daemon, logfsctl } from './harness.js';

let d: Daemon;
let fleet: Fleet;
let view: FleetView;

beforeAll(async () => {
  d = await Daemon.start({ streams: ['app/web'] });
  fleet = await openFleet({ kind: 'file', dataDir: d.dataDir, log: pino({ level: 'silent' }) });
  view = await fleet.view();
});

afterAll(async () => {
  await view?.close();
  await fleet?.close();
  await d?.cleanup();
});

const daemonOf = (ms: FleetMember[]) => ms.find((m) => m.kind === 'daemon');
const workerOf = (ms: FleetMember[]) => ms.find((m) => m.kind === 'worker');

describe('logfsd in the fleet', () => {
  it('reports the daemon and its pipeline worker with their counters and measured use', async () => {
    await fsp.appendFile(d.path('app/web'), Array.from({ length: 100 }, (_, i) => `line ${i}\n`).join(''));
    const ms = await view.waitFor((m) => {
      const dm = daemonOf(m);
      const wm = workerOf(m);
      return dm?.usage.streams['app/web']?.records === 100 && wm?.usage.agents['default/archive']?.records === 100 ? m : undefined;
    }, 10_000);
    const dm = daemonOf(ms)!;
    expect(dm).toMatchObject({ id: `daemon-${os.hostname()}-${d.instance}`, instance: d.instance, provider: d.provider, mount: d.mnt, alive: true });
    expect(dm.gateway).toMatchObject({ recordsIn: 100, recordsOut: 0 });
    expect(dm.usage.streams['app/web']!.bytes).toBe(10 * 'line 0'.length + 90 * 'line 10'.length);
    expect(dm.usage.streams['app/web']!.cpuMs).toBeGreaterThan(0);
    const wm = workerOf(ms)!;
    expect(wm.id).toBe(`worker-${os.hostname()}-${dm.pid}`);
    expect(wm.pipeline!.graphs.default).toMatchObject({ state: 'running', agents: { archive: { in: 100, out: 0, errors: 0 } } });
  });

  it('reports a new store version from both members soon after it is committed', async () => {
    const r = await logfsctl(['stream', 'create', 'app/api', '--data', d.dataDir, '--provider', d.provider]);
    expect(r.code, r.stderr).toBe(0);
    const version = JSON.parse(await fsp.readFile(`${d.dataDir}/provisioning.json`, 'utf8')).version as number;
    const t0 = Date.now();
    await view.waitFor((ms) => daemonOf(ms)?.storeVersion === version && workerOf(ms)?.storeVersion === version, 5_000);
    expect(Date.now() - t0).toBeLessThan(2_000);
  });

  it('removes both members when logfsd stops', async () => {
    await d.stop();
    await view.waitFor((ms) => ms.length === 0, 5_000);
  });
});
