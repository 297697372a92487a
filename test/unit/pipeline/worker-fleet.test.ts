import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { openFleet, type FleetMember } from '../../../control/fleet/index.js';
import { createStream, FileProvisioningStore } from '../../../control/store.js';
import { topicForStream } from '../../../control/stream-name.js';
import { encodeRecord, Journal } from '../../../gateway/index.js';
import { encodeJournalEntry } from '../../../gateway/journal-entry.js';
import { PipelineWorker, type PipelineServices } from '../../../pipeline/worker.js';
import { MemoryServices } from './agent-harness.js';

const log = pino({ level: 'silent' });
const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function append(journal: Journal, stream: string, n: number): void {
  const topic = topicForStream('acme', stream);
  const entries = Array.from({ length: n }, (_, i) =>
    encodeJournalEntry(topic, 'i-1', i + 1, encodeRecord({ v: 1, provider: 'acme', stream, class: null, instance: 'i-1', host: 'h', seq: i + 1, ts: Date.now(), source: 'fuse', data: Buffer.from(`line ${i}`) })),
  );
  journal.append(entries);
}

describe('pipeline worker in the fleet', () => {
  it('reports its graphs, agent counters and lag, the store version it applied, and cumulative agent use across versions', async () => {
    const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'logfs-worker-fleet-'));
    cleanups.push(() => fsp.rm(dir, { recursive: true, force: true }));
    const store = await FileProvisioningStore.open(dir);
    cleanups.push(async () => store.close());
    await createStream(store, { name: 'web', provider: 'acme' });
    const journal = await Journal.open({ dir: path.join(dir, 'journal'), requiredConsumers: ['pipeline'] }, log);
    cleanups.push(() => journal.close());
    append(journal, 'web', 3);

    const fleet = await openFleet({ kind: 'file', dataDir: dir, log });
    cleanups.push(() => fleet.close());
    const view = await fleet.view();
    cleanups.push(() => view.close());
    const services: PipelineServices = Object.assign(new MemoryServices(), { refresh: async () => {}, close: async () => {} });
    const worker = new PipelineWorker({ store, bus: { kind: 'journal', journal, topicPrefix: 'logfs' }, services, log, fleet, fleetMemberId: 'worker-test' });
    await worker.start();
    cleanups.push(() => worker.stop());

    const me = (ms: FleetMember[]): FleetMember | undefined => ms.find((m) => m.id === 'worker-test');
    const first = await view.waitFor((ms) => {
      const m = me(ms);
      // Counted when the batch ran, acknowledged (lag 0) once the sink stored it.
      return m?.pipeline?.graphs.default?.agents.archive?.in === 3 && m.pipeline.graphs.default.lag === 0 ? m : undefined;
    }, 5000);
    expect(first).toMatchObject({ kind: 'worker', pid: process.pid, storeVersion: store.snapshot().version, alive: true });
    expect(first.pipeline!.graphs.default).toMatchObject({ state: 'running', lag: 0 });
    expect(first.usage.agents['default/archive']!.records).toBe(3);

    // A new stream changes the default graph: a new version, the store version is reported at once.
    await createStream(store, { name: 'api', provider: 'acme' });
    const version = store.snapshot().version;
    append(journal, 'api', 2);
    const second = await view.waitFor((ms) => {
      const m = me(ms);
      return m && m.storeVersion === version && m.usage.agents['default/archive']?.records === 5 ? m : undefined;
    }, 5000);
    // The running version counts only its own records; the use counts both versions.
    expect(second.pipeline!.graphs.default!.agents.archive!.in).toBe(2);

    await worker.stop();
    await view.waitFor((ms) => !me(ms), 2000);
  });
});
