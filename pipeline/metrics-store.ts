/**
 * The embedded-mode metric store: a MetricSink that appends points as NDJSON lines to
 * `<dir>/points-YYYY-MM-DD.ndjson` (one file per UTC day of the bucket start), and `queryMetrics`,
 * which `logfsctl metrics` uses to read them back.
 *
 * `write` only buffers; `flush` appends everything buffered and fsyncs once per file touched (in
 * practice one), so the metric node's flush costs one fsync per batch, not one per point.
 *
 * Points are combined when reading, not when writing. Within one run of a metric node (its
 * runtime: AgentContext.run) a point is identified by (name, bucketStart, bucketMs, group) and the
 * last line written wins: the node writes a bucket again, cumulatively, when it changes after an
 * idle flush. Points of different runs of the same bucket add up (counts and sums add, minimum and
 * maximum combine, the mean and standard deviation are pooled): a new graph version, a second
 * worker or a restarted one each count their own records. All lines of one point land in the same
 * day file (the day of its bucket start), so file order is write order.
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import readline from 'node:readline';
import { z } from 'zod';
import { errorMessage, LogfsError } from '../core/errors.js';
import type { MetricPoint, MetricSink } from './agent.js';

const DAY_MS = 86_400_000;
const FILE_RE = /^points-(\d{4}-\d{2}-\d{2})\.ndjson$/;

export function pointsFileName(bucketStart: number): string {
  return `points-${new Date(bucketStart).toISOString().slice(0, 10)}.ndjson`;
}

export interface MetricsStoreOptions {
  /** Directory of the day files; created on the first flush. */
  dir: string;
}

export class MetricsStore implements MetricSink {
  /** Lines not yet appended, by file name. */
  private pending = new Map<string, string[]>();
  private readonly handles = new Map<string, fsp.FileHandle>();
  private queue: Promise<void> = Promise.resolve();
  private dirReady = false;

  constructor(readonly dir: string) {}

  /** Creates the directory now, so a store that cannot work fails at start rather than at the first flush. */
  static async open(opts: MetricsStoreOptions): Promise<MetricsStore> {
    const store = new MetricsStore(opts.dir);
    try {
      await fsp.mkdir(opts.dir, { recursive: true });
    } catch (err) {
      throw new LogfsError('LOGFS_E_ARCHIVE_IO', `cannot create the metric store directory ${opts.dir}: ${errorMessage(err)}; check the --data directory and its permissions`, { cause: err });
    }
    store.dirReady = true;
    return store;
  }

  write(points: readonly MetricPoint[]): void {
    for (const p of points) {
      const file = pointsFileName(p.bucketStart);
      let lines = this.pending.get(file);
      if (!lines) this.pending.set(file, (lines = []));
      lines.push(JSON.stringify({ name: p.name, bucketStart: p.bucketStart, bucketMs: p.bucketMs, group: p.group, values: p.values, ...(p.run === undefined ? {} : { run: p.run }) }));
    }
  }

  /** Appends and fsyncs everything written so far; concurrent calls run one after the other. */
  flush(): Promise<void> {
    const batch = this.pending;
    this.pending = new Map();
    const run = this.queue.then(() => this.append(batch));
    // A failed flush must not poison the ones after it; its caller sees the error.
    this.queue = run.catch(() => {});
    return run;
  }

  async close(): Promise<void> {
    await this.flush();
    for (const fh of this.handles.values()) await fh.close();
    this.handles.clear();
  }

  private async append(batch: Map<string, string[]>): Promise<void> {
    if (batch.size === 0) return;
    const touched = new Set(batch.keys());
    try {
      if (!this.dirReady) {
        await fsp.mkdir(this.dir, { recursive: true });
        this.dirReady = true;
      }
      let created = false;
      for (const [file, lines] of batch) {
        let fh = this.handles.get(file);
        if (!fh) {
          const opened = await openForAppend(path.join(this.dir, file));
          fh = opened.fh;
          created ||= opened.created;
          this.handles.set(file, fh);
        }
        await fh.appendFile(lines.join('\n') + '\n');
        await fh.sync();
        batch.delete(file);
      }
      // A new day file is durable only once its directory entry is.
      if (created) await fsyncDir(this.dir);
      // Only the day files of this flush stay open: usually today's, around midnight yesterday's too.
      for (const [file, fh] of this.handles) {
        if (touched.has(file)) continue;
        this.handles.delete(file);
        await fh.close();
      }
    } catch (err) {
      // Put back what was not written so a retried flush writes it; a line written twice is a
      // duplicate, which readers resolve. Reopen afterwards: the file may end in a torn line.
      for (const [file, lines] of batch) this.pending.set(file, [...lines, ...(this.pending.get(file) ?? [])]);
      for (const fh of this.handles.values()) await fh.close().catch(() => {});
      this.handles.clear();
      throw new LogfsError('LOGFS_E_ARCHIVE_IO', `could not write metric points to ${this.dir}: ${errorMessage(err)}; check free space and permissions`, {
        retriable: true,
        cause: err,
      });
    }
  }
}

