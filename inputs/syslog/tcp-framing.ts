/**
 * Syslog over TCP: turns a byte stream into messages (RFC 6587 section 3.4,
 * https://www.rfc-editor.org/rfc/rfc6587#section-3.4). Each frame is either octet-counted
 * (`MSG-LEN SP MSG`, section 3.4.1) or non-transparent (MSG ended by a trailer, section 3.4.2: LF,
 * and also CRLF and NUL, which senders use). Senders do not announce which: like rsyslog, the
 * framer decides per frame by whether it starts with a digit (a syslog message starts with `<`).
 *
 * Nothing is dropped silently: a frame longer than `maxMessageBytes` is split into parts or
 * truncated, with a flag; a bad octet count makes the rest of its line a flagged frame; a peer that
 * disconnects mid-frame leaves a frame flagged `truncated` (end()). Empty non-transparent frames
 * (a blank line, the LF some senders add after an octet-counted frame) carry no message: they are
 * skipped and counted in `emptyFrames`.
 *
 * Frames are views into the pushed chunks (a frame spanning chunks is joined): pass chunks the
 * caller does not reuse, as net.Socket's are. The scan is Buffer.indexOf, never per-byte string work.
 */

export const FRAME_FLAGS = ['split', 'oversize_truncated', 'truncated', 'bad_octet_count'] as const;
/**
 * - `split`: one part of a frame longer than maxMessageBytes (policy 'split'; see `part`).
 * - `oversize_truncated`: the first maxMessageBytes of a longer frame (policy 'truncate').
 * - `truncated`: the stream ended inside an octet-counted frame (the peer disconnected mid-frame).
 * - `bad_octet_count`: the frame started with a digit but not with a usable MSG-LEN and SP; it was
 *   taken as non-transparent up to the next trailer.
 */
export type FrameFlag = (typeof FRAME_FLAGS)[number];

export interface Frame {
  data: Buffer;
  flags: FrameFlag[];
  /** On the parts of a split frame: [index, last], as IngestLine.part (consecutive records). */
  part?: [number, boolean];
  /** On an `oversize_truncated` frame: how long the whole frame was (as far as it arrived). */
  originalBytes?: number;
}

export type OversizePolicy = 'split' | 'truncate';

export interface TcpFramerOptions {
  /** Longest message kept whole; longer ones are split or truncated per `oversize`. */
  maxMessageBytes?: number;
  /** What happens to a longer message: cut into flagged parts, or truncated with a flag. */
  oversize?: OversizePolicy;
  /**
   * An octet count above this is not believed (a desynchronised or hostile peer) and is handled
   * as a bad count; counts between maxMessageBytes and this are oversize frames. At least
   * maxMessageBytes.
   */
  maxOctetCount?: number;
}

export const TCP_FRAMER_DEFAULTS = {
  maxMessageBytes: 64 * 1024,
  oversize: 'split' as OversizePolicy,
  maxOctetCount: 16 * 1024 * 1024,
};

const NUL = 0x00;
const LF = 0x0a;
const CR = 0x0d;
const SP = 0x20;
const ZERO = 0x30;
const NINE = 0x39;

/** Where the stream is: between frames, reading MSG-LEN, inside an octet-counted or a non-transparent MSG. */
const State = { Start: 0, Count: 1, Body: 2, Line: 3 } as const;
type State = (typeof State)[keyof typeof State];

export class TcpFramer {
  private readonly max: number;
  private readonly split: boolean;
  private readonly maxCount: number;
  private readonly maxCountDigits: number;

  private state: State = State.Start;
  /** MSG-LEN so far (Count), then the bytes of MSG still to come (Body). */
  private count = 0;
  private countDigits = 0;
  /** A CR at the end of a chunk inside a line: dropped if LF follows, else part of the line. */
  private heldCr = false;

  // The current frame: the part being filled, and what is known about the frame.
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private partIndex = 0;
  /** Policy 'truncate' and the frame outgrew max: further bytes are only counted. */
  private discarding = false;
  private frameBytes = 0;
  private badCount = false;

