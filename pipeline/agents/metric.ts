/**
 * metric: statistics of records per group in event-time buckets (1, 5, 15, 30 and 60 minutes by
 * default), written as MetricPoints to the metric sink and emitted as `metric` records on `out`.
 * The metric is named `<graph>.<node>.<field or count>` (the field as written: `g.web.fields.ms`);
 * group labels are named by their field reference too (`class`, `fields.status`).
 *
 * Without `field`, a point holds count and rate (records per second). With `field`, the value
 * (numeric strings count as numbers) goes through `a·x + b` and the point adds sum, avg, min, max,
 * stddev (population), integral (trapezoids over event time, value·seconds) and derivative (change
 * per second from the bucket's first to its last value), plus `invalid`: records whose field is
 * missing or not a finite number; they still count in `count`.
 *
 * Closing: a bucket closes when the watermark (largest event time minus `allowedLatenessMs`) passes
 * its end, and on drain. After `idleFlushMs` without records every bucket that changed is written
 * too, but stays open: a later record updates it and the bucket is written again with the totals
 * so far. Every write of a bucket is cumulative, so the store keeping the last write of a
 * (name, bucketStart, bucketMs, group) is right (see pipeline/metrics-store.ts).
 *
 * A record whose bucket was already closed by the watermark is not added to that bucket (its point
 * is written and would be replaced by a smaller one); it is counted as `late` in the group's newest
 * bucket of that size instead, so it is visible and never lost silently.
 *
 * Derivative and integral follow records in event-time order; a record older than the bucket's
 * latest one is in every other statistic but counted in `outOfOrder` instead of the two.
 */
import { z } from 'zod';
import { defineAgent, type AgentContext, type AgentRuntime, type MetricPoint, type Outputs } from '../agent.js';
import { FieldRefSchema, fieldReader } from '../field-predicate.js';
import { derivedRecord, type PipelineRecord } from '../record.js';
import { watermarkHorizon } from '../event-time.js';

export const METRIC_DEFAULTS = {
  groupBy: ['class'],
  bucketsMinutes: [1, 5, 15, 30, 60],
  allowedLatenessMs: 5_000,
  idleFlushMs: 30_000,
  maxGroups: 10_000,
} as const;

/** Label value of every group beyond `maxGroups`. */
export const OVERFLOW_LABEL = '_other';

export const MetricConfigSchema = z
  .strictObject({
    field: FieldRefSchema.optional().describe('Numeric field to measure (e.g. fields.latency_ms); without it the metric counts records (count, rate)'),
    transform: z
      .strictObject({
        a: z.number().default(1).describe('Factor a in a·x + b'),
        b: z.number().default(0).describe('Offset b in a·x + b'),
      })
      .optional()
      .describe('Linear transform a·x + b applied to the value before any statistic (a: 0.001 turns ms into s)'),
    groupBy: z
      .array(FieldRefSchema)
      .default([...METRIC_DEFAULTS.groupBy])
      .describe('Fields whose values split the metric into groups (class, instance, fields.<name>, ...); [] for one group'),
    bucketsMinutes: z
      .array(z.number().positive().max(24 * 60))
      .min(1)
      .default([...METRIC_DEFAULTS.bucketsMinutes])
      .refine((b) => new Set(b).size === b.length, 'bucket sizes must be unique')
      .refine((b) => b.every((m) => Number.isInteger(m * 60_000)), 'bucket sizes must be whole milliseconds')
      .describe('Bucket sizes in minutes; every record counts in one bucket of each size'),
    allowedLatenessMs: z
      .number()
      .int()
      .min(0)
      .default(METRIC_DEFAULTS.allowedLatenessMs)
      .describe('How far event time may run past a bucket end before the bucket closes; later records count as `late`'),
    idleFlushMs: z
      .number()
      .int()
      .min(1)
      .default(METRIC_DEFAULTS.idleFlushMs)
      .describe('After this long without a record (processing time), write every changed bucket so a quiet stream still reports'),
    maxGroups: z
      .number()
      .int()
      .min(1)
      .default(METRIC_DEFAULTS.maxGroups)
      .describe(`Bound on groups with open buckets; records of further groups are counted in a group whose labels are all "${OVERFLOW_LABEL}"`),
  })
  .superRefine((c, ctx) => {
    if (c.transform && c.field === undefined) {
      ctx.addIssue({ code: 'custom', path: ['transform'], message: 'transform needs a field to apply to; set field or remove transform' });
    }
  });
