/**
 * One journal segment file: its on-disk format, recovery scan and positioned reads.
 *
 * File layout (all integers big-endian):
 *   header  = "LOGFSJ01" (8 bytes) | u32 format version
 *   entry*  = u32 payload length | u32 crc32(payload) | payload
 * The file is named after the LSN of its first entry, zero-padded to 20 digits, so a directory
 * listing sorts segments in LSN order and a segment's entries need no stored LSNs.
 */
import { promises as fsp } from 'node:fs';
import * as fs from 'node:fs';
import { crc32 } from 'node:zlib';
import { LogfsError } from '../core/errors.js';
import { nativeGateway, scanEntries } from './native.js';

export const SEGMENT_MAGIC = Buffer.from('LOGFSJ01', 'latin1');
export const FORMAT_VERSION = 1;
export const HEADER_BYTES = SEGMENT_MAGIC.length + 4;
export const ENTRY_HEADER_BYTES = 8;
/** Every INDEX_STRIDE-th entry's file offset is kept in memory so reads seek close to any LSN. */
export const INDEX_STRIDE = 1024;
const SEGMENT_NAME = /^(\d{20})\.seg$/;
/** Recovery and disk reads go through buffers of this size (grown for larger entries). */
const READ_CHUNK_BYTES = 1024 * 1024;

export function segmentFileName(baseLsn: number): string {
  return `${String(baseLsn).padStart(20, '0')}.seg`;
}

/** Base LSN of a segment file name, or undefined for any other file in the directory. */
export function parseSegmentFileName(name: string): number | undefined {
  const m = SEGMENT_NAME.exec(name);
  if (!m?.[1]) return undefined;
  const base = Number(m[1]);
  return Number.isSafeInteger(base) ? base : undefined;
}

export function encodeSegmentHeader(target: Buffer, offset: number): number {
  SEGMENT_MAGIC.copy(target, offset);
  target.writeUInt32BE(FORMAT_VERSION, offset + SEGMENT_MAGIC.length);
  return offset + HEADER_BYTES;
}

/**
 * The file operations of the write path. Tests replace some of them to simulate a full or failing
 * disk without root; nothing else should.
 */
export interface SegmentIo {
  open(path: string, flags: string): Promise<number>;
  /** One positioned write; may return fewer bytes than asked (e.g. on a full disk). */
  write(fd: number, buf: Buffer, length: number, position: number): Promise<number>;
  /**
   * A positioned write of several buffers one after the other; without it the journal copies them
   * into one. (Journal.open leaves NODE_IO's out when the io it is given replaces write alone.)
   */
  writev?(fd: number, bufs: Buffer[], position: number): Promise<number>;
  fsync(fd: number): Promise<void>;
  ftruncate(fd: number, length: number): Promise<void>;
  close(fd: number): Promise<void>;
  /**
   * Starts the disk writing fd's [offset, offset + length) without waiting for it (so that a later
   * fsync has less to do); missing where the native module or the OS has no such call.
   */
  startWriteback?(fd: number, offset: number, length: number): Promise<void>;
}

const done =
  <T>(resolve: (v: T) => void, reject: (e: unknown) => void) =>
  (err: NodeJS.ErrnoException | null, v: T): void =>
    err ? reject(err) : resolve(v);

export const NODE_IO: SegmentIo = {
  open: (path, flags) => new Promise((res, rej) => fs.open(path, flags, 0o640, done(res, rej))),
  write: (fd, buf, length, position) =>
    new Promise((res, rej) => fs.write(fd, buf, 0, length, position, done(res, rej))),
  writev: (fd, bufs, position) => new Promise((res, rej) => fs.writev(fd, bufs, position, done(res, rej))),
  fsync: (fd) => new Promise((res, rej) => fs.fsync(fd, (err) => (err ? rej(err) : res()))),
  ftruncate: (fd, length) => new Promise((res, rej) => fs.ftruncate(fd, length, (err) => (err ? rej(err) : res()))),
  close: (fd) => new Promise((res, rej) => fs.close(fd, (err) => (err ? rej(err) : res()))),
  startWriteback: nativeGateway?.startWriteback,
};

