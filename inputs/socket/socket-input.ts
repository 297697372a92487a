/**
 * The plain socket input (issue 4): a unix and/or TCP stream listener, TLS optional, where a client
 * names a stream in a header and then writes lines (docs/socket-protocol.md). This file holds the
 * configuration, the listeners and the bounds on connections; one client is socket-connection.ts.
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import net from 'node:net';
import tls from 'node:tls';
import { z } from 'zod';
import { errorMessage, LogfsError } from '../../core/errors.js';
import { componentLogger, type Logger } from '../../core/logger.js';
import { configError } from '../../gateway/config.js';
import type { InputContext, RunningInput } from '../input.js';
import { SocketConnection, type ConnectionCounters, type ThrottledWarn } from './socket-connection.js';
import { newFramerStats } from './socket-framer.js';
import { errReply } from './socket-protocol.js';

export const SOCKET_INPUT_DEFAULTS = {
  unixMode: 0o660,
  maxLineBytes: 1024 * 1024,
  oversize: 'split' as 'split' | 'truncate',
  maxConnections: 1024,
  idleTimeoutMs: 30_000,
  /** After the last reply, how long a connection keeps reading (and dropping) before it is destroyed. */
  lingerMs: 2_000,
  /** How long a connection refused as busy may take to receive its `ERR busy` (TLS handshake included). */
  rejectGraceMs: 5_000,
  /** Busy refusals being told at once; in a flood of connections, those beyond are dropped unanswered. */
  maxRejecting: 256,
  /**
   * close() waits this long for connections to deliver and acknowledge what they received (a barrier
   * may wait for Kafka); then it drops them. Their records are in the journal either way; only the
   * final ACK may be missing, and a client then sends again (at-least-once).
   */
  closeTimeoutMs: 10_000,
  /** Repeated warnings (bad headers, busy, stalls) are logged at most this often per kind. */
  warnEveryMs: 1_000,
};

const HOST_PORT = /^(\[[0-9A-Fa-f:.]+\]|[^:\s[\]]+):(\d{1,5})$/;

const TlsSchema = z.strictObject({
  cert: z.string().min(1).describe('PEM certificate chain file of the server'),
  key: z.string().min(1).describe('PEM private key file of the server'),
  ca: z.string().min(1).optional()
    .describe('PEM CA file; when set, clients must present a certificate signed by it (mutual TLS)'),
});

export const SocketInputConfigSchema = z
  .strictObject({
    unix: z.string().min(1).nullable().default(null)
      .describe('Path of a unix stream socket to listen on; null = none'),
    unixMode: z.number().int().min(0).max(0o777).default(SOCKET_INPUT_DEFAULTS.unixMode)
      .describe('Permission bits of the unix socket (who may write to streams through it)'),
    tcp: z.string().regex(HOST_PORT, 'expected host:port ([v6]:port for IPv6)').nullable().default(null)
      .describe('host:port of a TCP listener; null = none; port 0 picks a free port'),
    tls: TlsSchema.nullable().default(null)
      .describe('TLS on the TCP listener (certificate files); null = plain TCP'),
    maxLineBytes: z.number().int().min(1).max(64 * 1024 * 1024).default(SOCKET_INPUT_DEFAULTS.maxLineBytes)
      .describe('Longest record; a longer line is split or truncated as `oversize` says, and flagged'),
    oversize: z.enum(['split', 'truncate']).default(SOCKET_INPUT_DEFAULTS.oversize)
      .describe('Overlong lines: split into parts (record field part) or keep the first maxLineBytes (attrs.truncated)'),
    maxConnections: z.number().int().min(1).default(SOCKET_INPUT_DEFAULTS.maxConnections)
      .describe('Most clients served at once over both listeners; more are answered "ERR busy" and closed'),
    idleTimeoutMs: z.number().int().min(10).default(SOCKET_INPUT_DEFAULTS.idleTimeoutMs)
      .describe('Deadline of the header after connecting, and longest pause inside a line; then the connection is closed'),
  })
  .superRefine((cfg, ctx) => {
    if (cfg.unix === null && cfg.tcp === null) ctx.addIssue({ code: 'custom', message: 'set unix, tcp or both', path: ['unix'] });
    if (cfg.tls !== null && cfg.tcp === null) ctx.addIssue({ code: 'custom', message: 'tls needs a tcp listener', path: ['tls'] });
  });

