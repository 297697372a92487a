/**
 * One client of the plain socket input, from its header to its close (docs/socket-protocol.md):
 * header check, line framing, delivery to the gateway with its backpressure, cumulative `ACK <n>`
 * in acknowledgement mode, and one way out (`finish`) for every ending — EOF, reset, stall,
 * refusal, shutdown — so that each gets its defined outcome.
 */
import type net from 'node:net';
import { errorMessage, isLogfsError } from '../../core/errors.js';
import type { Logger } from '../../core/logger.js';
import type { IngestLine } from '../../gateway/index.js';
import type { InputContext } from '../input.js';
import { SocketLineFramer, type OversizePolicy, type SocketFramerStats, type UnterminatedReason } from './socket-framer.js';
import {
  ackReply,
  errReply,
  HEADER_MAX_BYTES,
  OK_REPLY,
  parseHeader,
  SocketProtocolError,
  type ErrCode,
  type SocketHeader,
} from './socket-protocol.js';

/** Counters of the whole input, shared by its connections (see SocketInputStats). */
export interface ConnectionCounters extends SocketFramerStats {
  linesIn: number;
  recordsIn: number;
  bytesIn: number;
  headerErrors: number;
  idleTimeouts: number;
  blocked: number;
  refusedFull: number;
  /** Bytes a client sent after the server had answered ERR, read and dropped so the ERR arrives. */
  discardedBytes: number;
  /** Lines received but not stored because the journal was still full when the input closed. */
  abandonedLines: number;
}

export interface ConnectionSettings {
  maxLineBytes: number;
  oversize: OversizePolicy;
  idleTimeoutMs: number;
  /** How long a finished connection keeps reading (and dropping) so its last reply is not reset away. */
  lingerMs: number;
}

/** Warnings that a flood of bad clients could repeat: logged at most once a second per kind. */
export type ThrottledWarn = (kind: string, fields: Record<string, unknown>, msg: string) => void;

interface Ending {
  /** End the line in progress (flagged with this reason) before closing. */
  flush?: UnterminatedReason;
  /** Answer `ERR` with this before closing. */
  reply?: SocketProtocolError;
  /** The peer cannot receive anything any more (reset, destroyed). */
  peerGone?: boolean;
}

export class SocketConnection {
  private state: 'header' | 'lines' | 'finishing' = 'header';
  private headerChunks: Buffer[] = [];
  private headerBytes = 0;
  private header: SocketHeader | undefined;
  private readonly framer: SocketLineFramer;
  /** Journal position of the last record ingested; -1 before the first. */
  private lastPosition = -1;
  /** Lines finished and ingested (what `ACK <n>` counts). */
  private linesIn = 0;
  private linesDurable = 0;
  private linesAcked = 0;
  private ackRunning = false;
  /** A delivery waiting for room; the socket is paused meanwhile, so it is the only one. */
  private waiting: Promise<SocketProtocolError | undefined> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private shuttingDown = false;
  private stopWaiting: (() => void) | undefined;
  private resolveDone: () => void = () => undefined;
  /** Resolves once the connection has delivered what it received and given its last reply. */
  readonly done = new Promise<void>((resolve) => (this.resolveDone = resolve));
  /** Resolves when the socket is closed. */
  readonly closed: Promise<void>;

  constructor(
    private readonly socket: net.Socket,
    private readonly ctx: InputContext,
    private readonly settings: ConnectionSettings,
    private readonly counters: ConnectionCounters,
    private readonly log: Logger,
    private readonly warn: ThrottledWarn,
    readonly peer: string,
  ) {
    this.framer = new SocketLineFramer(settings.maxLineBytes, settings.oversize, counters);
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
  }

