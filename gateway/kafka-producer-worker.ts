/**
 * Worker thread running the Kafka producer (kafka-producer.ts). The main thread sends batches of
 * journal entries as one transferred buffer; the worker answers each with its outcome and reports
 * errors and connection changes for the metrics.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { configureLogger, componentLogger } from '../core/logger.js';
import type { GatewayConfig } from './config.js';
import { KafkaProducerSession, type PreparedEntries, type SendOutcome } from './kafka-producer.js';
import type { ToProducer, FromProducer } from './kafka-producer-protocol.js';
import { readSegmentRun, type SegmentRun } from './journal-segment.js';
import { errorMessage } from '../core/errors.js';

const port = parentPort;
if (!port) throw new Error('kafka-producer-worker must run as a worker thread');
const { config, logLevel } = workerData as { config: GatewayConfig; logLevel: string };
const log = componentLogger('kafka-producer', configureLogger({ level: logLevel }));
const post = (m: FromProducer): void => port.postMessage(m);
const session = new KafkaProducerSession(config, log, {
  error: (retrying) => post({ t: 'error', retrying }),
  connected: (up) => post({ t: 'connected', up }),
});
const stop = new AbortController();

type ShipMessage = Extract<ToProducer, { t: 'ship' }>;

interface Read {
  run: SegmentRun;
  prepared: PreparedEntries;
}

/**
 * Read buffers, reused: a batch's buffer is free again once Kafka answered it. (A new one per
 * batch left megabytes of garbage per batch, which V8 collects only every 64 MB or so.)
 */
const freeBuffers: Buffer[] = [];
/** Bytes per entry of the last run read (framing included), to size the next read. */
let entryBytes = 0;

/** Reads a ship's entries from the segment file and prepares them for the producer. */
async function readAndPrepare(m: Pick<ShipMessage, 'lsn' | 'path' | 'size' | 'position' | 'skip' | 'maxEntries' | 'maxBytes'>): Promise<Read> {
  // maxEntries entries of the size seen last, and some room: reading maxBytes each time would read
  // (and copy) twice what a batch of small lines needs.
  const readBytes = entryBytes > 0 && m.skip === 0 ? Math.ceil(m.maxEntries * entryBytes * 1.1) + 64 * 1024 : undefined;
  const buffer = freeBuffers.pop();
  let run: SegmentRun;
  try {
    run = await readSegmentRun({ path: m.path, size: m.size }, m.position, m.skip, m.maxEntries, m.maxBytes, { buffer, readBytes });
  } catch (err) {
    if (buffer) freeBuffers.push(buffer);
    throw err;
  }
  if (buffer && run.bytes !== buffer) freeBuffers.push(buffer);
  if (run.count > 0 && m.skip === 0) entryBytes = (run.endPosition - m.position) / run.count;
  return { run, prepared: session.prepareEntries(m.lsn, run.bytes, run.starts, run.lengths) };
}

/** A run's buffer is free once its batch is answered (or dropped). */
function release(run: SegmentRun): void {
  if (freeBuffers.length < 3 && run.bytes.length >= 1024 * 1024) freeBuffers.push(run.bytes);
}

/** A batch sent: its run and what Kafka said. */
interface Done {
  run: SegmentRun;
  outcome: SendOutcome;
}

/** A send that failed (as opposed to a read): the producer's error is its cause. */
class SendFailed extends Error {}

/** Sends a read batch; the run's buffer is released when the send fails (else after the answer). */
function send(r: Read): Promise<Done> {
  return session.sendPrepared(r.prepared, stop.signal).then(
    (outcome) => ({ run: r.run, outcome }),
    (err: unknown) => {
      release(r.run);
      throw new SendFailed('send failed', { cause: err });
    },
  );
}

/**
 * The batch after the one being produced: the entries that follow it in the same segment, up to
 * the size written when it was asked for (those bytes never change), read and prepared while the
 * broker works on that one. As soon as that one is acknowledged it is sent too (`sent`), without
 * waiting for the main thread to ask: the main thread, busy with the FUSE writers, took 1 to 3 ms
 * (up to 16) to answer an acknowledgement with the next request, a third of a batch's turn under
 * 64 KiB writes. It always asks next for exactly this batch after an acknowledgement, so the send
 * is never wasted; its outcome is the answer to that request. `sent` resolves to undefined when
 * the batch was not sent (the one before failed, its read failed, or the producer is stopping).
 */
interface Ahead {
  key: string;
  lsn: number;
  read: Promise<Read>;
  sent: Promise<Done | undefined>;
}
let ahead: Ahead | undefined;
const aheadKey = (lsn: number, path: string, position: number, maxBytes: number): string => `${lsn}\0${path}\0${position}\0${maxBytes}`;
const noop = (): void => undefined;

port.on('message', (m: ToProducer) => {
  switch (m.t) {
    case 'topics':
      session.setTopics(m.topics);
      break;
    case 'ship': {
      // The entries are read here, not on the main thread: reading, checking and encoding them
      // is all of a batch's per-record work, and the main thread serves the FUSE writers.
      const pre = ahead;
      ahead = undefined;
      const fresh = (): Promise<Read> => readAndPrepare(m);
      const matches = pre !== undefined && m.skip === 0 && pre.key === aheadKey(m.lsn, m.path, m.position, m.maxBytes);
      if (pre !== undefined && !matches) {
        // Not asked for: it was only read, unless the main thread asks for other entries than the
        // ones after an acknowledged batch, which it does not. Were it sent, it is in Kafka now.
        pre.sent.then((d) => d && log.warn({ lsn: pre.lsn, asked: m.lsn }, 'a batch sent ahead was not the one asked for next; its records may reach Kafka twice'), noop);
      }
      // A failed read-ahead is read again, as if there had been none.
      const read = matches ? pre.read.catch(fresh) : fresh();
      const done = (matches ? pre.sent : Promise.resolve(undefined)).then((d) => d ?? read.then(send));
      read.then((r) => {
        if (r.run.count === 0 || r.run.endPosition >= m.size || stop.signal.aborted) return;
        const next = { lsn: m.lsn + r.run.count, path: m.path, size: m.size, position: r.run.endPosition, skip: 0, maxEntries: config.kafka.batchMaxRecords, maxBytes: m.maxBytes };
        const nextRead = readAndPrepare(next);
        nextRead.catch(noop); // seen (and read again) when asked for
        const sent = done.then(
          (d) => (d.outcome.result === 'ok' && !stop.signal.aborted ? nextRead.then(send, () => undefined) : undefined),
          () => undefined,
        );
        sent.catch(noop); // reported when asked for
        ahead = { key: aheadKey(next.lsn, next.path, next.position, next.maxBytes), lsn: next.lsn, read: nextRead, sent };
      }, noop);
      done.then(
        (d) => {
          release(d.run);
          post({ t: 'shipped', id: m.id, outcome: d.outcome, count: d.run.count, endPosition: d.run.endPosition });
        },
        (err: unknown) => post(err instanceof SendFailed ? { t: 'failed', id: m.id, message: String(err.cause) } : { t: 'read-failed', id: m.id, message: errorMessage(err) }),
      );
      break;
    }
    case 'stop':
      stop.abort();
      void session.close().then(() => post({ t: 'stopped' }));
      break;
  }
});
