/**
 * aggregate: folds similar records (same values of the `by` fields, by default the class) that fall
 * into one tumbling event-time window into a single aggregate record.
 *
 * Windows are [start, start + windowMs) aligned to the epoch, chosen by the record's event time
 * (`ts`, see pipeline/record.ts). A window closes when the watermark (the largest event time seen
 * minus `allowedLatenessMs`) reaches its end, when no record arrived for `idleFlushMs` of processing
 * time (`tick`), when more than `maxOpenWindows` are open, and on `drain`.
 *
 * Nothing is dropped: a record that arrives after its window was closed by the watermark is counted
 * in a new aggregate for that same window, flagged `late` (fields.late = true); records that arrive
 * after an idle or overflow flush for a window still inside the lateness start a continuation.
 *
 * IDs are deterministic for a given input order: `<graph>/<node>:<group>:<windowStart>` for the first
 * aggregate of a window; a late aggregate or a continuation is `…:<windowStart>+<firstId>`, unique
 * because each record is counted in exactly one aggregate and firstId is one of its records.
 */
import { z } from 'zod';
import { defineAgent, type AgentContext, type AgentRuntime, type Outputs } from '../agent.js';
import { FieldRefSchema, fieldReader } from '../field-predicate.js';
import { derivedRecord, type PipelineRecord } from '../record.js';
import { watermarkHorizon } from '../event-time.js';

export const AGGREGATE_DEFAULTS = {
  by: ['class'],
  windowMs: 60_000,
  allowedLatenessMs: 5_000,
  idleFlushMs: 30_000,
  sampleMaxChars: 200,
  passThrough: false,
  maxOpenWindows: 10_000,
} as const;

/** The flag on aggregates of records that came after their window had closed. */
export const LATE_FLAG = 'late';

export const AggregateConfigSchema = z.strictObject({
  by: z
    .array(FieldRefSchema)
    .default([...AGGREGATE_DEFAULTS.by])
    .describe('Fields whose values make records "similar" (one aggregate per distinct combination); [] puts every record of a window in one group'),
  windowMs: z.number().int().min(1).default(AGGREGATE_DEFAULTS.windowMs).describe('Length of the tumbling event-time window in milliseconds'),
  allowedLatenessMs: z
    .number()
    .int()
    .min(0)
    .default(AGGREGATE_DEFAULTS.allowedLatenessMs)
    .describe('How far event time may run past a window end before the window closes; later records go to a `late` aggregate'),
  idleFlushMs: z
    .number()
    .int()
    .min(1)
    .default(AGGREGATE_DEFAULTS.idleFlushMs)
    .describe('Close every open window after this long without a record (processing time), so a quiet stream still reports'),
  sampleMaxChars: z
    .number()
    .int()
    .min(0)
    .max(65_536)
    .default(AGGREGATE_DEFAULTS.sampleMaxChars)
    .describe('The aggregate carries the first record\'s data as `sample`, cut to this many characters (a cut sample ends with "…")'),
  passThrough: z.boolean().default(AGGREGATE_DEFAULTS.passThrough).describe('Also emit every original record, unchanged, on the port `records`'),
  maxOpenWindows: z
    .number()
    .int()
    .min(1)
    .default(AGGREGATE_DEFAULTS.maxOpenWindows)
    .describe('Bound on open (group, window) pairs; when reached, all open windows are emitted early to keep memory bounded'),
});
export type AggregateConfig = z.infer<typeof AggregateConfigSchema>;

type Like = Pick<PipelineRecord, 'provider' | 'stream' | 'class' | 'instance' | 'host'>;

interface OpenWindow {
  start: number;
  key: string;
  values: unknown[];
  count: number;
  firstTs: number;
  lastTs: number;
  firstId: string;
  lastId: string;
  sample: string;
  like: Like;
  late: boolean;
  /** This (group, window) was emitted before: the aggregate needs the `+firstId` ID. */
  again: boolean;
}

const NULL_KEY = '\u0000';
const KEY_SEPARATOR = '\u0001';