  start(): void {
    const s = this.socket;
    s.on('data', this.onData);
    s.once('end', () => void this.finish({ flush: 'eof' }));
    s.on('error', (err) => {
      this.log.debug({ peer: this.peer, err: errorMessage(err) }, 'socket error');
      void this.finish({ flush: 'error', peerGone: true });
    });
    s.once('close', () => {
      if (this.timer) clearTimeout(this.timer);
      void this.finish({ flush: 'error', peerGone: true });
    });
    s.on('drain', () => this.sendAck());
    // The header has one deadline from the accept (a TLS handshake included): it is a few bytes,
    // and a client trickling it byte by byte must not hold a connection slot for long.
    this.timer = setTimeout(() => this.onIdle(), this.settings.idleTimeoutMs);
  }

  /** Ends the connection because the input closes: what was received is delivered first. */
  shutdown(): Promise<void> {
    // A full journal may stay full (Kafka down): waiting for room must not hold logfsd's shutdown.
    this.shuttingDown = true;
    this.stopWaiting?.();
    void this.finish({ flush: 'shutdown', reply: new SocketProtocolError('shutdown', 'the input is shutting down') });
    return this.done;
  }

  /** Drops the socket at once (after shutdown, when its linger is not worth waiting for). */
  destroy(): void {
    this.socket.destroy();
  }

  private readonly onData = (chunk: Buffer): void => {
    if (this.state === 'lines') this.takeLines(chunk);
    else if (this.state === 'header') this.takeHeader(chunk);
  };

  private takeHeader(chunk: Buffer): void {
    const nl = chunk.indexOf(0x0a);
    const take = nl === -1 ? chunk.length : nl;
    if (this.headerBytes + take + 1 > HEADER_MAX_BYTES) {
      return this.rejectHeader(new SocketProtocolError('bad-header', `no header line within ${HEADER_MAX_BYTES} bytes`));
    }
    this.headerChunks.push(chunk.subarray(0, take));
    this.headerBytes += take;
    if (nl === -1) return;
    const line = Buffer.concat(this.headerChunks, this.headerBytes);
    this.headerChunks = [];
    let header: SocketHeader;
    try {
      header = parseHeader(line);
      const spec = this.ctx.store.snapshot().streams[header.stream];
      if (!spec || spec.provider !== this.ctx.identity.provider) {
        throw new SocketProtocolError('not-found', `stream "${header.stream}" is not provisioned for provider "${this.ctx.identity.provider}"; create it with "logfsctl stream create"`);
      }
    } catch (err) {
      return this.rejectHeader(err instanceof SocketProtocolError ? err : new SocketProtocolError('internal', errorMessage(err)));
    }
    this.header = header;
    this.state = 'lines';
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.socket.write(OK_REPLY);
    this.log.debug({ peer: this.peer, stream: header.stream, class: header.label, ack: header.ack }, 'socket client started');
    // A client may send lines right behind its header without waiting for OK.
    if (nl + 1 < chunk.length) this.takeLines(chunk.subarray(nl + 1));
  }

  private rejectHeader(err: SocketProtocolError): void {
    this.counters.headerErrors += 1;
    this.warn('header', { peer: this.peer, code: err.errCode, err: err.message }, 'socket client header refused');
    void this.finish({ reply: err });
  }

  private takeLines(chunk: Buffer): void {
    const sink = this.ctx.sink;
    if (sink.refusing()) {
      // As the mount does: refused before framing, so nothing of this chunk is half taken.
      return void this.finish({ reply: this.refusal() });
    }
    const records: IngestLine[] = [];
    const lines = this.framer.push(chunk, records);
    if (records.length > 0) {
      if (sink.isFull()) return this.waitThenIngest(records, lines);
      try {
        this.ingest(records, lines);
      } catch (err) {
        return void this.finish({ reply: failureOf(err) });
      }
    }
    this.armIdle();
  }

