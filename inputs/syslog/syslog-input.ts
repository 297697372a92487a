/**
 * The syslog listeners (issue 4, docs/syslog.md): unix datagram (through the C relay), UDP
 * (RFC 5426), TCP with RFC 6587 framing and TLS on TCP (RFC 5425). Every message is parsed
 * (syslog-parse.ts), routed (syslog-routing.ts) and ingested with source "syslog", its header
 * fields as `attrs` and its MSG part as data. What cannot be parsed passes raw, flagged.
 *
 * Backpressure: datagrams cannot be pushed back, so while the gateway is full (or refusing) they are
 * dropped and counted (logfs_syslog_dropped_total{reason}); TCP and TLS connections stop being read
 * while the gateway is full, so their senders slow down instead.
 */
import dgram from 'node:dgram';
import fsp from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import { errorMessage, isLogfsError, LogfsError } from '../../core/errors.js';
import { componentLogger, type Logger } from '../../core/logger.js';
import { createStream, type ProvisioningState } from '../../control/store.js';
import type { IngestLine } from '../../gateway/index.js';
import type { Counter, MetricsRegistry } from '../../gateway/metrics.js';
import { parseListen, SYSLOG_DEFAULTS, tcpListen, type SyslogConfig } from '../config.js';
import type { InputContext, RunningInput } from '../input.js';
import { syslogAttrs, type SyslogMessage } from './syslog-message.js';
import { parseSyslog } from './syslog-parse.js';
import { SyslogRouter, type Route } from './syslog-routing.js';
import { TcpFramer } from './tcp-framing.js';
import { listenUnixDgram } from './unix-dgram.js';

export interface SyslogInputContext extends InputContext {
  /** `<data>`: the unix datagram relay is built into `<data>/bin`. */
  dataDir: string;
  /** Where the counters go: the gateway's registry (served on its metrics endpoint) or the input's own. */
  metrics: MetricsRegistry;
}

export type SyslogTransport = 'unix' | 'udp' | 'tcp' | 'tls';

export const SYSLOG_INPUT_DEFAULTS = {
  /** Repeated warnings (drops, refused connections) are logged at most this often per kind. */
  warnEveryMs: 10_000,
  /** Datagrams accepted in one event-loop turn are ingested together, at most this many at once. */
  batchMax: 1024,
  /** On stop, how long connections may wait for room in the journal before their rest is dropped (counted). */
  closeGraceMs: 2_000,
  /** At maxConnections, a connection quiet at least this long may be closed for a new one. */
  evictQuietMs: 1_000,
};

interface Counters {
  messages: Counter;
  dropped: Counter;
  rerouted: Counter;
  unparsed: Counter;
  flagged: Counter;
  connectionsRefused: Counter;
  connectionsEvicted: Counter;
  timeouts: Counter;
  tlsErrors: Counter;
}

type Attrs = Record<string, unknown>;

/** A message as received (a datagram, a TCP frame), or one part of a long one. */
interface InFrame {
  data: Buffer;
  flags: string[];
  /** [index, last] of a message cut into parts (policy split). */
  part?: [number, boolean];
}

/** One line ready for the gateway. */
interface Routed {
  route: Route;
  line: IngestLine;
}

/** Per sender: where the first part of a split message went, for the parts after it. */
interface PartState {
  first?: { route: Route; attrs: Attrs };
}

/** Lines of one (stream, class), in arrival order. */
interface Batch {
  stream: string;
  label: string | null;
  lines: IngestLine[];
}

/**
 * What every listener shares: routing against the live provisioning state, message → lines, the
 * gateway's backpressure, the counters and throttled warnings.
 */
class SyslogCore {
  readonly log: Logger;
  readonly counters: Counters;
  readonly router: SyslogRouter;
  private provisioned = new Set<string>();
  private readonly unwatch: () => void;
  private readonly lastWarn = new Map<string, { at: number; suppressed: number }>();
  private pending = new Map<string, Batch>();
  private pendingCount = 0;
  private flushScheduled = false;
  private ensuringDefault = false;

