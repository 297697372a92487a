/** The gateway in embedded mode (no Kafka): stamping, sequences across restarts, barriers, metrics, the journal lock. */
import fsp from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FileProvisioningStore } from '../../control/store.js';
import { parseGatewayConfig } from '../../gateway/config.js';
import { Gateway } from '../../gateway/gateway.js';
import { decodeJournalEntry } from '../../gateway/journal-entry.js';
import { decodeRecord, RecordTemplate } from '../../gateway/record-codec.js';
import { nativeGateway } from '../../gateway/native.js';
import { tempDirs } from './temp-dirs.js';
import { pino } from 'pino';

const log = pino({ level: 'silent' });

const temp = tempDirs();
afterAll(() => temp.remove());

async function start(dataDir: string, extra: Record<string, unknown> = {}): Promise<Gateway> {
  const store = await FileProvisioningStore.open(dataDir);
  const config = parseGatewayConfig({ host: 'test-host', metricsListen: null, provider: 'acme', ...extra });
  return Gateway.start(config, { dataDir, store, log });
}

async function journalRecords(gw: Gateway) {
  const { payloads } = await gw.journal.read(gw.journal.firstLsn, 1_000_000, 1 << 30);
  return payloads.map((p) => {
    const e = decodeJournalEntry(p);
    return { entry: e, record: decodeRecord(e.value) };
  });
}

