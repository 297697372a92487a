/**
 * Relays: the archive agent's alternative to storing. Both buffer in `append` and deliver in
 * `flush`, like the store, and keep what they could not deliver for the engine's next attempt
 * (delivery is at least once: a record of a failed attempt may arrive twice).
 *
 * - TopicRelay produces each record to a Kafka topic as a standard MessagePack map: the wire
 *   record (docs/record-format.md) plus id, kind, fields, flags, graph and version.
 * - TcpRelay writes one JSON line per record (the archive's line format) to a persistent TCP
 *   connection that reconnects with backoff.
 */
import net from 'node:net';
import { Packr } from 'msgpackr';
import type { Logger } from 'pino';
import { errorMessage, LogfsError } from '../../core/errors.js';
import { Backoff, isRetriable, type BackoffOptions } from '../../core/retry.js';
import { RecordTemplate } from '../../gateway/record-codec.js';
import type { ArchiveWriter, TopicProducer } from '../agent.js';
import type { PipelineRecord } from '../record.js';
import { LineEncoder, type ArchiveOrigin } from './archive-line.js';
import { sealForRest, type SealedParts } from './archive-sealing.js';
import type { KeyLookup } from '../record-keys.js';
import { LineBuffer } from './line-buffer.js';

const packr = new Packr({ useRecords: false, structuredClone: false, moreTypes: false, encodeUndefinedAsNil: true, mapsAsObjects: true });

/**
 * Encodes records for a relay topic. The wire part goes through the gateway's hand-written encoder,
 * so `seq` and `ts` stay integers (msgpackr writes integers above 2^32 as floats); the pipeline's
 * additions are appended to the same map.
 */
export class RelayEncoder {
  private template: RecordTemplate | undefined;
  private key: PipelineRecord | undefined;

  /**
   * With `sealed` (a record of an encrypted stream), the map is a sealed wire record (`enc`, `kid`,
   * sealed `data`) and the fields travel sealed as `sealedFields` (bin), `fields` left empty.
   */
  encode(r: PipelineRecord, origin: ArchiveOrigin, sealed?: SealedParts): Buffer {
    let wire: Buffer;
    try {
      wire = sealed === undefined ? this.templateFor(r).encode(r.seq, r.ts, r.data, r.part, r.attrs) : this.templateFor(r).encode(r.seq, r.ts, sealed.data, r.part, r.attrs, 0, sealed.kid);
    } catch {
      // A seq or ts the wire format cannot hold (negative, fractional): msgpackr writes it as it is.
      const { v, provider, stream, class: cls, instance, host, seq, ts, source, data, part, attrs } = r;
      const seal = sealed === undefined ? {} : { enc: 'A256GCM', kid: sealed.kid, data: sealed.data };
      // Copied: msgpackr reuses the buffer it returns on the next pack().
      wire = Buffer.from(packr.pack({ v, provider, stream, class: cls, instance, host, seq, ts, source, data, ...(part ? { part } : {}), ...(attrs ? { attrs } : {}), ...seal }));
    }
    let extras: Buffer;
    try {
      extras =
        sealed === undefined
          ? packr.pack({ id: r.id, kind: r.kind, fields: r.fields, flags: r.flags, graph: origin.graph, version: origin.version })
          : packr.pack({ id: r.id, kind: r.kind, fields: {}, ...(sealed.fields ? { sealedFields: sealed.fields } : {}), flags: r.flags, graph: origin.graph, version: origin.version });
    } catch (err) {
      extras = packr.pack({ id: r.id, kind: r.kind, fields: { _relayError: errorMessage(err) }, flags: r.flags, graph: origin.graph, version: origin.version });
    }
    // Two maps become one: a map16 header with both counts, then both maps' entries.
    const [wireCount, wireHead] = mapHeader(wire);
    const [extraCount, extraHead] = mapHeader(extras);
    const out = Buffer.allocUnsafe(3 + wire.length - wireHead + extras.length - extraHead);
    out[0] = 0xde;
    out.writeUInt16BE(wireCount + extraCount, 1);
    wire.copy(out, 3, wireHead);
    extras.copy(out, 3 + wire.length - wireHead, extraHead);
    return out;
  }

  private templateFor(r: PipelineRecord): RecordTemplate {
    const k = this.key;
    if (this.template && k && k.provider === r.provider && k.stream === r.stream && k.class === r.class && k.instance === r.instance && k.host === r.host && k.source === r.source && k.v === r.v) {
      return this.template;
    }
    this.key = r;
    this.template = new RecordTemplate({ v: r.v, provider: r.provider, stream: r.stream, class: r.class, instance: r.instance, host: r.host, source: r.source as never });
    return this.template;
  }
}

