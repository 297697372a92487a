/**
 * The archive as the console browses it: levels provider → stream → class → instance → hour, from
 * the hour indexes alone (pipeline/archive listArchive, as `logfsctl archive ls`), and pages of
 * records (readArchive, as `logfsctl archive query`) with an opaque cursor. Records of encrypted
 * streams are opened with the keys of the streams the caller may see (readArchive's `keys`).
 */
import fsp from 'node:fs/promises';
import path from 'node:path';
import { LogfsError } from '../../core/errors.js';
import { listArchive, readArchive, type ArchivedRecord, type ArchiveFilter, type ArchiveSegmentInfo } from '../../pipeline/archive/index.js';
import type { StreamKeyring } from '../../gateway/record-crypto.js';
import type { ArchiveTree } from '../api-schemas.js';

export const ARCHIVE_BROWSE_DEFAULTS = { archive: 'default', pageSize: 100 } as const;

const ARCHIVE_NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;

export function archiveRootOf(dir: string, name: string): string {
  if (!ARCHIVE_NAME.test(name)) throw new LogfsError('LOGFS_E_CONFIG', `"${name}" is not an archive name: use lower-case letters, digits and "-"`);
  return path.join(dir, name);
}

export async function archiveNames(dir: string): Promise<string[]> {
  const entries = await fsp.readdir(dir, { withFileTypes: true }).catch(() => []);
  return entries.filter((e) => e.isDirectory() && ARCHIVE_NAME.test(e.name)).map((e) => e.name).sort();
}

export interface TreeQuery {
  provider?: string;
  stream?: string;
  /** "" selects records without a class. */
  class?: string;
  instance?: string;
}

type Item = ArchiveTree['items'][number];

function item(key: string, label: string): Item {
  return { key, label, records: 0, bytes: 0, segments: 0, from: null, to: null };
}

function add(it: Item, s: ArchiveSegmentInfo, records: number | null, bytes: number | null): void {
  it.segments += 1;
  it.records = it.records === null || records === null ? null : it.records + records;
  it.bytes = it.bytes === null || bytes === null ? null : it.bytes + bytes;
  it.from = it.from === null ? s.minTs : Math.min(it.from, s.minTs);
  it.to = it.to === null ? s.maxTs : Math.max(it.to, s.maxTs);
}

