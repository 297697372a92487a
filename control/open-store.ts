/**
 * Opens the provisioning store of a deployment: the data dir's file (embedded mode) or the
 * compacted Kafka topic (cluster mode). Components take a `ProvisioningStore` and never care which.
 */
import type { Logger } from '../core/logger.js';
import { KafkaProvisioningStore } from './kafka-store.js';
import { FileProvisioningStore, type ProvisioningStore } from './store.js';

export type StoreOptions =
  | { kind: 'file'; dataDir: string; historyKeep?: number }
  | { kind: 'kafka'; brokers: string[]; topicPrefix: string; replicationFactor?: number; clientId?: string; log?: Logger; historyKeep?: number };

export async function openStore(opts: StoreOptions): Promise<ProvisioningStore> {
  if (opts.kind === 'file') return FileProvisioningStore.open(opts.dataDir, opts.historyKeep === undefined ? {} : { historyKeep: opts.historyKeep });
  const { kind: _kind, ...kafka } = opts;
  return KafkaProvisioningStore.open(kafka);
}
