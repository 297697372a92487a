/**
 * `logfsctl archive ls|cat|query`: browse and read the archive `<data>/archive/<name>` (docs/archive.md).
 * Reads the files directly, so it works with or without a running system; it never writes.
 */
import { once } from 'node:events';
import fsp from 'node:fs/promises';
import path from 'node:path';
import type { Argv, CommandModule } from 'yargs';
import { parseTimeArg } from './time-arg.js';
import { LogfsError } from '../core/errors.js';
import { archivedData, listArchive, readArchive, sealedMarker, type ArchivedRecord, type ArchiveFilter, type ArchiveSegmentInfo } from '../pipeline/archive/index.js';
import type { StreamKeyring } from '../gateway/record-crypto.js';
import { localStreamKeys } from './stream-keys.js';

export interface ArchiveArgs {
  data: string;
  name: string;
  provider?: string;
  stream?: string;
  class?: string;
  instance?: string;
  from?: string;
  to?: string;
  grep?: string;
  json?: boolean;
  /** Stream keys to open records of encrypted streams; default: those of the store in `data`. */
  keys?: StreamKeyring;
}

const ARCHIVE_NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;
export function archiveRoot(data: string, name: string): string {
  if (!ARCHIVE_NAME.test(name)) throw new LogfsError('LOGFS_E_CONFIG', `--name "${name}" is not an archive name: use lower-case letters, digits and "-"`);
  return path.join(data, 'archive', name);
}

export function filterFromArgs(a: ArchiveArgs, now = Date.now()): ArchiveFilter {
  const filter: ArchiveFilter = {};
  if (a.provider !== undefined) filter.provider = a.provider;
  if (a.stream !== undefined) filter.stream = a.stream;
  if (a.class !== undefined) filter.class = a.class;
  if (a.instance !== undefined) filter.instance = a.instance;
  if (a.from !== undefined) filter.from = parseTimeArg(a.from, 'from', now);
  if (a.to !== undefined) filter.to = parseTimeArg(a.to, 'to', now);
  if (filter.from !== undefined && filter.to !== undefined && filter.from >= filter.to) {
    throw new LogfsError('LOGFS_E_CONFIG', `--from (${new Date(filter.from).toISOString()}) must be before --to (${new Date(filter.to).toISOString()})`);
  }
  if (a.grep !== undefined) {
    try {
      filter.grep = new RegExp(a.grep);
    } catch (err) {
      throw new LogfsError('LOGFS_E_CONFIG', `--grep "${a.grep}" is not a regular expression: ${(err as Error).message}`);
    }
  }
  return filter;
}

/** The archive root, after checking that it exists (naming the archives there when it does not). */
async function existingRoot(a: ArchiveArgs): Promise<string> {
  const root = archiveRoot(a.data, a.name);
  try {
    await fsp.access(root);
    return root;
  } catch {
    const known = await fsp.readdir(path.join(a.data, 'archive')).catch(() => [] as string[]);
    throw new LogfsError('LOGFS_E_NOT_FOUND', `there is no archive "${a.name}" in ${path.join(a.data, 'archive')}${known.length ? ` (there is: ${known.sort().join(', ')})` : ''}`);
  }
}

export interface ArchiveOutput {
  /** One line of text (without newline). */
  line(text: string): void | Promise<void>;
  /** Raw bytes, as they are. */
  bytes(b: Buffer): void | Promise<void>;
  /** A problem worth knowing that did not stop the command. */
  warn(text: string): void;
}

export async function archiveLs(a: ArchiveArgs, out: ArchiveOutput): Promise<ArchiveSegmentInfo[]> {
  const root = await existingRoot(a);
  const segments = await listArchive(root, filterFromArgs(a), { onProblem: out.warn });
  if (a.json) {
    await out.line(JSON.stringify(segments, null, 2));
    return segments;
  }
  await out.line(['SEGMENT'.padEnd(64), 'RECORDS'.padStart(9), 'BYTES'.padStart(8), 'FIRST'.padEnd(24), 'LAST'.padEnd(24), 'CLASSES'].join('  '));
  let records = 0;
  for (const s of segments) {
    records += s.records;
    const classes = Object.entries(s.classes)
      .map(([c, n]) => `${c === '' ? '-' : c}:${n}`)
      .join(',');
    await out.line([s.path.padEnd(64), String(s.records).padStart(9), humanBytes(s.bytes).padStart(8), iso(s.minTs).padEnd(24), iso(s.maxTs).padEnd(24), classes].join('  '));
  }
  await out.line(`${segments.length} segment${segments.length === 1 ? '' : 's'}, ${records} record${records === 1 ? '' : 's'}`);
  return segments;
}

async function archiveKeys(a: ArchiveArgs, out: ArchiveOutput): Promise<StreamKeyring> {
  return a.keys ?? localStreamKeys(a.data, out.warn);
}

/** Says once how many records stayed sealed, and why the first did. */
function sealedCounter(out: ArchiveOutput): { count(r: ArchivedRecord): void; report(): void } {
  let n = 0;
  let first = '';
  return {
    count(r) {
      if (r.enc === undefined) return;
      if (n++ === 0) first = r.sealed ?? '';
    },
    report() {
      if (n > 0) out.warn(`${n} record${n === 1 ? '' : 's'} of encrypted streams shown as [encrypted: …]: ${first}`);
    },
  };
}