/** In-memory description of one segment file. Only the journal's write path mutates it. */
export class Segment {
  /** Bytes of the valid prefix (header + whole entries); the next write goes here. */
  size = 0;
  /** Entries in the valid prefix. */
  count = 0;
  /** index[j] = file offset of entry j * INDEX_STRIDE. */
  readonly index: number[] = [];
  /** Bytes known to be fsynced. */
  syncedSize = 0;
  /** Write descriptor: the active segment's, and a rolled one's until its fsync is done. */
  fd: number | undefined;
  /** A failed write may have left bytes past `size`; cut them off before writing again. */
  dirtyTail = false;
  /** After a roll: the background fsync-and-close of this segment. */
  retiring: Promise<void> | undefined;
  /** Bytes from the start already handed to startWriteback. */
  writebackFrom = 0;
  /** The startWriteback in progress (it never rejects). */
  writeback: Promise<void> | undefined;

  constructor(
    readonly base: number,
    readonly path: string,
  ) {}

  /** LSN one past the last entry. */
  get end(): number {
    return this.base + this.count;
  }

  /**
   * File offset of entry k (0 <= k <= count). Exact at index points and at the end; between
   * index points it interpolates, which is exact for entries of equal size and otherwise off by
   * less than one stride. Used only for the unacknowledged-bytes bound, where that is plenty.
   */
  offsetOf(k: number): number {
    if (k >= this.count) return this.size;
    if (k <= 0) return this.index[0] ?? this.size;
    const j = Math.floor(k / INDEX_STRIDE);
    const from = this.index[j] ?? this.size;
    const nextK = Math.min((j + 1) * INDEX_STRIDE, this.count);
    const to = this.index[j + 1] ?? this.size;
    return Math.round(from + ((k - j * INDEX_STRIDE) * (to - from)) / (nextK - j * INDEX_STRIDE));
  }
}

export interface ScanProblem {
  /** File offset of the first byte that is not part of a valid entry. */
  offset: number;
  reason: string;
  /** Bytes from `offset` to the end of the file. */
  droppedBytes: number;
}

/**
 * Sequential positioned reads through a window buffer. `ensure` makes [pos, pos + need) present;
 * with `fresh` it never reuses the buffer, because payloads handed to readers are views into it.
 */
class Window {
  buf = Buffer.alloc(0);
  start = 0;
  len = 0;

  constructor(
    private readonly fh: fsp.FileHandle,
    private readonly limit: number,
    private readonly fresh: boolean,
  ) {}

  async ensure(pos: number, need: number): Promise<void> {
    if (pos >= this.start && pos + need <= this.start + this.len) return;
    const size = Math.max(need, Math.min(READ_CHUNK_BYTES, this.limit - pos));
    if (this.fresh || size > this.buf.length) this.buf = Buffer.allocUnsafe(size);
    this.start = pos;
    this.len = 0;
    const want = Math.min(this.buf.length, this.limit - pos);
    while (this.len < want) {
      const { bytesRead } = await this.fh.read(this.buf, this.len, want - this.len, pos + this.len);
      if (bytesRead === 0) break;
      this.len += bytesRead;
    }
    if (this.len < need) throw new Error(`short read at offset ${pos}: file shrank underneath the journal`);
  }

  /** Offset of `pos` inside buf. */
  at(pos: number): number {
    return pos - this.start;
  }
}

/**
 * Reads a segment from the start, validating framing and checksums, and fills in `seg`'s size,
 * count and index for its valid prefix. Stops at the first bad entry (or after `maxEntries`,
 * when the next segment's name says the LSNs would overlap) and returns what was wrong there.
 * An empty file is a fine empty segment; an unknown format version is refused because a newer
 * program's data must not be truncated.
 */
