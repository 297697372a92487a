/**
 * Worker thread running the Kafka producer (kafka-producer.ts). The main thread sends batches of
 * journal entries as one transferred buffer; the worker answers each with its outcome and reports
 * errors and connection changes for the metrics.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { configureLogger, componentLogger } from '../core/logger.js';
import type { GatewayConfig } from './config.js';
import { KafkaProducerSession } from './kafka-producer.js';
import type { ToProducer, FromProducer } from './kafka-producer-protocol.js';
import { readSegmentRun } from './journal-segment.js';
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

port.on('message', (m: ToProducer) => {
  switch (m.t) {
    case 'topics':
      session.setTopics(m.topics);
      break;
    case 'ship': {
      // The entries are read here, not on the main thread: reading, checking and encoding them
      // is all of a batch's per-record work, and the main thread serves the FUSE writers.
      readSegmentRun({ path: m.path, size: m.size }, m.position, m.skip, m.maxEntries, m.maxBytes).then(
        (run) =>
          session.sendEntries(m.lsn, run.bytes, run.starts, run.lengths, stop.signal).then(
            (outcome) => post({ t: 'shipped', id: m.id, outcome, count: run.count, endPosition: run.endPosition }),
            (err: unknown) => post({ t: 'failed', id: m.id, message: String(err) }),
          ),
        (err: unknown) => post({ t: 'read-failed', id: m.id, message: errorMessage(err) }),
      );
      break;
    }
    case 'stop':
      stop.abort();
      void session.close().then(() => post({ t: 'stopped' }));
      break;
  }
});
