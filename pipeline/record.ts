/**
 * The record as it flows through a graph: the wire record (gateway/record-codec.ts) plus what the
 * agents add: fields extracted by parse, flags set by parse/validate/custom, the class as changed
 * by classify, and the kind for records that agents derive (aggregates, metrics, alarms).
 *
 * Agents may mutate the records they receive; the engine copies a record when one output feeds
 * several nodes, so a mutation never leaks into another branch.
 */
import { decodeRecord, type LogRecord, type RecordSource } from '../gateway/index.js';
import { declineRecord, decodeRecordFastAt, makeLogRecord, type RecordMaker } from '../gateway/record-decoder.js';

export type RecordKind = 'log' | 'aggregate' | 'metric' | 'alarm';

/** Flags that agents set; custom agents may add their own (lower-case, [a-z0-9_]). */
export const FLAGS = {
  parseFailed: 'parse_failed',
  invalid: 'invalid',
  customError: 'custom_error',
} as const;

export interface PipelineRecord extends Omit<LogRecord, 'source'> {
  /** Where the line came in; `pipeline` for records an agent derived. */
  source: RecordSource | 'pipeline';
  /** Unique record ID: `instance:seq` for log records; derived records get their own. */
  id: string;
  kind: RecordKind;
  /** Fields attached by parse (and by aggregate/metric/alarm for the records they derive). */
  fields: Record<string, unknown>;
  /** Markers such as `parse_failed` and `invalid`; empty for a clean record. */
  flags: string[];
}

/**
 * A log record from the wire, ready for the agents. A fresh object literal with every property in
 * one order: all records share one hidden class, which keeps the agents' property reads fast
 * (adding properties to the decoder's object cost 15% of an archive-only graph).
 */
export function fromLogRecord(r: LogRecord): PipelineRecord {
  return {
    v: r.v,
    provider: r.provider,
    stream: r.stream,
    class: r.class,
    instance: r.instance,
    host: r.host,
    seq: r.seq,
    ts: r.ts,
    source: r.source,
    data: r.data,
    part: r.part,
    attrs: r.attrs,
    id: `${r.instance}:${r.seq}`,
    kind: 'log',
    fields: {},
    flags: [],
  };
}

/**
 * The record straight from the decoder's parts (gateway/record-decoder.ts), the same object
 * fromLogRecord makes, without a LogRecord in between. A sealed record is left to the general path,
 * which opens it.
 */
export const makePipelineRecord: RecordMaker<PipelineRecord> = (v, provider, stream, cls, instance, host, seq, ts, source, data, part, attrs, enc) => {
  if (enc !== undefined) declineRecord();
  return {
    v,
    provider,
    stream,
    class: cls,
    instance,
    host,
    seq,
    ts,
    source,
    data,
    part,
    attrs,
    id: `${instance}:${seq}`,
    kind: 'log',
    fields: {},
    flags: [],
  };
};

/** makePipelineRecord, or for a sealed record its LogRecord, to be opened (record-keys.ts, openedRecord). */
export const makePipelineOrSealed: RecordMaker<PipelineRecord | LogRecord> = (v, provider, stream, cls, instance, host, seq, ts, source, data, part, attrs, enc, kid) =>
  enc === undefined
    ? makePipelineRecord(v, provider, stream, cls, instance, host, seq, ts, source, data, part, attrs, enc, kid)
    : makeLogRecord(v, provider, stream, cls, instance, host, seq, ts, source, data, part, attrs, enc, kid);

export function decodePipelineRecord(bytes: Buffer | Uint8Array): PipelineRecord {
  const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return decodeRecordFastAt(buf, 0, buf.length, makePipelineRecord) ?? fromLogRecord(decodeRecord(buf));
}

/** A copy whose mutable parts (fields, flags, attrs) are separate; `data` is shared (never mutated). */
export function cloneRecord(r: PipelineRecord): PipelineRecord {
  const c: PipelineRecord = { ...r, fields: { ...r.fields }, flags: [...r.flags] };
  if (r.attrs) c.attrs = { ...r.attrs };
  return c;
}

export interface DerivedRecordInput {
  id: string;
  kind: Exclude<RecordKind, 'log'>;
  /** The record the derived one summarises or was triggered by; gives provider/stream/class/instance/host. */
  like: Pick<LogRecord, 'provider' | 'stream' | 'class' | 'instance' | 'host'>;
  ts: number;
  data: string;
  fields: Record<string, unknown>;
}

/** A record an agent creates (aggregate, metric point, alarm); seq is 0, the ID is the agent's own. */
export function derivedRecord(d: DerivedRecordInput): PipelineRecord {
  return {
    v: 1,
    provider: d.like.provider,
    stream: d.like.stream,
    class: d.like.class,
    instance: d.like.instance,
    host: d.like.host,
    seq: 0,
    ts: d.ts,
    source: 'pipeline',
    data: Buffer.from(d.data),
    id: d.id,
    kind: d.kind,
    fields: d.fields,
    flags: [],
  };
}