  constructor(
    readonly cfg: SyslogConfig,
    readonly ctx: SyslogInputContext,
  ) {
    this.log = componentLogger('syslog', ctx.log);
    const m = ctx.metrics;
    this.counters = {
      messages: m.counter('logfs_syslog_messages_total', 'Syslog messages received, by transport'),
      dropped: m.counter('logfs_syslog_dropped_total', 'Syslog messages dropped, by reason (datagrams while the gateway is full or refusing; TCP when refusing or at shutdown)'),
      rerouted: m.counter('logfs_syslog_rerouted_total', 'Syslog messages whose rule named an unprovisioned stream, sent to the default stream'),
      unparsed: m.counter('logfs_syslog_unparsed_total', 'Syslog messages that followed neither RFC 5424 nor RFC 3164 (passed raw, flagged)'),
      flagged: m.counter('logfs_syslog_flagged_total', 'Syslog records carrying a flag (split, truncated, bad_octet_count, …), by flag'),
      connectionsRefused: m.counter('logfs_syslog_connections_refused_total', 'TCP/TLS connections closed at once because maxConnections were open'),
      connectionsEvicted: m.counter('logfs_syslog_connections_evicted_total', 'Quiet TCP/TLS connections closed at maxConnections to make room for a new one'),
      timeouts: m.counter('logfs_syslog_idle_timeouts_total', 'TCP/TLS connections closed because a partial frame stalled (slowloris)'),
      tlsErrors: m.counter('logfs_syslog_tls_errors_total', 'TLS handshakes that failed'),
    };
    this.router = new SyslogRouter(cfg, (s) => this.provisioned.has(s));
    this.resetProvisioned(ctx.store.snapshot());
    this.unwatch = ctx.store.watch((s) => {
      const before = new Set(this.router.unprovisionedRules().map((r) => r.rule));
      this.resetProvisioned(s);
      const after = this.router.unprovisionedRules();
      for (const r of after) if (!before.has(r.rule)) this.warnRule(r.rule, r.stream);
      this.ensureDefaultStream().catch((err: unknown) => this.log.error({ err: errorMessage(err) }, 'syslog: cannot provision the default stream; its messages are counted as dropped until it exists'));
    });
  }

  private resetProvisioned(s: ProvisioningState): void {
    const provider = this.ctx.identity.provider;
    this.provisioned = new Set(Object.values(s.streams).filter((spec) => spec.provider === provider).map((spec) => spec.name));
  }

  warnRule(rule: number, stream: string): void {
    this.log.warn(
      { rule, stream, defaultStream: this.cfg.defaultStream },
      `syslog routing rule ${rule} names stream "${stream}", which is not provisioned for provider "${this.ctx.identity.provider}"; its messages go to "${this.cfg.defaultStream}" (counted in logfs_syslog_rerouted_total) until it is`,
    );
  }

  /**
   * The default stream must exist, or unmatched messages would have nowhere to go: it is created
   * when missing (at start, and again if it is deleted while logfsd runs).
   */
  async ensureDefaultStream(): Promise<void> {
    const name = this.cfg.defaultStream;
    if (this.provisioned.has(name) || this.ensuringDefault) return;
    const owner = this.ctx.store.snapshot().streams[name];
    if (owner) {
      throw new LogfsError(
        'LOGFS_E_CONFIG',
        `the syslog default stream "${name}" belongs to provider "${owner.provider}", not "${this.ctx.identity.provider}"; set inputs.syslog.defaultStream to another name`,
      );
    }
    this.ensuringDefault = true;
    try {
      await createStream(this.ctx.store, { name, provider: this.ctx.identity.provider });
      this.log.info({ stream: name }, 'provisioned the syslog default stream');
    } catch (err) {
      if (!isLogfsError(err, 'LOGFS_E_EXISTS')) throw err;
    } finally {
      this.ensuringDefault = false;
    }
    this.resetProvisioned(this.ctx.store.snapshot());
  }

