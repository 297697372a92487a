/**
 * Syslog into a real embedded-mode logfsd (issue 4): clients nobody here wrote (util-linux
 * `logger`, Python's logging.handlers.SysLogHandler) over the unix datagram socket, UDP and TCP,
 * and bad input (stalled and cut frames, oversized and binary messages) while others keep flowing.
 * Records are read back from the journal, which is the bus in embedded mode.
 */
import { spawn } from 'node:child_process';
import dgram from 'node:dgram';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileProvisioningStore } from '../../control/store.js';
import { topicForStream } from '../../control/stream-name.js';
import { rootLogger } from '../../core/logger.js';
import { connectGateway } from '../../gateway/gateway-client.js';
import { serveGateway } from '../../gateway/gateway-server.js';
import { decodeJournalEntry, decodeRecord, Gateway, parseGatewayConfig, type IngestLine, type IngestSink, type LogRecord } from '../../gateway/index.js';
import { JournalReader } from '../../gateway/journal-reader.js';
import { MetricsRegistry } from '../../gateway/metrics.js';
import { SyslogConfigSchema } from '../../inputs/config.js';
import type { RunningInput } from '../../inputs/input.js';
import { startSyslogInputs } from '../../inputs/syslog/syslog-input.js';
import { Daemon, execFileP, journalRecords, logfsctl, randomName, sh, sleep, tempDir, waitFor } from './harness.js';

interface Addresses {
  unix?: string;
  udp?: number;
  tcp?: number;
  tls?: number;
}

async function addressesOf(d: Daemon): Promise<Addresses> {
  const rt = (await d.runtime()) as unknown as { inputs: string[] };
  const out: Addresses = {};
  for (const a of rt.inputs) {
    const [scheme, rest] = a.split('://') as [string, string];
    if (scheme === 'unix') out.unix = rest;
    else (out as Record<string, number>)[scheme] = Number(rest.slice(rest.lastIndexOf(':') + 1));
  }
  return out;
}

const recordsOf = journalRecords;

/** Waits for `count` records of `stream` whose data contains `token`. */
async function waitRecords(d: Daemon, stream: string, token: string, count = 1, timeoutMs = 15_000): Promise<LogRecord[]> {
  return waitFor(`${count} record(s) with "${token}" in ${stream}`, async () => {
    const found = (await recordsOf(d, stream)).filter((r) => r.data.includes(token));
    return found.length >= count ? found : undefined;
  }, timeoutMs, 100);
}

const attrsOf = (r: LogRecord): Record<string, unknown> => r.attrs ?? {};

function tcpClient(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => resolve(s));
    s.once('error', reject);
  });
}

function closedBy(sock: net.Socket, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(false), timeoutMs);
    sock.once('close', () => {
      clearTimeout(t);
      resolve(true);
    });
    sock.on('error', () => undefined);
  });
}

async function udpSend(port: number, msg: Buffer): Promise<void> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((resolve, reject) => s.send(msg, port, '127.0.0.1', (err) => (err ? reject(err) : resolve())));
  s.close();
}

async function python(script: string): Promise<void> {
  await execFileP('python3', ['-c', script], { timeout: 30_000 });
}

