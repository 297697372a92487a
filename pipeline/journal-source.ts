/**
 * Embedded mode: the journal is the bus (DESIGN.md). Each graph reads it with one named cursor per
 * stream it takes (`graph:<name>:<topic>`), so a stream that joins a graph starts from its own
 * oldest entry, whatever the graph's other streams have reached, and acknowledges entries after its
 * sinks did. The journal keeps every entry until the `pipeline` consumer (the slowest cursor, see
 * PipelineWorker) has passed it, which is also the backpressure: writers block when the pipeline
 * falls a journal's bound behind.
 */
import type { Logger } from 'pino';
import { sleep } from '../core/retry.js';
import { errorMessage } from '../core/errors.js';
import { decodeJournalEntry, type Journal, type JournalEntry } from '../gateway/index.js';
import type { GraphRuntime } from './engine.js';
import { SOURCE } from './graph/graph-schema.js';
import type { PipelineRecord } from './record.js';
import { decodeOrFlag, type Source } from './source.js';
import type { TopicInput } from './kafka-source.js';
import type { KeyLookup } from './record-keys.js';

export const JOURNAL_SOURCE_DEFAULTS = {
  maxEntries: 8192,
  maxBytes: 8 * 1024 * 1024,
  tickMs: 1_000,
};

export interface JournalSourceOptions {
  journal: Journal;
  /** Cursor names are this prefix plus the stream's topic. */
  consumerPrefix: string;
  topics: TopicInput[];
  log: Logger;
  /** Called after each acknowledgement, so the worker can move the `pipeline` cursor. */
  onAck?: () => void;
  /** Stream keys, to open records of encrypted streams (without: they go on flagged, still sealed). */
  keys?: KeyLookup;
}

export class JournalSource implements Source {
  private running = false;
  private loop: Promise<void> | undefined;
  private readonly abort = new AbortController();

  constructor(private readonly opts: JournalSourceOptions) {}

  async start(runtime: GraphRuntime, onFailure: (err: unknown) => void): Promise<void> {
    this.running = true;
    this.loop = this.run(runtime).catch((err: unknown) => {
      if (this.running) onFailure(err);
    });
  }

  async stop(): Promise<void> {
    this.running = false;
    this.abort.abort();
    await this.loop;
  }

  /** Journal entries (of every stream: they share the journal) after the graph's slowest cursor. */
  lag(): number {
    const { journal, consumerPrefix, topics } = this.opts;
    if (topics.length === 0) return 0;
    const slowest = Math.min(...topics.map((t) => journal.cursor(consumerPrefix + t.topic)));
    return Math.max(0, journal.nextLsn - 1 - slowest);
  }

  private async run(runtime: GraphRuntime): Promise<void> {
    const { journal, consumerPrefix, topics } = this.opts;
    const inputs = topics.map((t) => ({ ...t, consumer: consumerPrefix + t.topic }));
    const byTopic = new Map(inputs.map((t) => [t.topic, t]));
    let lastTick = Date.now();
    while (this.running) {
      // From the stream furthest behind; entries another stream of this graph already passed are skipped.
      const cursors = new Map(inputs.map((t) => [t.topic, journal.cursor(t.consumer)]));
      const from = inputs.length === 0 ? journal.nextLsn : Math.min(...cursors.values()) + 1;
      const { lsn, payloads } = await journal.read(from, JOURNAL_SOURCE_DEFAULTS.maxEntries, JOURNAL_SOURCE_DEFAULTS.maxBytes);
      if (payloads.length === 0) {
        // Wake on new entries, or at the tick so windows close on an idle stream.
        await Promise.race([journal.waitForEntries(from - 1, this.abort.signal), sleep(JOURNAL_SOURCE_DEFAULTS.tickMs, this.abort.signal)]).catch(() => {});
        if (!this.running) break;
        await runtime.tick();
        lastTick = Date.now();
        continue;
      }
      const records: PipelineRecord[] = [];
      const keys = this.opts.keys?.();
      for (let i = 0; i < payloads.length; i++) {
        let entry: JournalEntry;
        try {
          entry = decodeJournalEntry(payloads[i]!);
        } catch (err) {
          // Checksummed but not an entry this version understands; the Kafka shipper skips it too.
          this.opts.log.error({ lsn: lsn + i, err: errorMessage(err) }, 'journal entry cannot be decoded; skipped');
          continue;
        }
        const input = byTopic.get(entry.topic);
        if (!input || lsn + i <= cursors.get(entry.topic)!) continue; // another graph's stream, or done
        records.push(decodeOrFlag(entry.value, () => ({ stream: input.stream, provider: input.provider, key: entry.key, position: `journal@${lsn + i}` }), keys));
      }
      if (records.length > 0) await runtime.runBatch([{ from: SOURCE, port: 'out', records }]);
      else if (Date.now() - lastTick >= JOURNAL_SOURCE_DEFAULTS.tickMs) {
        await runtime.tick();
        lastTick = Date.now();
      }
      const end = lsn + payloads.length - 1;
      for (const t of inputs) if (cursors.get(t.topic)! < end) journal.ack(t.consumer, end);
      this.opts.onAck?.();
    }
  }

}

/** The cursor prefix of a graph's journal source: `graph:<name>:`, then the stream's topic. */
export function journalConsumerPrefix(graph: string): string {
  return `graph:${graph}:`;
}
