import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { LogfsError } from '../../../core/errors.js';
import { createStream, FileProvisioningStore } from '../../../control/store.js';
import { topicForStream } from '../../../control/stream-name.js';
import { encodeRecord, Journal } from '../../../gateway/index.js';
import { encodeJournalEntry } from '../../../gateway/journal-entry.js';
import type { ArchiveWriter } from '../../../pipeline/agent.js';
import { journalConsumerPrefix } from '../../../pipeline/journal-source.js';
import { PipelineWorker, WORKER_DEFAULTS, type PipelineServices } from '../../../pipeline/worker.js';

const log = pino({ level: 'silent' });
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** Services whose archive never takes anything (a disk that stays full). */
function refusingServices(): PipelineServices & { attempts: number } {
  const s = {
    attempts: 0,
    archive(): ArchiveWriter {
      return {
        append: () => {},
        flush: async () => {
          s.attempts++;
          throw new LogfsError('LOGFS_E_ARCHIVE_IO', 'disk full', { retriable: true });
        },
      };
    },
    metrics: { write: () => {}, flush: async () => {} },
    alarms: { publish: () => {}, flush: async () => {} },
    refresh: async () => {},
    close: async () => {},
  };
  return s;
}

describe('pipeline worker (embedded, on a real journal)', () => {
  it('stops within its deadline while a sink keeps refusing, leaving the batch uncommitted', async () => {
    const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'logfs-worker-'));
    cleanups.push(() => fsp.rm(dir, { recursive: true, force: true }));
    const store = await FileProvisioningStore.open(dir);
    cleanups.push(async () => store.close());
    await createStream(store, { name: 'web', provider: 'acme' });
    const journal = await Journal.open({ dir: path.join(dir, 'journal'), requiredConsumers: ['pipeline'] }, log);
    cleanups.push(() => journal.close());
    const topic = topicForStream('acme', 'web');
    const value = encodeRecord({ v: 1, provider: 'acme', stream: 'web', class: null, instance: 'i-1', host: 'h', seq: 1, ts: Date.now(), source: 'fuse', data: Buffer.from('kept') });
    journal.append([encodeJournalEntry(topic, 'i-1', 1, value)]);

    const saved = WORKER_DEFAULTS.stabiliseTimeoutMs;
    WORKER_DEFAULTS.stabiliseTimeoutMs = 500;
    cleanups.push(async () => void (WORKER_DEFAULTS.stabiliseTimeoutMs = saved));
    const services = refusingServices();
    const worker = new PipelineWorker({ store, bus: { kind: 'journal', journal, topicPrefix: 'logfs' }, services, log });
    await worker.start();
    const deadline = Date.now() + 5_000;
    while (services.attempts < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(services.attempts).toBeGreaterThanOrEqual(2);

    const started = Date.now();
    await worker.stop();
    expect(Date.now() - started).toBeLessThan(3_000);
    // Nothing was stored, so nothing was acknowledged: the entry is read again next time.
    expect(journal.cursor(`${journalConsumerPrefix('default')}${topic}`)).toBe(-1);
    expect(journal.cursor(WORKER_DEFAULTS.journalConsumer)).toBe(-1);
  });
});