export type SocketInputConfig = z.infer<typeof SocketInputConfigSchema>;
export type SocketInputConfigInput = z.input<typeof SocketInputConfigSchema>;

/** Parses configuration, reporting every problem at once with its path. */
export function parseSocketInputConfig(input: unknown): SocketInputConfig {
  const parsed = SocketInputConfigSchema.safeParse(input ?? {});
  if (!parsed.success) throw configError('socket input', parsed.error);
  return parsed.data;
}

export interface SocketInputStats extends ConnectionCounters {
  /** Clients connected now (lingering ones included: they hold a descriptor). */
  connections: number;
  accepted: number;
  /** Connections answered `ERR busy` (or dropped when even those were too many). */
  rejectedBusy: number;
  /** TLS handshakes that failed. */
  tlsErrors: number;
}

export interface SocketInput extends RunningInput {
  /** Every listener: `unix:///path`, `tcp://host:port`, `tls://host:port` (ports as bound). */
  readonly addresses: string[];
  stats(): SocketInputStats;
}

interface Listener {
  server: net.Server;
  address: string;
  unixPath?: string;
}

export async function startSocketInput(cfg: SocketInputConfig, ctx: InputContext): Promise<SocketInput> {
  const log = componentLogger('socket-input', ctx.log);
  const tlsContext = cfg.tls ? await loadTls(cfg.tls) : undefined;
  const input = new SocketInputRuntime(cfg, ctx, log, tlsContext);
  try {
    if (cfg.unix !== null) await input.listenUnix(cfg.unix, cfg.unixMode);
    if (cfg.tcp !== null) await input.listenTcp(cfg.tcp);
  } catch (err) {
    await input.close();
    throw err;
  }
  log.info({ addresses: input.addresses, maxConnections: cfg.maxConnections, oversize: cfg.oversize, maxLineBytes: cfg.maxLineBytes }, 'socket input listening');
  return input;
}

interface TlsSetup {
  context: tls.SecureContext;
  clientCerts: boolean;
}

async function loadTls(t: NonNullable<SocketInputConfig['tls']>): Promise<TlsSetup> {
  const read = async (file: string, what: string): Promise<Buffer> => {
    try {
      return await fsp.readFile(file);
    } catch (err) {
      throw new LogfsError('LOGFS_E_CONFIG', `socket input: cannot read the TLS ${what} file ${file}: ${errorMessage(err)}`, { cause: err });
    }
  };
  const cert = await read(t.cert, 'certificate');
  const key = await read(t.key, 'key');
  const ca = t.ca === undefined ? undefined : await read(t.ca, 'CA');
  try {
    return { context: tls.createSecureContext({ cert, key, ...(ca ? { ca } : {}) }), clientCerts: ca !== undefined };
  } catch (err) {
    throw new LogfsError('LOGFS_E_CONFIG', `socket input: the TLS certificate, key or CA is unusable: ${errorMessage(err)}`, { cause: err });
  }
}

class SocketInputRuntime implements SocketInput {
  private readonly listeners: Listener[] = [];
  private readonly active = new Set<SocketConnection>();
  /** Connections refused as busy that are still being told so. */
  private readonly rejected = new Set<net.Socket>();
  private readonly counters: ConnectionCounters = {
    ...newFramerStats(),
    linesIn: 0,
    recordsIn: 0,
    bytesIn: 0,
    headerErrors: 0,
    idleTimeouts: 0,
    blocked: 0,
    refusedFull: 0,
    discardedBytes: 0,
    abandonedLines: 0,
  };
  private accepted = 0;
  private rejectedBusy = 0;
  private tlsErrors = 0;
  private unixPeers = 0;
  private closing = false;
  private readonly warned = new Map<string, { at: number; suppressed: number }>();

