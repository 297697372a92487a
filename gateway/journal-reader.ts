/**
 * A read-only view of a journal that another process is writing: what `logfsctl tail` reads in
 * embedded mode, where the journal is the bus. It never truncates or writes; an incomplete entry at
 * the end of the newest segment is simply not yet visible.
 */
import fsp from 'node:fs/promises';
import path from 'node:path';
import zlib from 'node:zlib';
import { ENTRY_HEADER_BYTES, HEADER_BYTES, parseSegmentFileName, segmentFileName } from './journal-segment.js';

export interface JournalPosition {
  /** Base LSN of the segment being read. */
  segment: number;
  /** Byte offset inside that segment. */
  offset: number;
}

export class JournalReader {
  constructor(private readonly dir: string) {}

  async segments(): Promise<number[]> {
    const names = await fsp.readdir(this.dir).catch(() => [] as string[]);
    return names
      .map((n) => parseSegmentFileName(n))
      .filter((n): n is number => n !== undefined)
      .sort((a, b) => a - b);
  }

  /** Position of the oldest stored entry, or of the end (what arrives from now on). */
  async start(fromBeginning: boolean): Promise<JournalPosition> {
    const segs = await this.segments();
    if (segs.length === 0) return { segment: 0, offset: HEADER_BYTES };
    if (fromBeginning) return { segment: segs[0] as number, offset: HEADER_BYTES };
    const last = segs[segs.length - 1] as number;
    const st = await fsp.stat(this.file(last)).catch(() => undefined);
    return { segment: last, offset: Math.max(HEADER_BYTES, st?.size ?? HEADER_BYTES) };
  }

  /**
   * Reads the complete, checksum-valid entries after `pos` (at most about `maxBytes`), moving on to
   * newer segments; returns them and the position after them.
   */
  async read(pos: JournalPosition, maxBytes = 4 * 1024 * 1024): Promise<{ payloads: Buffer[]; next: JournalPosition }> {
    const segs = await this.segments();
    let { segment, offset } = pos;
    if (!segs.includes(segment)) {
      // Deleted by retention (or not created yet): continue at the next segment that exists.
      const later = segs.find((s) => s > segment);
      if (later === undefined) return { payloads: [], next: pos };
      segment = later;
      offset = HEADER_BYTES;
    }
    const payloads: Buffer[] = [];
    let want = maxBytes;
    for (;;) {
      const buf = await readFrom(this.file(segment), offset, want);
      let o = 0;
      while (o + ENTRY_HEADER_BYTES <= buf.length) {
        const len = buf.readUInt32BE(o);
        // Appends never write empty entries; zeros here are a block not yet written (as the journal's recovery treats them).
        if (len === 0) break;
        if (o + ENTRY_HEADER_BYTES + len > buf.length) {
          // An entry larger than what we read: read again with room for it.
          if (o === 0 && buf.length === want) want = ENTRY_HEADER_BYTES + len;
          break;
        }
        const payload = buf.subarray(o + ENTRY_HEADER_BYTES, o + ENTRY_HEADER_BYTES + len);
        if (zlib.crc32(payload) !== buf.readUInt32BE(o + 4)) break; // being written right now
        payloads.push(Buffer.from(payload));
        o += ENTRY_HEADER_BYTES + len;
      }
      offset += o;
      if (payloads.length > 0) return { payloads, next: { segment, offset } };
      if (want > buf.length && o === 0 && buf.length === maxBytes) continue;
      // Nothing more here. Once a newer segment exists the writer has left this one for good.
      const newer = segs.find((s) => s > segment);
      if (newer === undefined) return { payloads, next: { segment, offset } };
      segment = newer;
      offset = HEADER_BYTES;
    }
  }

  private file(base: number): string {
    return path.join(this.dir, segmentFileName(base));
  }
}

async function readFrom(file: string, offset: number, maxBytes: number): Promise<Buffer> {
  const fh = await fsp.open(file, 'r').catch(() => undefined);
  if (!fh) return Buffer.alloc(0);
  try {
    const buf = Buffer.allocUnsafe(maxBytes);
    const { bytesRead } = await fh.read(buf, 0, maxBytes, offset);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}