export async function scanSegment(seg: Segment, maxEntries: number): Promise<ScanProblem | undefined> {
  const fh = await fsp.open(seg.path, 'r');
  try {
    const fileBytes = (await fh.stat()).size;
    const problem = (offset: number, reason: string): ScanProblem => ({ offset, reason, droppedBytes: fileBytes - offset });
    if (fileBytes === 0) return undefined;
    if (fileBytes < HEADER_BYTES) return problem(0, 'torn segment header');
    const win = new Window(fh, fileBytes, false);
    await win.ensure(0, HEADER_BYTES);
    if (!win.buf.subarray(0, SEGMENT_MAGIC.length).equals(SEGMENT_MAGIC)) return problem(0, 'bad segment magic');
    const version = win.buf.readUInt32BE(SEGMENT_MAGIC.length);
    if (version !== FORMAT_VERSION) {
      throw new LogfsError(
        'LOGFS_E_JOURNAL_CORRUPT',
        `journal segment ${seg.path} has format version ${version}, this program reads ${FORMAT_VERSION}; run the logFS version that wrote it or move the journal directory aside`,
        { context: { path: seg.path, version } },
      );
    }
    let pos = HEADER_BYTES;
    seg.size = HEADER_BYTES;
    while (pos < fileBytes && seg.count < maxEntries) {
      if (pos + ENTRY_HEADER_BYTES > fileBytes) return problem(pos, 'torn entry header');
      await win.ensure(pos, ENTRY_HEADER_BYTES);
      const len = win.buf.readUInt32BE(win.at(pos));
      // Zero-filled blocks (what some filesystems expose after a crash) would parse as empty
      // entries with a zero checksum; appends never produce empty payloads, so reject them.
      if (len === 0) return problem(pos, 'zero-length entry');
      if (pos + ENTRY_HEADER_BYTES + len > fileBytes) return problem(pos, 'torn entry');
      await win.ensure(pos, ENTRY_HEADER_BYTES + len);
      const rel = win.at(pos);
      const payload = win.buf.subarray(rel + ENTRY_HEADER_BYTES, rel + ENTRY_HEADER_BYTES + len);
      if (crc32(payload) !== win.buf.readUInt32BE(rel + 4)) return problem(pos, 'checksum mismatch');
      if (seg.count % INDEX_STRIDE === 0) seg.index.push(pos);
      pos += ENTRY_HEADER_BYTES + len;
      seg.count += 1;
      seg.size = pos;
    }
    if (pos < fileBytes) return problem(pos, "entries overlap the next segment's LSNs");
    return undefined;
  } finally {
    await fh.close();
  }
}

/** What a disk read needs to know about a segment, captured before any await. */
export interface SegmentSnapshot {
  path: string;
  count: number;
  size: number;
  index: readonly number[];
}

/**
 * Reads entries k, k+1, ... of a segment (readSegmentRun from the nearest index point), as Buffers
 * of the bytes read. Returns at least one entry when k < count, even one larger than maxBytes, so a
 * reader can always make progress.
 */
export async function readSegmentEntries(seg: SegmentSnapshot, k: number, maxEntries: number, maxBytes: number): Promise<Buffer[]> {
  const j = Math.floor(k / INDEX_STRIDE);
  const run = await readSegmentRun(seg, seg.index[j] ?? HEADER_BYTES, k - j * INDEX_STRIDE, maxEntries, maxBytes);
  const out: Buffer[] = new Array(run.count);
  for (let i = 0; i < run.count; i++) out[i] = run.bytes.subarray(run.starts[i], run.starts[i]! + run.lengths[i]!);
  return out;
}

/** Entries read back by readSegmentRun: entry i is bytes[starts[i], starts[i] + lengths[i]). */
export interface ReadRunOptions {
  /**
   * The buffer to read `bytes` into (it may be longer): the caller's reused memory. By default a
   * new one of that size.
   */
  buffer?: (bytes: number) => Buffer;
  /**
   * Read at most this many bytes at first (a run of maxEntries entries of the size seen before):
   * the run may then hold fewer entries. The first entry is read whole whatever its size.
   */
  readBytes?: number;
  /**
   * Arrays for the entries' places, at least `n` long: the caller's reused memory (the result's
   * starts and lengths are views of them). By default new ones of that size.
   */
  places?: (n: number) => { starts: Int32Array; lengths: Int32Array };
}