describe('syslog input with an embedded-mode logfsd', () => {
  let d: Daemon;
  let addr: Addresses;
  let base: string;

  beforeAll(async () => {
    base = await tempDir('logfs-syslog-');
    d = await Daemon.start({
      streams: ['auth', 'web'],
      config: {
        inputs: {
          syslog: {
            unix: { path: path.join(base, 'log.sock') },
            udp: { listen: '127.0.0.1:0' },
            tcp: { listen: '127.0.0.1:0', idleTimeoutMs: 1500, maxConnections: 20 },
            defaultStream: 'syslog-in',
            maxMessageBytes: 1024,
            rules: [
              { stream: 'auth', match: { facility: ['auth', 'authpriv'] } },
              { stream: 'web', class: 'access', match: { appName: 'nginx*' } },
              { stream: 'ghost', match: { appName: 'ghostapp' } },
            ],
          },
        },
      },
    });
    addr = await addressesOf(d);
  }, 60_000);

  afterAll(async () => {
    await d?.cleanup();
    if (base) await fsp.rm(base, { recursive: true, force: true });
  });

  it('listens where runtime.json says, provisions the default stream and reports the unprovisioned rule', async () => {
    expect(addr.unix).toBe(path.join(base, 'log.sock'));
    expect(addr.udp).toBeGreaterThan(0);
    expect(addr.tcp).toBeGreaterThan(0);
    const list = await logfsctl(['stream', 'list', '--json', '--data', d.dataDir]);
    expect((JSON.parse(list.stdout) as { name: string }[]).map((s) => s.name)).toContain('syslog-in');
    const log = await fsp.readFile(d.logFile, 'utf8');
    expect(log).toMatch(/syslog routing rule 2 names stream \\?"ghost\\?", which is not provisioned/);
  });

  it('logger over the unix socket, RFC 3164 and RFC 5424', async () => {
    const t1 = randomName('u3164-');
    const t2 = randomName('u5424-');
    await sh(`logger -u ${addr.unix} --rfc3164 -i -t myapp -p local3.err "${t1}"; logger -u ${addr.unix} --rfc5424 -i -t myapp -p auth.crit "${t2}"`);
    const [r1] = await waitRecords(d, 'syslog-in', t1);
    expect(r1!.source).toBe('syslog');
    expect(r1!.class).toBe('err');
    expect(r1!.data.toString()).toBe(t1);
    expect(attrsOf(r1!)).toMatchObject({ format: 'rfc3164', facility: 'local3', severity: 'err', appName: 'myapp', transport: 'unix' });
    expect(attrsOf(r1!).procId).toMatch(/^\d+$/);
    const [r2] = await waitRecords(d, 'auth', t2);
    expect(r2!.class).toBe('crit');
    expect(r2!.data.toString()).toBe(t2);
    expect(attrsOf(r2!)).toMatchObject({ format: 'rfc5424', facility: 'auth', severity: 'crit', appName: 'myapp', transport: 'unix' });
    expect(attrsOf(r2!).procId).toMatch(/^\d+$/);
    expect(typeof attrsOf(r2!).hostname).toBe('string');
  });

  it('logger over UDP, RFC 3164 and RFC 5424', async () => {
    const t1 = randomName('d3164-');
    const t2 = randomName('d5424-');
    await sh(`logger -d -n 127.0.0.1 -P ${addr.udp} --rfc3164 -i -t nginx-worker -p daemon.info "${t1}"; logger -d -n 127.0.0.1 -P ${addr.udp} --rfc5424 -i -t other -p user.warning "${t2}"`);
    const [r1] = await waitRecords(d, 'web', t1);
    expect(r1!.class).toBe('access');
    expect(r1!.data.toString()).toBe(t1);
    expect(attrsOf(r1!)).toMatchObject({ format: 'rfc3164', facility: 'daemon', severity: 'info', appName: 'nginx-worker', transport: 'udp' });
    expect(attrsOf(r1!).procId).toMatch(/^\d+$/);
    expect(typeof attrsOf(r1!).hostname).toBe('string');
    expect(attrsOf(r1!).peer).toMatch(/^127\.0\.0\.1:\d+$/);
    const [r2] = await waitRecords(d, 'syslog-in', t2);
    expect(r2!.class).toBe('warning');
    expect(attrsOf(r2!)).toMatchObject({ format: 'rfc5424', facility: 'user', severity: 'warning', appName: 'other', transport: 'udp' });
  });

  it('logger over TCP, newline and octet-counted framing, RFC 3164 and RFC 5424', async () => {
    const t = ['t3164-', 't5424-', 'toc3164-', 'toc5424-'].map((p) => randomName(p));
    const L = `logger -T -n 127.0.0.1 -P ${addr.tcp} -i -t tcpapp -p local0.notice`;
    await sh(`${L} --rfc3164 "${t[0]}"; ${L} --rfc5424 "${t[1]}"; ${L} --octet-count --rfc3164 "${t[2]}"; ${L} --octet-count --rfc5424 "${t[3]}"`);
    for (const [i, token] of t.entries()) {
      const [r] = await waitRecords(d, 'syslog-in', token);
      expect(r!.class).toBe('notice');
      expect(r!.data.toString()).toBe(token);
      expect(attrsOf(r!)).toMatchObject({ format: i % 2 === 0 ? 'rfc3164' : 'rfc5424', facility: 'local0', severity: 'notice', appName: 'tcpapp', transport: 'tcp' });
      expect(attrsOf(r!).procId).toMatch(/^\d+$/);
      expect(attrsOf(r!).flags).toBeUndefined();
    }
  });

  it("Python's SysLogHandler over UDP and the unix socket", async () => {
    const tu = randomName('pyudp-');
    const tx = randomName('pyunix-');
    const script = (address: string, token: string): string => `
import logging, logging.handlers
h = logging.handlers.SysLogHandler(address=${address}, facility=logging.handlers.SysLogHandler.LOG_LOCAL4)
h.ident = 'pyapp[4242]: '
log = logging.getLogger('t'); log.addHandler(h); log.setLevel(logging.DEBUG)
log.error('${token}')
h.close()
`;
    await python(script(`('127.0.0.1', ${addr.udp})`, tu));
    await python(script(`'${addr.unix}'`, tx));
    for (const [token, transport] of [[tu, 'udp'], [tx, 'unix']] as const) {
      const [r] = await waitRecords(d, 'syslog-in', token);
      expect(r!.class).toBe('err');
      // Python ends the datagram with a NUL (append_nul), a trailer that is not part of the message.
      expect(r!.data.toString()).toBe(token);
      expect(attrsOf(r!)).toMatchObject({ facility: 'local4', severity: 'err', appName: 'pyapp', procId: '4242', transport });
    }
  });

  it('a rule naming an unprovisioned stream sends its messages to the default stream, counted', async () => {
    const token = randomName('ghost-');
    await sh(`logger -d -n 127.0.0.1 -P ${addr.udp} -t ghostapp -p user.err "${token}"`);
    const [r] = await waitRecords(d, 'syslog-in', token);
    expect(attrsOf(r!).routedFrom).toBe('ghost');
    expect(r!.class).toBe('err');
    const m = await d.metrics();
    expect(m.logfs_syslog_rerouted_total).toBeGreaterThanOrEqual(1);
  });

  it('a client that stalls in the middle of a frame gets its partial frame kept (truncated) and is closed; others keep flowing', async () => {
    const stalled = randomName('stall-');
    const slow = await tcpClient(addr.tcp!);
    const slowClosed = closedBy(slow, 10_000);
    slow.write(`<14>1 2024-01-01T00:00:00Z h slowapp - - - ${stalled} and then noth`);
    // Meanwhile another client's messages arrive at once.
    const fast = randomName('fast-');
    const other = await tcpClient(addr.tcp!);
    other.write(`<14>1 - h fastapp - - - ${fast}\n`);
    const [f] = await waitRecords(d, 'syslog-in', fast, 1, 1000);
    expect(f!.data.toString()).toBe(fast);
    expect(await slowClosed).toBe(true);
    const [r] = await waitRecords(d, 'syslog-in', stalled);
    expect(r!.data.toString()).toBe(`${stalled} and then noth`);
    expect(attrsOf(r!).flags).toEqual(expect.arrayContaining(['truncated', 'idle_timeout']));
    expect(attrsOf(r!).appName).toBe('slowapp');
    // An idle connection between frames is not closed: forwarders keep theirs.
    const later = randomName('later-');
    other.write(`<14>1 - h fastapp - - - ${later}\n`);
    await waitRecords(d, 'syslog-in', later);
    other.destroy();
    expect((await d.metrics()).logfs_syslog_idle_timeouts_total).toBeGreaterThanOrEqual(1);
  });

  it('a peer that disconnects inside an octet-counted frame leaves the frame flagged truncated', async () => {
    const token = randomName('cut-');
    const c = await tcpClient(addr.tcp!);
    const body = `<13>1 - h cutapp - - - ${token} only part of it`;
    c.write(`${body.length + 50} ${body}`);
    await sleep(100);
    c.destroy();
    const [r] = await waitRecords(d, 'syslog-in', token);
    expect(r!.data.toString()).toBe(`${token} only part of it`);
    expect(attrsOf(r!).flags).toContain('truncated');
    expect(attrsOf(r!).appName).toBe('cutapp');
  });

  it('oversized messages are split into flagged parts that keep the header fields (TCP and UDP)', async () => {
    for (const via of ['tcp', 'udp'] as const) {
      const token = randomName(`big${via}-`);
      const text = `${token} ${'x'.repeat(2500)}`;
      const msg = Buffer.from(`<11>1 - h bigapp 77 - - ${text}`);
      if (via === 'tcp') {
        const c = await tcpClient(addr.tcp!);
        c.end(`${msg.length} ${msg.toString()}`);
      } else {
        await udpSend(addr.udp!, msg);
      }
      const [first] = await waitRecords(d, 'syslog-in', token);
      const all = await recordsOf(d, 'syslog-in');
      const start = all.indexOf(all.find((r) => r.seq === first!.seq)!);
      const parts = all.slice(start, start + 3);
      expect(parts.map((p) => p.part)).toEqual([[0, false], [1, false], [2, true]]);
      expect(Buffer.concat(parts.map((p) => p.data)).toString()).toBe(text);
      for (const p of parts) {
        expect(p.class).toBe('err');
        expect(attrsOf(p)).toMatchObject({ appName: 'bigapp', procId: '77', transport: via });
        expect(attrsOf(p).flags).toContain('split');
      }
    }
  });

  it('binary data and invalid UTF-8 arrive byte-exact (octet-counted TCP and UDP); garbage passes raw, flagged', async () => {
    const token = randomName('bin-');
    const payload = Buffer.concat([Buffer.from(`${token} `), Buffer.from([0x00, 0x0a, 0xff, 0xfe, 0xc3, 0x28, 0x0d, 0x0a, 0x01])]);
    const msg = Buffer.concat([Buffer.from('<13>1 - h binapp - - - '), payload]);
    const c = await tcpClient(addr.tcp!);
    c.end(Buffer.concat([Buffer.from(`${msg.length} `), msg]));
    await udpSend(addr.udp!, msg);
    const recs = await waitRecords(d, 'syslog-in', token, 2);
    for (const r of recs) expect(r.data.equals(payload)).toBe(true);
    expect(recs.map((r) => attrsOf(r).transport).sort()).toEqual(['tcp', 'udp']);

    const garbage = Buffer.concat([Buffer.from(randomName('garbage-')), Buffer.from([0xff, 0x00, 0x80])]);
    await udpSend(addr.udp!, garbage);
    const [g] = await waitRecords(d, 'syslog-in', garbage.subarray(0, 15).toString());
    expect(g!.data.equals(garbage)).toBe(true);
    expect(g!.class).toBeNull();
    expect(attrsOf(g!)).toMatchObject({ format: 'raw', flags: ['unparsed'] });
  });

  it('bounds concurrent TCP connections, logs and counts the refused, and serves again when they close', async () => {
    const held = await Promise.all(Array.from({ length: 20 }, () => tcpClient(addr.tcp!)));
    await sleep(200);
    const extra = await tcpClient(addr.tcp!).catch(() => undefined);
    if (extra) expect(await closedBy(extra, 5000)).toBe(true);
    expect((await d.metrics()).logfs_syslog_connections_refused_total).toBeGreaterThanOrEqual(1);
    const log = await fsp.readFile(d.logFile, 'utf8');
    expect(log).toContain('syslog connection refused: 20 connections are open');
    for (const s of held) s.destroy();
    await sleep(300);
    const token = randomName('after-');
    const c = await tcpClient(addr.tcp!);
    c.end(`<14>1 - h app - - - ${token}\n`);
    await waitRecords(d, 'syslog-in', token);
  });

  it('at the bound, closes the connection quiet the longest for a new sender instead of refusing it', async () => {
    const held = await Promise.all(Array.from({ length: 20 }, () => tcpClient(addr.tcp!)));
    await sleep(1_500); // all quiet for longer than evictQuietMs
    const token = randomName('evict-');
    const c = await tcpClient(addr.tcp!);
    c.end(`<14>1 - h app - - - ${token}\n`);
    await waitRecords(d, 'syslog-in', token);
    await waitFor('a held connection closed by the server', () => held.some((s) => s.closed || s.readableEnded), 5_000, 50);
    expect((await d.metrics()).logfs_syslog_connections_evicted_total).toBeGreaterThanOrEqual(1);
    for (const s of held) s.destroy();
  });

  it('counts messages by transport on the metrics endpoint', async () => {
    const m = await d.metrics();
    for (const t of ['unix', 'udp', 'tcp']) expect(m[`logfs_syslog_messages_total{transport="${t}"}`]).toBeGreaterThan(0);
    expect(m['logfs_syslog_flagged_total{flag="split"}']).toBeGreaterThanOrEqual(6);
  });
});

