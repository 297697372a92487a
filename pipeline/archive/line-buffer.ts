/**
 * Encoded lines waiting for a flush, as UTF-8 blocks of up to 1 MiB (the first ones small, so that a
 * quiet segment holds little, unless the last flush took more). Lines go in as bytes at once
 * instead of living on as strings until the flush, and a line never spans two blocks, so each block
 * can be compressed on its own (one gzip member per block, in parallel on the thread pool).
 *
 * The encoder writes into `buf` at `pos` itself (archive-line.ts): a call into C++ per piece
 * (Buffer.write) costs more than the piece when most pieces are a few bytes long. The line being
 * written may not fit the block: `room()` then moves it to a new block, which is why positions
 * within a line are kept relative to its start (`mark`/`rewind`), never as offsets into `buf`.
 */
const EMPTY = Buffer.alloc(0);
const BLOCK_MIN = 16 * 1024;
const BLOCK_MAX = 1024 * 1024;

export class LineBuffer {
  private blocks: Buffer[] = [];
  /** Bytes in `blocks`. */
  private held = 0;
  /** The block being written and the end of what is written in it. */
  buf = EMPTY;
  pos = 0;
  /** Where the line being written starts in `buf`. */
  private lineStart = 0;
  /**
   * Bytes the last `take` returned. A busy segment's blocks start that large instead of growing
   * from 16 KiB again after every flush: each block is a gzip call, which costs a couple of hundred
   * microseconds of CPU however small the block (the 7 small blocks of each flush of an
   * archive-only graph cost 4% of its CPU time). Never more than the last flush held, so a quiet
   * segment stays small.
   */
  private lastTaken = 0;

  /** Bytes held, the line being written included. */
  get length(): number {
    return this.held + this.pos;
  }

  /** Starts a line. */
  begin(): void {
    this.lineStart = this.pos;
  }

  /** Drops what was written of the current line (its encoding failed). */
  abandon(): void {
    this.pos = this.lineStart;
  }

  /** Where the current line has got to; for `rewind`. */
  mark(): number {
    return this.pos - this.lineStart;
  }

  rewind(mark: number): void {
    this.pos = this.lineStart + mark;
  }

  /** Makes sure `bytes` more bytes fit in `buf` after `pos`; `buf` may change. */
  room(bytes: number): void {
    if (this.pos + bytes > this.buf.length) this.grow(bytes);
  }

  /** Appends one byte. */
  byte(b: number): void {
    if (this.pos >= this.buf.length) this.grow(1);
    this.buf[this.pos++] = b;
  }

  /** Appends bytes as they are. */
  bytes(b: Uint8Array): void {
    const n = b.length;
    if (this.pos + n > this.buf.length) this.grow(n);
    // Field names and the like are a few bytes: cheaper copied here than by a call into C++.
    if (n > 24) this.buf.set(b, this.pos);
    else {
      const out = this.buf;
      const p = this.pos;
      for (let i = 0; i < n; i++) out[p + i] = b[i]!;
    }
    this.pos += n;
  }

  /** Appends a string known to hold only ASCII. */
  ascii(s: string): void {
    const n = s.length;
    if (this.pos + n > this.buf.length) this.grow(n);
    // Short strings (numbers, keys) are cheaper copied here than passed to C++.
    if (n > 32) this.pos += this.buf.write(s, this.pos, 'latin1');
    else {
      const b = this.buf;
      let p = this.pos;
      for (let i = 0; i < n; i++) b[p++] = s.charCodeAt(i);
      this.pos = p;
    }
  }

  /** Appends a string as UTF-8. */
  text(s: string): void {
    // UTF-8 needs at most 3 bytes per UTF-16 unit.
    if (this.pos + 3 * s.length > this.buf.length) this.grow(3 * s.length);
    this.pos += this.buf.write(s, this.pos, 'utf8');
  }

  /** Everything written so far; the buffer starts empty again. Not while a line is being written. */
  take(): Buffer[] {
    this.seal();
    const out = this.blocks;
    this.blocks = [];
    this.lastTaken = this.held;
    this.held = 0;
    return out;
  }

  /** Puts back what `take` returned (its flush failed), ahead of what was written since. */
  giveBack(blocks: Buffer[]): void {
    this.seal();
    this.blocks = blocks.concat(this.blocks);
    this.held = this.blocks.reduce((n, b) => n + b.length, 0);
  }

  private grow(bytes: number): void {
    const line = this.pos - this.lineStart;
    // Room for as much again as the line holds, so that a long one is not copied over and over.
    const size = Math.max(2 * line + bytes, Math.min(BLOCK_MAX, Math.max(BLOCK_MIN, this.held + this.lineStart, this.lastTaken)));
    const next = Buffer.allocUnsafe(size);
    if (line > 0) this.buf.copy(next, 0, this.lineStart, this.pos);
    this.pos = this.lineStart;
    this.seal();
    this.buf = next;
    this.pos = line;
  }

  private seal(): void {
    if (this.pos > 0) {
      this.blocks.push(this.buf.subarray(0, this.pos));
      this.held += this.pos;
    }
    this.buf = EMPTY;
    this.pos = 0;
    this.lineStart = 0;
  }
}