export type MetricConfig = z.infer<typeof MetricConfigSchema>;

type Like = Pick<PipelineRecord, 'provider' | 'stream' | 'class' | 'instance' | 'host'>;

interface GroupState {
  key: string;
  labels: Record<string, string>;
  /** Group values as they appear in record IDs. */
  idKey: string;
  /** Open buckets per bucket size (index into sizes), by start. */
  buckets: Map<number, Bucket>[];
  /** The bucket of each size the previous record of this group went to: the common case. */
  cur: (Bucket | undefined)[];
  open: number;
}

class Bucket {
  count = 0;
  invalid = 0;
  late = 0;
  n = 0;
  sum = 0;
  min = Infinity;
  max = -Infinity;
  mean = 0;
  m2 = 0;
  firstTs = NaN;
  firstV = 0;
  lastTs = NaN;
  lastV = 0;
  integral = 0;
  outOfOrder = 0;
  emissions = 0;
  dirty = true;

  constructor(
    readonly size: number,
    readonly start: number,
    readonly group: GroupState,
    readonly like: Like,
  ) {}

  add(v: number, ts: number): void {
    this.n++;
    this.sum += v;
    if (v < this.min) this.min = v;
    if (v > this.max) this.max = v;
    // Welford: a running sum of squares loses everything to cancellation for large values.
    const delta = v - this.mean;
    this.mean += delta / this.n;
    this.m2 += delta * (v - this.mean);
    if (Number.isNaN(this.lastTs)) {
      this.firstTs = this.lastTs = ts;
      this.firstV = this.lastV = v;
    } else if (ts >= this.lastTs) {
      this.integral += ((this.lastV + v) / 2) * ((ts - this.lastTs) / 1000);
      this.lastTs = ts;
      this.lastV = v;
    } else {
      this.outOfOrder++;
    }
  }
}

const NULL_KEY = '\u0000';
const KEY_SEPARATOR = '\u0001';
const OVERFLOW_KEY = '\u0002overflow';

