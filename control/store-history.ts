/**
 * The file store's commit history: `<data>/provisioning-history.jsonl`, one line per committed
 * version `{version, at, author, message, changes, state}`, appended and fsynced under the store's
 * lock before the main file is replaced (control/store.ts).
 *
 * Bound: the file is compacted to the last `keep` versions whenever a commit's version is a
 * multiple of `keep`, so it holds between `keep` and `2 * keep - 1` versions (plus the odd line of a
 * writer that crashed between appending and replacing the main file).
 *
 * A crash can leave two kinds of stray lines, and readers tolerate both: a torn last line (the next
 * append starts a fresh line; a line that is not valid JSON is skipped) and a version appended but
 * never made current (lines above the main file's version are ignored, and when that version is
 * committed again the later line wins).
 *
 * Each process keeps an index of the lines it has read (version -> byte range, without the states)
 * and reads only what was appended since; a compaction by any process replaces the file (new inode)
 * and the index is rebuilt.
 */
import fsp from 'node:fs/promises';
import crypto from 'node:crypto';
import { z } from 'zod';
import { LogfsError } from '../core/errors.js';
import { CommitInfoSchema, ProvisioningStateSchema, type CommitInfo, type ProvisioningState } from './store-schema.js';

const HistoryLineSchema = CommitInfoSchema.extend({ state: z.unknown() });

export interface HistoryEntry extends CommitInfo {
  state: ProvisioningState;
}

interface IndexedLine {
  info: CommitInfo;
  offset: number;
  length: number;
}

const NEWLINE = 0x0a;

export class HistoryFile {
  private ino = -1;
  /** Bytes of the file indexed so far (always the end of a complete line). */
  private scanned = 0;
  private index = new Map<number, IndexedLine>();

  constructor(
    readonly file: string,
    /** Versions kept at compaction; see the header. */
    private readonly keep: number,
  ) {
    if (!Number.isInteger(keep) || keep < 1) throw new LogfsError('LOGFS_E_CONFIG', `history keep must be a positive integer, got ${keep}`);
  }

  /** Appends one commit durably. The caller holds the store's lock. */
  async append(entry: HistoryEntry): Promise<void> {
    const line = Buffer.from(JSON.stringify(entry) + '\n');
    const fh = await fsp.open(this.file, 'a+');
    try {
      const { size } = await fh.stat();
      let prefix = Buffer.alloc(0);
      if (size > 0) {
        const last = Buffer.alloc(1);
        await fh.read(last, 0, 1, size - 1);
        // The previous writer crashed mid-line: start a fresh one so this line parses.
        if (last[0] !== NEWLINE) prefix = Buffer.from('\n');
      }
      await fh.write(Buffer.concat([prefix, line]));
      await fh.sync();
    } finally {
      await fh.close();
    }
    if (entry.version % this.keep === 0) await this.compact(entry.version);
  }

  /** Commits up to `maxVersion` (the current version), newest first. */
  async list(maxVersion: number, limit = Infinity): Promise<CommitInfo[]> {
    await this.refresh();
    return [...this.index.values()]
      .map((l) => l.info)
      .filter((i) => i.version <= maxVersion)
      .sort((a, b) => b.version - a.version)
      .slice(0, limit);
  }

  /** The state committed as `version`, if it is still in the file and not above `maxVersion`. */
  async stateAt(version: number, maxVersion: number): Promise<ProvisioningState | undefined> {
    if (version > maxVersion) return undefined;
    await this.refresh();
    const line = this.index.get(version);
    if (!line) return undefined;
    const fh = await fsp.open(this.file, 'r').catch(() => undefined);
    if (!fh) return undefined;
    let raw: Buffer | undefined;
    try {
      // Compacted by another process since the index was read: the offsets are of the old file.
      if ((await fh.stat()).ino === this.ino) {
        raw = Buffer.alloc(line.length);
        await fh.read(raw, 0, line.length, line.offset);
      }
    } finally {
      await fh.close();
    }
    if (!raw) {
      this.reset(-1);
      return this.stateAt(version, maxVersion);
    }
    const parsed = ProvisioningStateSchema.safeParse((JSON.parse(raw.toString('utf8')) as { state: unknown }).state);
    if (!parsed.success) {
      throw new LogfsError('LOGFS_E_CONFIG', `provisioning history ${this.file} holds an invalid state for version ${version}: ${parsed.error.message}`);
    }
    return parsed.data;
  }

  /** Rewrites the file with the last `keep` versions up to `upTo`, atomically. */
  private async compact(upTo: number): Promise<void> {
    await this.refresh();
    const kept = [...this.index.entries()].filter(([v]) => v > upTo - this.keep && v <= upTo).sort(([a], [b]) => a - b);
    const whole = await fsp.readFile(this.file);
    const tmp = `${this.file}.${process.pid}.${crypto.randomBytes(4).toString('hex')}.tmp`;
    const fh = await fsp.open(tmp, 'w');
    try {
      await fh.writeFile(Buffer.concat(kept.map(([, l]) => whole.subarray(l.offset, l.offset + l.length + 1))));
      await fh.sync();
    } finally {
      await fh.close();
    }
    await fsp.rename(tmp, this.file);
    this.reset(-1);
  }

  private reset(ino: number): void {
    this.ino = ino;
    this.scanned = 0;
    this.index = new Map();
  }

  /** Indexes the lines appended since the last call (all of them after a compaction). */
  private async refresh(): Promise<void> {
    const fh = await fsp.open(this.file, 'r').catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return undefined;
      throw err;
    });
    if (!fh) {
      this.reset(-1);
      return;
    }
    try {
      const { ino, size } = await fh.stat();
      if (ino !== this.ino || size < this.scanned) this.reset(ino);
      if (size === this.scanned) return;
      const chunk = Buffer.alloc(size - this.scanned);
      const { bytesRead } = await fh.read(chunk, 0, chunk.length, this.scanned);
      let start = 0;
      for (let nl = chunk.indexOf(NEWLINE, 0); nl !== -1 && nl < bytesRead; nl = chunk.indexOf(NEWLINE, start)) {
        const info = parseLine(chunk.subarray(start, nl));
        // A later line for the same version is a re-commit after a crash: it wins.
        if (info) this.index.set(info.version, { info, offset: this.scanned + start, length: nl - start });
        start = nl + 1;
      }
      this.scanned += start; // an incomplete last line is read again next time
    } finally {
      await fh.close();
    }
  }
}

function parseLine(bytes: Buffer): CommitInfo | undefined {
  if (bytes.length === 0) return undefined;
  try {
    const parsed = HistoryLineSchema.safeParse(JSON.parse(bytes.toString('utf8')));
    if (!parsed.success) return undefined;
    const { state: _state, ...info } = parsed.data;
    return info;
  } catch {
    return undefined; // torn line of a crashed writer
  }
}