export class TopicRelay implements ArchiveWriter {
  private readonly encoder = new RelayEncoder();
  private pending: { key: string | null; value: Buffer }[] = [];
  private chain: Promise<void> = Promise.resolve();

  constructor(
    private readonly producer: TopicProducer,
    readonly topic: string,
    private readonly log: Logger,
    /** Records of encrypted streams are relayed sealed (docs/encryption.md). */
    private readonly keys?: KeyLookup,
  ) {}

  append(records: readonly PipelineRecord[], origin: ArchiveOrigin): void {
    const ring = this.keys?.();
    const encrypted = ring !== undefined && ring.size > 0;
    for (const r of records) {
      const sealed = encrypted ? sealForRest(r, ring.get(r.provider, r.stream)) : undefined;
      this.pending.push({ key: r.instance, value: this.encoder.encode(r, origin, sealed) });
    }
  }

  flush(): Promise<void> {
    const p = this.chain.then(async () => {
      if (this.pending.length === 0) return;
      const batch = this.pending;
      this.pending = [];
      try {
        await this.producer.send(this.topic, batch);
      } catch (err) {
        this.pending = batch.concat(this.pending);
        this.log.warn({ err, topic: this.topic, records: batch.length }, 'relay: producing to the topic failed; the records are kept for the next attempt');
        throw new LogfsError('LOGFS_E_KAFKA', `relay to topic ${this.topic} failed (${errorMessage(err)}); the records are sent again on retry`, {
          retriable: isRetriable(err),
          cause: err,
          context: { topic: this.topic },
        });
      }
    });
    this.chain = p.catch(() => undefined);
    return p;
  }
}

export const TCP_RELAY_DEFAULTS = {
  /** A connection attempt that takes longer fails (and is retried after the backoff delay). */
  connectTimeoutMs: 5_000,
  /** A flush whose data the peer does not take within this long drops the connection and is retried. */
  writeTimeoutMs: 30_000,
  /** Delays between reconnection attempts. */
  backoff: { initialMs: 100, maxMs: 10_000, factor: 2, jitter: 0.2 } satisfies BackoffOptions,
};

export interface TcpRelayOptions {
  host: string;
  port: number;
  log: Logger;
  connectTimeoutMs?: number;
  writeTimeoutMs?: number;
  backoff?: Partial<BackoffOptions>;
  /** Records of encrypted streams are relayed sealed (docs/encryption.md). */
  keys?: KeyLookup;
}

type TcpState = 'connecting' | 'connected' | 'waiting' | 'closed';

export class TcpRelay implements ArchiveWriter {
  readonly address: string;
  private readonly opts: TcpRelayOptions & typeof TCP_RELAY_DEFAULTS;
  private readonly log: Logger;
  private readonly encoder = new LineEncoder();
  private readonly backoff: Backoff;
  private readonly pending = new LineBuffer();
  private chain: Promise<void> = Promise.resolve();
  private socket: net.Socket | undefined;
  private state: TcpState = 'waiting';
  private connecting: Promise<net.Socket> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private lastError: unknown;
  private retryAt = 0;

  constructor(opts: TcpRelayOptions) {
    this.opts = { ...TCP_RELAY_DEFAULTS, ...opts, backoff: { ...TCP_RELAY_DEFAULTS.backoff, ...opts.backoff } };
    this.address = `${opts.host.includes(':') ? `[${opts.host}]` : opts.host}:${opts.port}`;
    this.log = opts.log.child({ component: 'relay', relay: this.address });
    this.backoff = new Backoff(this.opts.backoff);
    void this.connect().catch(() => undefined);
  }

  /** True while a connection is up. */
  get connected(): boolean {
    return this.state === 'connected';
  }

  append(records: readonly PipelineRecord[], origin: ArchiveOrigin): void {
    const ring = this.opts.keys?.();
    const encrypted = ring !== undefined && ring.size > 0;
    for (const r of records) this.encoder.encodeTo(this.pending, r, origin, encrypted ? sealForRest(r, ring.get(r.provider, r.stream)) : undefined);
  }

  /** Resolves once the socket accepted every line appended before the call. */
  flush(): Promise<void> {
    const p = this.chain.then(() => this.flushOnce());
    this.chain = p.catch(() => undefined);
    return p;
  }