/** The next level below what `q` selects, with counts from the indexes. */
export async function archiveTree(root: string, q: TreeQuery, onProblem: (m: string) => void): Promise<Omit<ArchiveTree, 'archives'>> {
  const filter: ArchiveFilter = {};
  if (q.provider !== undefined) filter.provider = q.provider;
  if (q.stream !== undefined) filter.stream = q.stream;
  if (q.class !== undefined) filter.class = q.class;
  if (q.instance !== undefined) filter.instance = q.instance;
  const segments = await listArchive(root, filter, { onProblem });
  const level: ArchiveTree['level'] = q.provider === undefined ? 'provider' : q.stream === undefined ? 'stream' : q.class === undefined ? 'class' : q.instance === undefined ? 'instance' : 'hour';
  const items = new Map<string, Item>();
  const get = (key: string, label = key): Item => {
    let it = items.get(key);
    if (!it) items.set(key, (it = item(key, label)));
    return it;
  };
  for (const s of segments) {
    // Counts are exact while no class or instance narrows a segment; then only the index's per-class count is.
    const classCount = q.class === undefined ? s.records : (s.classes[q.class] ?? 0);
    const exactBytes = q.class === undefined && q.instance === undefined ? s.bytes : null;
    switch (level) {
      case 'provider':
        add(get(s.provider), s, s.records, s.bytes);
        break;
      case 'stream':
        add(get(s.stream), s, s.records, s.bytes);
        break;
      case 'class':
        for (const [c, n] of Object.entries(s.classes)) add(get(c, c === '' ? '(no class)' : c), s, n, null);
        break;
      case 'instance':
        for (const [inst, [lo, hi]] of Object.entries(s.instances)) {
          const it = get(inst);
          // With one instance in the segment its records are the class's; with several, unknown.
          add(it, s, Object.keys(s.instances).length === 1 ? classCount : null, null);
          const [first = lo, last = hi] = it.seq ?? [];
          it.seq = [Math.min(first, lo), Math.max(last, hi)];
        }
        break;
      case 'hour': {
        const start = new Date(`${s.date}T${s.hour}:00:00.000Z`).toISOString();
        add(get(start), s, Object.keys(s.instances).length === 1 ? classCount : null, exactBytes);
        break;
      }
    }
  }
  const sorted = [...items.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return { level, items: sorted };
}

export interface RecordQuery extends TreeQuery {
  from?: number;
  to?: number;
  grep?: string;
  limit: number;
  after?: string;
}

interface Cursor {
  /** Records already returned. */
  n: number;
  /** ID (provider/stream/id) of the last one, to check the position is still right. */
  last: string;
}

function recordKey(r: ArchivedRecord): string {
  return `${r.provider}\u0000${r.stream}\u0000${r.id}`;
}

function encodeCursor(c: Cursor): string {
  return Buffer.from(JSON.stringify(c)).toString('base64url');
}

function decodeCursor(text: string): Cursor {
  try {
    const c = JSON.parse(Buffer.from(text, 'base64url').toString('utf8')) as Cursor;
    if (Number.isInteger(c.n) && c.n > 0 && typeof c.last === 'string') return c;
  } catch {
    // below
  }
  throw new LogfsError('LOGFS_E_CONFIG', 'after= is not a cursor this service gave out; start again without it');
}

/**
 * One page of records, in the archive's order (stream by stream, by time within each). The cursor
 * counts records; if the archive changed under it (the record at the count is not the one the
 * cursor names), the page starts after that record wherever it is now.
 */
export async function archivePage(
  root: string,
  q: RecordQuery,
  keys: StreamKeyring | undefined,
  onProblem: (m: string) => void,
): Promise<{ records: ArchivedRecord[]; next?: string }> {
  const filter: ArchiveFilter = {};
  if (q.provider !== undefined) filter.provider = q.provider;
  if (q.stream !== undefined) filter.stream = q.stream;
  // readArchive compares class with ===, and records without a class have null.
  if (q.class !== undefined && q.class !== '') filter.class = q.class;
  if (q.instance !== undefined) filter.instance = q.instance;
  if (q.from !== undefined) filter.from = q.from;
  if (q.to !== undefined) filter.to = q.to;
  if (q.grep !== undefined) {
    try {
      filter.grep = new RegExp(q.grep);
    } catch (err) {
      throw new LogfsError('LOGFS_E_CONFIG', `grep "${q.grep}" is not a regular expression: ${(err as Error).message}`);
    }
  }
  const cursor = q.after === undefined ? undefined : decodeCursor(q.after);
  const match = q.class === '' ? (r: ArchivedRecord) => r.class === null : () => true;
  const page = async (skipUntil: (r: ArchivedRecord, i: number) => boolean | 'lost'): Promise<{ records: ArchivedRecord[]; more: boolean; count: number } | 'lost'> => {
    const records: ArchivedRecord[] = [];
    let i = 0;
    let skipping = cursor !== undefined;
    for await (const r of readArchive(root, filter, { onProblem, ...(keys ? { keys } : {}) })) {
      if (!match(r)) continue;
      i++;
      if (skipping) {
        const s = skipUntil(r, i);
        if (s === 'lost') return 'lost';
        if (s) skipping = false;
        continue;
      }
      if (records.length === q.limit) return { records, more: true, count: i - 1 };
      records.push(r);
    }
    if (skipping) return 'lost';
    return { records, more: false, count: i };
  };
  let result = cursor ? await page((r, i) => (i === cursor.n ? (recordKey(r) === cursor.last ? true : 'lost') : false)) : await page(() => true);
  if (result === 'lost' && cursor) result = await page((r) => recordKey(r) === cursor.last);
  if (result === 'lost') return { records: [] };
  const last = result.records[result.records.length - 1];
  return { records: result.records, ...(result.more && last ? { next: encodeCursor({ n: result.count, last: recordKey(last) }) } : {}) };
}
