/**
 * The wire producer (gateway/kafka-wire/) against the real broker, each test on a fresh random
 * topic: exactly once and in per-instance order across partitions, a broker restart in the middle
 * of a stream (idempotence: nothing lost, nothing twice), a new producer id after the broker lost
 * the producer's state, batches encoded ahead of their turn, MESSAGE_TOO_LARGE, and stopping.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { packWireRecords, partitionForKey, WireProducer, type PackedBatch, type WireRecord, type WireSendResult } from '../../gateway/kafka-wire/index.js';
import { ensureKafka, KAFKA, kafkaClient, randomName, ROOT, sh, sleep } from './harness.js';

const kafkaEnv = { LOGFS_KAFKA_PORT: KAFKA.split(':')[1] ?? '19092' };
const admin = kafkaClient().admin();

async function createTopic(partitions: number, configEntries: { name: string; value: string }[] = []): Promise<string> {
  const topic = randomName('wire-');
  await admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: partitions, configEntries }] });
  return topic;
}

function producer(errors: unknown[] = [], compression: 'none' | 'lz4' = 'none'): WireProducer {
  return new WireProducer(
    { brokers: [KAFKA], clientId: 'logfs-wire-test', connectionTimeoutMs: 3_000, requestTimeoutMs: 10_000, compression },
    { retrying: (err) => errors.push(err), tooLarge: (err) => errors.push(err) },
  );
}

/** Every record of `topic` as key, partition, offset and value (kcat, independent of both clients). */
async function readBack(topic: string): Promise<{ key: string; partition: number; value: string }[]> {
  const out = await sh(`kcat -b ${KAFKA} -C -t ${topic} -e -q -f '%k %p %o %s\\n'`, { timeout: 120_000 });
  return out.split('\n').filter(Boolean).map((line) => {
    const [key, partition, , value] = line.split(' ');
    return { key: key!, partition: Number(partition), value: value! };
  });
}

/** `count` records of `instances` instances, each value "<instance>:<its sequence number>". */
function records(instances: number, from: number, count: number): WireRecord[] {
  return Array.from({ length: count }, (_, i) => {
    const n = from + i;
    const key = `i-${n % instances}`;
    return { key, value: Buffer.from(`${key}:${Math.floor(n / instances)}`) };
  });
}

/** Each instance's records arrived once, in order, all in the partition kafkajs would choose. */
function expectExactlyOnceInOrder(got: { key: string; partition: number; value: string }[], instances: number, total: number, partitions: number): void {
  expect(got.length).toBe(total);
  const next = new Map<string, number>();
  for (const r of got) {
    expect(r.partition).toBe(partitionForKey(Buffer.from(r.key), partitions));
    const [key, seq] = r.value.split(':');
    expect(key).toBe(r.key);
    const want = next.get(r.key) ?? 0;
    expect(Number(seq), `${r.key} in order, once`).toBe(want);
    next.set(r.key, want + 1);
  }
  expect(next.size).toBe(instances);
}