  async close(): Promise<void> {
    await this.chain;
    this.state = 'closed';
    if (this.timer) clearTimeout(this.timer);
    const socket = this.socket;
    this.socket = undefined;
    if (socket && !socket.destroyed) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => socket.destroy(), this.opts.connectTimeoutMs).unref();
        socket.once('close', () => {
          clearTimeout(t);
          resolve();
        });
        socket.end();
      });
    }
  }

  private async flushOnce(): Promise<void> {
    if (this.pending.length === 0) return;
    if (this.state === 'closed') throw new LogfsError('LOGFS_E_SHUTTING_DOWN', `relay to ${this.address} is closed`);
    const blocks = this.pending.take();
    try {
      const socket = await this.connection();
      await new Promise<void>((resolve, reject) => {
        const onClose = (): void => reject(this.lastError ?? new Error('connection closed'));
        socket.once('close', onClose);
        // A peer that stops reading (stopped, or a black-holed network) would hold the flush, and the
        // graph, forever: past the deadline the connection is dropped and the records sent again.
        const deadline = setTimeout(() => socket.destroy(new Error(`the peer took no data for ${this.opts.writeTimeoutMs} ms`)), this.opts.writeTimeoutMs);
        socket.write(blocks.length === 1 ? (blocks[0] as Buffer) : Buffer.concat(blocks), (err) => {
          clearTimeout(deadline);
          socket.off('close', onClose);
          if (err) reject(err);
          else resolve();
        });
      });
    } catch (err) {
      this.pending.giveBack(blocks);
      if (this.socket && !this.socket.destroyed) this.socket.destroy();
      throw err instanceof LogfsError
        ? err
        : new LogfsError('LOGFS_E_AGENT', `relay to ${this.address} failed (${errorMessage(err)}); the records are sent again on retry`, {
            retriable: true,
            cause: err,
            context: { relay: this.address },
          });
    }
  }

  /** The connected socket; rejects (retriable) while the relay waits to reconnect. */
  private async connection(): Promise<net.Socket> {
    if (this.state === 'connected' && this.socket) return this.socket;
    if (this.state === 'connecting' && this.connecting) return this.connecting;
    throw new LogfsError(
      'LOGFS_E_AGENT',
      `relay to ${this.address} is not connected (${this.lastError ? errorMessage(this.lastError) : 'no connection yet'}); reconnecting in ${Math.max(0, this.retryAt - Date.now())} ms`,
      { retriable: true, cause: this.lastError, context: { relay: this.address } },
    );
  }

  private connect(): Promise<net.Socket> {
    this.timer = undefined;
    this.state = 'connecting';
    const socket = net.connect({ host: this.opts.host, port: this.opts.port });
    this.socket = socket;
    socket.setNoDelay(true);
    socket.setTimeout(this.opts.connectTimeoutMs, () => socket.destroy(new Error(`no connection within ${this.opts.connectTimeoutMs} ms`)));
    this.connecting = new Promise<net.Socket>((resolve, reject) => {
      socket.once('connect', () => {
        socket.setTimeout(0);
        socket.setKeepAlive(true, this.opts.connectTimeoutMs);
        if (this.state === 'closed') return void socket.destroy();
        this.state = 'connected';
        this.backoff.reset();
        this.log.info('relay: connected');
        resolve(socket);
      });
      socket.on('error', (err) => {
        this.lastError = err;
      });
      // The peer sends nothing we need; reading keeps a closed connection from going unnoticed.
      socket.on('data', () => undefined);
      socket.once('close', () => {
        reject(this.lastError ?? new Error('connection closed'));
        if (this.socket === socket) this.socket = undefined;
        if (this.state === 'closed') return;
        const wasConnected = this.state === 'connected';
        this.state = 'waiting';
        const delay = this.backoff.next();
        this.retryAt = Date.now() + delay;
        if (wasConnected) this.log.warn({ err: this.lastError }, `relay: connection lost; reconnecting in ${delay} ms`);
        else this.log.debug({ err: this.lastError, delay }, 'relay: connection attempt failed');
        this.timer = setTimeout(() => void this.connect().catch(() => undefined), delay);
        this.timer.unref();
      });
    });
    return this.connecting;
  }
}

/** [entries, header bytes] of a MessagePack map (fixmap, map16 or map32). */
function mapHeader(b: Buffer): [number, number] {
  const t = b[0] as number;
  if (t >= 0x80 && t <= 0x8f) return [t & 0x0f, 1];
  if (t === 0xde) return [b.readUInt16BE(1), 3];
  if (t === 0xdf) return [b.readUInt32BE(1), 5];
  throw new LogfsError('LOGFS_E_INTERNAL', `relay: expected a MessagePack map, got type byte 0x${t.toString(16)}`);
}

/** Parses `host:port` (an IPv6 host in brackets); throws LOGFS_E_CONFIG otherwise. */
export function parseHostPort(s: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:\s]+)):(\d{1,5})$/.exec(s);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port < 1 || port > 65535) throw new LogfsError('LOGFS_E_CONFIG', `"${s}" is not host:port (e.g. "logs.example.com:5170" or "[::1]:5170")`);
  return { host: (m[1] ?? m[2]) as string, port };
}
