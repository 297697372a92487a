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

/** Where a process finds the store, and the fleet reports that follow it: one object opens both. */
export type ControlPlaneLocation =
  | { kind: 'file'; dataDir: string; log?: Logger }
  | { kind: 'kafka'; brokers: string[]; topicPrefix: string; replicationFactor?: number; log?: Logger };

/** The data dir's files (one host), or the compacted topics on the brokers (cluster mode). */
export function controlPlaneAt(
  kind: 'file' | 'kafka',
  at: { dataDir: string; brokers: string[]; topicPrefix: string; replicationFactor?: number; log?: Logger },
): ControlPlaneLocation {
  const log = at.log ? { log: at.log } : {};
  if (kind === 'file') return { kind, dataDir: at.dataDir, ...log };
  return { kind, brokers: at.brokers, topicPrefix: at.topicPrefix, ...(at.replicationFactor === undefined ? {} : { replicationFactor: at.replicationFactor }), ...log };
}