  constructor(
    private readonly cfg: SocketInputConfig,
    private readonly ctx: InputContext,
    private readonly log: Logger,
    private readonly tlsSetup: TlsSetup | undefined,
  ) {}

  get addresses(): string[] {
    return this.listeners.map((l) => l.address);
  }

  get address(): string {
    return this.addresses.join(',');
  }

  stats(): SocketInputStats {
    return { ...this.counters, connections: this.active.size, accepted: this.accepted, rejectedBusy: this.rejectedBusy, tlsErrors: this.tlsErrors };
  }

  async listenUnix(file: string, mode: number): Promise<void> {
    await removeStaleSocket(file);
    const server = this.server(false);
    await listen(server, { path: file });
    await fsp.chmod(file, mode);
    this.listeners.push({ server, address: `unix://${file}`, unixPath: file });
  }

  async listenTcp(hostPort: string): Promise<void> {
    const m = HOST_PORT.exec(hostPort) as RegExpExecArray;
    const host = (m[1] as string).replace(/^\[|\]$/g, '');
    const server = this.server(this.tlsSetup !== undefined);
    await listen(server, { host, port: Number(m[2]) });
    const addr = server.address() as net.AddressInfo;
    const shown = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
    this.listeners.push({ server, address: `${this.tlsSetup ? 'tls' : 'tcp'}://${shown}:${addr.port}` });
  }

  private server(withTls: boolean): net.Server {
    // Half-open: after a client's half-close the server still has its final ACK to send.
    const server = net.createServer({ allowHalfOpen: true }, (raw) => this.accept(raw, withTls));
    server.on('error', (err) => this.log.error({ err: errorMessage(err) }, 'socket input listener failed'));
    return server;
  }

  private accept(raw: net.Socket, withTls: boolean): void {
    // A reset before we attach handlers must not become an uncaught 'error'.
    raw.on('error', () => undefined);
    if (this.closing) return void raw.destroy();
    const peer = raw.remoteAddress ? `${raw.remoteAddress}:${raw.remotePort}` : `unix#${++this.unixPeers}`;
    const socket = withTls ? this.wrapTls(raw, peer) : raw;
    if (this.active.size >= this.cfg.maxConnections) return this.rejectBusy(socket, peer, withTls);
    this.accepted += 1;
    const conn = new SocketConnection(
      socket,
      this.ctx,
      { maxLineBytes: this.cfg.maxLineBytes, oversize: this.cfg.oversize, idleTimeoutMs: this.cfg.idleTimeoutMs, lingerMs: SOCKET_INPUT_DEFAULTS.lingerMs },
      this.counters,
      this.log,
      this.warn,
      peer,
    );
    this.active.add(conn);
    void conn.closed.then(() => this.active.delete(conn));
    conn.start();
  }

  private wrapTls(raw: net.Socket, peer: string): tls.TLSSocket {
    const setup = this.tlsSetup as TlsSetup;
    const s = new tls.TLSSocket(raw, {
      isServer: true,
      secureContext: setup.context,
      requestCert: setup.clientCerts,
      rejectUnauthorized: setup.clientCerts,
    });
    let secure = false;
    s.once('secure', () => {
      secure = true;
      // A TLSSocket built by hand (not by tls.Server) only asks for a certificate; rejecting one that
      // does not verify against the CA is ours to do.
      if (setup.clientCerts && !s.authorized) {
        this.tlsErrors += 1;
        this.warn('tls', { peer, err: String(s.authorizationError) }, 'socket input: client certificate refused');
        s.destroy();
      }
    });
    s.on('error', (err) => {
      if (secure) return;
      this.tlsErrors += 1;
      this.warn('tls', { peer, err: errorMessage(err) }, 'socket input: TLS handshake failed');
    });
    return s;
  }