  private skipped = 0;

  constructor(opts: TcpFramerOptions = {}) {
    const o = { ...TCP_FRAMER_DEFAULTS, ...opts };
    if (!Number.isSafeInteger(o.maxMessageBytes) || o.maxMessageBytes < 1) {
      throw new RangeError(`maxMessageBytes must be a positive integer, got ${o.maxMessageBytes}`);
    }
    if (o.oversize !== 'split' && o.oversize !== 'truncate') {
      throw new RangeError(`oversize must be 'split' or 'truncate', got ${String(o.oversize)}`);
    }
    if (!Number.isSafeInteger(o.maxOctetCount) || o.maxOctetCount < o.maxMessageBytes) {
      throw new RangeError(
        `maxOctetCount must be an integer of at least maxMessageBytes (${o.maxMessageBytes}), got ${o.maxOctetCount}`,
      );
    }
    this.max = o.maxMessageBytes;
    this.split = o.oversize === 'split';
    this.maxCount = o.maxOctetCount;
    this.maxCountDigits = String(o.maxOctetCount).length;
  }

  /** Empty non-transparent frames skipped so far. */
  get emptyFrames(): number {
    return this.skipped;
  }

  /** Whether the stream is inside a frame (a peer that stops here is stalling mid-frame). */
  get inFrame(): boolean {
    return this.state !== State.Start;
  }

  /** Bytes held for the current frame. */
  get bufferedBytes(): number {
    return this.pendingBytes + (this.heldCr ? 1 : 0) + (this.state === State.Count ? this.countDigits : 0);
  }

  push(chunk: Buffer): Frame[] {
    const out: Frame[] = [];
    const len = chunk.length;
    let pos = 0;
    // Next NUL and LF at or after pos (len: none). Cached so that a chunk is scanned once for each,
    // not once per frame (NUL-terminated frames with no LF, as Python's SysLogHandler sends).
    let nulAt = -1;
    let lfAt = -1;
    while (pos < len) {
      switch (this.state) {
        case State.Start: {
          const b = chunk[pos] as number;
          if (b > ZERO && b <= NINE) {
            this.state = State.Count;
            this.count = 0;
            this.countDigits = 0;
          } else {
            // A leading zero is no MSG-LEN (section 3.4.1: NONZERO-DIGIT *DIGIT).
            this.startLine(b === ZERO);
          }
          break;
        }
        case State.Count: {
          const b = chunk[pos] as number;
          if (b === SP) {
            pos += 1;
            this.state = State.Body;
            this.frameBytes = 0;
            break;
          }
          if (b >= ZERO && b <= NINE && this.countDigits < this.maxCountDigits) {
            const next = this.count * 10 + (b - ZERO);
            if (next <= this.maxCount) {
              this.count = next;
              this.countDigits += 1;
              pos += 1;
              break;
            }
          }
          // Not a usable MSG-LEN: the digits so far and the rest of the line are one flagged
          // non-transparent frame (the byte at pos is not consumed; the line goes on from it).
          const digits = Buffer.from(String(this.count), 'latin1');
          this.startLine(true);
          this.append(digits, 0, digits.length, out);
          break;
        }
        case State.Body: {
          const n = Math.min(this.count, len - pos);
          this.append(chunk, pos, pos + n, out);
          pos += n;
          this.count -= n;
          if (this.count === 0) {
            this.finish(out, undefined);
            this.state = State.Start;
          }
          break;
        }
        case State.Line: {
          if (this.heldCr) {
            this.heldCr = false;
            if (chunk[pos] !== LF) this.append(CR_BYTE, 0, 1, out);
          }
          if (nulAt < pos) {
            nulAt = chunk.indexOf(NUL, pos);
            if (nulAt === -1) nulAt = len;
          }
          if (lfAt < pos) {
            lfAt = chunk.indexOf(LF, pos);
            if (lfAt === -1) lfAt = len;
          }
          const nl = Math.min(lfAt, nulAt);
          if (nl === len) {
            // No trailer in this chunk: keep the line open; a CR at the very end may belong to CRLF.
            let end = len;
            if (chunk[len - 1] === CR) {
              end -= 1;
              this.heldCr = true;
            }
            this.append(chunk, pos, end, out);
            pos = len;
            break;
          }
          const end = chunk[nl] === LF && nl > pos && chunk[nl - 1] === CR ? nl - 1 : nl;
          this.append(chunk, pos, end, out);
          pos = nl + 1;
          this.endLine(out);
          break;
        }
      }
    }
    return out;
  }