  /** Logs `msg` at most once per warnEveryMs for `kind`, saying how many were not logged. */
  warn(kind: string, fields: Record<string, unknown>, msg: string): void {
    const now = Date.now();
    const last = this.lastWarn.get(kind);
    if (last && now - last.at < SYSLOG_INPUT_DEFAULTS.warnEveryMs) {
      last.suppressed += 1;
      return;
    }
    this.lastWarn.set(kind, { at: now, suppressed: 0 });
    this.log.warn({ ...fields, ...(last?.suppressed ? { suppressedSinceLast: last.suppressed } : {}) }, msg);
  }

  drop(reason: string, count = 1): void {
    this.counters.dropped.inc(count, `reason="${reason}"`);
  }

  /**
   * Turns one frame into a line: parsed, routed, with attrs. The parts of a message cut at
   * maxMessageBytes (policy split) after the first have no header of their own: they go where the
   * first part went, with its attrs (issue 4, "Bad input and load": split or truncated, flagged).
   */
  toLine(frame: InFrame, transport: SyslogTransport, peer: string | undefined, state: PartState): Routed {
    if (frame.part !== undefined && frame.part[0] > 0 && state.first) {
      const { route, attrs } = state.first;
      if (frame.part[1]) state.first = undefined;
      this.countFlags(attrs);
      return { route, line: { data: frame.data, part: frame.part, attrs } };
    }
    this.counters.messages.inc(1, `transport="${transport}"`);
    const m = parseSyslog(frame.data);
    const route = this.router.route(m);
    const attrs = this.attrsOf(m, frame.flags, transport, peer, route);
    this.countFlags(attrs);
    if (route.unprovisioned !== undefined) {
      this.counters.rerouted.inc();
      this.log.debug({ rule: route.rule, stream: route.unprovisioned, to: route.stream }, 'syslog message rerouted to the default stream');
    }
    if (frame.part === undefined) return { route, line: { data: m.msg, attrs } };
    state.first = frame.part[1] ? undefined : { route, attrs };
    return { route, line: { data: m.msg, part: frame.part, attrs } };
  }

  private countFlags(attrs: Attrs): void {
    const flags = attrs.flags as string[] | undefined;
    if (flags) for (const f of flags) this.counters.flagged.inc(1, `flag="${f}"`);
  }

  /** A datagram over maxMessageBytes is cut like a TCP frame (tcp-framing.ts), so both read alike. */
  cutDatagram(whole: Buffer, flags: string[]): InFrame[] {
    const data = withoutTrailer(whole);
    const max = this.cfg.maxMessageBytes;
    if (data.length <= max) return [{ data, flags }];
    if (this.cfg.oversize === 'truncate') return [{ data: data.subarray(0, max), flags: addFlags(flags, ['oversize_truncated']) }];
    const parts = Math.ceil(data.length / max);
    const out: InFrame[] = [];
    for (let i = 0; i < parts; i++) out.push({ data: data.subarray(i * max, (i + 1) * max), flags: addFlags(flags, ['split']), part: [i, i === parts - 1] });
    return out;
  }

  private attrsOf(m: SyslogMessage, flags: string[], transport: SyslogTransport, peer: string | undefined, route: Route): Attrs {
    const attrs: Attrs = syslogAttrs(m);
    attrs.transport = transport;
    if (peer !== undefined) attrs.peer = peer;
    let all = flags;
    if (m.format === 'raw') {
      this.counters.unparsed.inc();
      all = [...flags, 'unparsed'];
    }
    if (all.length > 0) attrs.flags = all;
    if (route.unprovisioned !== undefined) attrs.routedFrom = route.unprovisioned;
    return attrs;
  }

