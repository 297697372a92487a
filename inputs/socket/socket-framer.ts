/**
 * Lines of one socket connection: the mount's LineFramer (daemon/line-framer.ts) plus what a socket
 * needs on top — the choice between splitting and truncating an overlong line, a flag on a line the
 * connection ended in the middle of, and a count of finished lines (what `ACK <n>` counts). Bytes
 * stay bytes: NUL, CR and invalid UTF-8 reach the record unchanged.
 */
import { LineFramer, type FramedLine } from '../../daemon/line-framer.js';
import type { IngestLine } from '../../gateway/index.js';

/** What happens to a line longer than maxLineBytes. */
export type OversizePolicy = 'split' | 'truncate';

/**
 * Why a line ended without its newline; stored as `attrs.unterminated` on its (last) record.
 * - eof: the peer closed its side (a half-close after a last line without newline, an exit, a crash);
 * - error: the connection failed (reset);
 * - idle: nothing arrived for idleTimeoutMs in the middle of the line (slowloris); the connection is closed;
 * - shutdown: the input closed while the line was incomplete.
 */
export type UnterminatedReason = 'eof' | 'error' | 'idle' | 'shutdown';

export interface SocketFramerStats {
  /** Lines longer than maxLineBytes that became several records (policy split). */
  splitLines: number;
  /** Lines longer than maxLineBytes cut to their first maxLineBytes (policy truncate). */
  truncatedLines: number;
  /** Bytes thrown away by truncation (counted, never silent). */
  truncatedBytes: number;
  /** Lines that ended without a newline. */
  unterminatedLines: number;
}

export function newFramerStats(): SocketFramerStats {
  return { splitLines: 0, truncatedLines: 0, truncatedBytes: 0, unterminatedLines: 0 };
}

export class SocketLineFramer {
  private readonly framer: LineFramer;
  private readonly scratch: FramedLine[] = [];
  /** Policy truncate: the first maxLineBytes of the overlong line in progress. */
  private held: Buffer | undefined;
  private heldLineBytes = 0;

  /** `stats` may be shared by the framers of many connections (the input's counters). */
  constructor(
    maxLineBytes: number,
    private readonly policy: OversizePolicy,
    readonly stats: SocketFramerStats = newFramerStats(),
  ) {
    this.framer = new LineFramer(maxLineBytes);
  }

  /** True while a line has started and its newline has not arrived. */
  get midLine(): boolean {
    return this.framer.bufferedBytes > 0 || this.held !== undefined;
  }

  /** Frames `chunk` into records appended to `out`; returns how many lines those records finish. */
  push(chunk: Buffer, out: IngestLine[]): number {
    this.framer.push(chunk, this.scratch);
    return this.drain(out, undefined);
  }

  /** Ends the line in progress, if any, flagged with `reason`; returns 1 if it did, else 0. */
  flush(reason: UnterminatedReason, out: IngestLine[]): number {
    this.framer.flush(this.scratch);
    if (this.scratch.length === 0 && this.held === undefined) return 0;
    if (this.scratch.length === 0) this.scratch.push({ data: Buffer.alloc(0), part: [1, true] });
    this.stats.unterminatedLines += 1;
    return this.drain(out, reason);
  }

  private drain(out: IngestLine[], unterminated: UnterminatedReason | undefined): number {
    let lines = 0;
    const last = this.scratch.length - 1;
    for (let i = 0; i <= last; i++) {
      const l = this.scratch[i] as FramedLine;
      const flag = i === last ? unterminated : undefined;
      if (!l.part) {
        out.push(flag ? { data: l.data, attrs: { unterminated: flag } } : { data: l.data });
        lines += 1;
        continue;
      }
      const [index, final] = l.part;
      if (this.policy === 'split') {
        if (index === 0) this.stats.splitLines += 1;
        out.push(flag ? { data: l.data, part: l.part, attrs: { unterminated: flag } } : { data: l.data, part: l.part });
      } else {
        if (index === 0) {
          this.held = l.data;
          this.heldLineBytes = 0;
        } else {
          this.stats.truncatedBytes += l.data.length;
        }
        this.heldLineBytes += l.data.length;
        if (final) {
          // One record per line: the first maxLineBytes, and how long the line really was.
          const attrs: Record<string, unknown> = { truncated: true, lineBytes: this.heldLineBytes };
          if (flag) attrs.unterminated = flag;
          out.push({ data: this.held as Buffer, attrs });
          this.stats.truncatedLines += 1;
          this.held = undefined;
        }
      }
      if (final) lines += 1;
    }
    this.scratch.length = 0;
    return lines;
  }
}