describe('syslog over TLS (RFC 5425)', () => {
  let d: Daemon;
  let base: string;

  beforeAll(async () => {
    base = await tempDir('logfs-syslog-tls-');
    await execFileP('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=localhost', '-days', '1', '-keyout', path.join(base, 'key.pem'), '-out', path.join(base, 'cert.pem')]);
    d = await Daemon.start({ args: ['--syslog-tcp', '127.0.0.1:0', '--syslog-tls-cert', path.join(base, 'cert.pem'), '--syslog-tls-key', path.join(base, 'key.pem')] });
  }, 60_000);

  afterAll(async () => {
    await d?.cleanup();
    if (base) await fsp.rm(base, { recursive: true, force: true });
  });

  it('receives octet-counted messages over TLS and counts a failed handshake', async () => {
    const { tls: port } = await addressesOf(d);
    expect(port).toBeGreaterThan(0);
    const ca = await fsp.readFile(path.join(base, 'cert.pem'));
    const token = randomName('tls-');
    const msg = `<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - ${token}`;
    const s = tls.connect({ host: '127.0.0.1', port: port!, ca, servername: 'localhost' });
    await new Promise<void>((resolve, reject) => s.once('secureConnect', () => resolve()).once('error', reject));
    s.end(`${Buffer.byteLength(msg)} ${msg}`);
    const [r] = await waitRecords(d, 'syslog', token);
    expect(r!.class).toBe('crit');
    expect(attrsOf(r!)).toMatchObject({ format: 'rfc5424', facility: 'auth', hostname: 'mymachine.example.com', appName: 'su', msgId: 'ID47', transport: 'tls', timestamp: '2003-10-11T22:14:15.003Z' });
    // A plain-text client on the TLS port is a failed handshake, counted.
    const plain = await tcpClient(port!);
    plain.end('<14>hello in clear\n');
    await waitFor('a counted TLS error', async () => ((await d.metrics()).logfs_syslog_tls_errors_total ?? 0) >= 1);
  });
});