  /**
   * A datagram: accepted now or dropped now (counted), never waited for: the sender cannot be
   * slowed down, and a stalled pipeline must not stall every program that calls syslog(3).
   */
  datagram(data: Buffer, flags: string[], transport: SyslogTransport, peer: string | undefined): void {
    const sink = this.ctx.sink;
    if (sink.refusing()) {
      sink.noteBackpressure('refused');
      this.counters.messages.inc(1, `transport="${transport}"`);
      this.drop('refused');
      this.warn('drop-refused', { transport }, 'syslog datagrams dropped: the journal is full and the gateway refuses writes (onFull "refuse")');
      return;
    }
    if (sink.isFull()) {
      this.counters.messages.inc(1, `transport="${transport}"`);
      this.drop('full');
      this.warn('drop-full', { transport }, 'syslog datagrams dropped: the journal is full (datagram senders cannot be slowed down)');
      return;
    }
    const state: PartState = {};
    for (const frame of this.cutDatagram(data, flags)) {
      const { route, line } = this.toLine(frame, transport, peer, state);
      const key = `${route.stream}\0${route.label ?? '\u0001'}`;
      let b = this.pending.get(key);
      if (!b) this.pending.set(key, (b = { stream: route.stream, label: route.label, lines: [] }));
      b.lines.push(line);
      this.pendingCount += 1;
    }
    if (this.pendingCount >= SYSLOG_INPUT_DEFAULTS.batchMax) this.flushDatagrams();
    else if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flushDatagrams());
    }
  }

  flushDatagrams(): void {
    this.flushScheduled = false;
    const batches = [...this.pending.values()];
    this.pending = new Map();
    this.pendingCount = 0;
    for (const b of batches) this.ingest(b);
  }

  /** Ingests a batch; a gateway that fails (closing, connection lost) costs the batch, counted and logged. */
  ingest(b: Batch): void {
    try {
      this.ctx.sink.ingest(this.ctx.identity, b.stream, b.label, b.lines, 'syslog');
    } catch (err) {
      this.drop('gateway_error', b.lines.length);
      this.warn('gateway-error', { err: errorMessage(err), stream: b.stream }, 'syslog messages dropped: the gateway did not take them');
    }
  }

  close(): void {
    this.unwatch();
    this.flushDatagrams();
  }
}

/**
 * A datagram is one message (RFC 5426 section 3.1), but senders often end it with the trailer they
 * would use on TCP: Python's SysLogHandler a NUL, others LF or CRLF. One such trailer is removed, as
 * tcp-framing.ts removes it from a frame, so that the same message reads the same over either.
 */
function withoutTrailer(data: Buffer): Buffer {
  let end = data.length;
  const last = data[end - 1];
  if (last === 0x00) end -= 1;
  else if (last === 0x0a) end -= end >= 2 && data[end - 2] === 0x0d ? 2 : 1;
  return end === data.length ? data : data.subarray(0, end);
}

/**
 * An octet-counted frame may hold the sender's own line end (rsyslog's RFC 5424 template ends with
 * LF and counts it); like rsyslog (parser.dropTrailingLFOnReception) one is dropped, from the whole
 * message or its last part.
 */
function dropTrailingLf(f: InFrame): InFrame {
  if (f.part && !f.part[1]) return f;
  const data = withoutTrailer(f.data);
  return data === f.data ? f : { ...f, data };
}

/** Groups consecutive lines of the same (stream, class) so that each run is one ingest. */
function batchesOf(routed: Routed[]): Batch[] {
  const out: Batch[] = [];
  let cur: Batch | undefined;
  for (const r of routed) {
    if (!cur || cur.stream !== r.route.stream || cur.label !== r.route.label) {
      cur = { stream: r.route.stream, label: r.route.label, lines: [] };
      out.push(cur);
    }
    cur.lines.push(r.line);
  }
  return out;
}

function peerOf(address: string | undefined, port: number | undefined): string | undefined {
  if (address === undefined) return undefined;
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}

async function listenUdp(core: SyslogCore, cfg: NonNullable<SyslogConfig['udp']>): Promise<RunningInput> {
  const { host, port } = parseListen(cfg.listen, SYSLOG_DEFAULTS.udpPort);
  const sock = dgram.createSocket({ type: net.isIPv6(host) ? 'udp6' : 'udp4', ...(cfg.receiveBufferBytes > 0 ? { recvBufferSize: cfg.receiveBufferBytes } : {}) });
  sock.on('message', (msg, rinfo) => {
    if (msg.length === 0) return; // an empty datagram carries no message (RFC 5426 section 3.1: one message per datagram)
    core.datagram(msg, [], 'udp', peerOf(rinfo.address, rinfo.port));
  });
  sock.on('error', (err) => core.log.error({ err: errorMessage(err) }, 'UDP syslog socket error'));
  await new Promise<void>((resolve, reject) => {
    sock.once('error', reject);
    sock.bind(port, host, () => {
      sock.off('error', reject);
      resolve();
    });
  }).catch((err: unknown) => {
    throw new LogfsError('LOGFS_E_CONFIG', `cannot listen for syslog on udp ${host}:${port}: ${errorMessage(err)}`, { cause: err });
  });
  const a = sock.address();
  const address = `udp://${peerOf(a.address, a.port)}`;
  core.log.info({ address }, 'listening for syslog over UDP');
  return {
    address,
    close: () => new Promise<void>((resolve) => sock.close(() => resolve())),
  };
}