describe('wire producer', () => {
  const stop = new AbortController();
  const open: WireProducer[] = [];

  beforeAll(async () => {
    await ensureKafka();
    await admin.connect();
  });

  afterEach(async () => {
    for (const p of open.splice(0)) await p.close();
    // A test that failed half-way must not leave the shared broker down.
    await sh(`${ROOT}/scripts/kafka.sh start`, { env: kafkaEnv, timeout: 180_000 });
  });

  afterAll(async () => {
    await admin.disconnect();
  });

  it('ships 100,000 records across 3 partitions exactly once and in per-instance order', async () => {
    const topic = await createTopic(3);
    const p = producer();
    open.push(p);
    for (let sent = 0; sent < 100_000; sent += 10_000) {
      expect(await p.send(new Map([[topic, records(37, sent, 10_000)]]), stop.signal)).toBe('ok');
    }
    expectExactlyOnceInOrder(await readBack(topic), 37, 100_000, 3);
  });

  it('ships LZ4-compressed batches: the broker keeps them compressed, kcat (librdkafka) and kafkajs read every record', async () => {
    const topic = await createTopic(3);
    const p = producer([], 'lz4');
    open.push(p);
    // Log-like values: compressible, as real lines are.
    const padded = (rs: WireRecord[]): WireRecord[] => rs.map((r) => ({ key: r.key, value: Buffer.from(`${r.value.toString()} ${'GET /api/v1/items 200 '.repeat(8)}`) }));
    let rawBytes = 0;
    for (let sent = 0; sent < 100_000; sent += 10_000) {
      const batch = padded(records(37, sent, 10_000));
      rawBytes += batch.reduce((n, r) => n + r.value.length, 0);
      expect(await p.send(new Map([[topic, batch]]), stop.signal)).toBe('ok');
    }
    // readBack's value is the first word: "<instance>:<sequence>".
    expectExactlyOnceInOrder(await readBack(topic), 37, 100_000, 3);
    const whole = await sh(`kcat -b ${KAFKA} -C -t ${topic} -p 0 -o beginning -c 1 -e -q -f '%s'`);
    expect(whole).toMatch(new RegExp(`^i-\\d+:0 ${'GET /api/v1/items 200 '.repeat(8)}$`));
    // On the broker's disk: a fraction of the values' bytes (uncompressed, the records alone would take more than them).
    const dir = (await sh(`${ROOT}/scripts/kafka.sh datadir`, { env: kafkaEnv })).trim();
    const logBytes = Number((await sh(`cat ${dir}/${topic}-*/*.log | wc -c`)).trim());
    expect(logBytes).toBeGreaterThan(0);
    expect(logBytes).toBeLessThan(rawBytes / 4);
    // kafkajs, through logFS's codec (gateway/kafkajs-lz4.ts).
    const consumer = kafkaClient().consumer({ groupId: randomName('lz4-') });
    await consumer.connect();
    try {
      await consumer.subscribe({ topic, fromBeginning: true });
      let n = 0;
      await new Promise<void>((resolve, reject) => {
        consumer.run({ eachBatch: async ({ batch }) => { n += batch.messages.length; if (n >= 100_000) resolve(); } }).catch(reject);
      });
      expect(n).toBe(100_000);
    } finally {
      await consumer.disconnect();
    }
  }, 120_000);

  it('loses and duplicates nothing when the broker restarts mid-stream', async () => {
    const topic = await createTopic(3);
    const errors: unknown[] = [];
    const p = producer(errors);
    open.push(p);
    const batches = 150;
    let done = 0;
    const shipping = (async () => {
      for (let b = 0; b < batches; b++) {
        expect(await p.send(new Map([[topic, records(11, b * 2_000, 2_000)]]), stop.signal)).toBe('ok');
        done += 1;
        await sleep(20);
      }
    })();
    while (done < 5) await sleep(10);
    await sh(`${ROOT}/scripts/kafka.sh stop`, { env: kafkaEnv });
    expect(done, 'the broker stopped while the stream was still being shipped').toBeLessThan(batches);
    await sleep(1_000);
    await sh(`${ROOT}/scripts/kafka.sh start`, { env: kafkaEnv, timeout: 180_000 });
    await shipping;
    expect(errors.length, 'the outage was noticed').toBeGreaterThan(0);
    expectExactlyOnceInOrder(await readBack(topic), 11, batches * 2_000, 3);
  }, 240_000);

  it('reads a send\'s source only until it says the records are encoded, also when the broker lost the producer\'s state', async () => {
    const topic = await createTopic(1);
    const errors: unknown[] = [];
    const p = producer(errors, 'lz4');
    open.push(p);
    expect(await p.send(new Map([[topic, records(3, 0, 1_000)]]), stop.signal)).toBe('ok');
    const first = p.currentProducerId;
    // As if the broker had lost our producer state: the next batch's sequence does not follow the
    // last one it has, it answers OUT_OF_ORDER_SEQUENCE_NUMBER, and the batch must go again under
    // a new producer id, from sequence 0.
    const sequences = (p as unknown as { sequences: Map<string, number> }).sequences;
    sequences.set(`${topic}\u00000`, 1_000 + 17);
    const batch = packWireRecords(new Map([[topic, records(3, 1_000, 1_000)]]));
    let encodedCalls = 0;
    const result = await p.sendPacked(batch, stop.signal, () => {
      encodedCalls++;
      // The caller reuses the memory at once (the gateway reads the next batch into it).
      batch.source.fill(0x21);
    });
    expect(result).toBe('ok');
    expect(encodedCalls).toBe(1);
    expect(errors.map(String).join('\n')).toMatch(/OUT_OF_ORDER_SEQUENCE_NUMBER/);
    expect(p.currentProducerId?.producerId).not.toBe(first?.producerId);
    expectExactlyOnceInOrder(await readBack(topic), 3, 2_000, 1);
  });

  it('encodes a send ahead while the one before it is with the broker, and restamps one whose sequence was guessed wrong', async () => {
    const topic = await createTopic(2);
    const errors: unknown[] = [];
    const p = producer(errors, 'lz4');
    open.push(p);
    const batch = (from: number): PackedBatch => packWireRecords(new Map([[topic, records(5, from, 1_000)]]));
    // Without a producer id yet, nothing is encoded ahead: the send encodes at its turn.
    const b1 = batch(0);
    expect(p.prepare(b1).encoded).toBe(false);
    expect(await p.sendPacked(b1, stop.signal)).toBe('ok');

    const b2 = batch(1_000);
    const s2 = p.sendPacked(b2, stop.signal);
    await new Promise((r) => setImmediate(r)); // b2 encoded and with the broker
    const b3 = batch(2_000);
    const p3 = p.prepare(b3);
    expect(p3.encoded).toBe(true);
    // Each partition's batch starts where b1 and b2 leave its sequence.
    const before = new Map<number, number>();
    for (const r of records(5, 0, 2_000)) {
      const partition = partitionForKey(Buffer.from(r.key), 2);
      before.set(partition, (before.get(partition) ?? 0) + 1);
    }
    const work = [...(p3.state.work?.values() ?? [])];
    expect(work.length).toBe(2);
    for (const w of work) expect(w.encoded?.batch.readInt32BE(53), `partition ${w.partition}`).toBe(before.get(w.partition));
    b3.source.fill(0x21); // reused by the caller at once
    const s3 = p.sendPacked(b3, stop.signal, undefined, p3);

    // b5 is encoded as if b4 went first, but b4 is discarded: b5 goes out restamped, with no
    // refusal from the broker (the retrying hook would have seen OUT_OF_ORDER_SEQUENCE_NUMBER).
    const b4 = batch(3_000);
    const p4 = p.prepare(b4);
    const b5 = batch(3_000);
    const p5 = p.prepare(b5);
    p.discard(p4);
    b5.source.fill(0x21);
    expect(await s2).toBe('ok');
    expect(await s3).toBe('ok');
    expect(await p.sendPacked(b5, stop.signal, undefined, p5)).toBe('ok');
    expect(() => p.sendPacked(b1, stop.signal, undefined, p5)).toThrow(/another batch/);
    expect(errors).toEqual([]);
    expectExactlyOnceInOrder(await readBack(topic), 5, 4_000, 2);
  });

  it("answers 'too-large' when the topic refuses the batch", async () => {
    const topic = await createTopic(1, [{ name: 'max.message.bytes', value: '2048' }]);
    const p = producer();
    open.push(p);
    expect(await p.send(new Map([[topic, [{ key: 'i-1', value: Buffer.alloc(4096, 'x') }]]]), stop.signal)).toBe('too-large');
    // The producer goes on: a batch that fits is acknowledged.
    expect(await p.send(new Map([[topic, [{ key: 'i-1', value: Buffer.from('fits') }]]]), stop.signal)).toBe('ok');
    expect((await readBack(topic)).map((r) => r.value)).toEqual(['fits']);
  });

  it('goes on with other topics when a topic it shipped to earlier is deleted', async () => {
    const [gone, kept] = [await createTopic(1), await createTopic(2)];
    const p = producer();
    open.push(p);
    expect(await p.send(new Map([[gone, records(2, 0, 10)]]), stop.signal)).toBe('ok');
    await admin.deleteTopics({ topics: [gone] });
    expect(await p.send(new Map([[kept, records(2, 0, 10)]]), stop.signal)).toBe('ok');
    expectExactlyOnceInOrder(await readBack(kept), 2, 10, 2);
  });

  it("answers 'stopped' when the signal aborts while the topic cannot be reached", async () => {
    const p = producer();
    open.push(p);
    const abort = new AbortController();
    const result: Promise<WireSendResult> = p.send(new Map([[randomName('wire-missing-'), records(1, 0, 1)]]), abort.signal);
    await sleep(500);
    abort.abort();
    expect(await result).toBe('stopped');
  });
});