/** Opens a file for appending; a torn last line (crash mid-write) is ended first. */
export async function openForAppend(file: string): Promise<{ fh: fsp.FileHandle; created: boolean }> {
  let fh: fsp.FileHandle;
  let created = false;
  try {
    fh = await fsp.open(file, 'ax+', 0o640);
    created = true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    fh = await fsp.open(file, 'a+');
  }
  try {
    const { size } = await fh.stat();
    if (size > 0) {
      const last = Buffer.alloc(1);
      await fh.read(last, 0, 1, size - 1);
      if (last[0] !== 0x0a) await fh.appendFile('\n');
    }
  } catch (err) {
    await fh.close();
    throw err;
  }
  return { fh, created };
}

export async function fsyncDir(dir: string): Promise<void> {
  const fh = await fsp.open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

export interface MetricQuery {
  /** Exact name, or a glob where `*` matches any characters. */
  name?: string;
  /** Every label given must be present with this value. */
  labels?: Record<string, string>;
  /** Bucket start at or after this (ms since the epoch). */
  from?: number;
  /** Bucket start before this. */
  to?: number;
  bucketMs?: number;
}

export interface QueryOptions {
  /** Called for each line that is not a metric point (a torn write after a crash). */
  onBadLine?: (file: string, line: number) => void;
}

const StoredPointSchema = z.object({
  name: z.string(),
  bucketStart: z.number(),
  bucketMs: z.number(),
  group: z.record(z.string(), z.string()),
  values: z.record(z.string(), z.number()),
  run: z.string().optional(),
});

function groupKey(group: Record<string, string>): string {
  return JSON.stringify(Object.keys(group).sort().map((k) => [k, group[k]]));
}

/** `*` matches any run of characters; everything else is literal. */
export function globToRegExp(glob: string): RegExp {
  return new RegExp(`^${glob.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`);
}

/** Points matching the query, one per (name, bucketStart, bucketMs, group), by time (see the module comment). */
export async function queryMetrics(dir: string, query: MetricQuery = {}, opts: QueryOptions = {}): Promise<MetricPoint[]> {
  let names: string[];
  try {
    names = await fsp.readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new LogfsError('LOGFS_E_ARCHIVE_IO', `could not read the metric store ${dir}: ${errorMessage(err)}`, { cause: err });
  }
  const from = query.from ?? -Infinity;
  const to = query.to ?? Infinity;
  const nameRe = query.name === undefined ? undefined : globToRegExp(query.name);
  const labels = Object.entries(query.labels ?? {});
  const files = names
    .map((n) => ({ n, m: FILE_RE.exec(n) }))
    .filter((f): f is { n: string; m: RegExpExecArray } => {
      if (!f.m) return false;
      const dayStart = Date.parse(`${f.m[1]}T00:00:00Z`);
      return dayStart + DAY_MS > from && dayStart < to;
    })
    .map((f) => f.n)
    .sort();
  const latest = new Map<string, MetricPoint>();
  for (const file of files) {
    const full = path.join(dir, file);
    const lines = readline.createInterface({ input: fs.createReadStream(full), crlfDelay: Infinity });
    let lineNo = 0;
    for await (const line of lines) {
      lineNo++;
      if (line === '') continue;
      let parsed: z.infer<typeof StoredPointSchema>;
      try {
        parsed = StoredPointSchema.parse(JSON.parse(line));
      } catch {
        opts.onBadLine?.(full, lineNo);
        continue;
      }
      const p: MetricPoint = parsed;
      if (p.bucketStart < from || p.bucketStart >= to) continue;
      if (query.bucketMs !== undefined && p.bucketMs !== query.bucketMs) continue;
      if (nameRe && !nameRe.test(p.name)) continue;
      if (labels.some(([k, v]) => p.group[k] !== v)) continue;
      // Last write wins within a run: see the module comment.
      latest.set(`${p.name}\u0000${p.bucketMs}\u0000${p.bucketStart}\u0000${groupKey(p.group)}\u0000${p.run ?? ''}`, p);
    }
  }
  const byBucket = new Map<string, MetricPoint[]>();
  for (const p of latest.values()) {
    const key = `${p.name}\u0000${p.bucketMs}\u0000${p.bucketStart}\u0000${groupKey(p.group)}`;
    const list = byBucket.get(key);
    if (list) list.push(p);
    else byBucket.set(key, [p]);
  }
  return [...byBucket.values()].map(combineRuns).sort(
    (a, b) => a.bucketStart - b.bucketStart || a.bucketMs - b.bucketMs || a.name.localeCompare(b.name) || groupKey(a.group).localeCompare(groupKey(b.group)),
  );
}

const ADDED = ['count', 'late', 'invalid', 'outOfOrder', 'sum', 'integral'];

/** One point from the points of several runs for the same bucket and group. */
export function combineRuns(points: MetricPoint[]): MetricPoint {
  if (points.length === 1) {
    const { run: _run, ...only } = points[0]!;
    return only;
  }
  const first = points[0]!;
  const values: Record<string, number> = {};
  for (const k of ADDED) if (points.some((p) => p.values[k] !== undefined)) values[k] = points.reduce((n, p) => n + (p.values[k] ?? 0), 0);
  values.rate = (values.count ?? 0) / (first.bucketMs / 1000);
  const withMin = points.filter((p) => p.values.min !== undefined);
  if (withMin.length) values.min = Math.min(...withMin.map((p) => p.values.min!));
  const withMax = points.filter((p) => p.values.max !== undefined);
  if (withMax.length) values.max = Math.max(...withMax.map((p) => p.values.max!));
  // Values that were numeric: count minus those that were not (invalid).
  const measured = points.filter((p) => p.values.avg !== undefined).map((p) => ({ n: (p.values.count ?? 0) - (p.values.invalid ?? 0), avg: p.values.avg!, sd: p.values.stddev ?? 0 }));
  const n = measured.reduce((t, m) => t + m.n, 0);
  if (n > 0) {
    const avg = measured.reduce((t, m) => t + m.n * m.avg, 0) / n;
    values.avg = avg;
    const sumSquares = measured.reduce((t, m) => t + m.n * (m.sd * m.sd + m.avg * m.avg), 0);
    values.stddev = Math.sqrt(Math.max(0, sumSquares / n - avg * avg));
  }
  // A derivative does not add up: the last run's stands.
  const last = [...points].reverse().find((p) => p.values.derivative !== undefined);
  if (last) values.derivative = last.values.derivative!;
  return { name: first.name, bucketStart: first.bucketStart, bucketMs: first.bucketMs, group: first.group, values };
}

/**
 * Parses the selector of `logfsctl metrics`: `name{label=value,...}`, where the name may contain
 * `*`, may be empty (every metric), and the braces are optional. Values may be double-quoted.
 */
export function parseMetricSelector(text: string): { name?: string; labels: Record<string, string> } {
  const m = /^\s*([^{}\s]*)\s*(?:\{(.*)\})?\s*$/.exec(text);
  if (!m) throw selectorError(text, 'expected name{label=value,...}');
  const labels: Record<string, string> = {};
  const body = m[2]?.trim() ?? '';
  if (body !== '') {
    const pair = /\s*([A-Za-z_][\w.-]*)\s*=\s*("(?:[^"\\]|\\.)*"|[^,"]*?)\s*(?:,|$)/y;
    let pos = 0;
    while (pos < body.length) {
      pair.lastIndex = pos;
      const p = pair.exec(body);
      if (!p || p.index !== pos || pair.lastIndex === pos) throw selectorError(text, `cannot read a label=value pair at "${body.slice(pos)}"`);
      const raw = p[2]!;
      labels[p[1]!] = raw.startsWith('"') ? (JSON.parse(raw) as string) : raw;
      pos = pair.lastIndex;
    }
  }
  return { name: m[1] === '' ? undefined : m[1], labels };
}

function selectorError(text: string, why: string): LogfsError {
  return new LogfsError('LOGFS_E_CONFIG', `bad metric query "${text}": ${why}; write it as name{label=value,...}, e.g. 'web.*.count{class=error}'`);
}