/** One TCP or TLS client: frames → messages → gateway, paused while the gateway is full. */
class StreamConnection {
  private readonly framer: TcpFramer;
  private readonly parts: PartState = {};
  private readonly queue: InFrame[][] = [];
  private pumping: Promise<void> | undefined;
  private finished = false;
  /** When the peer last sent anything (for evicting the quietest connection at the bound). */
  lastActivity = Date.now();
  readonly closed: Promise<void>;

  constructor(
    private readonly core: SyslogCore,
    private readonly sock: net.Socket,
    private readonly transport: 'tcp' | 'tls',
    private readonly peer: string | undefined,
    idleTimeoutMs: number,
  ) {
    this.framer = new TcpFramer({ maxMessageBytes: core.cfg.maxMessageBytes, oversize: core.cfg.oversize });
    this.closed = new Promise((resolve) => sock.once('close', () => resolve()));
    sock.setTimeout(idleTimeoutMs);
    sock.on('data', (chunk: Buffer) => {
      this.lastActivity = Date.now();
      this.enqueue(this.framer.push(chunk).map(dropTrailingLf));
    });
    sock.on('end', () => this.finish([]));
    sock.on('error', (err) => {
      core.log.debug({ err: errorMessage(err), peer }, 'syslog connection error');
      // A peer that disconnects mid-frame: what it sent of the frame is kept, flagged truncated.
      this.finish(['truncated']);
    });
    sock.on('close', () => this.finish(['truncated']));
    sock.on('timeout', () => this.onIdle());
  }

  /**
   * Silence: a connection that stalls inside a frame (slowloris) has the partial frame ingested
   * flagged and is closed; one that is idle between frames is left open (forwarders such as rsyslog
   * keep their connection for the next message, and may lose one when they find it closed).
   */
  private onIdle(): void {
    // Paused for the gateway: the silence is ours, not the client's.
    if (this.pumping) return;
    if (!this.framer.inFrame) return;
    const partial = this.framer.end();
    this.core.counters.timeouts.inc();
    this.core.warn('idle-timeout', { peer: this.peer }, 'syslog connection stalled inside a frame; its partial frame is kept (flagged truncated) and the connection closed');
    this.enqueue(partial.map((f) => ({ ...f, flags: addFlags(f.flags, ['truncated', 'idle_timeout']) })));
    this.finished = true;
    this.sock.destroy();
  }

  /** Between messages, with nothing queued: closing it now loses nothing. */
  get quiet(): boolean {
    return !this.finished && !this.framer.inFrame && this.queue.length === 0 && this.pumping === undefined;
  }

  /** Closes a quiet connection to make room for a new one (see listenTcp). */
  evict(): void {
    this.finished = true;
    this.sock.destroy();
  }

  /** The connection ended (cleanly or not): the framer's partial frame, flagged, is the last message. */
  private finish(flags: string[]): void {
    if (this.finished) return;
    this.finished = true;
    const last = this.framer.end();
    this.enqueue(last.map((f) => ({ ...f, flags: addFlags(f.flags, flags) })));
  }

  private enqueue(frames: InFrame[]): void {
    if (frames.length === 0) return;
    this.queue.push(frames);
    if (!this.pumping) this.pumping = this.pump().finally(() => (this.pumping = undefined));
  }

