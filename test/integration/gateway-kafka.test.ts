/**
 * The gateway's Kafka shipper against a real broker, in process: a topic that refuses the
 * shipper's batches as too large (created elsewhere with a small max.message.bytes) makes it send
 * smaller ones, re-reading the journal from the refused batch (a read-ahead of the next batch is
 * dropped), and every record still arrives once, in order.
 */
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { topicForStream } from '../../control/stream-name.js';
import { createStream, FileProvisioningStore } from '../../control/store.js';
import { Gateway, parseGatewayConfig } from '../../gateway/index.js';
import { consumeRecords, ensureKafka, KAFKA, kafkaClient, randomName, text } from './harness.js';

describe('gateway → Kafka shipper', () => {
  let dir: string;
  let store: FileProvisioningStore;
  let gw: Gateway | undefined;
  const logged: { msg: string }[] = [];

  beforeAll(async () => {
    await ensureKafka();
    dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'logfs-gw-kafka-'));
    store = await FileProvisioningStore.open(dir);
  });

  afterAll(async () => {
    await gw?.close();
    await store?.close();
    await fsp.rm(dir, { recursive: true, force: true });
  });

  /** A stream of a new provider, provisioned, with its topic; the previous test's gateway closed. */
  async function freshStream(name: string): Promise<{ provider: string; topic: string }> {
    await gw?.close();
    gw = undefined;
    const provider = randomName('p');
    await createStream(store, { name, provider });
    return { provider, topic: topicForStream(provider, name) };
  }

  it('sends smaller batches to a topic that refuses them as too large; every record arrives once, in order', async () => {
    const { provider, topic } = await freshStream('big');
    // Made elsewhere, before the gateway, with batches of 64 KiB at most.
    const admin = kafkaClient().admin();
    await admin.connect();
    try {
      await admin.createTopics({
        waitForLeaders: true,
        topics: [{ topic, numPartitions: 1, replicationFactor: 1, configEntries: [{ name: 'max.message.bytes', value: String(64 * 1024) }] }],
      });
    } finally {
      await admin.disconnect();
    }
    const log = pino({ level: 'info' }, { write: (s: string) => void logged.push(JSON.parse(s) as { msg: string }) });
    gw = await Gateway.start(parseGatewayConfig({ host: 'test-host', metricsListen: null, provider, kafka: { brokers: [KAFKA] } }), { dataDir: dir, store, log });
    const who = { instance: 'i-1', provider };
    const lines = Array.from({ length: 20_000 }, (_, i) => `line-${String(i).padStart(6, '0')}-${'x'.repeat(80)}`);
    // Appended at once, so that the shipper reads batches of thousands (about 2 MB) and has the
    // next one to read ahead while the broker refuses the first.
    for (let i = 0; i < lines.length; i += 1000) {
      gw.ingest(who, 'big', null, lines.slice(i, i + 1000).map((l) => ({ data: Buffer.from(l) })), 'fuse');
    }
    const records = await consumeRecords(topic, lines.length, 120_000, 1000);
    expect(records.map(text)).toEqual(lines);
    const seqs = records.map((r) => r.seq);
    expect(new Set(seqs).size).toBe(seqs.length);
    expect(logged.some((l) => l.msg === 'broker refused a batch as too large; sending smaller batches')).toBe(true);
  });

  it('sends the batch it read ahead as soon as the one before is acknowledged, without waiting for the main thread; every record arrives once, in order', async () => {
    const { provider, topic } = await freshStream('backlog');
    // A backlog of 50 batches of 1,000 records in the journal first (embedded: nothing ships), then
    // a gateway that ships it: the first ship covers all of it, so the producer thread can go on.
    const config = (kafka: boolean) =>
      parseGatewayConfig({ host: 'test-host', metricsListen: null, provider, ...(kafka ? { kafka: { brokers: [KAFKA], batchMaxRecords: 1000 } } : {}) });
    const who = { instance: 'i-1', provider };
    const lines = Array.from({ length: 50_000 }, (_, i) => `line-${String(i).padStart(6, '0')}-${'y'.repeat(60)}`);
    const quiet = pino({ level: 'silent' });
    const embedded = await Gateway.start(config(false), { dataDir: path.join(dir, 'backlog'), store, log: quiet });
    for (let i = 0; i < lines.length; i += 1000) {
      embedded.ingest(who, 'backlog', null, lines.slice(i, i + 1000).map((l) => ({ data: Buffer.from(l) })), 'fuse');
    }
    await embedded.close();
    gw = await Gateway.start(config(true), { dataDir: path.join(dir, 'backlog'), store, log: quiet });
    const records = await consumeRecords(topic, lines.length, 120_000, 1000);
    expect(records.map(text)).toEqual(lines);
    const seqs = records.map((r) => r.seq);
    expect(new Set(seqs).size).toBe(seqs.length);
    await expect.poll(() => gw?.metrics.snapshot()['logfs_records_out_total'], { timeout: 10_000 }).toBe(lines.length);
    const m = gw.metrics.snapshot();
    expect(m['logfs_kafka_batches_total']).toBeGreaterThanOrEqual(50);
    // Each segment's first batch is asked for by the main thread; the producer thread went on
    // with (nearly) all the others by itself.
    expect(m['logfs_kafka_batches_continued_total']).toBeGreaterThanOrEqual(m['logfs_kafka_batches_total']! - 5);
  });

  it('goes on by itself also while records keep coming (reading ahead up to what was written since); every record arrives once, in order', async () => {
    const { provider, topic } = await freshStream('flow');
    gw = await Gateway.start(parseGatewayConfig({ host: 'test-host', metricsListen: null, provider, kafka: { brokers: [KAFKA], batchMaxRecords: 500 } }), {
      dataDir: path.join(dir, 'flow'),
      store,
      log: pino({ level: 'silent' }),
    });
    const who = { instance: 'i-1', provider };
    const lines = Array.from({ length: 60_000 }, (_, i) => `flow-${String(i).padStart(6, '0')}-${'z'.repeat(60)}`);
    // 2,000 records every few milliseconds: the journal grows while batches of 500 ship.
    for (let i = 0; i < lines.length; i += 2000) {
      gw.ingest(who, 'flow', null, lines.slice(i, i + 2000).map((l) => ({ data: Buffer.from(l) })), 'fuse');
      await new Promise((r) => setTimeout(r, 3));
    }
    const records = await consumeRecords(topic, lines.length, 120_000, 1000);
    expect(records.map(text)).toEqual(lines);
    const seqs = records.map((r) => r.seq);
    expect(new Set(seqs).size).toBe(seqs.length);
    await expect.poll(() => gw?.metrics.snapshot()['logfs_records_out_total'], { timeout: 10_000 }).toBe(lines.length);
    expect(gw.metrics.snapshot()['logfs_kafka_batches_continued_total']).toBeGreaterThan(0);
  });
});
