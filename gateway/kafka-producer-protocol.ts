/** Messages between the shipper (main thread) and the Kafka producer worker. */
import type { SendOutcome } from './kafka-producer.js';

/** What the store says a stream's topic is created with (partitions; retention, null: broker default). */
export type TopicSettings = [topic: string, partitions: number, retentionHours: number | null];

export type ToProducer =
  | { t: 'topics'; topics: TopicSettings[] }
  /**
   * Ship journal entries from `lsn` on, read by the worker from the segment file: from file
   * position `position`, `skip` entries before `lsn`, up to the written size `size`; at most
   * maxEntries entries and maxBytes of payload (Journal.locate says where).
   */
  | { t: 'ship'; id: number; lsn: number; path: string; size: number; position: number; skip: number; maxEntries: number; maxBytes: number }
  /**
   * The segment at `path` holds whole entries up to `size` now: the worker reads ahead up to there
   * rather than up to the size its last ship gave (sent as the segment grows, every MiB at most).
   */
  | { t: 'written'; path: string; size: number }
  | { t: 'stop' };

export type FromProducer =
  /**
   * `count` entries from the ship's `lsn` were handled as `outcome` says; the segment's next entry
   * is at `endPosition`. With `next`, the worker went on by itself with the entries that follow
   * (its read-ahead, up to the size it was last given: the ship's or a later `written`) as ship
   * `next` (a negative id): answered like any other, and the main thread sends no ship until then.
   */
  | { t: 'shipped'; id: number; outcome: SendOutcome; count: number; endPosition: number; next?: number }
  /** The entries could not be read (a disk error, a damaged segment): nothing was sent. */
  | { t: 'read-failed'; id: number; message: string }
  | { t: 'failed'; id: number; message: string }
  | { t: 'error'; retrying: boolean }
  | { t: 'connected'; up: boolean }
  | { t: 'stopped' };
