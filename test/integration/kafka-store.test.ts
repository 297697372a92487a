/**
 * The Kafka-backed provisioning store against the real broker (scripts/kafka.sh, LOGFS_TEST_KAFKA):
 * every test on its own random topic prefix, so its `<prefix>.control` topic is fresh.
 */
// The store first: it loads the project's kafkajs patches before kafkajs itself.
import { commitKey, controlTopic, KafkaProvisioningStore, type CommitMessage, type KafkaStoreOptions } from '../../control/kafka-store.js';
import { afterEach, describe, expect, it } from 'vitest';
import { Kafka, logLevel } from 'kafkajs';
import { pino } from 'pino';
import { LogfsError } from '../../core/errors.js';
import { createStream, prepareCommit, type ProvisioningState } from '../../control/store.js';
import { openStore } from '../../control/open-store.js';
import { KAFKA, randomName, waitFor } from './harness.js';

const log = pino({ level: process.env.LOGFS_TEST_LOG_LEVEL ?? 'silent' });
const opened: KafkaProvisioningStore[] = [];
const kafka = new Kafka({ clientId: 'logfs-it-store', brokers: [KAFKA], logLevel: logLevel.NOTHING });

async function open(prefix: string, extra: Partial<KafkaStoreOptions> = {}): Promise<KafkaProvisioningStore> {
  const s = await KafkaProvisioningStore.open({ brokers: [KAFKA], topicPrefix: prefix, log, ...extra });
  opened.push(s);
  return s;
}

afterEach(async () => {
  await Promise.all(opened.splice(0).map((s) => s.close()));
});

interface RawMessage {
  offset: number;
  key: string;
  value: CommitMessage | null;
}

/** Every message of the store's topic, in offset order, read to its end. */
async function readTopic(topic: string): Promise<RawMessage[]> {
  const admin = kafka.admin();
  await admin.connect();
  const end = Number((await admin.fetchTopicOffsets(topic))[0]!.high);
  await admin.disconnect();
  const consumer = kafka.consumer({ groupId: randomName('it-raw-'), maxWaitTimeInMs: 100 });
  const out: RawMessage[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        for (const m of batch.messages) {
          out.push({ offset: Number(m.offset), key: m.key!.toString(), value: m.value ? (JSON.parse(m.value.toString()) as CommitMessage) : null });
        }
      },
    });
    await waitFor(`${topic} read to offset ${end}`, () => (out.at(-1)?.offset ?? -1) >= end - 1, 30_000);
  } finally {
    await consumer.disconnect();
  }
  return out;
}

/** A proposal produced by hand, as another writer would: the next version of `base`. */
async function produceProposal(topic: string, base: ProvisioningState, writer: string, mutate: (d: ProvisioningState) => void): Promise<string> {
  const { state, commit } = prepareCommit(base, mutate, { author: writer });
  const key = commitKey(state.version, writer);
  const value: CommitMessage = { ...commit, parent: base.version, writer, state };
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  try {
    await producer.send({ topic, acks: -1, messages: [{ key, value: JSON.stringify(value) }] });
  } finally {
    await producer.disconnect();
  }
  return key;
}

function streamNames(s: ProvisioningState): string[] {
  return Object.keys(s.streams).sort();
}

