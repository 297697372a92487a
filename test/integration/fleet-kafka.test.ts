/**
 * The fleet in cluster mode on the real broker: members' heartbeats on the compacted topic
 * `<prefix>.fleet`, a view seeing them within a second, a clean stop's tombstone removing one.
 * Each test run on a fresh random topic prefix.
 */
import { ConfigResourceTypes } from 'kafkajs';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FLEET_DEFAULTS, openFleet, type Fleet, type FleetMember } from '../../control/fleet/index.js';
import { ensureKafka, KAFKA, kafkaClient, randomName } from './harness.js';

const log = pino({ level: 'silent' });
const prefix = randomName('fl');
const topic = `${prefix}${FLEET_DEFAULTS.topicSuffix}`;
const fleets: Fleet[] = [];

async function open(): Promise<Fleet> {
  const f = await openFleet({ kind: 'kafka', brokers: [KAFKA], topicPrefix: prefix, log });
  fleets.push(f);
  return f;
}

beforeAll(async () => {
  await ensureKafka();
});

afterAll(async () => {
  for (const f of fleets) await f.close();
  const admin = kafkaClient().admin();
  await admin.connect();
  await admin.deleteTopics({ topics: [topic] }).catch(() => {});
  await admin.disconnect();
});

describe('Kafka fleet', () => {
  it('shows two members within a second, publishes store versions at once, and drops a member that stops', async () => {
    const controlSide = await open();
    const view = await controlSide.view();
    // Two hosts: each process has its own fleet client.
    const [hostA, hostB] = [await open(), await open()];
    const collect = (instance: string) => () => ({ instance, provider: 'acme', mount: '/mnt/logfs', usage: { streams: { 'app/a': { records: 1, bytes: 2, cpuMs: 0.5 } }, agents: {} } });
    const a = hostA.reporter({ id: 'daemon-a-i1', kind: 'daemon', host: 'a', collect: collect('i1') });
    const b = hostB.reporter({ id: 'daemon-b-i2', kind: 'daemon', host: 'b', collect: collect('i2') });
    const t0 = Date.now();
    a.start();
    b.start();
    const both = await view.waitFor((ms) => (ms.filter((m) => m.alive).length === 2 ? ms : undefined), 5000);
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(both.map((m: FleetMember) => [m.id, m.host, m.instance])).toEqual([
      ['daemon-a-i1', 'a', 'i1'],
      ['daemon-b-i2', 'b', 'i2'],
    ]);

    const t1 = Date.now();
    a.noteStoreVersion(9);
    await view.waitFor((ms) => ms.find((m) => m.id === 'daemon-a-i1')?.storeVersion === 9, 5000);
    expect(Date.now() - t1).toBeLessThan(FLEET_DEFAULTS.heartbeatMs);

    await b.stop();
    const t2 = Date.now();
    await view.waitFor((ms) => ms.length === 1 && ms[0]!.id === 'daemon-a-i1', 5000);
    expect(Date.now() - t2).toBeLessThan(1000);
    // A view opened now replays the topic: the tombstone hides the member that left.
    const late = await controlSide.view();
    expect(late.members().map((m) => m.id)).toEqual(['daemon-a-i1']);
    // The member that left still counts in the usage sums while the topic holds its messages.
    expect(late.usage().streams['app/a']!.records).toBe(2);
    await late.close();
    await a.stop();
    await view.close();
  });

  it('keeps the fleet on a compacted topic with one partition', async () => {
    const admin = kafkaClient().admin();
    await admin.connect();
    try {
      const meta = await admin.fetchTopicMetadata({ topics: [topic] });
      expect(meta.topics[0]!.partitions).toHaveLength(1);
      const cfg = await admin.describeConfigs({ includeSynonyms: false, resources: [{ type: ConfigResourceTypes.TOPIC, name: topic, configNames: ['cleanup.policy'] }] });
      expect(cfg.resources[0]!.configEntries.find((e) => e.configName === 'cleanup.policy')?.configValue).toBe('compact');
    } finally {
      await admin.disconnect();
    }
  });
});
