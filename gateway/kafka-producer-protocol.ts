/** Messages between the shipper (main thread) and the Kafka producer worker. */
import type { SendOutcome } from './kafka-producer.js';

export type ToProducer =
  | { t: 'topics'; partitions: [string, number][] }
  /** Journal entries from `lsn` on, concatenated in `buf` (transferred), each `lengths[i]` bytes. */
  | { t: 'send'; id: number; lsn: number; buf: ArrayBuffer; lengths: number[] }
  | { t: 'stop' };

export type FromProducer =
  | { t: 'sent'; id: number; outcome: SendOutcome }
  | { t: 'failed'; id: number; message: string }
  | { t: 'error'; retrying: boolean }
  | { t: 'connected'; up: boolean }
  | { t: 'stopped' };