function keyPart(v: unknown): string {
  if (v === undefined || v === null) return NULL_KEY;
  if (typeof v === 'string') return v;
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

/** Group values in an ID: URI-encoded so a value containing ':' or ',' cannot fake another group. */
function idPart(v: unknown): string {
  return v === undefined || v === null ? '%00' : encodeURIComponent(keyPart(v));
}

/** First `max` characters of the record's data, decoding no more bytes than can matter. */
export function sampleOf(data: Buffer, max: number): string {
  // A UTF-8 character is at most 4 bytes, so 4·max bytes always hold the first max characters.
  const head = data.length > max * 4 ? data.subarray(0, max * 4) : data;
  const text = head.toString('utf8');
  if (text.length <= max) return text;
  let cut = text.slice(0, max);
  // Do not leave half of a surrogate pair at the end.
  const last = cut.charCodeAt(cut.length - 1);
  if (last >= 0xd800 && last <= 0xdbff) cut = cut.slice(0, -1);
  return cut + '…';
}

class Aggregator implements AgentRuntime {
  private readonly readers: ((r: PipelineRecord) => unknown)[];
  private readonly idPrefix: string;
  /** Open windows by start, then by group key. */
  private readonly open = new Map<number, Map<string, OpenWindow>>();
  private openCount = 0;
  /** Windows emitted by an idle or overflow flush whose end is still above the watermark, by start. */
  private readonly emittedEarly = new Map<number, Set<string>>();
  private maxTs = -Infinity;
  /** Every window that ends at or before this was closed by the watermark. */
  private closedThrough = -Infinity;
  /** A late window was opened: it is due at once, though the watermark did not move. */
  private lateOpen = false;
  private lastArrival: number | undefined;
  private sawRecords = false;

  constructor(
    private readonly c: AggregateConfig,
    private readonly ctx: AgentContext,
  ) {
    this.readers = c.by.map(fieldReader);
    this.idPrefix = `${ctx.graph}/${ctx.nodeId}@${ctx.run}:`;
  }

  process(batch: PipelineRecord[], out: Outputs): void {
    const { windowMs, passThrough } = this.c;
    const readers = this.readers;
    const single = readers.length === 1 ? readers[0]! : undefined;
    let cachedStart = NaN;
    let cached: Map<string, OpenWindow> | undefined;
    // A record from a clock far ahead goes into its window but does not move the watermark.
    const horizon = watermarkHorizon();
    for (const r of batch) {
      const ts = r.ts;
      if (ts > this.maxTs && ts <= horizon) this.maxTs = ts;
      const start = Math.floor(ts / windowMs) * windowMs;
      let key: string;
      if (single) key = keyPart(single(r));
      else if (readers.length === 0) key = '';
      else {
        key = keyPart(readers[0]!(r));
        for (let i = 1; i < readers.length; i++) key += KEY_SEPARATOR + keyPart(readers[i]!(r));
      }
      if (start !== cachedStart || cached === undefined) {
        cached = this.open.get(start);
        cachedStart = start;
      }
      let w = cached?.get(key);
      if (w === undefined) {
        if (this.openCount >= this.c.maxOpenWindows) {
          this.ctx.log.warn({ openWindows: this.openCount }, 'aggregate: maxOpenWindows reached, emitting all open windows early');
          this.closeAll(out);
          cached = undefined;
        }
        w = this.openWindow(r, start, key);
        if (cached === undefined) {
          cached = new Map();
          this.open.set(start, cached);
        }
        cached.set(key, w);
        this.openCount++;
      } else {
        w.count++;
        if (ts < w.firstTs) {
          w.firstTs = ts;
          w.firstId = r.id;
          w.sample = sampleOf(r.data, this.c.sampleMaxChars);
        }
        if (ts >= w.lastTs) {
          w.lastTs = ts;
          w.lastId = r.id;
        }
      }
      if (passThrough) out.emit('records', r);
    }
    if (batch.length > 0) this.sawRecords = true;
    this.closeUpTo(this.maxTs - this.c.allowedLatenessMs, out);
  }

  tick(now: number, out: Outputs): void {
    if (this.sawRecords || this.lastArrival === undefined) {
      this.lastArrival = now;
      this.sawRecords = false;
    }
    this.closeUpTo(this.maxTs - this.c.allowedLatenessMs, out);
    if (this.openCount > 0 && now - this.lastArrival >= this.c.idleFlushMs) this.closeAll(out);
  }

  drain(out: Outputs): void {
    this.closeAll(out);
  }

  private openWindow(r: PipelineRecord, start: number, key: string): OpenWindow {
    const late = start + this.c.windowMs <= this.closedThrough;
    if (late) this.lateOpen = true;
    return {
      start,
      key,
      values: this.readers.map((read) => read(r) ?? null),
      count: 1,
      firstTs: r.ts,
      lastTs: r.ts,
      firstId: r.id,
      lastId: r.id,
      sample: sampleOf(r.data, this.c.sampleMaxChars),
      like: { provider: r.provider, stream: r.stream, class: r.class, instance: r.instance, host: r.host },
      late,
      again: late || (this.emittedEarly.get(start)?.has(key) ?? false),
    };
  }

  /** Emits, in window order, every open window that ends at or before the watermark. */
  private closeUpTo(watermark: number, out: Outputs): void {
    if (watermark > this.closedThrough) this.closedThrough = watermark;
    else if (!this.lateOpen) return;
    this.lateOpen = false;
    const limit = this.closedThrough;
    const due = [...this.open.keys()].filter((s) => s + this.c.windowMs <= limit).sort((a, b) => a - b);
    for (const start of due) {
      for (const w of this.open.get(start)!.values()) this.emit(w, out);
      this.openCount -= this.open.get(start)!.size;
      this.open.delete(start);
    }
    // Past the watermark every new record of these windows is late anyway, so the memo can go.
    for (const start of this.emittedEarly.keys()) if (start + this.c.windowMs <= limit) this.emittedEarly.delete(start);
  }

  /** Idle, overflow and drain: emit every open window, remembering those a later record may reopen. */
  private closeAll(out: Outputs): void {
    const starts = [...this.open.keys()].sort((a, b) => a - b);
    for (const start of starts) {
      const windows = this.open.get(start)!;
      const reopenable = start + this.c.windowMs > this.closedThrough;
      let memo = reopenable ? this.emittedEarly.get(start) : undefined;
      if (reopenable && memo === undefined) this.emittedEarly.set(start, (memo = new Set()));
      for (const w of windows.values()) {
        this.emit(w, out);
        memo?.add(w.key);
      }
    }
    this.open.clear();
    this.openCount = 0;
  }

  private emit(w: OpenWindow, out: Outputs): void {
    const { by, windowMs } = this.c;
    const group: Record<string, unknown> = {};
    let idKey = '';
    for (let i = 0; i < by.length; i++) {
      group[by[i]!] = w.values[i];
      idKey += (i === 0 ? '' : ',') + idPart(w.values[i]);
    }
    const base = `${this.idPrefix}${idKey}:${w.start}`;
    const fields: Record<string, unknown> = {
      count: w.count,
      firstTs: w.firstTs,
      lastTs: w.lastTs,
      firstId: w.firstId,
      lastId: w.lastId,
      sample: w.sample,
      group,
      windowStart: w.start,
      windowEnd: w.start + windowMs,
    };
    if (w.late) fields.late = true;
    const record = derivedRecord({
      id: w.again ? `${base}+${w.firstId}` : base,
      kind: 'aggregate',
      like: w.like,
      ts: w.start,
      data: `${w.count} × ${w.sample}`,
      fields,
    });
    if (w.late) record.flags.push(LATE_FLAG);
    out.emit('out', record);
  }
}

export const aggregate = defineAgent<AggregateConfig>({
  type: 'aggregate',
  description: 'Folds similar records in a tumbling event-time window into one aggregate record',
  configSchema: AggregateConfigSchema,
  ports: (c) => (c.passThrough ? ['out', 'records'] : ['out']),
  sink: false,
  create: (c, ctx) => new Aggregator(c, ctx),
});
