/**
 * One TCP connection to one broker: size-prefixed frames, correlation ids, one timer per request.
 * A response frame that arrived in one chunk is handed on as a view of that chunk; only frames
 * split across reads are joined. A timeout or any socket error closes the connection and fails
 * every request on it as retriable: the producer reconnects and resends.
 */
import net from 'node:net';
import { ApiKey, chooseVersions, decodeApiVersions, KafkaWireError, Reader, Writer, type ApiKeyValue } from './protocol.js';

interface Pending {
  resolve(r: Reader): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout;
}

export interface ConnectionOptions {
  host: string;
  port: number;
  clientId: string;
  connectionTimeoutMs: number;
  requestTimeoutMs: number;
}

export class BrokerConnection {
  private socket: net.Socket | undefined;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private chunks: Buffer[] = [];
  private buffered = 0;
  private closedWith: Error | undefined;
  /** The request versions agreed with this broker (ApiVersions at connect). */
  versions: Record<ApiKeyValue, number> | undefined;

  constructor(readonly opts: ConnectionOptions) {}

  get alive(): boolean {
    return this.closedWith === undefined && this.socket !== undefined;
  }

  /** Connects and asks the broker which request versions it speaks. */
  async connect(): Promise<void> {
    const { host, port, connectionTimeoutMs } = this.opts;
    await new Promise<void>((resolve, reject) => {
      const socket = net.connect({ host, port, noDelay: true });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new KafkaWireError(`connection to Kafka broker ${host}:${port} timed out after ${connectionTimeoutMs} ms`));
      }, connectionTimeoutMs);
      socket.once('connect', () => {
        clearTimeout(timer);
        resolve();
      });
      socket.once('error', (err) => {
        clearTimeout(timer);
        reject(new KafkaWireError(`cannot connect to Kafka broker ${host}:${port}: ${err.message}`, { cause: err }));
      });
      this.socket = socket;
    });
    const socket = this.socket as net.Socket;
    socket.removeAllListeners('error');
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (err) => this.close(new KafkaWireError(`Kafka broker ${host}:${port}: ${err.message}`, { cause: err })));
    socket.on('close', () => this.close(new KafkaWireError(`Kafka broker ${host}:${port} closed the connection`)));
    const r = await this.request(ApiKey.ApiVersions, 0, []);
    this.versions = chooseVersions(decodeApiVersions(r));
  }

  /**
   * Sends one request (`body` as buffers, written without joining them) and resolves with a
   * reader positioned after the response header.
   */
  request(apiKey: ApiKeyValue, version: number, body: Buffer[], timeoutMs = this.opts.requestTimeoutMs): Promise<Reader> {
    const socket = this.socket;
    if (this.closedWith || !socket) return Promise.reject(this.closedWith ?? new KafkaWireError('not connected to the Kafka broker'));
    const id = this.nextId;
    this.nextId = (this.nextId + 1) & 0x7fffffff;
    let bodyBytes = 0;
    for (const b of body) bodyBytes += b.length;
    const header = new Writer(64).int32(0).int16(apiKey).int16(version).int32(id).string(this.opts.clientId).bytes();
    header.writeInt32BE(header.length - 4 + bodyBytes, 0);
    return new Promise<Reader>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.close(new KafkaWireError(`Kafka request ${apiKey} to ${this.opts.host}:${this.opts.port} timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      socket.cork();
      socket.write(header);
      for (const b of body) socket.write(b);
      socket.uncork();
    });
  }

  close(err: Error = new KafkaWireError('connection closed')): void {
    if (this.closedWith) return;
    this.closedWith = err;
    this.socket?.destroy();
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(err);
    }
    this.pending.clear();
    this.chunks = [];
    this.buffered = 0;
  }

  private onData(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    for (;;) {
      if (this.buffered < 4) return;
      const first = this.chunks[0] as Buffer;
      const size = first.length >= 4 ? first.readInt32BE(0) : this.take(4, false).readInt32BE(0);
      if (this.buffered < 4 + size) return;
      const frame = this.take(4 + size, true).subarray(4);
      this.dispatch(frame);
      if (this.closedWith) return;
    }
  }

  /** The first `n` buffered bytes: a view when one chunk holds them, else joined; consumed if `consume`. */
  private take(n: number, consume: boolean): Buffer {
    const first = this.chunks[0] as Buffer;
    let out: Buffer;
    if (first.length >= n) {
      out = first.subarray(0, n);
      if (consume) {
        if (first.length === n) this.chunks.shift();
        else this.chunks[0] = first.subarray(n);
      }
    } else {
      out = Buffer.allocUnsafe(n);
      let o = 0;
      let i = 0;
      while (o < n) {
        const c = this.chunks[i] as Buffer;
        const k = Math.min(c.length, n - o);
        c.copy(out, o, 0, k);
        o += k;
        if (consume) {
          if (k === c.length) {
            this.chunks.shift();
            continue;
          }
          this.chunks[0] = c.subarray(k);
        }
        i++;
      }
    }
    if (consume) this.buffered -= n;
    return out;
  }

  private dispatch(frame: Buffer): void {
    if (frame.length < 4) return this.close(new KafkaWireError('Kafka response frame shorter than its header'));
    const id = frame.readInt32BE(0);
    const p = this.pending.get(id);
    if (!p) return this.close(new KafkaWireError(`Kafka response with unknown correlation id ${id}`));
    this.pending.delete(id);
    clearTimeout(p.timer);
    const r = new Reader(frame);
    r.o = 4;
    p.resolve(r);
  }
}
