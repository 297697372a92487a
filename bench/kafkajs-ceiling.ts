/**
 * The Kafka client alone, without logfsd: how many records per second kafkajs produces on this
 * host with the gateway's producer settings (idempotent, acks=all, one request in flight, key =
 * instance) and records encoded like the gateway's (a 99-byte line each). It bounds what the
 * whole path can reach while every record is one Kafka message produced from one JS thread.
 */
import '../gateway/kafkajs-patches.js';
import { performance } from 'node:perf_hooks';
import { Partitioners, type Message } from 'kafkajs';
import { encodeRecord } from '../gateway/index.js';
import { benchKafka } from './kafka-broker.js';

export interface CeilingResult {
  batchRecords: number;
  explicitPartition: boolean;
  records: number;
  seconds: number;
  cpuS: number;
}

/** Produces `records` records in batches of `batchRecords` to `topic` (which must exist). */
export async function kafkajsCeiling(broker: string, topic: string, batchRecords: number, records: number, explicitPartition: boolean): Promise<CeilingResult> {
  const producer = benchKafka(broker, 'logfs-bench-ceiling').producer({
    idempotent: true,
    maxInFlightRequests: 1,
    allowAutoTopicCreation: false,
    createPartitioner: Partitioners.DefaultPartitioner,
  });
  await producer.connect();
  try {
    const line = Buffer.alloc(99, 'x');
    const ts = Date.now();
    const values = Array.from({ length: batchRecords }, (_, i) =>
      encodeRecord({ v: 1, provider: 'default', stream: 'bench', class: 'w1', instance: 'bench', host: 'bench-host', seq: i + 1, ts, source: 'fuse', data: line }),
    );
    // One warm-up batch: connection, metadata and producer id are not what is measured.
    await producer.sendBatch({ topicMessages: [{ topic, messages: values.slice(0, 10).map((value) => ({ key: 'bench', value })) }], acks: -1 });
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    for (let sent = 0; sent < records; sent += batchRecords) {
      // Fresh message objects per batch, as the shipper builds them.
      const messages: Message[] = values.map((value) => (explicitPartition ? { key: 'bench', value, partition: 0 } : { key: 'bench', value }));
      await producer.sendBatch({ topicMessages: [{ topic, messages }], acks: -1 });
    }
    const c = process.cpuUsage(c0);
    return { batchRecords, explicitPartition, records: Math.ceil(records / batchRecords) * batchRecords, seconds: (performance.now() - t0) / 1000, cpuS: (c.user + c.system) / 1e6 };
  } finally {
    await producer.disconnect();
  }
}