describe('KafkaProvisioningStore', () => {
  it('shows a commit through one store to the watcher of another within 2 s', async () => {
    const prefix = randomName('cs');
    const a = await open(prefix);
    const b = await open(prefix);
    expect(a.snapshot().version).toBe(0);
    const delays: number[] = [];
    for (let i = 0; i < 5; i++) {
      const name = `watched-${i}`;
      let started = 0;
      const seen = new Promise<number>((resolve) => {
        const stop = b.watch((s) => {
          if (s.streams[name]) {
            stop();
            resolve(Date.now() - started);
          }
        });
      });
      started = Date.now();
      await createStream(a, { name, provider: 'acme' });
      const committedAfter = Date.now() - started;
      const delay = await Promise.race([seen, new Promise<number>((_, reject) => setTimeout(() => reject(new Error('not seen within 2 s')), 2_000))]);
      delays.push(delay);
      console.log(`kafka store: commit ${i + 1} acknowledged to its writer after ${committedAfter} ms, seen by the other store's watch ${delay} ms after the update started`);
    }
    expect(Math.max(...delays)).toBeLessThan(2_000);
    expect(b.snapshot()).toEqual(a.snapshot());
    expect(b.snapshot().version).toBe(5);
  });

  it('lands every one of many concurrent updates from two stores, with the same history on both and on a store opened later', async () => {
    const prefix = randomName('cs');
    const a = await open(prefix);
    const b = await open(prefix);
    const names = (p: string): string[] => Array.from({ length: 20 }, (_, i) => `${p}-${i}`);
    const started = Date.now();
    await Promise.all([
      ...names('a').map((name) => createStream(a, { name, provider: 'p' }, { author: 'store-a' })),
      ...names('b').map((name) => createStream(b, { name, provider: 'p' }, { author: 'store-b' })),
    ]);
    const tookMs = Date.now() - started;
    const all = [...names('a'), ...names('b')].sort();
    // Each store has read its own last commit; the other's may still be on the way.
    await waitFor('both stores at version 40', () => a.snapshot().version === 40 && b.snapshot().version === 40, 5_000);
    expect(streamNames(a.snapshot())).toEqual(all);
    expect(b.snapshot()).toEqual(a.snapshot());

    const history = await a.history();
    expect(history.map((c) => c.version)).toEqual(Array.from({ length: 40 }, (_, i) => 40 - i));
    expect(await b.history()).toEqual(history);
    expect(history.filter((c) => c.author === 'store-a')).toHaveLength(20);
    // No lost update: each version adds exactly the stream its commit names to the version before.
    let previous: string[] = [];
    for (const c of [...history].reverse()) {
      const state = (await a.stateAt(c.version))!;
      expect(await b.stateAt(c.version)).toEqual(state);
      const added = streamNames(state).filter((n) => !previous.includes(n));
      expect(c.changes).toEqual([`stream ${added[0]} created`]);
      expect(added).toHaveLength(1);
      previous = streamNames(state);
    }

    const raw = await readTopic(controlTopic(prefix));
    // On the topic: the first proposal of each version won; every other proposal was tombstoned by its writer.
    const winners = new Map<number, string>();
    for (const m of raw) if (m.value && !winners.has(m.value.version)) winners.set(m.value.version, m.key);
    expect([...winners.keys()].sort((x, y) => x - y)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    const winnerKeys = new Set(winners.values());
    const losers = raw.filter((m) => m.value && !winnerKeys.has(m.key)).map((m) => m.key);
    const tombstones = raw.filter((m) => m.value === null).map((m) => m.key);
    expect(tombstones.sort()).toEqual(losers.sort());
    console.log(`kafka store: 40 concurrent commits from two stores in ${tookMs} ms; ${losers.length} lost proposals re-applied and tombstoned; ${raw.length} messages on the topic`);

    // A third store opened afterwards reads the same state and history.
    const c = await open(prefix);
    expect(c.snapshot()).toEqual(a.snapshot());
    expect(await c.history()).toEqual(history);
    expect(await c.stateAt(17)).toEqual(await a.stateAt(17));
    // And so does one from openStore.
    const d = await openStore({ kind: 'kafka', brokers: [KAFKA], topicPrefix: prefix, log });
    try {
      expect(d.snapshot()).toEqual(a.snapshot());
    } finally {
      await d.close();
    }
  });

  it('re-applies a change that lost to a competing proposal, and tombstones the losing proposal', async () => {
    const prefix = randomName('cs');
    const topic = controlTopic(prefix);
    let intruderKey: string | undefined;
    let store!: KafkaProvisioningStore;
    store = await open(prefix, {
      // Right before the store proposes version 1, another writer's version 1 lands first.
      beforePropose: async (version) => {
        if (intruderKey) return;
        intruderKey = await produceProposal(topic, store.snapshot(), 'intruder', (d) => {
          d.streams.theirs = { name: 'theirs', provider: 'p', partitions: 1, encrypt: false, key: null, rate: null, retentionHours: null, description: null, createdAt: new Date().toISOString() };
        });
        expect(version).toBe(1);
      },
    });
    const mine = await createStream(store, { name: 'mine', provider: 'p' }, { author: 'me' });
    expect(mine.name).toBe('mine');
    // The change was applied on top of the winner: both streams are there, in version 2.
    expect(store.snapshot().version).toBe(2);
    expect(streamNames(store.snapshot())).toEqual(['mine', 'theirs']);
    const history = await store.history();
    expect(history.map((c) => [c.version, c.author, c.changes])).toEqual([
      [2, 'me', ['stream mine created']],
      [1, 'intruder', ['stream theirs created']],
    ]);

    const raw = await readTopic(topic);
    const keys = raw.map((m) => [m.key.replace(/\/[^/]+$/, ''), m.value === null ? 'tombstone' : m.value.author]);
    expect(keys).toEqual([
      ['commit/0000000001', 'intruder'],
      ['commit/0000000001', 'me'], // the losing proposal...
      ['commit/0000000001', 'tombstone'], // ...tombstoned by its writer, for compaction to remove
      ['commit/0000000002', 'me'],
    ]);
    expect(raw[0]!.key).toBe(intruderKey);
    expect(raw[2]!.key).toBe(raw[1]!.key);
    expect(raw[3]!.key).not.toBe(raw[1]!.key);

    // A reader opened now agrees on the winners.
    const later = await open(prefix);
    expect(later.snapshot()).toEqual(store.snapshot());
    expect(await later.history()).toEqual(history);
  });

  it('gives up with a retriable LOGFS_E_CONFLICT after losing maxAttempts times in a row', async () => {
    const prefix = randomName('cs');
    const topic = controlTopic(prefix);
    let store!: KafkaProvisioningStore;
    let intrusions = 0;
    store = await open(prefix, {
      maxAttempts: 3,
      beforePropose: async () => {
        intrusions += 1;
        await produceProposal(topic, store.snapshot(), `intruder-${intrusions}`, (d) => {
          d.providers[`p${intrusions}`] = { name: `p${intrusions}`, description: null, createdAt: new Date().toISOString() };
        });
      },
    });
    const err = await createStream(store, { name: 'never', provider: 'p' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LogfsError);
    expect(err).toMatchObject({ code: 'LOGFS_E_CONFLICT', retriable: true });
    expect(intrusions).toBe(3);
    expect(store.snapshot().version).toBe(3);
    expect(store.snapshot().streams.never).toBeUndefined();
    const raw = await readTopic(topic);
    expect(raw.filter((m) => m.value === null)).toHaveLength(3);
  });

  it('refuses a change that fails validation without producing anything', async () => {
    const prefix = randomName('cs');
    const store = await open(prefix);
    await createStream(store, { name: 'ok', provider: 'p' });
    const err = await store.update((d) => {
      d.streams.ok!.partitions = 0;
    }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'LOGFS_E_CONFIG' });
    expect((await readTopic(controlTopic(prefix))).length).toBe(1);
  });

  it('fails to open with a retriable LOGFS_E_KAFKA naming the brokers when Kafka is unreachable', async () => {
    const started = Date.now();
    const err = await KafkaProvisioningStore.open({ brokers: ['127.0.0.1:1'], topicPrefix: randomName('cs'), log, openRetries: 1 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LogfsError);
    expect(err).toMatchObject({ code: 'LOGFS_E_KAFKA', retriable: true });
    expect((err as LogfsError).message).toContain('127.0.0.1:1');
    expect(Date.now() - started).toBeLessThan(30_000);
  });
});