  /** More clients than maxConnections: each is told `ERR busy`, unless even those are too many. */
  private rejectBusy(socket: net.Socket, peer: string, withTls: boolean): void {
    this.rejectedBusy += 1;
    this.warn('busy', { peer, connections: this.active.size, maxConnections: this.cfg.maxConnections }, 'socket input: too many connections; refusing');
    if (this.rejected.size >= SOCKET_INPUT_DEFAULTS.maxRejecting) return void socket.destroy();
    this.rejected.add(socket);
    socket.on('error', () => undefined);
    socket.on('data', () => undefined); // read and drop, so closing does not reset the reply away
    const reply = (): void => {
      socket.end(errReply('busy', `this input serves ${this.cfg.maxConnections} connections already; retry later`));
    };
    if (withTls) socket.once('secure', reply);
    else reply();
    const t = setTimeout(() => socket.destroy(), SOCKET_INPUT_DEFAULTS.rejectGraceMs);
    t.unref();
    socket.once('close', () => {
      clearTimeout(t);
      this.rejected.delete(socket);
    });
  }

  private readonly warn: ThrottledWarn = (kind, fields, msg) => {
    const now = Date.now();
    const w = this.warned.get(kind);
    if (w && now - w.at < SOCKET_INPUT_DEFAULTS.warnEveryMs) {
      w.suppressed += 1;
      return;
    }
    this.warned.set(kind, { at: now, suppressed: 0 });
    this.log.warn({ ...fields, ...(w && w.suppressed > 0 ? { suppressedSinceLast: w.suppressed } : {}) }, msg);
  };

  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    const stopped = this.listeners.map((l) => new Promise<void>((resolve) => l.server.close(() => resolve())));
    // Everything received is delivered (durably in acknowledgement mode) before the input is closed.
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), SOCKET_INPUT_DEFAULTS.closeTimeoutMs)));
    const finished = Promise.all([...this.active].map((c) => c.shutdown())).then(() => false);
    if (await Promise.race([finished, timedOut])) {
      this.log.warn({ connections: this.active.size }, 'socket input: clients not finished in time (durability barrier pending); closing them');
      for (const c of this.active) c.destroy();
    }
    clearTimeout(timer);
    const lingering = [...this.active].map((c) => c.closed);
    const lingerDone = Promise.all(lingering);
    const t = setTimeout(() => {
      for (const c of this.active) c.destroy();
    }, SOCKET_INPUT_DEFAULTS.lingerMs);
    await lingerDone;
    clearTimeout(t);
    for (const s of this.rejected) s.destroy();
    await Promise.all(stopped);
    for (const l of this.listeners) if (l.unixPath) await fsp.rm(l.unixPath, { force: true });
    this.log.info({ addresses: this.addresses, ...this.stats() }, 'socket input closed');
  }
}

function listen(server: net.Server, opts: net.ListenOptions): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => {
      reject(new LogfsError('LOGFS_E_CONFIG', `socket input cannot listen on ${opts.path ?? `${opts.host}:${opts.port}`}: ${err.message}`, { cause: err }));
    };
    server.once('error', onError);
    server.listen(opts, () => {
      server.off('error', onError);
      resolve();
    });
  });
}

/**
 * A socket file left by a crashed logfsd blocks listen() with EADDRINUSE. It is removed only when
 * nothing answers on it; a live one belongs to another process and is an error.
 */
async function removeStaleSocket(file: string): Promise<void> {
  const st = await fsp.lstat(file).catch(() => undefined);
  if (!st) return;
  if (!st.isSocket()) throw new LogfsError('LOGFS_E_CONFIG', `socket input: ${file} exists and is not a socket; remove it or choose another path`);
  const live = await new Promise<boolean>((resolve) => {
    const c = net.connect({ path: file });
    c.once('connect', () => {
      c.destroy();
      resolve(true);
    });
    c.once('error', () => resolve(false));
  });
  if (live) throw new LogfsError('LOGFS_E_CONFIG', `socket input: ${file} is in use by another process`);
  fs.rmSync(file, { force: true });
}
