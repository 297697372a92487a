/**
 * Reading an archive: what is there (`listArchive`, from the hour indexes alone) and the records
 * themselves (`readArchive`). Readers read each segment only up to the committed length its index
 * gives, so they never see a half-written flush, and use the index to skip segments that cannot
 * match the filter.
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import zlib from 'node:zlib';
import { errorMessage } from '../../core/errors.js';
import { HourIndexSchema, type SegmentEntry } from './archive-index.js';
import { decodeName, decodeStreamDir, HOUR_MS, hourStart, INDEX_SUFFIX, WRITERS_DIR } from './archive-layout.js';
import { archivedData, type ArchivedRecord } from './archive-line.js';
import { openArchived } from './archive-sealing.js';
import type { StreamKeyring } from '../../gateway/record-crypto.js';

export const ARCHIVE_QUERY_DEFAULTS = {
  /**
   * Records of one stream-hour are sorted in memory; an hour whose segments hold more than this many
   * uncompressed bytes is read in several passes over time slices, so memory stays near this bound.
   */
  sortBufferBytes: 256 * 1024 * 1024,
};

export interface ArchiveFilter {
  provider?: string;
  /** A stream name, or a prefix ending in "/" (`myapp/` matches `myapp/error`, `myapp/web/access`). */
  stream?: string;
  class?: string;
  instance?: string;
  /** Records with ts >= from (ms). */
  from?: number;
  /** Records with ts < to (ms). */
  to?: number;
  /** Records whose data (as text) matches. */
  grep?: RegExp | string;
}

export interface ReadOptions {
  /** Unreadable index files, damaged segments: reported here and skipped. */
  onProblem?: (message: string) => void;
  sortBufferBytes?: number;
  /**
   * Stream keys: records of encrypted streams are opened with them before the filter sees them.
   * A record whose key is not here stays sealed, with `sealed` saying so (archive-sealing.ts).
   */
  keys?: StreamKeyring;
}

/** One segment as its hour index describes it. */
export interface ArchiveSegmentInfo extends SegmentEntry {
  provider: string;
  stream: string;
  date: string;
  hour: string;
  writer: string;
  /** The segment's path relative to the archive root. */
  path: string;
}

/** The segments that may hold records matching `filter`, in provider, stream, time order. */
export async function listArchive(root: string, filter: ArchiveFilter = {}, opts: ReadOptions = {}): Promise<ArchiveSegmentInfo[]> {
  const problem = opts.onProblem ?? (() => undefined);
  const from = filter.from ?? -Infinity;
  const to = filter.to ?? Infinity;
  const out: ArchiveSegmentInfo[] = [];
  for (const providerDir of await dirs(root, problem)) {
    if (providerDir === WRITERS_DIR) continue;
    const provider = decodeName(providerDir);
    if (filter.provider !== undefined && provider !== filter.provider) continue;
    for (const streamDir of await dirs(path.join(root, providerDir), problem)) {
      const stream = decodeStreamDir(streamDir);
      if (!streamMatches(stream, filter.stream)) continue;
      for (const date of await dirs(path.join(root, providerDir, streamDir), problem)) {
        const day = hourStart(date, '00');
        if (Number.isNaN(day) || day + 24 * HOUR_MS <= from || day >= to) continue;
        for (const hour of await dirs(path.join(root, providerDir, streamDir, date), problem)) {
          const start = hourStart(date, hour);
          if (Number.isNaN(start) || start + HOUR_MS <= from || start >= to) continue;
          const rel = `${providerDir}/${streamDir}/${date}/${hour}`;
          for (const seg of await hourSegments(root, rel, problem)) {
            const e = seg.entry;
            if (e.maxTs < from || e.minTs >= to) continue;
            if (filter.class !== undefined && !Object.hasOwn(e.classes, filter.class)) continue;
            if (filter.instance !== undefined && !Object.hasOwn(e.instances, filter.instance)) continue;
            out.push({ ...e, provider, stream, date, hour, writer: seg.writer, path: `${rel}/${seg.entry.file}` });
          }
        }
      }
    }
  }
  return out.sort((a, b) => cmp(a.provider, b.provider) || cmp(a.stream, b.stream) || cmp(a.date, b.date) || cmp(a.hour, b.hour) || cmp(a.file, b.file));
}

/**
 * The records matching `filter`, stream by stream, in time order within each stream (ties keep
 * their order in the segments).
 */
export async function* readArchive(root: string, filter: ArchiveFilter = {}, opts: ReadOptions = {}): AsyncGenerator<ArchivedRecord> {
  const problem = opts.onProblem ?? (() => undefined);
  const bound = opts.sortBufferBytes ?? ARCHIVE_QUERY_DEFAULTS.sortBufferBytes;
  const match = recordMatcher(filter);
  const segments = await listArchive(root, filter, opts);
  for (let i = 0; i < segments.length; ) {
    // One stream-hour at a time: hour directories never overlap in time.
    const first = segments[i] as ArchiveSegmentInfo;
    let j = i;
    while (j < segments.length && sameHour(segments[j] as ArchiveSegmentInfo, first)) j++;
    const hour = segments.slice(i, j);
    i = j;
    const bytes = hour.reduce((n, s) => n + s.bytes, 0);
    const lo = Math.min(...hour.map((s) => s.minTs));
    const hi = Math.max(...hour.map((s) => s.maxTs)) + 1;
    const passes = Math.max(1, Math.min(Math.ceil(bytes / Math.max(1, bound)), hi - lo));
    const width = Math.ceil((hi - lo) / passes);
    for (let p = 0; p < passes; p++) {
      const a = passes === 1 ? -Infinity : lo + p * width;
      const b = passes === 1 ? Infinity : p === passes - 1 ? hi : lo + (p + 1) * width;
      const batch: ArchivedRecord[] = [];
      for (const seg of hour) {
        if (seg.maxTs < a || seg.minTs >= b) continue;
        for await (const r of readSegment(path.join(root, seg.path), seg.length, problem)) {
          if (r.enc !== undefined) openArchived(r, opts.keys);
          // A record without a usable ts (filed under its arrival hour) goes with the first slice.
          if (match(r) && (passes === 1 || (Number.isFinite(r.ts) ? r.ts >= a && r.ts < b : p === 0))) batch.push(r);
        }
      }
      batch.sort(byTs);
      yield* batch;
    }
  }
}

