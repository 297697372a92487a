/** `logfsctl tail`: decoded records of one stream, from Kafka or (embedded mode) the journal. */
import crypto from 'node:crypto';
import { LogfsError } from '../core/errors.js';
import { componentLogger } from '../core/logger.js';
import { sleep } from '../core/retry.js';
import { topicForStream } from '../control/stream-name.js';
import { decodeJournalEntry, decodeRecord, type LogRecord } from '../gateway/index.js';
import { JournalReader } from '../gateway/journal-reader.js';
import { Kafka, logLevel } from 'kafkajs';
import { kafkaLogCreator } from '../gateway/kafka-producer.js';

export interface TailOptions {
  stream: string;
  provider: string;
  topicPrefix: string;
  brokers: string[];
  journalDir: string;
  fromBeginning: boolean;
  classLabel?: string;
  count?: number;
  json: boolean;
  timeoutMs?: number;
  print: (line: string) => void;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** JSON view of a record: data as text when it is valid UTF-8, else base64. */
export function recordToJson(r: LogRecord): Record<string, unknown> {
  let data: string;
  let dataEncoding = 'utf8';
  try {
    data = utf8.decode(r.data);
  } catch {
    data = r.data.toString('base64');
    dataEncoding = 'base64';
  }
  return { ...r, data, dataEncoding };
}

export function formatRecord(r: LogRecord): string {
  const label = r.class === null ? '' : ` [${r.class}]`;
  const part = r.part ? ` (part ${r.part[0]}${r.part[1] ? ', last' : ''})` : '';
  return `${new Date(r.ts).toISOString()} ${r.instance}#${r.seq}${label}${part} ${r.data.toString('utf8')}`;
}

export async function tailRecords(opts: TailOptions): Promise<void> {
  const topic = topicForStream(opts.provider, opts.stream, opts.topicPrefix);
  let seen = 0;
  let done!: () => void;
  const finished = new Promise<void>((resolve) => (done = resolve));
  const emit = (r: LogRecord): void => {
    if (opts.count !== undefined && seen >= opts.count) return;
    if (opts.classLabel !== undefined && r.class !== opts.classLabel) return;
    seen += 1;
    opts.print(opts.json ? JSON.stringify(recordToJson(r)) : formatRecord(r));
    if (opts.count !== undefined && seen >= opts.count) done();
  };
  const stop = new AbortController();
  const onSignal = (): void => done();
  process.once('SIGINT', onSignal);
  const timer = opts.timeoutMs === undefined ? undefined : setTimeout(() => done(), opts.timeoutMs);
  try {
    if (opts.brokers.length > 0) await tailKafka(opts, topic, emit, finished);
    else await tailJournal(opts, topic, emit, finished, stop.signal);
  } finally {
    stop.abort();
    if (timer) clearTimeout(timer);
    process.off('SIGINT', onSignal);
  }
  if (opts.count !== undefined && seen < opts.count) {
    throw new LogfsError('LOGFS_E_NOT_FOUND', `only ${seen} of ${opts.count} records arrived before the timeout`);
  }
}

async function tailKafka(opts: TailOptions, topic: string, emit: (r: LogRecord) => void, finished: Promise<void>): Promise<void> {
  const log = componentLogger('tail');
  const kafka = new Kafka({ clientId: 'logfsctl-tail', brokers: opts.brokers, logLevel: logLevel.ERROR, logCreator: kafkaLogCreator(log) });
  const admin = kafka.admin();
  await admin.connect();
  const topics = await admin.listTopics();
  await admin.disconnect();
  if (!topics.includes(topic)) throw new LogfsError('LOGFS_E_NOT_FOUND', `topic ${topic} of stream "${opts.stream}" does not exist in Kafka`);
  // A throwaway group that never commits: tailing must not move anybody's offsets.
  const consumer = kafka.consumer({ groupId: `logfsctl-tail-${crypto.randomUUID()}` });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: opts.fromBeginning });
  await consumer.run({
    autoCommit: false,
    eachMessage: async ({ message }) => {
      if (message.value) emit(decodeRecord(message.value));
    },
  });
  await finished;
  await consumer.disconnect();
}

async function tailJournal(opts: TailOptions, topic: string, emit: (r: LogRecord) => void, finished: Promise<void>, signal: AbortSignal): Promise<void> {
  const reader = new JournalReader(opts.journalDir);
  let pos = await reader.start(opts.fromBeginning);
  let over = false;
  void finished.then(() => (over = true));
  while (!over && !signal.aborted) {
    const { payloads, next } = await reader.read(pos);
    pos = next;
    for (const p of payloads) {
      const e = decodeJournalEntry(p);
      if (e.topic === topic) emit(decodeRecord(e.value));
      if (over) break;
    }
    if (payloads.length === 0) await sleep(100);
  }
}
