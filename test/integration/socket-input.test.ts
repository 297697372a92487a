/**
 * The plain socket input against a real gateway in embedded mode (journal on disk, no Kafka): what
 * clients send over unix, TCP and TLS arrives as records with source "socket"; acknowledgement mode
 * answers only after durability; every bad client gets its defined outcome while others keep flowing.
 */
import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import fsp from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { promisify } from 'node:util';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { createStream, FileProvisioningStore } from '../../control/store.js';
import { Gateway, parseGatewayConfig, decodeJournalEntry, decodeRecord, type IngestSink, type LogRecord } from '../../gateway/index.js';
import { formatHeader, parseReply, startSocketInput, parseSocketInputConfig, type SocketInput, type SocketInputConfigInput } from '../../inputs/socket/index.js';

const log = pino({ level: process.env.LOGFS_TEST_LOG ?? 'silent' });
const identity = { instance: 'inst-sock', provider: 'acme' };

async function waitFor<T>(what: string, fn: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

interface Env {
  dir: string;
  gw: Gateway;
  store: FileProvisioningStore;
  input: SocketInput;
  sink: IngestSink;
  unixPath: string;
  tcpPort: number;
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await (cleanups.pop() as () => Promise<void>)();
});

interface EnvOptions {
  gateway?: Record<string, unknown>;
  input?: Partial<SocketInputConfigInput>;
  embeddedConsumers?: string[];
  /** Wraps the gateway as the input's sink (to observe or delay barriers). */
  wrap?: (gw: Gateway) => IngestSink;
}

async function startEnv(opts: EnvOptions = {}): Promise<Env> {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'sock-it-'));
  const store = await FileProvisioningStore.open(dir);
  for (const name of ['app', 'ns/errors']) await createStream(store, { name, provider: 'acme' });
  await createStream(store, { name: 'theirs', provider: 'other' });
  const gw = await Gateway.start(parseGatewayConfig({ host: 'test-host', metricsListen: null, provider: 'acme', ...opts.gateway }), {
    dataDir: dir,
    store,
    log,
    embeddedConsumers: opts.embeddedConsumers ?? [],
  });
  const sink = opts.wrap ? opts.wrap(gw) : gw;
  const unixPath = path.join(dir, 'in.sock');
  const input = await startSocketInput(parseSocketInputConfig({ unix: unixPath, tcp: '127.0.0.1:0', ...opts.input }), { sink, identity, store, log });
  cleanups.push(async () => {
    await input.close();
    await gw.close();
    await store.close();
    await fsp.rm(dir, { recursive: true, force: true });
  });
  const tcp = input.addresses.find((a) => a.startsWith('tcp://') || a.startsWith('tls://')) as string;
  return { dir, gw, store, input, sink, unixPath, tcpPort: Number(tcp.split(':').pop()) };
}

async function records(gw: Gateway): Promise<LogRecord[]> {
  const { payloads } = await gw.journal.read(gw.journal.firstLsn, 1_000_000, 1 << 30);
  return payloads.map((p) => decodeRecord(decodeJournalEntry(p).value));
}

async function recordsOf(gw: Gateway, n: number): Promise<LogRecord[]> {
  return waitFor(`${n} records`, async () => {
    const r = await records(gw);
    return r.length >= n ? r : undefined;
  });
}

/** A client that collects the server's reply lines. */
class Client {
  replies: string[] = [];
  private text = '';
  readonly ended: Promise<void>;
  error: Error | undefined;

  constructor(readonly socket: net.Socket) {
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => {
      this.text += d;
      let nl: number;
      while ((nl = this.text.indexOf('\n')) !== -1) {
        this.replies.push(this.text.slice(0, nl));
        this.text = this.text.slice(nl + 1);
      }
    });
    socket.on('error', (err) => (this.error = err));
    this.ended = new Promise((resolve) => socket.once('close', () => resolve()));
  }

  static async connect(opts: net.NetConnectOpts): Promise<Client> {
    const s = net.connect(opts);
    await new Promise<void>((resolve, reject) => {
      s.once('connect', resolve);
      s.once('error', reject);
    });
    return new Client(s);
  }

  static async tls(port: number, ca: Buffer): Promise<Client> {
    const s = tls.connect({ host: '127.0.0.1', port, ca, servername: 'localhost' });
    await new Promise<void>((resolve, reject) => {
      s.once('secureConnect', resolve);
      s.once('error', reject);
    });
    return new Client(s);
  }

  send(data: string | Buffer): void {
    this.socket.write(data);
  }

  async reply(match: RegExp, timeoutMs = 10_000): Promise<string> {
    return waitFor(`a reply matching ${match} (got ${JSON.stringify(this.replies)})`, () => this.replies.find((r) => match.test(r)), timeoutMs);
  }

  /** Half-close: no more lines from us, and we still read the server's last replies. */
  finish(): void {
    this.socket.end();
  }
}

