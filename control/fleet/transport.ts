/**
 * How members' messages travel: a folder of JSON files (embedded mode, file-fleet.ts) or a
 * compacted Kafka topic (cluster mode, kafka-fleet.ts). Reporters and views do not know which.
 */
import type { MemberMessage } from './member.js';

export const FLEET_DEFAULTS = {
  /** A member publishes what it is doing this often. */
  heartbeatMs: 1_000,
  /** A member not heard from for this long is shown with `alive: false` (and jobs stop waiting for it). */
  staleMs: 5_000,
  /** A member not heard from for this long (crashed, its file or message left behind) is not shown at all. */
  forgetMs: 10 * 60_000,
  /** File fleet: how often the folder is read, besides fs.watch (which can miss renames). */
  pollMs: 250,
  /** File fleet: the folder under the data directory. */
  dirName: 'fleet',
  /** Kafka fleet: the topic is `<topicPrefix><topicSuffix>`. */
  topicSuffix: '.fleet',
  /** Kafka fleet: how long opening a view waits to have read what the topic held. */
  catchUpTimeoutMs: 10_000,
};

/** A member's message, or null when it left (a tombstone). */
export type MemberUpdate = { id: string; message: MemberMessage | null };

export interface FleetTransport {
  /** Replaces what the fleet holds for `message.id`. */
  publish(message: MemberMessage): Promise<void>;
  /** The member left cleanly: views drop it at once. */
  remove(id: string): Promise<void>;
  /**
   * Feeds `onUpdate` with every member the fleet holds now and every change after; resolves once
   * what was there at the start has been delivered.
   */
  subscribe(onUpdate: (update: MemberUpdate) => void): Promise<{ close(): Promise<void> }>;
  close(): Promise<void>;
}
