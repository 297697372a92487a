/**
 * Encoded lines waiting for a flush, as UTF-8 blocks of up to 1 MiB (the first ones small, so that a
 * quiet segment holds little). Lines go in as bytes at once instead of living on as strings until
 * the flush, and a line never spans two blocks, so each block can be compressed on its own (one
 * gzip member per block, in parallel on the thread pool).
 */
const EMPTY = Buffer.alloc(0);
const BLOCK_MIN = 16 * 1024;
const BLOCK_MAX = 1024 * 1024;

export class LineBuffer {
  private blocks: Buffer[] = [];
  private cur = EMPTY;
  private used = 0;
  /** Bytes held. */
  length = 0;

  /** Makes room for a line of at most `bytes` bytes in the current block. */
  reserve(bytes: number): void {
    if (this.used + bytes <= this.cur.length) return;
    this.seal();
    this.cur = Buffer.allocUnsafe(Math.max(bytes, Math.min(BLOCK_MAX, Math.max(BLOCK_MIN, this.length))));
  }

  /** Appends a string as UTF-8; call reserve() first with room for the whole line. */
  text(s: string): void {
    const n = this.cur.write(s, this.used, 'utf8');
    this.used += n;
    this.length += n;
  }

  /** Appends bytes as they are; call reserve() first. */
  bytes(b: Buffer): void {
    this.cur.set(b, this.used);
    this.used += b.length;
    this.length += b.length;
  }

  /** Everything written so far; the buffer starts empty again. */
  take(): Buffer[] {
    this.seal();
    const out = this.blocks;
    this.blocks = [];
    this.length = 0;
    return out;
  }

  /** Puts back what `take` returned (its flush failed), ahead of what was written since. */
  giveBack(blocks: Buffer[]): void {
    this.seal();
    this.blocks = blocks.concat(this.blocks);
    this.length = this.blocks.reduce((n, b) => n + b.length, 0);
  }

  private seal(): void {
    if (this.used > 0) this.blocks.push(this.cur.subarray(0, this.used));
    this.cur = EMPTY;
    this.used = 0;
  }
}