describe('socket input (embedded gateway)', () => {
  it('stores the lines of unix and TCP clients with source socket, stream and class', async () => {
    const env = await startEnv();
    const a = await Client.connect({ path: env.unixPath });
    a.send(formatHeader({ stream: 'app' }) + 'one\ntwo\n');
    const b = await Client.connect({ host: '127.0.0.1', port: env.tcpPort });
    b.send(formatHeader({ stream: 'ns/errors', label: 'disk full/critical' }));
    await b.reply(/^OK$/);
    b.send('three\n');
    expect(await a.reply(/^OK$/)).toBe('OK');
    const got = await recordsOf(env.gw, 3);
    expect(got.map((r) => [r.stream, r.class, r.data.toString(), r.source, r.provider, r.instance, r.host, r.attrs])).toEqual(
      expect.arrayContaining([
        ['app', null, 'one', 'socket', 'acme', 'inst-sock', 'test-host', undefined],
        ['app', null, 'two', 'socket', 'acme', 'inst-sock', 'test-host', undefined],
        ['ns/errors', 'disk full/critical', 'three', 'socket', 'acme', 'inst-sock', 'test-host', undefined],
      ]),
    );
    // Order within a connection is kept.
    const appRecs = got.filter((r) => r.stream === 'app');
    expect(appRecs.map((r) => r.data.toString())).toEqual(['one', 'two']);
    expect(env.input.stats()).toMatchObject({ accepted: 2, linesIn: 3, recordsIn: 3 });
  });

  it('answers ERR for an unknown stream, another provider\'s stream and a bad header, and closes', async () => {
    const env = await startEnv();
    const cases: [string, RegExp][] = [
      [formatHeader({ stream: 'nope' }), /^ERR not-found stream "nope" is not provisioned for provider "acme"/],
      [formatHeader({ stream: 'theirs' }), /^ERR not-found /],
      ['LOGFS/1 stream=app class=a@b\n', /^ERR bad-class /],
      ['GET / HTTP/1.1\n', /^ERR bad-header /],
      ['LOGFS/9 stream=app\n', /^ERR version /],
    ];
    for (const [header, want] of cases) {
      const c = await Client.connect({ host: '127.0.0.1', port: env.tcpPort });
      c.send(`${header}these lines are not stored\n`);
      await c.ended;
      expect(c.replies).toHaveLength(1);
      expect(c.replies[0]).toMatch(want);
    }
    // A header line that never ends is cut at 4 KiB.
    const long = await Client.connect({ path: env.unixPath });
    long.send(`LOGFS/1 stream=${'a'.repeat(5000)}`);
    await long.ended;
    expect(long.replies[0]).toMatch(/^ERR bad-header no header line within 4096 bytes/);
    expect(await records(env.gw)).toHaveLength(0);
    expect(env.input.stats().headerErrors).toBe(cases.length + 1);
  });

  it('acknowledgement mode: ACK <n> only once the lines are durable', async () => {
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    const barriers: number[] = [];
    const env = await startEnv({
      wrap: (gw) => ({
        ingest: (...a) => gw.ingest(...a),
        isFull: () => gw.isFull(),
        refusing: () => gw.refusing(),
        waitForRoom: () => gw.waitForRoom(),
        noteBackpressure: (k) => gw.noteBackpressure(k),
        barrier: async (pos) => {
          barriers.push(pos);
          await gate;
          return gw.barrier(pos);
        },
      }),
    });
    // Runs before the input closes (cleanups run last first): a failed assertion must not hang close().
    cleanups.push(async () => open());
    const c = await Client.connect({ host: '127.0.0.1', port: env.tcpPort });
    c.send(formatHeader({ stream: 'app', ack: true }));
    await c.reply(/^OK$/);
    c.send('l1\nl2\nl3\n');
    await recordsOf(env.gw, 3);
    await waitFor('a barrier', () => barriers.length > 0);
    await new Promise((r) => setTimeout(r, 200));
    // Held at the barrier: no ACK yet, and nothing was fsynced (journal fsync policy "barrier").
    expect(c.replies).toEqual(['OK']);
    expect(env.gw.journal.stats().durableLsn).toBe(-1);
    open();
    await c.reply(/^ACK 3$/);
    const lastLsn = env.gw.journal.nextLsn - 1;
    expect(barriers[0]).toBe(lastLsn);
    expect(env.gw.journal.stats().durableLsn).toBeGreaterThanOrEqual(lastLsn);

    // More lines, then a half-close with a last line without newline: the final ACK counts it.
    c.send('l4\nl5 no newline');
    c.finish();
    await c.ended;
    expect(c.replies.at(-1)).toBe('ACK 5');
    const got = await recordsOf(env.gw, 5);
    expect(got.map((r) => [r.data.toString(), r.attrs])).toEqual([
      ['l1', undefined],
      ['l2', undefined],
      ['l3', undefined],
      ['l4', undefined],
      ['l5 no newline', { unterminated: 'eof' }],
    ]);
    expect(env.gw.journal.stats().durableLsn).toBeGreaterThanOrEqual(env.gw.journal.nextLsn - 1);
  });

  it('without ack mode a half-close just ends the connection, partial line stored flagged', async () => {
    const env = await startEnv();
    const c = await Client.connect({ path: env.unixPath });
    c.send(formatHeader({ stream: 'app' }) + 'full\npart');
    c.finish();
    await c.ended;
    expect(c.replies).toEqual(['OK']);
    const got = await recordsOf(env.gw, 2);
    expect(got.map((r) => [r.data.toString(), r.attrs])).toEqual([
      ['full', undefined],
      ['part', { unterminated: 'eof' }],
    ]);
  });

  it('a peer that resets mid-line: the partial line is stored flagged, others keep flowing', async () => {
    const env = await startEnv();
    const other = await Client.connect({ host: '127.0.0.1', port: env.tcpPort });
    other.send(formatHeader({ stream: 'app', ack: true }));
    const c = await Client.connect({ host: '127.0.0.1', port: env.tcpPort });
    c.send(formatHeader({ stream: 'ns/errors' }) + 'whole\nhalf a li');
    await c.reply(/^OK$/);
    await recordsOf(env.gw, 1);
    c.socket.resetAndDestroy();
    const got = await recordsOf(env.gw, 2);
    expect(got.map((r) => [r.data.toString(), r.attrs])).toEqual([
      ['whole', undefined],
      ['half a li', { unterminated: 'error' }],
    ]);
    other.send('still here\n');
    await other.reply(/^ACK 1$/);
  });

  it('keeps binary lines byte for byte', async () => {
    const env = await startEnv();
    const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i).filter((b) => b !== 0x0a));
    const rand = crypto.randomBytes(64 * 1024).map((b) => (b === 0x0a ? 0x0b : b));
    const crlf = Buffer.from('windows line\r');
    const c = await Client.connect({ host: '127.0.0.1', port: env.tcpPort });
    c.send(formatHeader({ stream: 'app', ack: true }));
    // Sent in odd-sized pieces so lines cross chunk boundaries.
    const payload = Buffer.concat([all, Buffer.from('\n'), rand, Buffer.from('\n'), crlf, Buffer.from('\n')]);
    for (let o = 0; o < payload.length; o += 777) c.send(payload.subarray(o, o + 777));
    await c.reply(/^ACK 3$/);
    const got = await recordsOf(env.gw, 3);
    expect(got[0]?.data.equals(all)).toBe(true);
    expect(got[1]?.data.equals(rand)).toBe(true);
    expect(got[2]?.data.equals(crlf)).toBe(true);
  });

  it('splits or truncates overlong lines, flagged', async () => {
    const split = await startEnv({ input: { maxLineBytes: 8 } });
    const c = await Client.connect({ path: split.unixPath });
    c.send(formatHeader({ stream: 'app', ack: true }) + 'abcdefghijklmnopqrst\nshort\n');
    await c.reply(/^ACK 2$/);
    expect((await recordsOf(split.gw, 4)).map((r) => [r.data.toString(), r.part, r.attrs])).toEqual([
      ['abcdefgh', [0, false], undefined],
      ['ijklmnop', [1, false], undefined],
      ['qrst', [2, true], undefined],
      ['short', undefined, undefined],
    ]);

    const trunc = await startEnv({ input: { maxLineBytes: 8, oversize: 'truncate' } });
    const t = await Client.connect({ path: trunc.unixPath });
    t.send(formatHeader({ stream: 'app', ack: true }) + 'abcdefghijklmnopqrst\nshort\n');
    await t.reply(/^ACK 2$/);
    expect((await recordsOf(trunc.gw, 2)).map((r) => [r.data.toString(), r.part, r.attrs])).toEqual([
      ['abcdefgh', undefined, { truncated: true, lineBytes: 20 }],
      ['short', undefined, undefined],
    ]);
    expect(trunc.input.stats()).toMatchObject({ truncatedLines: 1, truncatedBytes: 12 });
  });

  it('serves TLS with a self-signed certificate; a plain client on the TLS port fails its handshake', async () => {
    const certDir = await fsp.mkdtemp(path.join(os.tmpdir(), 'sock-tls-'));
    cleanups.push(() => fsp.rm(certDir, { recursive: true, force: true }));
    const key = path.join(certDir, 'key.pem');
    const cert = path.join(certDir, 'cert.pem');
    await promisify(execFile)('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=localhost', '-days', '1', '-keyout', key, '-out', cert]);
    const env = await startEnv({ input: { tls: { cert, key } } });
    expect(env.input.addresses).toContain(`tls://127.0.0.1:${env.tcpPort}`);
    const c = await Client.tls(env.tcpPort, await fsp.readFile(cert));
    c.send(formatHeader({ stream: 'app', label: 'secure', ack: true }) + 'over tls\n');
    await c.reply(/^ACK 1$/);
    c.finish();
    await c.ended;
    expect(c.replies).toEqual(['OK', 'ACK 1', 'ACK 1']);
    const [r] = await recordsOf(env.gw, 1);
    expect([r?.data.toString(), r?.class, r?.source]).toEqual(['over tls', 'secure', 'socket']);

    const plain = await Client.connect({ host: '127.0.0.1', port: env.tcpPort });
    plain.send(formatHeader({ stream: 'app' }) + 'not tls\n');
    await plain.ended;
    expect(plain.replies.some((x) => x === 'OK')).toBe(false);
    await waitFor('a TLS error counted', () => env.input.stats().tlsErrors === 1);
    expect(await records(env.gw)).toHaveLength(1);
  });

  it('answers ERR busy beyond maxConnections, counted, while the connected clients keep flowing', async () => {
    const env = await startEnv({ input: { maxConnections: 2 } });
    const a = await Client.connect({ host: '127.0.0.1', port: env.tcpPort });
    a.send(formatHeader({ stream: 'app', ack: true }));
    const b = await Client.connect({ path: env.unixPath });
    b.send(formatHeader({ stream: 'app', ack: true }));
    await a.reply(/^OK$/);
    await b.reply(/^OK$/);
    const rejected = await Promise.all([1, 2, 3].map(() => Client.connect({ host: '127.0.0.1', port: env.tcpPort })));
    for (const r of rejected) {
      r.send(formatHeader({ stream: 'app' }) + 'refused line\n');
      await r.ended;
      expect(r.replies).toEqual([expect.stringMatching(/^ERR busy this input serves 2 connections already/)]);
    }
    expect(env.input.stats()).toMatchObject({ rejectedBusy: 3, connections: 2 });
    a.send('from a\n');
    b.send('from b\n');
    await a.reply(/^ACK 1$/);
    await b.reply(/^ACK 1$/);
    // A slot freed is a slot usable again.
    a.finish();
    await a.ended;
    await waitFor('the slot to free', () => env.input.stats().connections === 1);
    const d = await Client.connect({ host: '127.0.0.1', port: env.tcpPort });
    d.send(formatHeader({ stream: 'app', ack: true }) + 'from d\n');
    await d.reply(/^ACK 1$/);
    expect((await records(env.gw)).map((r) => r.data.toString()).sort()).toEqual(['from a', 'from b', 'from d']);
  });

  it('slowloris: a stalled header or line is cut after idleTimeoutMs, the partial line stored flagged', async () => {
    const env = await startEnv({ input: { idleTimeoutMs: 300 } });
    const quiet = await Client.connect({ host: '127.0.0.1', port: env.tcpPort });
    quiet.send(formatHeader({ stream: 'app', ack: true }));
    const header = await Client.connect({ host: '127.0.0.1', port: env.tcpPort });
    header.send('LOGFS/1 stre');
    const line = await Client.connect({ path: env.unixPath });
    line.send(formatHeader({ stream: 'app', ack: true }) + 'done\nhalf');
    // Trickling bytes of the header does not push its deadline back.
    const trickle = setInterval(() => header.send('a'), 100);
    await header.ended;
    clearInterval(trickle);
    expect(header.replies).toEqual([expect.stringMatching(/^ERR idle no header within 300 ms/)]);
    await line.ended;
    expect(line.replies).toEqual(['OK', 'ACK 1', 'ACK 2', expect.stringMatching(/^ERR idle no byte for 300 ms in the middle of a line/)]);
    const got = await recordsOf(env.gw, 2);
    expect(got.map((r) => [r.data.toString(), r.attrs])).toEqual([
      ['done', undefined],
      ['half', { unterminated: 'idle' }],
    ]);
    // A client idle between whole lines is not stalled: it stays connected and is served.
    expect(quiet.socket.destroyed).toBe(false);
    quiet.send('after a pause\n');
    await quiet.reply(/^ACK 1$/);
    expect(env.input.stats().idleTimeouts).toBe(2);
  });

  it('backpressure: a full journal stops reading (the client blocks) until there is room', async () => {
    const env = await startEnv({
      gateway: { journal: { maxBytes: 8192, segmentBytes: 4096 } },
      embeddedConsumers: ['reader'],
    });
    const c = await Client.connect({ host: '127.0.0.1', port: env.tcpPort });
    c.send(formatHeader({ stream: 'app', ack: true }));
    await c.reply(/^OK$/);
    const line = `${'x'.repeat(199)}\n`;
    const base = env.gw.journal.nextLsn;
    for (let i = 0; i < 200; i++) c.send(line);
    await waitFor('the input to block', () => env.input.stats().blocked > 0);
    // Counted as ingested (journal positions), not as read back from the segment files, which may
    // still be catching up with what was appended.
    const stuck = env.gw.journal.nextLsn - base;
    expect(stuck).toBeLessThan(200);
    await new Promise((r) => setTimeout(r, 200));
    expect(env.gw.journal.nextLsn - base).toBe(stuck);
    expect(env.gw.metrics.snapshot().logfs_writes_blocked_total).toBeGreaterThan(0);
    // The reader consumes: room frees, reading resumes, every line arrives.
    const drain = setInterval(() => env.gw.journal.ack('reader', env.gw.journal.nextLsn - 1), 20);
    try {
      await c.reply(/^ACK 200$/);
    } finally {
      clearInterval(drain);
    }
    expect(env.input.stats().linesIn).toBe(200);
  });

  it('close() with the journal still full does not hang: the client learns what was stored', async () => {
    const env = await startEnv({
      gateway: { journal: { maxBytes: 8192, segmentBytes: 4096 } },
      embeddedConsumers: ['reader'],
    });
    const c = await Client.connect({ path: env.unixPath });
    c.send(formatHeader({ stream: 'app', ack: true }));
    await c.reply(/^OK$/);
    for (let i = 0; i < 200; i++) c.send(`${'z'.repeat(199)}\n`);
    await waitFor('the input to block', () => env.input.stats().blocked > 0);
    await env.input.close();
    await c.ended;
    const stored = (await records(env.gw)).length;
    expect(c.replies.slice(-2)).toEqual([`ACK ${stored}`, expect.stringMatching(new RegExp(`^ERR shutdown .*journal full; lines after line ${stored} were not stored`))]);
    expect(env.input.stats().abandonedLines).toBeGreaterThan(0);
  });

  it('refuse policy: a full journal answers ERR full and closes, counted', async () => {
    const env = await startEnv({
      gateway: { onFull: 'refuse', journal: { maxBytes: 8192, segmentBytes: 4096 } },
      embeddedConsumers: ['reader'],
    });
    const c = await Client.connect({ host: '127.0.0.1', port: env.tcpPort });
    c.send(formatHeader({ stream: 'app', ack: true }));
    await c.reply(/^OK$/);
    const line = `${'y'.repeat(199)}\n`;
    for (let i = 0; i < 200; i++) c.send(line);
    await c.ended;
    const last = c.replies.at(-1) as string;
    expect(parseReply(last)).toMatchObject({ kind: 'err', code: 'full' });
    // The final ACK before the ERR counts exactly what was stored.
    const acked = parseReply(c.replies.at(-2) as string);
    expect(acked.kind).toBe('ack');
    expect((await records(env.gw)).length).toBe((acked as { lines: number }).lines);
    expect(env.input.stats().refusedFull).toBe(1);
    expect(env.gw.metrics.snapshot().logfs_writes_refused_total).toBe(1);
  });

  it('close(): what was received is delivered, ack clients get their final ACK and ERR shutdown', async () => {
    const env = await startEnv();
    const c = await Client.connect({ path: env.unixPath });
    c.send(formatHeader({ stream: 'app', ack: true }) + 'a\nb\npartial');
    await recordsOf(env.gw, 2);
    await env.input.close();
    await c.ended;
    expect(c.replies.slice(-2)).toEqual(['ACK 3', 'ERR shutdown the input is shutting down']);
    const got = await records(env.gw);
    expect(got.map((r) => [r.data.toString(), r.attrs])).toEqual([
      ['a', undefined],
      ['b', undefined],
      ['partial', { unterminated: 'shutdown' }],
    ]);
    await expect(fsp.stat(env.unixPath)).rejects.toThrow(/ENOENT/);
  });
});