  /**
   * The stream ended: what remains of the current frame. An octet-counted frame (or its MSG-LEN)
   * cut short is flagged `truncated`; a non-transparent line without its trailer is a message as
   * it is (section 3.4.2 frames end at the trailer, but nothing marks such a line as incomplete).
   */
  end(): Frame[] {
    const out: Frame[] = [];
    switch (this.state) {
      case State.Start:
        break;
      case State.Count: {
        const digits = Buffer.from(String(this.count), 'latin1');
        this.frameBytes = 0;
        this.append(digits, 0, digits.length, out);
        this.finish(out, 'truncated');
        break;
      }
      case State.Body:
        this.finish(out, 'truncated');
        break;
      case State.Line:
        if (this.heldCr) {
          this.heldCr = false;
          this.append(CR_BYTE, 0, 1, out);
        }
        this.endLine(out);
        break;
    }
    this.state = State.Start;
    return out;
  }

  private startLine(badCount: boolean): void {
    this.state = State.Line;
    this.badCount = badCount;
    this.frameBytes = 0;
  }

  private endLine(out: Frame[]): void {
    this.state = State.Start;
    if (this.frameBytes === 0 && !this.badCount) {
      this.skipped += 1;
      return;
    }
    this.finish(out, undefined);
  }

  /** Adds buf[start, end) to the current frame, cutting parts or discarding past max. */
  private append(buf: Buffer, start: number, end: number, out: Frame[]): void {
    this.frameBytes += end - start;
    if (this.discarding) return;
    while (start < end) {
      // Cut only when more bytes arrive: a frame of exactly max bytes stays whole.
      if (this.pendingBytes === this.max) {
        if (!this.split) {
          this.discarding = true;
          return;
        }
        out.push({ data: this.take(), flags: this.flags('split'), part: [this.partIndex, false] });
        this.partIndex += 1;
      }
      const n = Math.min(this.max - this.pendingBytes, end - start);
      this.pending.push(buf.subarray(start, start + n));
      this.pendingBytes += n;
      start += n;
    }
  }

  /** Emits the current frame (its last part when it was split) and resets the frame. */
  private finish(out: Frame[], extra: FrameFlag | undefined): void {
    const frame: Frame = { data: this.take(), flags: [] };
    if (this.partIndex > 0) {
      frame.flags = this.flags('split');
      frame.part = [this.partIndex, true];
    } else if (this.discarding) {
      frame.flags = this.flags('oversize_truncated');
      frame.originalBytes = this.frameBytes;
    } else if (this.badCount) {
      frame.flags.push('bad_octet_count');
    }
    if (extra !== undefined) frame.flags.push(extra);
    out.push(frame);
    this.partIndex = 0;
    this.discarding = false;
    this.badCount = false;
    this.frameBytes = 0;
  }

  private flags(f: FrameFlag): FrameFlag[] {
    return this.badCount ? ['bad_octet_count', f] : [f];
  }

  private take(): Buffer {
    // One piece is a view into its chunk; several (a frame spanning chunks) are joined once.
    const data =
      this.pending.length === 1 ? (this.pending[0] as Buffer) : Buffer.concat(this.pending, this.pendingBytes);
    this.pending = [];
    this.pendingBytes = 0;
    return data;
  }
}

const CR_BYTE = Buffer.from([CR]);
