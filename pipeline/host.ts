/**
 * Starting a pipeline worker in a process: inside logfsd in embedded mode (the journal is the bus,
 * DaemonAttachment), or on its own with Kafka (`logfsctl pipeline run`).
 */
import path from 'node:path';
import type { Kafka } from 'kafkajs';
import type { Logger } from 'pino';
import { componentLogger } from '../core/logger.js';
import type { Fleet } from '../control/fleet/index.js';
import type { ProvisioningStore } from '../control/store.js';
import type { DaemonAttachment } from '../daemon/daemon.js';
import type { Gateway, GatewayConfig } from '../gateway/index.js';
import { createKafka } from '../gateway/index.js';
import { StoreKeyring } from '../gateway/record-crypto.js';
import { AlarmLog } from './alarm-log.js';
import { KafkaTopicProducer } from './kafka-topic-producer.js';
import { MetricsStore } from './metrics-store.js';
import { createPipelineServices } from './services.js';
import { PipelineWorker, WORKER_DEFAULTS, type WorkerBus } from './worker.js';

export interface PipelineHostOptions {
  dataDir: string;
  store: ProvisioningStore;
  log: Logger;
  topicPrefix: string;
  /** With Kafka: the client; otherwise the journal of the gateway in this process. */
  kafka?: Kafka;
  gateway?: Gateway;
  replicationFactor?: number;
  graphs?: string[];
  /** Report this worker to the fleet (control/fleet: `openFleet`), as `worker-<host>-<pid>`. */
  fleet?: Fleet;
}

export async function startPipelineWorker(opts: PipelineHostOptions): Promise<PipelineWorker> {
  const log = componentLogger('pipeline', opts.log);
  let bus: WorkerBus;
  let producer: KafkaTopicProducer | undefined;
  if (opts.kafka) {
    producer = new KafkaTopicProducer({ kafka: opts.kafka, log, ...(opts.replicationFactor ? { replicationFactor: opts.replicationFactor } : {}) });
    bus = { kind: 'kafka', kafka: opts.kafka, topicPrefix: opts.topicPrefix, ...(opts.replicationFactor ? { replicationFactor: opts.replicationFactor } : {}) };
  } else if (opts.gateway) {
    bus = { kind: 'journal', journal: opts.gateway.journal, topicPrefix: opts.topicPrefix };
  } else {
    throw new Error('startPipelineWorker needs a Kafka client or an embedded gateway');
  }
  const keyring = new StoreKeyring(opts.store);
  const services = createPipelineServices({
    dataDir: opts.dataDir,
    log,
    metrics: await MetricsStore.open({ dir: path.join(opts.dataDir, 'metrics') }),
    alarms: await AlarmLog.open({ dir: path.join(opts.dataDir, 'alarms') }),
    ...(producer ? { kafka: { producer, topicPrefix: opts.topicPrefix } } : {}),
    keys: () => keyring.current(),
  });
  const worker = new PipelineWorker({ store: opts.store, bus, services, log, ...(opts.graphs ? { graphs: opts.graphs } : {}), ...(opts.fleet ? { fleet: opts.fleet } : {}) });
  await worker.start();
  return worker;
}

/** The pipeline inside logfsd: on the journal in embedded mode, on Kafka when asked (`pipeline: on`). */
export function pipelineAttachment(gatewayConfig: GatewayConfig, log: Logger): DaemonAttachment {
  return {
    journalConsumers: [WORKER_DEFAULTS.journalConsumer],
    async start({ gateway, store, dataDir, fleet }) {
      const kafka = gateway.embedded ? undefined : createKafka(gatewayConfig, log, `${gatewayConfig.kafka.clientId}-pipeline`);
      return startPipelineWorker({ dataDir, store, log, topicPrefix: gatewayConfig.kafka.topicPrefix, gateway, ...(kafka ? { kafka } : {}), replicationFactor: gatewayConfig.kafka.replicationFactor, ...(fleet ? { fleet } : {}) });
    },
  };
}
