/**
 * Where things live under an archive root (docs/archive.md, "Layout"):
 *
 *   <root>/<provider>/<stream>/<YYYY-MM-DD>/<HH>/<writerId>-<n>.ndjson.gz   segments
 *   <root>/<provider>/<stream>/<YYYY-MM-DD>/<HH>/<writerId>.index.json      that writer's index there
 *   <root>/_writers/<writerId>.json                                         writer state (commit point)
 *
 * A stream's "/" becomes "." in its directory name, as in its Kafka topic: kept as nested
 * directories, the stream `app` and the stream `app/2024-05-01` would share a directory with
 * `app`'s date directories. Characters outside [A-Za-z0-9-] (none in a valid name, but a record
 * is wire input) are %-escaped, so no record can name a path outside its stream's directory.
 */
import crypto from 'node:crypto';
import os from 'node:os';
import path from 'node:path';

export const WRITERS_DIR = '_writers';
export const SEGMENT_SUFFIX = '.ndjson.gz';
export const INDEX_SUFFIX = '.index.json';
export const HOUR_MS = 3_600_000;
/** Largest time a Date can hold; a record's ts beyond it has no hour directory. */
const MAX_DATE_MS = 8.64e15;

const SAFE = /^[A-Za-z0-9-]+$/;

/** Directory name for a provider, or one "/"-separated part of a stream name. */
export function encodeName(name: string): string {
  if (SAFE.test(name)) return name;
  // Empty names get "_", which no escaped name can produce ("_" itself is escaped).
  if (name === '') return '_';
  let out = '';
  for (const byte of Buffer.from(name, 'utf8')) {
    const c = String.fromCharCode(byte);
    out += byte < 0x80 && SAFE.test(c) ? c : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

export function decodeName(dir: string): string {
  if (dir === '_') return '';
  if (!dir.includes('%')) return dir;
  try {
    return decodeURIComponent(dir);
  } catch {
    return dir;
  }
}

export function streamDirName(stream: string): string {
  return stream.split('/').map(encodeName).join('.');
}

export function decodeStreamDir(dir: string): string {
  return dir.split('.').map(decodeName).join('/');
}

/** Whether `ts` can be filed under an hour directory. */
export function validTs(ts: number): boolean {
  return Number.isFinite(ts) && ts >= 0 && ts < MAX_DATE_MS;
}

export function hourOf(ts: number): number {
  return Math.floor(ts / HOUR_MS);
}

/** [YYYY-MM-DD, HH] of an hour number (hours since the epoch, UTC). */
export function hourParts(hour: number): [string, string] {
  const iso = new Date(hour * HOUR_MS).toISOString();
  return [iso.slice(0, 10), iso.slice(11, 13)];
}

/** Start (ms) of the hour directory `date`/`hh`, or NaN when the names are not a date and hour. */
export function hourStart(date: string, hh: string): number {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(date) || !/^\d{2}$/.test(hh)) return NaN;
  return Date.parse(`${date}T${hh}:00:00.000Z`);
}

/** Hour directory of a stream, relative to the root, with "/" separators. */
export function hourDirOf(provider: string, stream: string, hour: number): string {
  const [date, hh] = hourParts(hour);
  return `${encodeName(provider)}/${streamDirName(stream)}/${date}/${hh}`;
}

export function segmentFileName(writerId: string, n: number): string {
  return `${writerId}-${String(n).padStart(6, '0')}${SEGMENT_SUFFIX}`;
}

export function indexFileName(writerId: string): string {
  return `${writerId}${INDEX_SUFFIX}`;
}

export function writerStatePath(root: string, writerId: string): string {
  return path.join(root, WRITERS_DIR, `${writerId}.json`);
}

/** `<host>-<pid>-<random>`: unique among the writers of one root, and says whose files they are. */
export function newWriterId(host = os.hostname()): string {
  const safeHost = host.replace(/[^A-Za-z0-9.-]/g, '-').slice(0, 64) || 'host';
  return `${safeHost}-${process.pid}-${crypto.randomBytes(3).toString('hex')}`;
}

export const WRITER_ID = /^[A-Za-z0-9.-]{1,120}$/;
