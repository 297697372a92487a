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
    case 'send': {
      session.sendPacked(m.lsn, Buffer.from(m.buf), m.lengths, stop.signal).then(
        (outcome) => post({ t: 'sent', id: m.id, outcome }),
        (err: unknown) => post({ t: 'failed', id: m.id, message: String(err) }),
      );
      break;
    }
    case 'stop':
      stop.abort();
      void session.close().then(() => post({ t: 'stopped' }));
      break;
  }
});
