/** What the gateway measures per stream for the cost figure, and what logfsd reports of it to the fleet. */
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { FileProvisioningStore } from '../../control/store.js';
import { daemonCollector } from '../../daemon/fleet-member.js';
import { parseGatewayConfig } from '../../gateway/config.js';
import { Gateway } from '../../gateway/gateway.js';

const log = pino({ level: 'silent' });
const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  vi.useRealTimers();
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function start(): Promise<Gateway> {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'gw-usage-'));
  cleanups.push(() => fsp.rm(dir, { recursive: true, force: true }));
  const store = await FileProvisioningStore.open(dir);
  cleanups.push(async () => store.close());
  const gw = await Gateway.start(parseGatewayConfig({ host: 'test-host', metricsListen: null, provider: 'acme' }), { dataDir: dir, store, log });
  cleanups.push(() => gw.close());
  return gw;
}

describe('gateway stream usage', () => {
  it('counts records, data bytes and ingest time per stream, whatever instance or class wrote them', async () => {
    const gw = await start();
    const a = { instance: 'inst-a', provider: 'acme' };
    const b = { instance: 'inst-b', provider: 'acme' };
    gw.ingest(a, 'ns/app', null, [{ data: Buffer.from('one') }, { data: Buffer.from('two') }], 'fuse');
    gw.ingest(b, 'ns/app', 'err', [{ data: Buffer.from('three') }], 'socket');
    gw.ingest(a, 'other', null, [{ data: Buffer.alloc(1000) }], 'fuse');
    const u = gw.streamUsage();
    expect(Object.keys(u).sort()).toEqual(['ns/app', 'other']);
    expect(u['ns/app']).toMatchObject({ records: 3, bytes: 11 });
    expect(u.other).toMatchObject({ records: 1, bytes: 1000 });
    expect(u['ns/app']!.cpuMs).toBeGreaterThan(0);
    expect(u['ns/app']!.cpuMs).toBeLessThan(1000);
    // A copy: the caller cannot change the gateway's counters.
    u.other!.records = 99;
    expect(gw.streamUsage().other!.records).toBe(1);
  });

  it('feeds logfsd\'s fleet report: identity, gateway counters, a rate over at least the window, and the usage', async () => {
    const gw = await start();
    const who = { instance: 'inst-a', provider: 'acme' };
    const collect = daemonCollector(who, '/mnt/logfs', gw);
    const now = vi.spyOn(performance, 'now');
    now.mockReturnValue(10_000);
    expect(collect().gateway!.ratePerSec).toBe(0);
    gw.ingest(who, 'app', null, Array.from({ length: 500 }, () => ({ data: Buffer.from('x') })), 'fuse');
    now.mockReturnValue(10_100); // too soon: the rate stays as it was
    expect(collect().gateway!.ratePerSec).toBe(0);
    now.mockReturnValue(12_000);
    const state = collect();
    now.mockRestore();
    expect(state).toMatchObject({ instance: 'inst-a', provider: 'acme', mount: '/mnt/logfs' });
    expect(state.gateway).toMatchObject({ recordsIn: 500, bytesIn: 500, recordsOut: 0, ratePerSec: 250 });
    expect(state.gateway!.journalBytes).toBeGreaterThanOrEqual(0);
    expect(state.usage!.streams.app).toMatchObject({ records: 500, bytes: 500 });
    expect(daemonCollector(who, '/m', undefined)()).toEqual({ instance: 'inst-a', provider: 'acme', mount: '/m' });
  });
});
