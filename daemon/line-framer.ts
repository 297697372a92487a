/**
 * Per-handle framing: bytes written through one open file handle become records, one per line.
 * Each handle owns a framer, so concurrent writers never interleave inside a record; a line split
 * across FUSE writes is reassembled; a line longer than `maxRecordBytes` is cut into parts that are
 * marked as such (never dropped). Bytes are bytes: NUL and invalid UTF-8 pass through unchanged.
 */

export interface FramedLine {
  data: Buffer;
  /** Set on the parts of a line that was cut: [index, last]. */
  part?: [number, boolean];
}

const NEWLINE = 0x0a;

export class LineFramer {
  /** Bytes of the current unterminated line. */
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  /** Index of the next part of the current line when it has already been cut. */
  private partIndex = 0;

  constructor(private readonly maxRecordBytes: number) {
    if (!Number.isInteger(maxRecordBytes) || maxRecordBytes < 1) {
      throw new RangeError(`maxRecordBytes must be a positive integer, got ${maxRecordBytes}`);
    }
  }

  /** Nothing waits for its newline and no line is being cut: the next byte starts a line. */
  get idle(): boolean {
    return this.pendingBytes === 0 && this.partIndex === 0;
  }

  /** Bytes waiting for their newline. */
  get bufferedBytes(): number {
    return this.pendingBytes;
  }

  /**
   * Frames `chunk` and appends the complete lines to `out`. The chunk may be a view into a buffer the
   * caller reuses, so it is copied once; the lines returned are views into that copy.
   */
  push(chunk: Buffer, out: FramedLine[]): void {
    if (chunk.length === 0) return;
    this.frame(Buffer.from(chunk), out, false);
  }

  /**
   * push() without the copy, for a chunk in a buffer the caller reuses only after it has ingested
   * (copied) the lines returned (the fast write path's batch): they are views into the chunk. An
   * unterminated tail is copied, because it waits in the framer for its newline past that reuse.
   */
  pushTransient(chunk: Buffer, out: FramedLine[]): void {
    if (chunk.length === 0) return;
    this.frame(chunk, out, true);
  }

  private frame(owned: Buffer, out: FramedLine[], copyTail: boolean): void {
    let start = 0;
    const len = owned.length;
    while (start < len) {
      const nl = owned.indexOf(NEWLINE, start);
      if (nl === -1) {
        this.takeBytes(copyTail ? Buffer.from(owned.subarray(start)) : owned, copyTail ? 0 : start, copyTail ? len - start : len, out);
        return;
      }
      this.takeBytes(owned, start, nl, out);
      this.endLine(out);
      start = nl + 1;
    }
  }

  /** Emits the partial last line, if any (at flush/close). */
  flush(out: FramedLine[]): void {
    if (this.pendingBytes > 0 || this.partIndex > 0) this.endLine(out);
  }

  private takeBytes(owned: Buffer, start: number, end: number, out: FramedLine[]): void {
    while (start < end) {
      // The line already fills a record and more of it arrives: cut a part. A line of exactly
      // maxRecordBytes followed by its newline stays one record.
      if (this.pendingBytes === this.maxRecordBytes) this.emitPart(out);
      const n = Math.min(this.maxRecordBytes - this.pendingBytes, end - start);
      this.pending.push(owned.subarray(start, start + n));
      this.pendingBytes += n;
      start += n;
    }
  }

  private endLine(out: FramedLine[]): void {
    // take() of an empty line gives an empty buffer: an empty line is a record too.
    const data = this.take();
    if (this.partIndex > 0) {
      out.push({ data, part: [this.partIndex, true] });
      this.partIndex = 0;
    } else {
      out.push({ data });
    }
  }

  private emitPart(out: FramedLine[]): void {
    out.push({ data: this.take(), part: [this.partIndex, false] });
    this.partIndex += 1;
  }

  private take(): Buffer {
    // One piece: a view into the chunk copy. Several: the line spanned writes, so join them.
    const data =
      this.pending.length === 1 ? (this.pending[0] as Buffer) : Buffer.concat(this.pending, this.pendingBytes);
    this.pending = [];
    this.pendingBytes = 0;
    return data;
  }
}