  /**
   * The journal is at its bound: stop reading, so the client's writes block once the socket buffers
   * fill (TCP flow control), and continue when there is room (DESIGN.md "Durability").
   */
  private waitThenIngest(records: IngestLine[], lines: number): void {
    this.socket.pause();
    this.disarmIdle();
    this.counters.blocked += 1;
    this.ctx.sink.noteBackpressure('blocked');
    const w = this.roomOrShutdown().then(
      (room) => {
        if (!room) return this.abandoned(records, lines);
        if (this.ctx.sink.refusing()) return this.refusal();
        this.ingest(records, lines);
        return undefined;
      },
    ).catch((err: unknown) => failureOf(err));
    this.waiting = w;
    void w.then((failure) => {
      if (this.waiting === w) this.waiting = undefined;
      if (failure) return void this.finish({ reply: failure });
      if (this.state !== 'lines') return;
      this.socket.resume();
      this.armIdle();
    });
  }

  /** Resolves true when there is room, false when the input shuts down first. */
  private roomOrShutdown(): Promise<boolean> {
    if (this.shuttingDown) return Promise.resolve(false);
    return Promise.race([
      this.ctx.sink.waitForRoom().then(() => true),
      new Promise<boolean>((resolve) => (this.stopWaiting = () => resolve(false))),
    ]);
  }

  private abandoned(records: IngestLine[], lines: number): SocketProtocolError {
    const n = lines + (records.at(-1)?.part?.[1] === false ? 1 : 0);
    this.counters.abandonedLines += n;
    this.log.warn({ peer: this.peer, lines: n, stored: this.linesIn }, 'socket input closing with the journal full: lines not stored');
    return new SocketProtocolError('shutdown', `the input is shutting down with the journal full; lines after line ${this.linesIn} were not stored`);
  }

  private refusal(): SocketProtocolError {
    this.counters.refusedFull += 1;
    this.ctx.sink.noteBackpressure('refused');
    this.warn('full', { peer: this.peer, accepted: this.linesIn }, 'socket client refused: journal full');
    return new SocketProtocolError('full', `journal full; lines after line ${this.linesIn} were not accepted`);
  }

  private ingest(records: IngestLine[], lines: number): void {
    const h = this.header as SocketHeader;
    this.lastPosition = this.ctx.sink.ingest(this.ctx.identity, h.stream, h.label, records, 'socket');
    this.linesIn += lines;
    this.counters.linesIn += lines;
    this.counters.recordsIn += records.length;
    for (const r of records) this.counters.bytesIn += r.data.length;
    if (h.ack && lines > 0) this.scheduleAck();
  }

  /**
   * Acknowledgement mode: one barrier in flight per connection; when it resolves the lines it covered
   * are acknowledged and, if more arrived meanwhile, the next one starts. ACKs are cumulative, so a
   * client that reads them late loses nothing when some are coalesced.
   */
  private scheduleAck(): void {
    if (this.ackRunning || this.state !== 'lines') return;
    this.ackRunning = true;
    const target = this.linesIn;
    this.ctx.sink.barrier(this.lastPosition).then(
      () => {
        this.ackRunning = false;
        this.linesDurable = Math.max(this.linesDurable, target);
        if (this.state !== 'lines') return; // finish() gives the last ACK
        this.sendAck();
        if (this.linesIn > target) this.scheduleAck();
      },
      (err: unknown) => {
        this.ackRunning = false;
        void this.finish({ reply: failureOf(err) });
      },
    );
  }

  private sendAck(): void {
    if (this.state !== 'lines' || this.linesDurable <= this.linesAcked) return;
    // A client that does not read its ACKs must not make us buffer them: the next drain sends the
    // latest count, which covers the ones skipped.
    if (this.socket.writableNeedDrain || !this.socket.writable) return;
    this.linesAcked = this.linesDurable;
    this.socket.write(ackReply(this.linesAcked));
  }

  /** A line in progress must progress: no byte for idleTimeoutMs ends it and the connection. */
  private armIdle(): void {
    if (!this.framer.midLine) return this.disarmIdle();
    if (this.timer) this.timer.refresh();
    else this.timer = setTimeout(() => this.onIdle(), this.settings.idleTimeoutMs);
  }

