import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { isLogfsError } from '../../../core/errors.js';
import { sleep } from '../../../core/retry.js';
import type { AgentServices } from '../../../pipeline/agent.js';
import { archive } from '../../../pipeline/agents/archive.js';
import { ArchiveStore, archivedData, readArchive, type ArchivedRecord } from '../../../pipeline/archive/index.js';
import { build, checkAgentCompliance, makeContext, makeRecord, MemoryServices, run } from './agent-harness.js';

const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

async function lineServer(): Promise<{ port: number; lines: string[] }> {
  const lines: string[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    let rest = '';
    s.on('data', (chunk) => {
      const parts = (rest + chunk.toString()).split('\n');
      rest = parts.pop() as string;
      lines.push(...parts);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanup.push(
    () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  );
  return { port: (server.address() as net.AddressInfo).port, lines };
}

describe('archive agent', () => {
  it('meets the agent contract when storing', async () => {
    await checkAgentCompliance(archive, {}, [makeRecord('x'), makeRecord('y')]);
    await checkAgentCompliance(archive, { name: 'audit-2' }, [makeRecord('x')]);
  });

  it('meets the agent contract when relaying to a topic or over TCP', async () => {
    await checkAgentCompliance(archive, { relay: { topic: 'logs.relayed' } }, [makeRecord('x')]);
    const server = await lineServer();
    await checkAgentCompliance(archive, { relay: { tcp: `127.0.0.1:${server.port}` } }, [makeRecord('x')]);
    // flush resolved once the socket took the line; the server reads it a moment later.
    for (let i = 0; i < 200 && server.lines.length === 0; i++) await sleep(10);
    expect(server.lines.map((l) => (JSON.parse(l) as ArchivedRecord).data)).toEqual(['x']);
  });

  it('is a pure sink that hands batches to the named archive with the graph version', async () => {
    expect(archive.sink).toBe(true);
    expect(archive.ports(archive.configSchema.parse({}))).toEqual([]);
    const services = new MemoryServices();
    const names: string[] = [];
    const ctx = makeContext({ graph: 'web-graph', version: 12, services: Object.assign(services, { archive: (n: string) => (names.push(n), MemoryServices.prototype.archive.call(services, n)) }) });
    const { runtime } = await build(archive, { name: 'audit' }, ctx);
    const out = await run(runtime, [makeRecord('a'), makeRecord('b')]);
    await runtime.flush?.();
    expect(out.all()).toEqual([]);
    expect(names).toEqual(['audit']);
    expect(services.archived.map((a) => [a.record.data.toString(), a.graph, a.version])).toEqual([
      ['a', 'web-graph', 12],
      ['b', 'web-graph', 12],
    ]);
    expect(services.flushes).toBe(1);
  });

  it('stores into a real ArchiveStore, readable back with graph and version', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'logfs-archive-agent-'));
    cleanup.push(() => fs.rmSync(dir, { recursive: true, force: true }));
    const store = await ArchiveStore.open({ dir, log: pino({ level: 'silent' }) });
    cleanup.push(() => store.close());
    const services: AgentServices = { ...new MemoryServices(), archive: () => store };
    const { runtime } = await build(archive, {}, makeContext({ graph: 'g', version: 5, services }));
    await runtime.process([makeRecord('one'), makeRecord(Buffer.from([0xc3, 0x28]))], { emit: () => expect.unreachable('a sink emits nothing') });
    await runtime.flush?.();
    const got: ArchivedRecord[] = [];
    for await (const r of readArchive(dir)) got.push(r);
    expect(got.map((r) => [archivedData(r), r.graph, r.version])).toEqual([
      [Buffer.from('one'), 'g', 5],
      [Buffer.from([0xc3, 0x28]), 'g', 5],
    ]);
  });

  it('relays to a topic through the services\' producer, keyed by instance', async () => {
    const services = new MemoryServices();
    const { runtime } = await build(archive, { relay: { topic: 'relay.t' } }, makeContext({ services }));
    await run(runtime, [makeRecord('r', { instance: 'i-7', seq: 3 })]);
    expect(services.sent).toEqual([]); // nothing leaves before flush
    await runtime.flush?.();
    expect(services.sent.map((m) => [m.topic, m.key])).toEqual([['relay.t', 'i-7']]);
    expect(services.archived).toEqual([]);
  });

  it('rejects a topic relay in embedded mode (no Kafka) at create time, saying why', async () => {
    const base = new MemoryServices();
    const services: AgentServices = { archive: (n) => base.archive(n), metrics: base.metrics, alarms: base.alarms };
    const err = await Promise.resolve()
      .then(() => build(archive, { relay: { topic: 'relay.t' } }, makeContext({ services, nodeId: 'keep' })))
      .catch((e: unknown) => e);
    expect(isLogfsError(err, 'LOGFS_E_CONFIG')).toBe(true);
    expect((err as Error).message).toMatch(/"keep".*relay\.t.*without Kafka \(embedded mode\)/);
  });

  it('validates its config: archive name, relay kinds, and not both name and relay', () => {
    const ok = (c: unknown): boolean => archive.configSchema.safeParse(c).success;
    expect(archive.configSchema.parse({})).toEqual({ name: 'default' });
    expect(archive.configSchema.parse({ relay: { tcp: 'h:1' } })).toEqual({ name: 'default', relay: { tcp: 'h:1', format: 'ndjson' } });
    expect(ok({ name: 'Bad_Name' })).toBe(false);
    expect(ok({ name: '../x' })).toBe(false);
    expect(ok({ name: 'audit', relay: { topic: 't' } })).toBe(false);
    expect(ok({ relay: { topic: 'bad topic' } })).toBe(false);
    expect(ok({ relay: { tcp: 'nohost' } })).toBe(false);
    expect(ok({ relay: { tcp: 'h:1', format: 'json' } })).toBe(false);
    expect(ok({ relay: { topic: 't', tcp: 'h:1' } })).toBe(false);
    expect(ok({ relay: {} })).toBe(false);
  });
});