/** The committed lines of one segment, parsed; reads `length` bytes and no more. */
export async function* readSegment(file: string, length: number, onProblem: (message: string) => void = () => undefined): AsyncGenerator<ArchivedRecord> {
  if (length <= 0) return;
  const input = fs.createReadStream(file, { start: 0, end: length - 1 });
  const gunzip = zlib.createGunzip();
  input.on('error', (err) => gunzip.destroy(err));
  input.pipe(gunzip);
  let rest: Buffer | undefined;
  let lineNo = 0;
  const parse = (buf: Buffer, start: number, end: number): ArchivedRecord | undefined => {
    lineNo++;
    try {
      const r = JSON.parse(buf.toString('utf8', start, end)) as ArchivedRecord;
      if (typeof r === 'object' && r !== null && typeof r.data === 'string') return r;
    } catch {
      // reported below
    }
    onProblem(`${file}: line ${lineNo} is not an archived record; skipped`);
    return undefined;
  };
  try {
    for await (const chunk of gunzip as AsyncIterable<Buffer>) {
      const buf = rest ? Buffer.concat([rest, chunk]) : chunk;
      let start = 0;
      for (let nl = buf.indexOf(10, start); nl !== -1; nl = buf.indexOf(10, start)) {
        const r = parse(buf, start, nl);
        start = nl + 1;
        if (r) yield r;
      }
      rest = start < buf.length ? buf.subarray(start) : undefined;
    }
    if (rest) {
      const r = parse(rest, 0, rest.length);
      if (r) yield r;
    }
  } catch (err) {
    onProblem(`${file}: cannot read past line ${lineNo} (${errorMessage(err)}); the rest of this segment is skipped`);
  } finally {
    input.destroy();
    gunzip.destroy();
  }
}

/** A predicate for the record-level parts of a filter. */
export function recordMatcher(filter: ArchiveFilter): (r: ArchivedRecord) => boolean {
  const grep = filter.grep === undefined ? undefined : typeof filter.grep === 'string' ? new RegExp(filter.grep) : new RegExp(filter.grep.source, filter.grep.flags.replace(/[gy]/g, ''));
  const from = filter.from ?? -Infinity;
  const to = filter.to ?? Infinity;
  return (r) =>
    (filter.provider === undefined || r.provider === filter.provider) &&
    streamMatches(r.stream, filter.stream) &&
    (filter.class === undefined || r.class === filter.class) &&
    (filter.instance === undefined || r.instance === filter.instance) &&
    r.ts >= from &&
    r.ts < to &&
    // A record still sealed has no text to match.
    (grep === undefined || (r.enc === undefined && grep.test(r.dataEncoding === 'base64' ? archivedData(r).toString('utf8') : r.data)));
}

export function streamMatches(stream: string, want: string | undefined): boolean {
  if (want === undefined) return true;
  return want.endsWith('/') ? stream.startsWith(want) : stream === want;
}

interface IndexedSegment {
  writer: string;
  entry: SegmentEntry;
}

async function hourSegments(root: string, rel: string, problem: (message: string) => void): Promise<IndexedSegment[]> {
  const dir = path.join(root, rel);
  let names: string[];
  try {
    names = await fsp.readdir(dir);
  } catch (err) {
    problem(`cannot list ${dir}: ${errorMessage(err)}`);
    return [];
  }
  const out: IndexedSegment[] = [];
  for (const name of names.sort()) {
    if (!name.endsWith(INDEX_SUFFIX)) continue;
    const file = path.join(dir, name);
    let parsed;
    try {
      parsed = HourIndexSchema.safeParse(JSON.parse(await fsp.readFile(file, 'utf8')));
    } catch (err) {
      problem(`cannot read index ${file}: ${errorMessage(err)}; its segments are skipped`);
      continue;
    }
    if (!parsed.success) {
      problem(`index ${file} is not a valid archive index; its segments are skipped`);
      continue;
    }
    for (const entry of parsed.data.segments) {
      out.push({ writer: parsed.data.writer, entry });
    }
  }
  return out;
}

async function dirs(dir: string, problem: (message: string) => void): Promise<string[]> {
  try {
    const entries = await fsp.readdir(dir, { withFileTypes: true });
    return entries.filter((e) => e.isDirectory() && !e.name.startsWith('.')).map((e) => e.name);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') problem(`cannot list ${dir}: ${errorMessage(err)}`);
    return [];
  }
}

function sameHour(a: ArchiveSegmentInfo, b: ArchiveSegmentInfo): boolean {
  return a.provider === b.provider && a.stream === b.stream && a.date === b.date && a.hour === b.hour;
}

function byTs(x: ArchivedRecord, y: ArchivedRecord): number {
  return (Number.isFinite(x.ts) ? x.ts : -Infinity) - (Number.isFinite(y.ts) ? y.ts : -Infinity) || 0;
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