describe('Gateway (embedded mode)', () => {
  it('stamps records with provider, instance, host, time and a per-instance sequence', async () => {
    const dir = await temp.make('gw-');
    const before = Date.now();
    const gw = await start(dir);
    const a = { instance: 'inst-a', provider: 'acme' };
    const b = { instance: 'inst-b', provider: 'acme' };
    gw.ingest(a, 'ns/app', null, [{ data: Buffer.from('one') }, { data: Buffer.from('two') }], 'fuse');
    gw.ingest(b, 'ns/app', 'err', [{ data: Buffer.from('three') }], 'fuse');
    const pos = gw.ingest(a, 'other', 'x/y', [{ data: Buffer.from('four'), part: [0, false] }, { data: Buffer.from('five'), part: [1, true] }], 'socket');
    await gw.barrier(pos);
    const got = await journalRecords(gw);
    // Sequences start at the gateway's start time in microseconds and count up per instance.
    const a1 = got[0]!.record.seq;
    const b1 = got[2]!.record.seq;
    expect(a1).toBeGreaterThanOrEqual(before * 1000);
    expect(a1).toBeLessThanOrEqual(Date.now() * 1000);
    expect(b1).toBe(a1);
    expect(got.map(({ record: r }) => [r.instance, r.seq, r.stream, r.class, r.data.toString(), r.source, r.part])).toEqual([
      ['inst-a', a1, 'ns/app', null, 'one', 'fuse', undefined],
      ['inst-a', a1 + 1, 'ns/app', null, 'two', 'fuse', undefined],
      ['inst-b', b1, 'ns/app', 'err', 'three', 'fuse', undefined],
      ['inst-a', a1 + 2, 'other', 'x/y', 'four', 'socket', [0, false]],
      ['inst-a', a1 + 3, 'other', 'x/y', 'five', 'socket', [1, true]],
    ]);
    for (const { entry, record } of got) {
      expect(record).toMatchObject({ v: 1, provider: 'acme', host: 'test-host' });
      expect(record.ts).toBeGreaterThanOrEqual(before);
      expect(record.ts).toBeLessThanOrEqual(Date.now());
      expect(entry.key).toBe(record.instance);
      expect(entry.seq).toBe(record.seq);
      expect(entry.topic).toBe(`logfs.acme.${record.stream.replace('/', '.')}`);
    }
    const m = gw.metrics.snapshot();
    expect(m.logfs_records_in_total).toBe(5);
    expect(m.logfs_bytes_in_total).toBe(3 + 3 + 5 + 4 + 4);
    await gw.close();
  });

  it('continues each instance\'s sequence after a restart, even when the meta was not saved', async () => {
    const dir = await temp.make('gw-');
    let gw = await start(dir);
    const a = { instance: 'inst-a', provider: 'acme' };
    for (let i = 0; i < 10; i++) gw.ingest(a, 's', null, [{ data: Buffer.from(`r${i}`) }], 'fuse');
    await gw.close();
    // Throw the saved high-water marks away: they must come back from the journal itself.
    const cursors = path.join(dir, 'journal', 'cursors.json');
    const saved = JSON.parse(await fsp.readFile(cursors, 'utf8'));
    saved.meta = {};
    await fsp.writeFile(cursors, JSON.stringify(saved));
    gw = await start(dir);
    const pos = gw.ingest(a, 's', null, [{ data: Buffer.from('after restart') }], 'fuse');
    await gw.barrier(pos);
    const seqs = (await journalRecords(gw)).map(({ record }) => record.seq);
    expect(seqs.slice(1, 10)).toEqual(seqs.slice(0, 9).map((s) => s + 1));
    // Strictly above the journal's last number (the clock floor of the second run is too).
    expect(seqs[10]).toBeGreaterThan(seqs[9]!);
    await gw.close();
  });

  it('never repeats a sequence number even when the journal and its meta were lost (power cut)', async () => {
    const dir = await temp.make('gw-');
    let gw = await start(dir);
    const a = { instance: 'inst-a', provider: 'acme' };
    let pos = gw.ingest(a, 's', null, [{ data: Buffer.from('x') }, { data: Buffer.from('y') }], 'fuse');
    await gw.barrier(pos);
    const lastBefore = (await journalRecords(gw)).at(-1)!.record.seq;
    await gw.close();
    await fsp.rm(path.join(dir, 'journal'), { recursive: true });
    await new Promise((r) => setTimeout(r, 5));
    gw = await start(dir);
    pos = gw.ingest(a, 's', null, [{ data: Buffer.from('z') }], 'fuse');
    await gw.barrier(pos);
    expect((await journalRecords(gw))[0]!.record.seq).toBeGreaterThan(lastBefore);
    await gw.close();
  });

  it('refuses a second gateway on the same journal and takes over a lock left by a dead process', async () => {
    const dir = await temp.make('gw-');
    const gw = await start(dir);
    await expect(start(dir)).rejects.toMatchObject({ code: 'LOGFS_E_CONFIG', message: expect.stringContaining('in use by process') });
    await gw.close();
    await fsp.writeFile(path.join(dir, 'journal', 'LOCK'), '999999999\n');
    const again = await start(dir);
    await again.close();
  });

  it('reports the process\'s memory under the Node.js client names', async () => {
    const gw = await start(await temp.make('gw-'));
    const m = gw.metrics.snapshot();
    await gw.close();
    // Between what this test process certainly holds and a bound it cannot reach.
    expect(m.process_resident_memory_bytes).toBeGreaterThan(10 * 2 ** 20);
    expect(m.process_resident_memory_bytes).toBeLessThan(16 * 2 ** 30);
    expect(m.nodejs_heap_size_used_bytes).toBeGreaterThan(0);
    expect(m.nodejs_heap_size_used_bytes).toBeLessThanOrEqual(m.nodejs_heap_size_total_bytes!);
    expect(m.nodejs_heap_size_total_bytes).toBeLessThan(m.process_resident_memory_bytes!);
    expect(m.nodejs_external_memory_bytes).toBeGreaterThan(0);
  });

  it('rejects durability "kafka" without brokers', async () => {
    const dir = await temp.make('gw-');
    await expect(start(dir, { durability: 'kafka' })).rejects.toMatchObject({ code: 'LOGFS_E_CONFIG', message: expect.stringContaining('needs kafka.brokers') });
  });

  it('reports full at the bound so writers wait (or are refused), and room again once acked', async () => {
    const dir = await temp.make('gw-');
    // Brokers that are never contacted in this test: the shipper retries in the background.
    const gw = await start(dir, { kafka: { brokers: ['127.0.0.1:1'], connectionTimeoutMs: 100 }, journal: { maxBytes: 8192, segmentBytes: 4096 } });
    const a = { instance: 'inst-a', provider: 'acme' };
    let last = -1;
    while (!gw.isFull()) last = gw.ingest(a, 's', null, [{ data: Buffer.alloc(100, 0x61) }], 'fuse');
    expect(gw.isFull()).toBe(true);
    let roomed = false;
    const room = gw.waitForRoom().then(() => (roomed = true));
    await new Promise((r) => setTimeout(r, 100));
    expect(roomed).toBe(false);
    expect(gw.metrics.snapshot().logfs_blocked_writers).toBe(1);
    await gw.journal.whenWritten(last);
    gw.journal.ack('kafka', last); // what the shipper does when Kafka acknowledges
    await room;
    expect(gw.isFull()).toBe(false);
    await gw.close();
  });
});