/** Each matching record's data, byte for byte, one per line; a record that stays sealed, a marker. */
export async function archiveCat(a: ArchiveArgs, out: ArchiveOutput): Promise<number> {
  const root = await existingRoot(a);
  const sealed = sealedCounter(out);
  let n = 0;
  for await (const r of readArchive(root, filterFromArgs(a), { onProblem: out.warn, keys: await archiveKeys(a, out) })) {
    sealed.count(r);
    await (r.enc === undefined ? out.bytes(archivedData(r)) : out.line(sealedMarker(r)));
    n++;
  }
  sealed.report();
  return n;
}

export async function archiveQuery(a: ArchiveArgs, out: ArchiveOutput): Promise<number> {
  const root = await existingRoot(a);
  const sealed = sealedCounter(out);
  let n = 0;
  for await (const r of readArchive(root, filterFromArgs(a), { onProblem: out.warn, keys: await archiveKeys(a, out) })) {
    sealed.count(r);
    await out.line(a.json ? JSON.stringify(r) : formatArchived(r));
    n++;
  }
  sealed.report();
  return n;
}

export function formatArchived(r: ArchivedRecord): string {
  const cls = r.class === null ? '' : ` [${r.class}]`;
  const flags = r.flags.length > 0 ? ` {${r.flags.join(',')}}` : '';
  const data = r.enc !== undefined ? sealedMarker(r) : r.dataEncoding === 'base64' ? `(base64) ${r.data}` : r.data;
  return `${r.time || r.ts} ${r.provider}:${r.stream} ${r.instance}#${r.seq}${cls}${flags} ${data}`;
}

function iso(ts: number): string {
  return Number.isFinite(ts) && Math.abs(ts) <= 8.64e15 ? new Date(ts).toISOString() : String(ts);
}

function humanBytes(n: number): string {
  if (n < 1024) return `${n}B`;
  const units = ['K', 'M', 'G', 'T'];
  let v = n / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v < 10 ? v.toFixed(1) : Math.round(v)}${units[u]}`;
}

/** stdout with backpressure; a closed pipe (`| head`) ends the command quietly. */
function stdoutOutput(): ArchiveOutput & { end(): Promise<void> } {
  let pending: Buffer[] = [];
  let size = 0;
  const NL = Buffer.from('\n');
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(0);
    throw err;
  });
  const push = async (b: Buffer): Promise<void> => {
    pending.push(b, NL);
    size += b.length + 1;
    if (size >= 64 * 1024) await drain();
  };
  const drain = async (): Promise<void> => {
    if (pending.length === 0) return;
    const chunk = Buffer.concat(pending);
    pending = [];
    size = 0;
    if (!process.stdout.write(chunk)) await once(process.stdout, 'drain');
  };
  return {
    line: (text) => push(Buffer.from(text, 'utf8')),
    bytes: push,
    warn: (text) => void process.stderr.write(`logfsctl: warning: ${text}\n`),
    end: drain,
  };
}

/** The filter options of every archive subcommand; values are required so that `--from -15m` is a value, not a flag. */
export function archiveFilterOptions<T>(y: Argv<T>) {
  return y
    .option('name', { type: 'string', default: 'default', describe: 'Archive name: <data>/archive/<name>' })
    .option('provider', { type: 'string', requiresArg: true, describe: 'Only this provider' })
    .option('stream', { type: 'string', requiresArg: true, describe: 'Only this stream, or streams under a prefix ending in "/" (myapp/)' })
    .option('class', { type: 'string', requiresArg: true, describe: 'Only records with this class label' })
    .option('instance', { type: 'string', requiresArg: true, describe: 'Only records of this instance' })
    .option('from', { type: 'string', requiresArg: true, describe: 'Records at or after: ISO time or relative (-15m, -2h, -1d)' })
    .option('to', { type: 'string', requiresArg: true, describe: 'Records before: ISO time or relative (-15m, -2h, -1d)' });
}

async function run(argv: unknown, fn: (a: ArchiveArgs, out: ArchiveOutput) => Promise<unknown>): Promise<void> {
  const out = stdoutOutput();
  await fn(argv as ArchiveArgs, out);
  await out.end();
}

export const archiveCommand: CommandModule<{ data: string }, { data: string }> = {
  command: 'archive',
  describe: 'Browse the archive: list segments, print records (<data>/archive/<name>)',
  builder: (y) =>
    y
      .command(
        'ls',
        'List archived segments by provider, stream, date and hour, with counts (from the index)',
        (yy) => archiveFilterOptions(yy).option('json', { type: 'boolean', default: false, describe: 'Print the segment list as JSON' }),
        (argv) => run(argv, archiveLs),
      )
      .command(
        'cat',
        'Print the data of matching records, byte for byte, one per line, in time order per stream',
        (yy) => archiveFilterOptions(yy).option('grep', { type: 'string', requiresArg: true, describe: 'Only records whose data matches this regular expression' }),
        (argv) => run(argv, archiveCat),
      )
      .command(
        'query',
        'Print matching records with time, stream, instance, seq and class (--json: the archived objects)',
        (yy) =>
          archiveFilterOptions(yy)
            .option('grep', { type: 'string', requiresArg: true, describe: 'Only records whose data matches this regular expression' })
            .option('json', { type: 'boolean', default: false, describe: 'One archived JSON object per line' }),
        (argv) => run(argv, archiveQuery),
      )
      .demandCommand(1, 'name an archive command: ls, cat or query') as unknown as Argv<{ data: string }>,
  handler: () => undefined,
};