/** A gateway stand-in whose fullness the test sets, recording what it is given. */
class FakeSink implements IngestSink {
  full = false;
  refuse = false;
  get onFull(): 'block' | 'refuse' {
    return this.refuse ? 'refuse' : 'block';
  }
  readonly got: { stream: string; label: string | null; line: IngestLine }[] = [];
  private waiters: (() => void)[] = [];

  ingest(_who: unknown, stream: string, label: string | null, lines: IngestLine[]): number {
    for (const line of lines) this.got.push({ stream, label, line });
    return this.got.length;
  }
  isFull(): boolean {
    return this.full;
  }
  refusing(): boolean {
    return this.full && this.refuse;
  }
  waitForRoom(): Promise<void> {
    return this.full ? new Promise((resolve) => this.waiters.push(resolve)) : Promise.resolve();
  }
  room(): void {
    this.full = false;
    for (const w of this.waiters.splice(0)) w();
  }
  barrier(): Promise<void> {
    return Promise.resolve();
  }
  noteBackpressure(): void {}
  texts(): string[] {
    return this.got.map((g) => g.line.data.toString());
  }
}

describe('syslog input against the gateway interface (in process)', () => {
  let dir: string;
  let store: FileProvisioningStore;

  beforeAll(async () => {
    dir = await tempDir('logfs-syslog-ip-');
    store = await FileProvisioningStore.open(path.join(dir, 'data'));
  });

  afterAll(async () => {
    await store?.close();
    if (dir) await fsp.rm(dir, { recursive: true, force: true });
  });

  async function start(sink: IngestSink, metrics: MetricsRegistry, provider = 'p1'): Promise<{ inputs: RunningInput[]; udp: number; tcp: number }> {
    const cfg = SyslogConfigSchema.parse({ udp: { listen: '127.0.0.1:0' }, tcp: { listen: '127.0.0.1:0' }, defaultStream: `syslog-${provider}` });
    const inputs = await startSyslogInputs(cfg, { sink, identity: { instance: 'i1', provider }, store, log: rootLogger(), dataDir: path.join(dir, 'data'), metrics });
    const port = (scheme: string): number => Number(inputs.find((i) => i.address.startsWith(scheme))!.address.split(':').pop());
    return { inputs, udp: port('udp'), tcp: port('tcp') };
  }

  it('drops datagrams while the gateway is full or refusing, counted by reason; TCP waits for room and loses nothing', async () => {
    const sink = new FakeSink();
    const metrics = new MetricsRegistry();
    const { inputs, udp, tcp } = await start(sink, metrics);
    try {
      const dropped = (reason: string): number | undefined => metrics.snapshot()[`logfs_syslog_dropped_total{reason="${reason}"}`];
      sink.full = true;
      await udpSend(udp, Buffer.from('<14>1 - h app - - - while-full'));
      await waitFor('a datagram dropped as full', () => dropped('full') === 1, 5000);
      sink.refuse = true;
      await udpSend(udp, Buffer.from('<14>1 - h app - - - while-refusing'));
      await waitFor('a datagram dropped as refused', () => dropped('refused') === 1, 5000);
      sink.refuse = false;
      const c = await tcpClient(tcp);
      c.write('<14>1 - h app - - - tcp-one\n<14>1 - h app - - - tcp-two\n');
      await sleep(500);
      expect(sink.texts()).toEqual([]);
      sink.room();
      await waitFor('TCP messages after room', () => sink.got.length === 2, 5000);
      expect(sink.texts()).toEqual(['tcp-one', 'tcp-two']);
      expect(sink.got.every((g) => g.stream === 'syslog-p1' && g.label === 'info')).toBe(true);
      await udpSend(udp, Buffer.from('<14>1 - h app - - - with-room'));
      await waitFor('the datagram with room', () => sink.got.length === 3, 5000);
      c.destroy();
    } finally {
      for (const i of inputs) await i.close();
    }
  });

  it('with a separate gateway, attrs travel over the gateway socket', async () => {
    const gwData = path.join(dir, 'gw');
    const socket = path.join(dir, 'gw.sock');
    const config = parseGatewayConfig({ provider: 'p2', metricsListen: null, remoteInstances: [{ id: 'remote-a', socket }] });
    const gateway = await Gateway.start(config, { dataDir: gwData, store });
    const server = await serveGateway(gateway);
    const client = await connectGateway(socket, undefined);
    const { inputs, udp } = await start(client, new MetricsRegistry(), 'p2');
    try {
      await udpSend(udp, Buffer.from('<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog 99 ID47 [exampleSDID@32473 iut="3"] remote-attrs'));
      const topic = topicForStream('p2', 'syslog-p2');
      const rec = await waitFor('the record in the gateway journal', async () => {
        const reader = new JournalReader(path.join(gwData, 'journal'));
        const { payloads } = await reader.read(await reader.start(true));
        const found = payloads.map((p) => decodeJournalEntry(p)).filter((e) => e.topic === topic).map((e) => decodeRecord(e.value));
        return found[0];
      }, 10_000, 100);
      expect(rec.instance).toBe('remote-a');
      expect(rec.source).toBe('syslog');
      expect(rec.class).toBe('notice');
      expect(rec.data.toString()).toBe('remote-attrs');
      expect(rec.attrs).toMatchObject({ facility: 'local4', severity: 'notice', hostname: 'mymachine.example.com', appName: 'evntslog', procId: '99', msgId: 'ID47', structuredData: { 'exampleSDID@32473': { iut: '3' } }, transport: 'udp' });
    } finally {
      for (const i of inputs) await i.close();
      await client.close();
      await server.close();
      await gateway.close();
    }
  });

  it('the unix socket: refuses a path another process receives on unless asked to take it over, and puts it back', async () => {
    const sockPath = path.join(dir, 'dev-log');
    // A "system logger": a live datagram socket bound at the path.
    const holder = spawn('python3', ['-c', `import socket,sys,time\ns=socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\ns.bind(sys.argv[1])\nprint('ready', flush=True)\ntime.sleep(60)`, sockPath], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      await new Promise<void>((resolve) => holder.stdout!.once('data', () => resolve()));
      const sink = new FakeSink();
      const ctx = (): Parameters<typeof startSyslogInputs>[1] => ({ sink, identity: { instance: 'i1', provider: 'p1' }, store, log: rootLogger(), dataDir: path.join(dir, 'data'), metrics: new MetricsRegistry() });
      const cfg = (takeOver: boolean) => SyslogConfigSchema.parse({ unix: { path: sockPath, takeOver }, defaultStream: 'syslog-p1' });
      await expect(startSyslogInputs(cfg(false), ctx())).rejects.toThrow(/another process receives on .*takeOver: true/);
      const inputs = await startSyslogInputs(cfg(true), ctx());
      expect(fs.existsSync(`${sockPath}.logfs-saved`)).toBe(true);
      await sh(`logger -u ${sockPath} -t tk "taken-over"`);
      await waitFor('the message through the taken-over path', () => sink.texts().includes('taken-over'), 5000);
      for (const i of inputs) await i.close();
      expect(fs.existsSync(`${sockPath}.logfs-saved`)).toBe(false);
      expect(fs.statSync(sockPath).isSocket()).toBe(true);
    } finally {
      holder.kill();
    }
  });
});