  /** Synchronous while the gateway has room; otherwise the socket is paused until it has. */
  private async pump(): Promise<void> {
    const { sink } = this.core.ctx;
    let paused = false;
    try {
      while (this.queue.length > 0) {
        if (sink.isFull() && !sink.refusing()) {
          if (!paused) {
            this.sock.pause();
            paused = true;
          }
          sink.noteBackpressure('blocked');
          await sink.waitForRoom();
        }
        const frames = this.queue.shift() as InFrame[];
        const routed = frames.map((f) => this.core.toLine(f, this.transport, this.peer, this.parts));
        for (const b of batchesOf(routed)) {
          if (sink.refusing()) {
            sink.noteBackpressure('refused');
            this.core.drop('refused', b.lines.length);
            this.core.warn('drop-refused-tcp', { peer: this.peer }, 'syslog messages dropped: the journal is full and the gateway refuses writes (onFull "refuse")');
            continue;
          }
          this.core.ingest(b);
        }
      }
    } catch (err) {
      const lost = this.queue.splice(0).reduce((n, f) => n + f.length, 0);
      this.core.drop('gateway_error', lost);
      this.core.warn('gateway-error', { err: errorMessage(err) }, 'syslog messages dropped: the gateway did not take them');
    } finally {
      if (paused && !this.sock.destroyed) this.sock.resume();
    }
  }

  /** Stop: the partial frame is kept (flagged), queued frames get a short grace to find room. */
  async close(): Promise<void> {
    // What arrived while the connection was paused for the journal is messages too: framed and
    // queued, so it is stored if room comes within the grace period, and counted as dropped if not.
    if (!this.finished) {
      let chunk: Buffer | null;
      while ((chunk = this.sock.read() as Buffer | null) !== null) this.enqueue(this.framer.push(chunk).map(dropTrailingLf));
    }
    this.finish(['truncated', 'shutdown']);
    this.sock.destroy();
    const pumping = this.pumping;
    if (pumping) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([pumping, new Promise<void>((resolve) => (timer = setTimeout(resolve, SYSLOG_INPUT_DEFAULTS.closeGraceMs)))]);
      clearTimeout(timer);
      const left = this.queue.splice(0).reduce((n, f) => n + f.length, 0);
      if (left > 0) {
        this.core.drop('shutdown', left);
        this.core.log.warn({ peer: this.peer, messages: left }, 'syslog messages dropped at shutdown: the journal stayed full');
      }
    }
  }
}

function addFlags(flags: string[], more: string[]): string[] {
  const out = [...flags];
  for (const f of more) if (!out.includes(f)) out.push(f);
  return out;
}

