/** Messages between the shipper (main thread) and the Kafka producer worker. */
import type { SendOutcome } from './kafka-producer.js';

/** What the store says a stream's topic is created with (partitions; retention, null: broker default). */
export type TopicSettings = [topic: string, partitions: number, retentionHours: number | null];

export type ToProducer =
  | { t: 'topics'; topics: TopicSettings[] }
  /** Journal entries from `lsn` on, concatenated in `buf` (transferred), each `lengths[i]` bytes. */
  | { t: 'send'; id: number; lsn: number; buf: ArrayBuffer; lengths: Uint32Array }
  | { t: 'stop' };

export type FromProducer =
  | { t: 'sent'; id: number; outcome: SendOutcome }
  | { t: 'failed'; id: number; message: string }
  | { t: 'error'; retrying: boolean }
  | { t: 'connected'; up: boolean }
  | { t: 'stopped' };
