/**
 * The topic reconciler against the real broker (scripts/kafka.sh, LOGFS_TEST_KAFKA): stream spec
 * changes in a file store reach the stream's topic. Each test on its own random topic prefix.
 */
// The reconciler first: it loads the project's kafkajs patches before kafkajs itself.
import { createReconcilerKafka, TopicReconciler } from '../../control/topic-reconciler.js';
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import kafkajs, { type Admin } from 'kafkajs';
import { pino } from 'pino';
import { createStream, FileProvisioningStore, updateStream } from '../../control/store.js';
import { topicForStream } from '../../control/stream-name.js';
import { parseGatewayConfig } from '../../gateway/config.js';
import { KafkaProducerSession } from '../../gateway/kafka-producer.js';
import { KAFKA, kafkaClient, randomName, sh, sleep, tempDir, waitFor } from './harness.js';

const { ConfigResourceTypes, ConfigSource } = kafkajs;
const gateway = parseGatewayConfig({ kafka: { brokers: [KAFKA] } });
const cleanup: (() => Promise<void>)[] = [];

afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c().catch(() => undefined);
});

/** A reconciler on a fresh store and prefix, with its log lines collected. */
async function setup() {
  const prefix = randomName('r');
  const store = await FileProvisioningStore.open(await tempDir('logfs-reconciler-'));
  cleanup.push(() => store.close());
  const admin = kafkaClient().admin();
  await admin.connect();
  cleanup.push(() => admin.disconnect());
  const logs: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      logs.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      done();
    },
  });
  const log = pino({ level: 'info' }, sink);
  const reconciler = new TopicReconciler({ kafka: createReconcilerKafka([KAFKA], log), topicPrefix: prefix, store, log });
  cleanup.push(() => reconciler.stop());
  const topicOf = (name: string): string => topicForStream('p', name, prefix);
  /** Creates the stream's topic with the gateway's own code (gateway/kafka-producer.ts, without its worker thread). */
  const gatewayCreates = async (name: string, partitions: number, retentionHours: number | null = null): Promise<string> => {
    const topic = topicOf(name);
    const session = new KafkaProducerSession(gateway, pino({ level: 'silent' }), { error: () => undefined, connected: () => undefined });
    cleanup.push(() => admin.deleteTopics({ topics: [topic] }));
    try {
      session.setTopics([[topic, partitions, retentionHours]]);
      await waitFor(`topic ${topic}`, async () => (await admin.listTopics()).includes(topic), 10_000, 100);
    } finally {
      await session.close();
    }
    return topic;
  };
  return { store, admin, logs, reconciler, topicOf, gatewayCreates };
}

async function partitionCount(admin: Admin, topic: string): Promise<number> {
  const { topics } = await admin.fetchTopicMetadata({ topics: [topic] });
  return topics[0]?.partitions.length ?? 0;
}

/** The topic's own overrides (not broker defaults). */
async function overrides(admin: Admin, topic: string): Promise<Record<string, string>> {
  const r = await admin.describeConfigs({ includeSynonyms: false, resources: [{ type: ConfigResourceTypes.TOPIC, name: topic }] });
  const entries = r.resources[0]?.configEntries ?? [];
  return Object.fromEntries(entries.filter((e) => e.configSource === ConfigSource.TOPIC_CONFIG).map((e) => [e.configName, e.configValue]));
}

describe('topic reconciler', () => {
  it('grows partitions and sets and removes retention of an existing topic', async () => {
    const { store, admin, logs, reconciler, topicOf, gatewayCreates } = await setup();
    await createStream(store, { name: 'web', provider: 'p', partitions: 1 });
    await createStream(store, { name: 'later', provider: 'p', partitions: 2 });
    const topic = await gatewayCreates('web', 1);
    expect(await overrides(admin, topic)).toEqual({ 'max.message.bytes': String(gateway.kafka.topicMaxMessageBytes) });
    await reconciler.start();

    await updateStream(store, 'web', { partitions: 3, retentionHours: 6 });
    await updateStream(store, 'later', { partitions: 4 });
    await waitFor('3 partitions', async () => (await partitionCount(admin, topic)) === 3, 10_000, 200);
    await waitFor('retention.ms 21600000', async () => (await overrides(admin, topic))['retention.ms'] === '21600000', 10_000, 200);
    // AlterConfigs replaces all overrides: the gateway's max.message.bytes must survive.
    expect((await overrides(admin, topic))['max.message.bytes']).toBe(String(gateway.kafka.topicMaxMessageBytes));
    // Another client's view: Debian's kcat.
    const kcat = await sh(`kcat -L -b ${KAFKA} -t ${topic}`);
    expect(kcat).toContain(`topic "${topic}" with 3 partitions`);
    expect(logs).toContainEqual(expect.objectContaining({ topic, partitions: { from: 1, to: 3 } }));
    expect(logs).toContainEqual(expect.objectContaining({ topic, retentionMs: 21_600_000 }));
    // A stream without a topic is left to the gateway.
    expect(await admin.listTopics()).not.toContain(topicOf('later'));

    await updateStream(store, 'web', { retentionHours: null });
    await waitFor('no retention.ms override', async () => (await overrides(admin, topic))['retention.ms'] === undefined, 10_000, 200);
    expect(await overrides(admin, topic)).toEqual({ 'max.message.bytes': String(gateway.kafka.topicMaxMessageBytes) });
    expect(logs).toContainEqual(expect.objectContaining({ topic, retentionMs: null }));
    expect(logs.filter((l) => (l.level as number) >= 50)).toEqual([]);
  });

  it('applies what changed while it was not running, and warns once about a spec with fewer partitions than its topic', async () => {
    const { store, admin, logs, reconciler, gatewayCreates } = await setup();
    await createStream(store, { name: 'a', provider: 'p', partitions: 2, retentionHours: 1 });
    await createStream(store, { name: 'b', provider: 'p', partitions: 1 });
    const a = await gatewayCreates('a', 1);
    const b = await gatewayCreates('b', 3, 5);
    // The gateway applies the retention it is told at creation.
    expect((await overrides(admin, b))['retention.ms']).toBe('18000000');

    await reconciler.start();
    expect(await partitionCount(admin, a)).toBe(2);
    expect((await overrides(admin, a))['retention.ms']).toBe('3600000');
    // A second run over both topics.
    await updateStream(store, 'a', { retentionHours: 2 });
    await reconciler.idle();
    expect((await overrides(admin, a))['retention.ms']).toBe('7200000');

    expect(await partitionCount(admin, b)).toBe(3);
    const warnings = logs.filter((l) => l.topic === b && l.level === 40);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ partitions: { spec: 1, topic: 3 } });
  });

  it('does not throw or hang while Kafka is unreachable, and stops promptly', async () => {
    const store = await FileProvisioningStore.open(await tempDir('logfs-reconciler-'));
    cleanup.push(() => store.close());
    await createStream(store, { name: 'web', provider: 'p' });
    const log = pino({ level: 'silent' });
    // Nothing listens on port 1: every connect is refused at once, and the run retries.
    const reconciler = new TopicReconciler({ kafka: createReconcilerKafka(['127.0.0.1:1'], log), topicPrefix: randomName('r'), store, log });
    const started = reconciler.start();
    await sleep(500);
    const t0 = Date.now();
    await reconciler.stop();
    await started;
    expect(Date.now() - t0).toBeLessThan(5_000);
  });
});