function keyPart(v: unknown): string {
  if (v === undefined || v === null) return NULL_KEY;
  if (typeof v === 'string') return v;
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

function labelOf(v: unknown): string {
  return v === undefined || v === null ? '' : keyPart(v);
}

/** A number from a field value: numbers and numeric strings; anything else (or non-finite) is invalid. */
export function numericValue(v: unknown): number | undefined {
  if (typeof v === 'number') return Number.isFinite(v) ? v : undefined;
  if (typeof v === 'string' && v.trim() !== '') {
    const n = Number(v);
    return Number.isFinite(n) ? n : undefined;
  }
  return undefined;
}

function put(values: Record<string, number>, key: string, v: number): void {
  // Sums of huge values can overflow; a point with Infinity would not survive JSON.
  if (Number.isFinite(v)) values[key] = v;
}

class MetricRuntime implements AgentRuntime {
  private readonly name: string;
  private readonly sizes: number[];
  private readonly readers: ((r: PipelineRecord) => unknown)[];
  private readonly readValue: ((r: PipelineRecord) => unknown) | undefined;
  private readonly a: number;
  private readonly b: number;
  private readonly groups = new Map<string, GroupState>();
  /** Per size: open buckets by start, so closing looks only at the few starts that exist. */
  private readonly byStart: Map<number, Bucket[]>[];
  /** Per size: every bucket ending at or before this was closed by the watermark. */
  private readonly closedThrough: number[];
  private maxTs = -Infinity;
  private lastArrival: number | undefined;
  private sawRecords = false;
  private changedSinceIdleFlush = false;
  private overflowWarned = false;
  private points: MetricPoint[] = [];

  constructor(
    private readonly c: MetricConfig,
    private readonly ctx: AgentContext,
  ) {
    this.name = `${ctx.graph}.${ctx.nodeId}.${c.field ?? 'count'}`;
    this.sizes = c.bucketsMinutes.map((m) => m * 60_000);
    this.readers = c.groupBy.map(fieldReader);
    this.readValue = c.field === undefined ? undefined : fieldReader(c.field);
    this.a = c.transform?.a ?? 1;
    this.b = c.transform?.b ?? 0;
    this.byStart = this.sizes.map(() => new Map());
    this.closedThrough = this.sizes.map(() => -Infinity);
  }

  process(batch: PipelineRecord[], out: Outputs): void {
    const sizes = this.sizes;
    const readValue = this.readValue;
    // A record from a clock far ahead goes into its window but does not move the watermark.
    const horizon = watermarkHorizon();
    for (const r of batch) {
      const ts = r.ts;
      if (ts > this.maxTs && ts <= horizon) this.maxTs = ts;
      const g = this.groupOf(r);
      let v: number | undefined;
      if (readValue) {
        v = numericValue(readValue(r));
        if (v !== undefined) v = this.a * v + this.b;
      }
      for (let i = 0; i < sizes.length; i++) {
        const ms = sizes[i]!;
        const start = Math.floor(ts / ms) * ms;
        let bucket = g.cur[i];
        if (bucket === undefined || bucket.start !== start) {
          if (start + ms <= this.closedThrough[i]!) {
            const newest = this.bucket(g, i, Math.floor(this.maxTs / ms) * ms, r);
            newest.late++;
            newest.dirty = true;
            continue;
          }
          bucket = this.bucket(g, i, start, r);
          g.cur[i] = bucket;
        }
        bucket.count++;
        bucket.dirty = true;
        if (readValue) {
          if (v === undefined) bucket.invalid++;
          else bucket.add(v, ts);
        }
      }
    }
    if (batch.length > 0) {
      this.sawRecords = true;
      this.changedSinceIdleFlush = true;
    }
    this.closeUpTo(this.maxTs - this.c.allowedLatenessMs, out);
    this.writePoints();
  }

  tick(now: number, out: Outputs): void {
    if (this.sawRecords || this.lastArrival === undefined) {
      this.lastArrival = now;
      this.sawRecords = false;
    }
    this.closeUpTo(this.maxTs - this.c.allowedLatenessMs, out);
    if (this.changedSinceIdleFlush && now - this.lastArrival >= this.c.idleFlushMs) {
      this.changedSinceIdleFlush = false;
      for (const perSize of this.byStart) for (const list of perSize.values()) for (const b of list) if (b.dirty) this.emit(b, out);
    }
    this.writePoints();
  }

  drain(out: Outputs): void {
    // Closes everything without moving closedThrough, so records after a drain are not all late.
    for (let i = 0; i < this.sizes.length; i++) this.closeSize(i, Infinity, out);
    this.writePoints();
  }

  flush(): Promise<void> {
    return this.ctx.services.metrics.flush();
  }

  private groupOf(r: PipelineRecord): GroupState {
    const readers = this.readers;
    let key = readers.length === 0 ? '' : keyPart(readers[0]!(r));
    for (let i = 1; i < readers.length; i++) key += KEY_SEPARATOR + keyPart(readers[i]!(r));
    let g = this.groups.get(key);
    if (g !== undefined) return g;
    let labels: Record<string, string>;
    if (this.groups.size >= this.c.maxGroups) {
      if (!this.overflowWarned) {
        this.ctx.log.warn({ maxGroups: this.c.maxGroups, metric: this.name }, `metric: more than maxGroups groups; further groups are counted as "${OVERFLOW_LABEL}"`);
        this.overflowWarned = true;
      }
      key = OVERFLOW_KEY;
      g = this.groups.get(key);
      if (g !== undefined) return g;
      labels = Object.fromEntries(this.c.groupBy.map((f) => [f, OVERFLOW_LABEL]));
    } else {
      labels = {};
      for (let i = 0; i < readers.length; i++) labels[this.c.groupBy[i]!] = labelOf(readers[i]!(r));
    }
    g = {
      key,
      labels,
      idKey: this.c.groupBy.map((f) => encodeURIComponent(labels[f]!)).join(','),
      buckets: this.sizes.map(() => new Map()),
      cur: this.sizes.map(() => undefined),
      open: 0,
    };
    this.groups.set(key, g);
    return g;
  }

  private bucket(g: GroupState, size: number, start: number, r: PipelineRecord): Bucket {
    let b = g.buckets[size]!.get(start);
    if (b !== undefined) return b;
    b = new Bucket(size, start, g, { provider: r.provider, stream: r.stream, class: r.class, instance: r.instance, host: r.host });
    g.buckets[size]!.set(start, b);
    g.open++;
    const perSize = this.byStart[size]!;
    const list = perSize.get(start);
    if (list) list.push(b);
    else perSize.set(start, [b]);
    return b;
  }

  private closeUpTo(watermark: number, out: Outputs): void {
    for (let i = 0; i < this.sizes.length; i++) {
      if (watermark <= this.closedThrough[i]!) continue;
      this.closedThrough[i] = watermark;
      this.closeSize(i, watermark, out);
    }
  }

  /** Emits (unless already written unchanged) and forgets the buckets of one size ending by `end`. */
  private closeSize(size: number, end: number, out: Outputs): void {
    const ms = this.sizes[size]!;
    const perSize = this.byStart[size]!;
    const due = [...perSize.keys()].filter((s) => s + ms <= end).sort((x, y) => x - y);
    for (const start of due) {
      for (const b of perSize.get(start)!) {
        if (b.dirty || b.emissions === 0) this.emit(b, out);
        const g = b.group;
        g.buckets[size]!.delete(start);
        if (g.cur[size] === b) g.cur[size] = undefined;
        if (--g.open === 0) this.groups.delete(g.key);
      }
      perSize.delete(start);
    }
  }

  private emit(b: Bucket, out: Outputs): void {
    const ms = this.sizes[b.size]!;
    const values: Record<string, number> = { count: b.count, rate: b.count / (ms / 1000), late: b.late };
    if (this.readValue) {
      values.invalid = b.invalid;
      values.outOfOrder = b.outOfOrder;
      if (b.n > 0) {
        put(values, 'sum', b.sum);
        put(values, 'avg', b.sum / b.n);
        put(values, 'min', b.min);
        put(values, 'max', b.max);
        put(values, 'stddev', Math.sqrt(b.m2 / b.n));
        put(values, 'integral', b.integral);
      }
      if (b.lastTs > b.firstTs) put(values, 'derivative', (b.lastV - b.firstV) / ((b.lastTs - b.firstTs) / 1000));
    }
    b.dirty = false;
    b.emissions++;
    const g = b.group;
    const point: MetricPoint = { name: this.name, bucketStart: b.start, bucketMs: ms, group: { ...g.labels }, values, run: this.ctx.run };
    this.points.push(point);
    const base = `${this.ctx.graph}/${this.ctx.nodeId}@${this.ctx.run}:${this.name}:${ms}:${g.idKey}:${b.start}`;
    const labelText = Object.entries(g.labels)
      .map(([k, v]) => `${k}=${v}`)
      .join(',');
    const valueText = Object.entries(values)
      .map(([k, v]) => `${k}=${v}`)
      .join(' ');
    out.emit(
      'out',
      derivedRecord({
        id: b.emissions === 1 ? base : `${base}#${b.emissions}`,
        kind: 'metric',
        like: b.like,
        ts: b.start,
        data: `${this.name}{${labelText}} ${new Date(b.start).toISOString()} ${ms / 60_000}m ${valueText}`,
        fields: { name: this.name, bucketStart: b.start, bucketEnd: b.start + ms, bucketMs: ms, group: { ...g.labels }, ...values },
      }),
    );
  }

  private writePoints(): void {
    if (this.points.length === 0) return;
    const points = this.points;
    this.points = [];
    this.ctx.services.metrics.write(points);
  }
}

export const metric = defineAgent<MetricConfig>({
  type: 'metric',
  description: 'Counts, rates and statistics of a field per group in 1/5/15/30/60-minute event-time buckets',
  configSchema: MetricConfigSchema,
  ports: () => ['out'],
  sink: true,
  readsOnly: true,
  create: (c, ctx) => new MetricRuntime(c, ctx),
});
