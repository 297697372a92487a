/**
 * The gateway's Kafka producer alone (KafkaProducerSession.send, what its worker thread runs per
 * journal batch), with kafkajs and with the wire producer (gateway.kafka.client), on this host:
 * records/s and CPU µs per record, acks=all, idempotent, into fresh topics. Records are journal
 * entries encoded like the gateway's (a 99-byte line each) of a handful of instances.
 *
 *   node dist/bench/kafka-wire.js [--records N] [--batch N] [--instances N] [--partitions 1,3] [--rounds N]
 */
import crypto from 'node:crypto';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { componentLogger, configureLogger } from '../core/logger.js';
import { parseGatewayConfig } from '../gateway/config.js';
import { encodeJournalEntry } from '../gateway/journal-entry.js';
import { KafkaProducerSession } from '../gateway/kafka-producer.js';
import { encodeRecord } from '../gateway/index.js';
import { benchKafka, deleteTopic, ensureBroker, stopBroker } from './kafka-broker.js';
import { markdownTable } from './markdown-table.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const LINE_BYTES = 100;

interface Row {
  client: 'kafkajs' | 'wire';
  partitions: number;
  records: number;
  seconds: number;
  cpuS: number;
}

function journalBatch(batch: number, instances: number, topic: string, from: number): Buffer[] {
  const line = Buffer.alloc(LINE_BYTES - 1, 'x');
  const ts = Date.now();
  return Array.from({ length: batch }, (_, i) => {
    const instance = `bench-${i % instances}`;
    const seq = from + i + 1;
    const value = encodeRecord({ v: 1, provider: 'default', stream: 'bench', class: 'w1', instance, host: 'bench-host', seq, ts, source: 'fuse', data: line });
    return encodeJournalEntry(topic, instance, seq, value);
  });
}

async function measure(broker: string, client: Row['client'], topic: string, partitions: number, records: number, batch: number, instances: number): Promise<Row> {
  const admin = benchKafka(broker).admin();
  await admin.connect();
  await admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: partitions, configEntries: [{ name: 'max.message.bytes', value: String(16 * 1024 * 1024) }] }] });
  await admin.disconnect();
  const config = parseGatewayConfig({ kafka: { brokers: [broker], client } });
  const log = componentLogger('bench', configureLogger({ level: 'warn' }));
  const session = new KafkaProducerSession(config, log, { error: () => undefined, connected: () => undefined });
  const stop = new AbortController();
  try {
    // Batches built beforehand: what is measured is the producer, not the record encoding.
    const batches = Array.from({ length: Math.ceil(records / batch) }, (_, b) => journalBatch(batch, instances, topic, b * batch));
    // Warm-up: connection, metadata, producer id and JIT are not what is measured.
    await session.send(0, journalBatch(100, instances, topic, 10_000_000), stop.signal);
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    for (const [b, payloads] of batches.entries()) {
      const outcome = await session.send(b * batch, payloads, stop.signal);
      if (outcome.result !== 'ok') throw new Error(`${client}: send answered ${outcome.result}`);
    }
    const c = process.cpuUsage(c0);
    return { client, partitions, records: batches.length * batch, seconds: (performance.now() - t0) / 1000, cpuS: (c.user + c.system) / 1e6 };
  } finally {
    await session.close();
    await deleteTopic(broker, topic, log);
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      records: { type: 'string', default: '500000' },
      batch: { type: 'string', default: '10000' },
      instances: { type: 'string', default: '4' },
      partitions: { type: 'string', default: '1,3' },
      rounds: { type: 'string', default: '2' },
    },
  });
  const records = Number(values.records);
  const batch = Number(values.batch);
  const instances = Number(values.instances);
  const rounds = Number(values.rounds);
  const partitionCounts = values.partitions.split(',').map(Number);
  for (const [name, v] of Object.entries({ records, batch, instances, rounds })) {
    if (!Number.isInteger(v) || v < 1) throw new Error(`--${name} must be a positive integer`);
  }
  const log = componentLogger('bench', configureLogger({ level: process.env.LOGFS_LOG_LEVEL ?? 'info' }));
  const broker = await ensureBroker(ROOT, log);
  const rows: Row[] = [];
  try {
    for (let round = 0; round < rounds; round++) {
      for (const partitions of partitionCounts) {
        for (const client of ['kafkajs', 'wire'] as const) {
          const topic = `logfsbench-wire-${crypto.randomBytes(4).toString('hex')}`;
          log.info({ client, partitions, round }, 'producing');
          rows.push(await measure(broker.address, client, topic, partitions, records, batch, instances));
        }
      }
    }
  } finally {
    await stopBroker(ROOT, broker, log);
  }
  const table = markdownTable(
    ['client', 'partitions', 'records', 'records/s', 'MB/s of 100-byte lines', 'CPU cores', 'CPU µs/record'],
    rows.map((r) => [r.client, String(r.partitions), r.records, r.records / r.seconds, (r.records * LINE_BYTES) / 1e6 / r.seconds, r.cpuS / r.seconds, (1e6 * r.cpuS) / r.records]),
  );
  process.stdout.write(
    [
      '## Gateway producer alone: kafkajs vs wire',
      '',
      `KafkaProducerSession.send on one thread (what the producer worker runs), ${batch} journal entries per send from ${instances} instances, acks=all, idempotent, no compression, a fresh topic per row; CPU is this process's (utime+stime), the broker's is not counted.`,
      '',
      table,
      '',
    ].join('\n'),
  );
}

main().catch((err: unknown) => {
  process.stderr.write(`bench: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