  private disarmIdle(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private onIdle(): void {
    this.timer = undefined;
    if (this.state === 'finishing') return;
    this.counters.idleTimeouts += 1;
    const inHeader = this.state === 'header';
    this.warn('idle', { peer: this.peer, inHeader }, inHeader ? 'socket client sent no header in time' : 'socket client stalled in the middle of a line');
    const ms = this.settings.idleTimeoutMs;
    void this.finish({
      flush: 'idle',
      reply: new SocketProtocolError('idle', inHeader ? `no header within ${ms} ms` : `no byte for ${ms} ms in the middle of a line; the line was stored flagged unterminated`),
    });
  }

  /**
   * The one way out: deliver what was received (the line in progress flagged), wait for durability
   * in acknowledgement mode and send the final `ACK <n>`, answer `ERR` when there is an error, close.
   */
  private async finish(ending: Ending): Promise<void> {
    if (this.state === 'finishing') return this.done;
    const hadHeader = this.state === 'lines';
    this.state = 'finishing';
    this.disarmIdle();
    this.socket.off('data', this.onData);
    let reply = ending.reply;
    if (!hadHeader && !reply && ending.flush === 'eof') {
      // Connected and closed without a header (a port probe, or a client that forgot it): say so.
      this.counters.headerErrors += 1;
      reply = new SocketProtocolError('bad-header', 'the input ended before the header line');
      this.warn('header', { peer: this.peer, code: reply.errCode }, 'socket client ended before its header');
    }
    try {
      const failed = await this.waiting;
      if (failed) reply = failed;
      if (hadHeader && !failed && ending.flush) {
        const records: IngestLine[] = [];
        const lines = this.framer.flush(ending.flush, records);
        if (records.length > 0) await this.deliverLast(records, lines);
      }
      if (hadHeader && this.header?.ack) {
        await this.ctx.sink.barrier(this.lastPosition);
        if (!ending.peerGone && this.socket.writable) this.socket.write(ackReply(this.linesIn));
      }
    } catch (err) {
      reply = err instanceof SocketProtocolError ? err : failureOf(err);
      if (reply.errCode === 'internal') this.log.error({ peer: this.peer, err: errorMessage(err) }, 'socket client: delivery failed');
    }
    if (!ending.peerGone && this.socket.writable) {
      if (reply) this.socket.write(errReply(reply.errCode, reply.message));
      this.linger();
    } else {
      this.socket.destroy();
    }
    this.log.debug({ peer: this.peer, lines: this.linesIn, reply: reply?.errCode ?? 'ok' }, 'socket client finished');
    this.resolveDone();
  }

  /** The last line of a connection, after the socket stopped: it may still wait for room. */
  private async deliverLast(records: IngestLine[], lines: number): Promise<void> {
    const sink = this.ctx.sink;
    if (sink.refusing()) throw this.refusal();
    if (sink.isFull()) {
      this.counters.blocked += 1;
      sink.noteBackpressure('blocked');
      if (!(await this.roomOrShutdown())) throw this.abandoned(records, lines);
      if (sink.refusing()) throw this.refusal();
    }
    this.ingest(records, lines);
  }

  /**
   * Half-closes and keeps reading (dropping) until the peer closes or lingerMs passes: closing a
   * socket with unread input makes the kernel send a reset, which can destroy our last reply in the
   * peer's receive buffer before the client reads it.
   */
  private linger(): void {
    const s = this.socket;
    s.on('data', (d: Buffer) => {
      this.counters.discardedBytes += d.length;
    });
    s.resume();
    s.end();
    const t = setTimeout(() => s.destroy(), this.settings.lingerMs);
    t.unref();
    s.once('close', () => clearTimeout(t));
  }
}

/** The `ERR` answer for a failure of the gateway. */
export function failureOf(err: unknown): SocketProtocolError {
  if (err instanceof SocketProtocolError) return err;
  let code: ErrCode = 'internal';
  if (isLogfsError(err, 'LOGFS_E_JOURNAL_FULL')) code = 'full';
  else if (isLogfsError(err, 'LOGFS_E_SHUTTING_DOWN')) code = 'shutdown';
  return new SocketProtocolError(code, errorMessage(err));
}