export interface SegmentRun {
  /** The bytes read; the run's entries lie in it (it may be from opts.buffer, and longer than they). */
  bytes: Buffer;
  starts: Int32Array;
  lengths: Int32Array;
  count: number;
  /** File position after the last entry read: where the next run of this segment starts. */
  endPosition: number;
}

/**
 * Reads entries of a segment without a Buffer per entry (the Kafka producer thread ships them from
 * where they lie): from file position `position`, which is `skip` entries before the first wanted,
 * up to `size` (the written end). At least one entry when there is any, at most maxEntries, and no
 * more than maxBytes of payload unless the first alone is larger. Checksums are verified in the
 * same walk (scanEntries, native/logfs-gateway.c when built).
 */
export async function readSegmentRun(
  seg: { path: string; size: number },
  position: number,
  skip: number,
  maxEntries: number,
  maxBytes: number,
  opts: ReadRunOptions = {},
): Promise<SegmentRun> {
  const fh = await fsp.open(seg.path, 'r');
  // One entry takes at least ENTRY_HEADER_BYTES + 1 bytes: no more places than that are needed.
  const places = Math.max(1, Math.min(maxEntries, Math.floor((seg.size - position) / (ENTRY_HEADER_BYTES + 1)) + 1));
  const { starts, lengths } = opts.places?.(places) ?? { starts: new Int32Array(places), lengths: new Int32Array(places) };
  const scan = new Int32Array(5);
  try {
    // Room for the wanted bytes and their framing, plus what is skipped (up to INDEX_STRIDE - 1
    // entries); read again, larger, when the first entry alone does not fit.
    let want = Math.min(seg.size - position, maxBytes + 64 * 1024 + (skip > 0 ? 1024 * 1024 : 0), opts.readBytes ?? Infinity);
    for (;;) {
      want = Math.max(0, want);
      const bytes = opts.buffer?.(want) ?? Buffer.allocUnsafe(want);
      let got = 0;
      while (got < want) {
        const { bytesRead } = await fh.read(bytes, got, want - got, position + got);
        if (bytesRead === 0) break;
        got += bytesRead;
      }
      if (got < want) throw new Error(`short read at offset ${position + got} of ${seg.path}: file shrank underneath the journal`);
      // (Finite numbers for C, where an infinite maxBytes would read as 0.)
      scanEntries(bytes, got, seg.size - position, skip, places, Math.min(maxBytes, 2 ** 53), starts, lengths, scan);
      const count = scan[0]!;
      const pos = scan[1]!;
      const needMore = scan[2]!;
      const past = scan[3]!;
      const bad = scan[4]!;
      if (bad >= 0) throw corrupt(seg.path, position + bad, 'checksum mismatch');
      if (past) throw corrupt(seg.path, position + pos, 'entry past the written end');
      if (count === 0 && needMore > 0) {
        if (position + needMore > seg.size) throw corrupt(seg.path, position + pos, 'entry header past the written end');
        // The first wanted entry (or the skipped ones) did not fit: at least twice as much.
        want = Math.min(seg.size - position, Math.max(needMore, 2 * want));
        continue;
      }
      return { bytes, starts: starts.subarray(0, count), lengths: lengths.subarray(0, count), count, endPosition: position + pos };
    }
  } finally {
    await fh.close();
  }
}

function corrupt(path: string, offset: number, reason: string): LogfsError {
  return new LogfsError(
    'LOGFS_E_JOURNAL_CORRUPT',
    `journal segment ${path} is damaged at offset ${offset} (${reason}); the disk may be failing`,
    { context: { path, offset, reason } },
  );
}
