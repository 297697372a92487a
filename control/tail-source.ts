/**
 * The records of one stream as they arrive, for `logfsctl tail` and the API's live tail: from the
 * stream's Kafka topic when brokers are configured (a throwaway consumer group that never commits,
 * so tailing moves nobody's offsets), else from the journal in the data directory (embedded mode,
 * where the journal is the bus). Records of an encrypted stream are opened when the key is given.
 */
import '../gateway/kafkajs-patches.js';
import crypto from 'node:crypto';
import { Kafka, logLevel } from 'kafkajs';
import { LogfsError, errorMessage } from '../core/errors.js';
import { componentLogger } from '../core/logger.js';
import { sleep } from '../core/retry.js';
import { decodeJournalEntry, decodeRecord, type LogRecord } from '../gateway/index.js';
import { JournalReader } from '../gateway/journal-reader.js';
import { kafkaLogCreator } from '../gateway/kafka-producer.js';
import type { StreamKeyring } from '../gateway/record-crypto.js';
import { openInPlace } from '../pipeline/record-keys.js';

export const TAIL_SOURCE_DEFAULTS = {
  /** Journal mode: how long to wait before looking for new entries when there were none. */
  journalPollMs: 100,
} as const;

export interface TailSourceOptions {
  topic: string;
  /** For messages only. */
  stream: string;
  brokers: string[];
  journalDir: string;
  fromBeginning: boolean;
  /** Keys to open records of encrypted streams; without (or with the wrong key) they are passed on sealed. */
  keys?: StreamKeyring;
  onRecord: (r: TailRecord) => void;
  /** A failure after the source started (Kafka consumer crash, journal read error). */
  onError?: (err: unknown) => void;
  clientId?: string;
}

/** A record; `sealed` says why its data is still sealed, when it is. */
export type TailRecord = LogRecord & { sealed?: string };

export interface TailSource {
  /** Stops reading and releases the consumer or reader. */
  close(): Promise<void>;
}

/** Opens the source; resolves once it is reading (records written from now on are delivered). */
export async function openTailSource(opts: TailSourceOptions): Promise<TailSource> {
  const deliver = (r: LogRecord): void => {
    if (r.enc !== undefined) {
      const why = openInPlace(r, opts.keys);
      if (why !== undefined) (r as TailRecord).sealed = why;
    }
    opts.onRecord(r);
  };
  return opts.brokers.length > 0 ? openKafka(opts, deliver) : openJournal(opts, deliver);
}

async function openKafka(opts: TailSourceOptions, deliver: (r: LogRecord) => void): Promise<TailSource> {
  const log = componentLogger('tail');
  const kafka = new Kafka({ clientId: opts.clientId ?? 'logfs-tail', brokers: opts.brokers, logLevel: logLevel.ERROR, logCreator: kafkaLogCreator(log) });
  const admin = kafka.admin();
  await admin.connect();
  let topics: string[];
  try {
    topics = await admin.listTopics();
  } finally {
    await admin.disconnect();
  }
  if (!topics.includes(opts.topic)) {
    throw new LogfsError('LOGFS_E_NOT_FOUND', `topic ${opts.topic} of stream "${opts.stream}" does not exist in Kafka yet (it is created with the first record)`);
  }
  const consumer = kafka.consumer({ groupId: `logfs-tail-${crypto.randomUUID()}`, maxWaitTimeInMs: 200 });
  consumer.on(consumer.events.CRASH, (e) => opts.onError?.(e.payload.error));
  await consumer.connect();
  const joined = new Promise<void>((resolve) => consumer.on(consumer.events.GROUP_JOIN, () => resolve()));
  await consumer.subscribe({ topic: opts.topic, fromBeginning: opts.fromBeginning });
  await consumer.run({
    autoCommit: false,
    eachMessage: async ({ message }) => {
      if (!message.value) return;
      try {
        deliver(decodeRecord(message.value));
      } catch (err) {
        opts.onError?.(err);
      }
    },
  });
  // Reading from the end starts where the group is when it joins: wait for that.
  await Promise.race([joined, sleep(10_000)]);
  let closed = false;
  return {
    async close() {
      if (closed) return;
      closed = true;
      await consumer.disconnect().catch(() => undefined);
    },
  };
}

async function openJournal(opts: TailSourceOptions, deliver: (r: LogRecord) => void): Promise<TailSource> {
  const reader = new JournalReader(opts.journalDir);
  let pos = await reader.start(opts.fromBeginning);
  const stop = new AbortController();
  const loop = (async () => {
    while (!stop.signal.aborted) {
      const { payloads, next } = await reader.read(pos);
      pos = next;
      for (const p of payloads) {
        const e = decodeJournalEntry(p);
        if (e.topic === opts.topic) deliver(decodeRecord(e.value));
        if (stop.signal.aborted) return;
      }
      if (payloads.length === 0) await sleep(TAIL_SOURCE_DEFAULTS.journalPollMs);
    }
  })().catch((err: unknown) => {
    if (opts.onError) opts.onError(err);
    else componentLogger('tail').error({ err: errorMessage(err) }, 'journal tail failed');
  });
  return {
    async close() {
      stop.abort();
      await loop;
    },
  };
}