async function listenTcp(core: SyslogCore, cfg: NonNullable<SyslogConfig['tcp']>): Promise<RunningInput> {
  const { host, port } = tcpListen(cfg);
  const transport = cfg.tls ? 'tls' : 'tcp';
  const connections = new Set<StreamConnection>();
  let open = 0;
  const serve = (sock: net.Socket): void => {
    const c = new StreamConnection(core, sock, transport, peerOf(sock.remoteAddress, sock.remotePort), cfg.idleTimeoutMs);
    connections.add(c);
    void c.closed.then(() => connections.delete(c));
  };
  let server: net.Server;
  if (cfg.tls) {
    const read = async (file: string, what: string): Promise<Buffer> =>
      fsp.readFile(file).catch((err: unknown) => {
        throw new LogfsError('LOGFS_E_CONFIG', `syslog TLS: cannot read the ${what} file ${file}: ${errorMessage(err)}`, { cause: err });
      });
    const t = cfg.tls;
    const options: tls.TlsOptions = {
      cert: await read(t.cert, 'certificate'),
      key: await read(t.key, 'key'),
      ...(t.ca ? { ca: await read(t.ca, 'CA') } : {}),
      // RFC 5425 section 4.2.1: certificate-based authentication of both ends; asked for when a CA can check it.
      requestCert: t.ca !== undefined,
      rejectUnauthorized: t.requireClientCert,
      handshakeTimeout: cfg.idleTimeoutMs,
    };
    try {
      server = tls.createServer(options, serve);
    } catch (err) {
      throw new LogfsError('LOGFS_E_CONFIG', `syslog TLS: the certificate, key or CA is unusable: ${errorMessage(err)}`, { cause: err });
    }
    server.on('tlsClientError', (err, sock) => {
      core.counters.tlsErrors.inc();
      core.warn('tls-error', { err: errorMessage(err), peer: peerOf(sock.remoteAddress, sock.remotePort) }, 'syslog TLS handshake failed');
    });
  } else {
    server = net.createServer(serve);
  }
  // Counted on the raw socket, before any TLS work: a flood of connections costs little.
  server.prependListener('connection', (sock: net.Socket) => {
    if (open >= cfg.maxConnections) {
      // Silent connections must not keep senders out: the one quiet the longest (between
      // messages, nothing pending) makes room. Only when none is quiet is the newcomer refused.
      let quietest: StreamConnection | undefined;
      for (const c of connections) if (c.quiet && Date.now() - c.lastActivity >= SYSLOG_INPUT_DEFAULTS.evictQuietMs && (!quietest || c.lastActivity < quietest.lastActivity)) quietest = c;
      if (quietest) {
        core.counters.connectionsEvicted.inc();
        core.warn('evicted', { maxConnections: cfg.maxConnections }, 'syslog: at maxConnections, the connection quiet the longest was closed to make room');
        quietest.evict();
        open += 1;
        sock.once('close', () => (open -= 1));
        return;
      }
      core.counters.connectionsRefused.inc();
      core.warn('max-connections', { maxConnections: cfg.maxConnections, peer: peerOf(sock.remoteAddress, sock.remotePort) }, `syslog connection refused: ${cfg.maxConnections} connections are open (inputs.syslog.tcp.maxConnections)`);
      sock.destroy();
      return;
    }
    open += 1;
    sock.once('close', () => (open -= 1));
  });
  server.on('error', (err) => core.log.error({ err: errorMessage(err) }, 'syslog TCP server error'));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  }).catch((err: unknown) => {
    throw new LogfsError('LOGFS_E_CONFIG', `cannot listen for syslog on ${transport} ${host}:${port}: ${errorMessage(err)}`, { cause: err });
  });
  const a = server.address() as net.AddressInfo;
  const address = `${transport}://${peerOf(a.address, a.port)}`;
  core.log.info({ address, maxConnections: cfg.maxConnections, idleTimeoutMs: cfg.idleTimeoutMs }, `listening for syslog over ${transport.toUpperCase()}`);
  return {
    address,
    close: async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      await Promise.all([...connections].map((c) => c.close()));
      await closed;
    },
  };
}

/**
 * Starts the configured syslog listeners (none when none is configured). The default stream is
 * provisioned first; rules naming unprovisioned streams are reported.
 */
export async function startSyslogInputs(cfg: SyslogConfig, ctx: SyslogInputContext): Promise<RunningInput[]> {
  if (!cfg.unix && !cfg.udp && !cfg.tcp) return [];
  const core = new SyslogCore(cfg, ctx);
  const started: RunningInput[] = [];
  try {
    await core.ensureDefaultStream();
    for (const r of core.router.unprovisionedRules()) core.warnRule(r.rule, r.stream);
    if (cfg.unix) {
      const u = cfg.unix;
      const listener = await listenUnixDgram(
        { path: path.resolve(u.path), mode: u.mode, takeOver: u.takeOver, binDir: path.join(ctx.dataDir, 'bin') },
        (data, cut) => core.datagram(data, cut ? ['oversize_truncated'] : [], 'unix', undefined),
        core.log,
      );
      started.push(listener);
    }
    if (cfg.udp) started.push(await listenUdp(core, cfg.udp));
    if (cfg.tcp) started.push(await listenTcp(core, cfg.tcp));
  } catch (err) {
    await Promise.all(started.map((s) => s.close().catch(() => undefined)));
    core.close();
    throw err;
  }
  // The last listener to close flushes what the datagram listeners accepted.
  let left = started.length;
  return started.map((s) => ({
    address: s.address,
    close: async () => {
      await s.close();
      if (--left === 0) core.close();
    },
  }));
}
