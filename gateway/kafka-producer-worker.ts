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
import { ReadBufferPool, RunPlacesPool, type RunPlaces } from './read-buffers.js';
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
  /** The run's buffer back to the pool, once nothing reads it (idempotent). */
  release(): void;
}

const readBuffers = new ReadBufferPool();
const runPlaces = new RunPlacesPool(config.kafka.batchMaxRecords);
/** Bytes per entry of the last run read (framing included), to size the next read. */
let entryBytes = 0;

/** Reads a ship's entries from the segment file and prepares them for the producer. */
async function readAndPrepare(m: Pick<ShipMessage, 'lsn' | 'path' | 'size' | 'position' | 'skip' | 'maxEntries' | 'maxBytes'>): Promise<Read> {
  // maxEntries entries of the size seen last, and some room: reading maxBytes each time would read
  // (and copy) twice what a batch of small lines needs.
  const readBytes = entryBytes > 0 && m.skip === 0 ? Math.ceil(m.maxEntries * entryBytes * 1.1) + 64 * 1024 : undefined;
  const taken: Buffer[] = [];
  const buffer = (bytes: number): Buffer => {
    const b = readBuffers.take(bytes);
    taken.push(b);
    return b;
  };
  let places: RunPlaces | undefined;
  const placesFor = (n: number): RunPlaces => (places = runPlaces.take(n));
  let run: SegmentRun;
  try {
    run = await readSegmentRun({ path: m.path, size: m.size }, m.position, m.skip, m.maxEntries, m.maxBytes, { buffer, readBytes, places: placesFor });
  } catch (err) {
    for (const b of taken) readBuffers.keep(b);
    if (places !== undefined) runPlaces.keep(places);
    throw err;
  }
  // A first read too short for the first entry was read again into a larger buffer.
  for (const b of taken) if (b !== run.bytes) readBuffers.keep(b);
  if (run.count > 0 && m.skip === 0) entryBytes = (run.endPosition - m.position) / run.count;
  const used = places as RunPlaces;
  let released = false;
  const release = (): void => {
    if (!released) {
      readBuffers.keep(run.bytes);
      runPlaces.keep(used);
    }
    released = true;
  };
  return { run, prepared: session.prepareEntries(m.lsn, run.bytes, run.starts, run.lengths, used.group), release };
}

/**
 * The batch after the one being produced, read, prepared and encoded (KafkaProducerSession.
 * encodeAhead) while the broker works on that one: the entries that follow it in the same
 * segment, up to the size the main thread last gave (those bytes never change). Sent at once
 * when that one is acknowledged (continuation), used when the next ship asks for exactly them, else
 * discarded.
 */
let ahead: { key: string; read: Promise<Read> } | undefined;
const aheadKey = (s: Pick<ShipMessage, 'lsn' | 'path' | 'position' | 'maxBytes'>): string => `${s.lsn}\0${s.path}\0${s.position}\0${s.maxBytes}`;

/** Ids of the ships the worker goes on with by itself (continuation): negative, unlike the main thread's. */
let lastOwnId = 0;

/** The latest size of whole entries the main thread gave for a segment (ToProducer `written`). */
let written: { path: string; size: number } | undefined;

/** How far `m`'s segment may be read: its size, or more when the main thread said so since. */
const sizeFor = (m: Pick<ShipMessage, 'path' | 'size'>): number => (written?.path === m.path ? Math.max(m.size, written.size) : m.size);

/**
 * What the worker reads ahead after `run` of ship `m`, and sends as its continuation: the entries
 * that follow in the same segment, as far as it is written, with the same batch limits.
 */
const following = (m: ShipMessage, run: SegmentRun): ShipMessage => ({
  t: 'ship',
  id: m.id,
  lsn: m.lsn + run.count,
  path: m.path,
  size: sizeFor(m),
  position: run.endPosition,
  skip: 0,
  maxEntries: config.kafka.batchMaxRecords,
  maxBytes: m.maxBytes,
});

/**
 * The ship that follows `m` when its read-ahead is there to send: `m` went well, and the main
 * thread would ask for exactly those entries next (same segment and batch limits). Sending it at
 * once spares the batch a round trip through the main thread, which serves the FUSE writers and
 * answered only after 1 to 6 ms under a heavy write (a sixth of a batch's cycle with the broker).
 */
function continuation(m: ShipMessage, run: SegmentRun, outcome: SendOutcome): ShipMessage | undefined {
  if (outcome.result !== 'ok' || run.count === 0 || stop.signal.aborted || ahead === undefined) return undefined;
  const next = following(m, run);
  return ahead.key === aheadKey(next) ? { ...next, id: --lastOwnId } : undefined;
}

function ship(m: ShipMessage): void {
  // The entries are read here, not on the main thread: reading, checking and encoding them
  // is all of a batch's per-record work, and the main thread serves the FUSE writers.
  const pre = ahead;
  ahead = undefined;
  const fresh = (): Promise<Read> => readAndPrepare(m);
  const discard = (r: Read): void => {
    session.discardPrepared(r.prepared);
    r.release();
  };
  // A failed read-ahead is read again, as if there had been none; so is one longer than asked.
  let read: Promise<Read>;
  if (pre !== undefined && m.skip === 0 && pre.key === aheadKey(m)) {
    read = pre.read.then((r) => {
      if (r.run.count <= m.maxEntries) return r;
      discard(r);
      return fresh();
    }, fresh);
  } else {
    pre?.read.then(discard, () => undefined);
    read = fresh();
  }
  read.then(
    ({ run, prepared, release }) => {
      const readAhead = (): void => {
        const next = following(m, run);
        if (run.count === 0 || next.position >= next.size || stop.signal.aborted) return;
        const r = readAndPrepare(next).then((a) => {
          // Encoded now, its buffer is free again before this batch is answered.
          if (session.encodeAhead(a.prepared)) a.release();
          return a;
        });
        r.catch(() => undefined); // seen (and read again) when used
        ahead = { key: aheadKey(next), read: r };
      };
      // A run's buffer is free once nothing reads it: with the wire client when its batch is
      // encoded (the next batch is then read into it, and encoded, while the broker works on
      // this one: one read buffer of a batch's size, not two); with kafkajs when the send ends.
      const early = 'packed' in prepared;
      if (!early) readAhead();
      const encoded = early
        ? (): void => {
            release();
            readAhead();
          }
        : undefined;
      session.sendPrepared(prepared, stop.signal, encoded).then(
        (outcome) => {
          release();
          const next = continuation(m, run, outcome);
          post({ t: 'shipped', id: m.id, outcome, count: run.count, endPosition: run.endPosition, next: next?.id });
          if (next) ship(next);
        },
        (err: unknown) => {
          release();
          post({ t: 'failed', id: m.id, message: String(err) });
        },
      );
    },
    (err: unknown) => post({ t: 'read-failed', id: m.id, message: errorMessage(err) }),
  );
}

port.on('message', (m: ToProducer) => {
  switch (m.t) {
    case 'topics':
      session.setTopics(m.topics);
      break;
    case 'ship':
      ship(m);
      break;
    case 'written':
      written = m;
      break;
    case 'stop':
      stop.abort();
      void session.close().then(() => post({ t: 'stopped' }));
      break;
  }
});
