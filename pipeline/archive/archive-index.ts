/**
 * The archive's small JSON files (docs/archive.md, "Index" and "Writer state"):
 *
 * - the hour index `<hour dir>/<writerId>.index.json`: for each of that writer's segments there,
 *   the committed length and what the segment holds, so readers skip segments without opening them;
 * - the writer state `_writers/<writerId>.json`: the commit point. It lists the segments of the
 *   hour directories the writer still writes to, with their committed lengths, and the
 *   de-duplication marks; the hour indexes are written after it and can be rebuilt from it.
 *
 * Both are parsed with strict schemas when read: they are input like any other file on disk.
 */
import { z } from 'zod';
import type { PipelineRecord } from '../record.js';

export const FORMAT_VERSION = 1;

export const SegmentEntrySchema = z.strictObject({
  file: z.string().describe('Segment file name in the hour directory'),
  length: z.number().int().nonnegative().describe('Committed compressed length: read no further'),
  bytes: z.number().int().nonnegative().describe('Uncompressed bytes of the committed lines'),
  records: z.number().int().nonnegative().describe('Committed records'),
  minTs: z.number().describe('Smallest record ts (ms)'),
  maxTs: z.number().describe('Largest record ts (ms)'),
  classes: z.record(z.string(), z.number()).describe('Records per class; "" counts records without a class'),
  instances: z.record(z.string(), z.tuple([z.number(), z.number()])).describe('Per instance: [min seq, max seq]'),
  versions: z.record(z.string(), z.array(z.number())).describe('Per graph: the graph versions that processed the records'),
});
export type SegmentEntry = z.infer<typeof SegmentEntrySchema>;

export const HourIndexSchema = z.strictObject({
  format: z.literal(FORMAT_VERSION),
  writer: z.string(),
  provider: z.string(),
  stream: z.string(),
  updatedAt: z.string(),
  segments: z.array(SegmentEntrySchema),
});
export type HourIndex = z.infer<typeof HourIndexSchema>;

/** High-water seq per provider → stream → instance, with the wall time it last moved (for pruning). */
export type Marks = Record<string, Record<string, Record<string, [seq: number, seenAt: number]>>>;

export const WriterStateSchema = z.strictObject({
  format: z.literal(FORMAT_VERSION),
  writer: z.string(),
  host: z.string(),
  pid: z.number().int(),
  /** Linux boot ID: a pid from an earlier boot says nothing about a process alive now. */
  bootId: z.string().nullable(),
  updatedAt: z.string(),
  nextSegment: z.number().int().nonnegative(),
  /**
   * Every segment in the hour directories the writer still writes to (open ones at their committed
   * length): recovery cuts those segments back and rebuilds those directories' indexes from this.
   */
  segments: z.array(z.strictObject({ dir: z.string(), entry: SegmentEntrySchema })),
  marks: z.record(z.string(), z.record(z.string(), z.record(z.string(), z.tuple([z.number(), z.number()])))),
  derivedIds: z.record(z.string(), z.number()),
});
export type WriterState = z.infer<typeof WriterStateSchema>;

export function emptyEntry(file: string): SegmentEntry {
  return { file, length: 0, bytes: 0, records: 0, minTs: 0, maxTs: 0, classes: {}, instances: {}, versions: {} };
}

/** What a segment's pending (not yet committed) records add to its entry; updated per record. */
export class SegmentStats {
  records = 0;
  minTs = Infinity;
  maxTs = -Infinity;
  readonly classes = new Map<string, number>();
  readonly instances = new Map<string, [number, number]>();
  readonly versions = new Map<string, Set<number>>();

  /** `ts` is the time the record is filed under (its own, unless that is no valid time). */
  add(r: PipelineRecord, ts: number): void {
    this.records++;
    if (ts < this.minTs) this.minTs = ts;
    if (ts > this.maxTs) this.maxTs = ts;
    const cls = r.class ?? '';
    this.classes.set(cls, (this.classes.get(cls) ?? 0) + 1);
    const seq = Number.isFinite(r.seq) ? r.seq : 0;
    const range = this.instances.get(r.instance);
    if (range === undefined) this.instances.set(r.instance, [seq, seq]);
    else {
      if (seq < range[0]) range[0] = seq;
      if (seq > range[1]) range[1] = seq;
    }
  }

  addVersion(graph: string, version: number): void {
    let set = this.versions.get(graph);
    if (!set) this.versions.set(graph, (set = new Set()));
    set.add(version);
  }

  /** Folds `other` (stats taken earlier, whose flush failed) into these. */
  absorb(other: SegmentStats): void {
    this.records += other.records;
    this.minTs = Math.min(this.minTs, other.minTs);
    this.maxTs = Math.max(this.maxTs, other.maxTs);
    for (const [c, n] of other.classes) this.classes.set(c, (this.classes.get(c) ?? 0) + n);
    for (const [i, [lo, hi]] of other.instances) {
      const range = this.instances.get(i);
      if (range === undefined) this.instances.set(i, [lo, hi]);
      else this.instances.set(i, [Math.min(range[0], lo), Math.max(range[1], hi)]);
    }
    for (const [g, vs] of other.versions) for (const v of vs) this.addVersion(g, v);
  }
}

/** The entry after `stats` were committed in `length` more compressed and `bytes` more raw bytes. */
export function mergeEntry(e: SegmentEntry, stats: SegmentStats, length: number, bytes: number): SegmentEntry {
  const classes = { ...e.classes };
  for (const [c, n] of stats.classes) classes[c] = (classes[c] ?? 0) + n;
  const instances: Record<string, [number, number]> = { ...e.instances };
  for (const [i, [lo, hi]] of stats.instances) {
    const range = instances[i];
    instances[i] = range ? [Math.min(range[0], lo), Math.max(range[1], hi)] : [lo, hi];
  }
  const versions: Record<string, number[]> = { ...e.versions };
  for (const [g, vs] of stats.versions) versions[g] = [...new Set([...(versions[g] ?? []), ...vs])].sort((a, b) => a - b);
  const first = e.records === 0;
  return {
    file: e.file,
    length: e.length + length,
    bytes: e.bytes + bytes,
    records: e.records + stats.records,
    minTs: first ? stats.minTs : Math.min(e.minTs, stats.minTs),
    maxTs: first ? stats.maxTs : Math.max(e.maxTs, stats.maxTs),
    classes,
    instances,
    versions,
  };
}
