/**
 * Where a graph's records come from: Kafka consumer groups (pipeline/kafka-source.ts) or, in
 * embedded mode, the local journal (pipeline/journal-source.ts). Both hand decoded batches to a
 * GraphRuntime and move their position (commit the offsets, ack the journal cursor) only after the
 * runtime resolved, i.e. after every sink acknowledged.
 */
import { errorMessage } from '../core/errors.js';
import type { GraphRuntime } from './engine.js';
import { fromLogRecord, makePipelineOrSealed, type PipelineRecord } from './record.js';
import { decodeRecordFastAt } from '../gateway/record-decoder.js';
import { decodeRecord, type LogRecord } from '../gateway/index.js';
import type { StreamKeyring } from '../gateway/record-crypto.js';
import { openedRecord } from './record-keys.js';

export interface Source {
  /** Starts feeding `runtime`; `onFailure` is called once if a batch cannot be processed. */
  start(runtime: GraphRuntime, onFailure: (err: unknown) => void): Promise<void>;
  /**
   * Stabilise: stop fetching, let the batch in flight finish (its position is then committed),
   * and return. Records not yet fetched stay for the next runtime.
   */
  stop(): Promise<void>;
  /** Records (or journal entries) not yet processed, if the source can tell cheaply (the fleet shows it). */
  lag?(): number | null;
}

export const UNDECODABLE_FLAG = 'undecodable';

/**
 * A message that is not a record (written by something else, or damaged) must not vanish nor stop
 * the graph: it becomes a record holding the raw bytes, flagged, with the decoder's message.
 * `where` is called only then, so the hot path builds no position strings. A record of an
 * encrypted stream is opened with `keys` (pipeline/record-keys.ts).
 */
export function decodeOrFlag(value: Buffer, where: () => Where, keys?: StreamKeyring): PipelineRecord {
  return decodeOrFlagAt(value, 0, value.length, call, where, keys);
}

const call = (f: () => Where): Where => f();

/**
 * decodeOrFlag for the record in buf[start, end) (a consumed message where it lies in its fetch
 * response): the common case straight into a PipelineRecord, a sealed one opened, and only what the
 * fast reader does not take goes through the general decoder, which names the problem.
 * `where(context)` is called only then (one function per batch, no closure per record).
 */
export function decodeOrFlagAt<C>(buf: Buffer, start: number, end: number, where: (context: C) => Where, context: C, keys?: StreamKeyring): PipelineRecord {
  let r = decodeRecordFastAt(buf, start, end, makePipelineOrSealed);
  if (r === undefined) {
    const value = buf.subarray(start, end);
    try {
      r = decodeRecord(value);
    } catch (err) {
      return undecodableRecord(value, err, where(context));
    }
    if (r.enc === undefined) return fromLogRecord(r);
  }
  return r.enc === undefined ? (r as PipelineRecord) : openedRecord(r as LogRecord, keys);
}

export interface Where {
  stream: string;
  provider: string;
  key: string | null;
  position: string;
}

export function undecodableRecord(value: Buffer, err: unknown, w: Where): PipelineRecord {
  const r = fromLogRecord({
    v: 1,
    provider: w.provider,
    stream: w.stream,
    class: null,
    instance: w.key ?? 'unknown',
    host: 'unknown',
    seq: 0,
    ts: Date.now(),
    source: 'fuse',
    data: value,
  });
  r.id = `undecodable:${w.position}`;
  r.flags.push(UNDECODABLE_FLAG);
  r.fields._decode_error = `not a logFS record at ${w.position}: ${errorMessage(err)}`;
  return r;
}