describe('Gateway.ingestChunk (lines framed in C)', () => {
  it('writes the journal entries ingest() writes, up to the first overlong line or the unterminated tail', async () => {
    expect(nativeGateway, 'scripts/build-native.sh must have built dist/native/logfs-gateway.node').toBeDefined();
    const dir = await temp.make('gw-');
    const gw = await start(dir);
    const who = { instance: 'inst-a', provider: 'acme' };
    // Every size class of MessagePack bin, an empty line, NUL and invalid UTF-8, then a line over
    // the limit (500 bytes) and a tail without its newline.
    const lines = [0, 1, 100, 255, 256, 499, 500, 300].map((n, i) => Buffer.alloc(n, 0x41 + i));
    lines[2]![5] = 0;
    lines[2]![6] = 0xff;
    const chunk = Buffer.concat([...lines.flatMap((l) => [l, Buffer.from('\n')]), Buffer.alloc(600, 0x7a), Buffer.from('\nx\ntail')]);
    const first = gw.ingestChunk(who, 'ns/app', 'crit', chunk, 500, 'fuse');
    const expectedTaken = lines.reduce((n, l) => n + l.length + 1, 0);
    expect(first.taken).toBe(expectedTaken);
    // Nothing from the overlong line on: the caller frames it (as parts) and what follows.
    expect(gw.ingestChunk(who, 'ns/app', 'crit', chunk.subarray(expectedTaken), 500, 'fuse')).toEqual({ taken: 0, lsn: -1 });
    // A second run continues the sequence; its tail stays with the caller.
    const second = gw.ingestChunk(who, 'ns/app', 'crit', Buffer.from('x\ntail'), 500, 'fuse');
    expect(second.taken).toBe(2);
    await gw.barrier(second.lsn);
    const got = await journalRecords(gw);
    expect(got).toHaveLength(lines.length + 1);
    const t = new RecordTemplate({ v: 1, provider: 'acme', stream: 'ns/app', class: 'crit', instance: 'inst-a', host: 'test-host', source: 'fuse' });
    const all = [...lines, Buffer.from('x')];
    const seq0 = got[0]!.record.seq;
    for (const [i, { entry, record }] of got.entries()) {
      // The same bytes as the JavaScript encoder gives the same line, seq and ts.
      expect(entry.value.equals(t.encode(seq0 + i, record.ts, all[i]!)), `line ${i}`).toBe(true);
      expect(entry).toMatchObject({ topic: 'logfs.acme.ns.app', key: 'inst-a', seq: seq0 + i });
    }
    expect(first.lsn).toBe(lines.length - 1);
    // ingest() continues the same sequence.
    await gw.barrier(gw.ingest(who, 'ns/app', null, [{ data: Buffer.from('after') }], 'fuse'));
    expect((await journalRecords(gw)).at(-1)!.record.seq).toBe(seq0 + lines.length + 1);
    await gw.close();
    // Read back from the segment file, where each entry's checksum is checked (C filled them in):
    // a wrong one would be cut off as a corrupt tail at startup.
    const again = await start(dir);
    const reread = await journalRecords(again);
    expect(reread.map((r) => r.record.seq)).toEqual(Array.from({ length: lines.length + 2 }, (_, i) => seq0 + i));
    expect(again.journal.stats().truncatedBytes).toBe(0);
    await again.close();
  });

});
