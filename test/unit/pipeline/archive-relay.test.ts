import net from 'node:net';
import { Unpackr } from 'msgpackr';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { isLogfsError } from '../../../core/errors.js';
import { sleep } from '../../../core/retry.js';
import { decodeRecord } from '../../../gateway/index.js';
import type { TopicProducer } from '../../../pipeline/agent.js';
import { archivedData, parseHostPort, TcpRelay, TopicRelay, type ArchivedRecord } from '../../../pipeline/archive/index.js';
import { makeRecord } from './agent-harness.js';

const log = pino({ level: 'silent' });
const origin = { graph: 'g', version: 7 };
const TS = 1_714_557_600_123; // above 2^32: must stay an integer on the wire

/** A line-collecting TCP server that can be stopped (dropping its connections) and started again on the same port. */
class LineServer {
  readonly lines: string[] = [];
  connections = 0;
  private server: net.Server | undefined;
  private sockets = new Set<net.Socket>();
  port = 0;

  async start(port = 0): Promise<void> {
    const server = net.createServer((socket) => {
      this.connections++;
      this.sockets.add(socket);
      let rest = '';
      socket.on('data', (chunk) => {
        const parts = (rest + chunk.toString('utf8')).split('\n');
        rest = parts.pop() as string;
        this.lines.push(...parts);
      });
      socket.on('close', () => this.sockets.delete(socket));
      socket.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    this.server = server;
    this.port = (server.address() as net.AddressInfo).port;
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    this.server = undefined;
  }

  records(): ArchivedRecord[] {
    return this.lines.map((l) => JSON.parse(l) as ArchivedRecord);
  }
}

async function until(cond: () => boolean, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(10);
  }
}

/** What the engine does: retry a flush that failed retriably. */
async function flushWithRetry(relay: { flush(): Promise<void> }, attempts = 100): Promise<number> {
  for (let i = 1; ; i++) {
    try {
      await relay.flush();
      return i;
    } catch (err) {
      if (!isLogfsError(err) || !err.retriable || i >= attempts) throw err;
      await sleep(20);
    }
  }
}

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

describe('TcpRelay', () => {
  it('sends one JSON line per record over one connection, byte-exact, and flush waits for the socket', async () => {
    const server = new LineServer();
    await server.start();
    cleanup.push(() => server.stop());
    const relay = new TcpRelay({ host: '127.0.0.1', port: server.port, log });
    cleanup.push(() => relay.close());
    relay.append([makeRecord('hello "world"', { ts: TS }), makeRecord(Buffer.from([0xff, 0x00, 0x0a]))], origin);
    await flushWithRetry(relay);
    await until(() => server.lines.length === 2);
    const [a, b] = server.records();
    expect(a).toMatchObject({ data: 'hello "world"', ts: TS, graph: 'g', version: 7, provider: 'acme', stream: 'web' });
    expect(archivedData(b!)).toEqual(Buffer.from([0xff, 0x00, 0x0a]));
    relay.append([makeRecord('third')], origin);
    await relay.flush();
    await until(() => server.lines.length === 3);
    expect(server.connections).toBe(1);
  });

  it('rejects flush retriably while the endpoint is down, keeps the records, and reconnects when it is back', async () => {
    const server = new LineServer();
    await server.start();
    cleanup.push(() => server.stop());
    const relay = new TcpRelay({ host: '127.0.0.1', port: server.port, log, backoff: { initialMs: 20, maxMs: 100 } });
    cleanup.push(() => relay.close());
    relay.append([makeRecord('before restart')], origin);
    await flushWithRetry(relay);
    await until(() => server.lines.length === 1);

    await server.stop();
    await until(() => !relay.connected);
    relay.append([makeRecord('while down 1'), makeRecord('while down 2')], origin);
    const err = await relay.flush().catch((e: unknown) => e);
    expect(isLogfsError(err, 'LOGFS_E_AGENT')).toBe(true);
    expect((err as { retriable: boolean }).retriable).toBe(true);
    expect((err as Error).message).toContain(`127.0.0.1:${server.port}`);

    const restarted = new LineServer();
    await restarted.start(server.port);
    cleanup.push(() => restarted.stop());
    relay.append([makeRecord('after restart')], origin);
    await flushWithRetry(relay);
    await until(() => restarted.lines.length >= 3);
    expect(restarted.records().map((r) => r.data)).toEqual(['while down 1', 'while down 2', 'after restart']);
    expect(restarted.connections).toBe(1);
  });

  it('reconnects in the background after the server dropped an idle connection', async () => {
    const server = new LineServer();
    await server.start();
    cleanup.push(() => server.stop());
    const relay = new TcpRelay({ host: '127.0.0.1', port: server.port, log, backoff: { initialMs: 10, maxMs: 50 } });
    cleanup.push(() => relay.close());
    await until(() => relay.connected);
    const port = server.port;
    await server.stop();
    const restarted = new LineServer();
    await restarted.start(port);
    cleanup.push(() => restarted.stop());
    await until(() => restarted.connections === 1 && relay.connected);
    relay.append([makeRecord('x')], origin);
    await relay.flush();
    await until(() => restarted.lines.length === 1);
  });

  it('parses host:port, IPv6 in brackets, and rejects the rest', () => {
    expect(parseHostPort('logs.example.com:5170')).toEqual({ host: 'logs.example.com', port: 5170 });
    expect(parseHostPort('[::1]:80')).toEqual({ host: '::1', port: 80 });
    for (const bad of ['nohost', 'h:0', 'h:65536', ':80', 'h:x', '::1:80']) expect(() => parseHostPort(bad)).toThrow(/host:port/);
  });
});

describe('TopicRelay', () => {
  const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number' });

  it('produces each record as a standard MessagePack map: the wire record plus the pipeline fields', async () => {
    const sent: { topic: string; key: string | null; value: Buffer }[] = [];
    const producer: TopicProducer = { send: async (topic, messages) => void sent.push(...messages.map((m) => ({ topic, ...m }))) };
    const relay = new TopicRelay(producer, 'relay.out', log);
    const r = makeRecord(Buffer.from([0x00, 0xff, 0x41]), { ts: TS, seq: 1_800_000_000_000_001, instance: 'i-9', class: 'error' });
    r.fields = { status: 500 };
    r.flags = ['invalid'];
    r.part = [1, true];
    relay.append([r], origin);
    await relay.flush();
    expect(sent).toHaveLength(1);
    expect(sent[0]).toMatchObject({ topic: 'relay.out', key: 'i-9' });
    const map = unpackr.unpack(sent[0]!.value) as Record<string, unknown>;
    expect(map).toMatchObject({
      v: 1,
      provider: 'acme',
      stream: 'web',
      class: 'error',
      instance: 'i-9',
      host: 'h1',
      source: 'fuse',
      seq: 1_800_000_000_000_001,
      ts: TS,
      part: [1, true],
      id: 'i-9:1800000000000001',
      kind: 'log',
      fields: { status: 500 },
      flags: ['invalid'],
      graph: 'g',
      version: 7,
    });
    expect(Buffer.from(map.data as Uint8Array)).toEqual(Buffer.from([0x00, 0xff, 0x41]));
    // ts and seq are unsigned integers (0xcf), not floats; and the gateway's decoder reads it.
    expect(sent[0]!.value.includes(Buffer.from([0xa2, 0x74, 0x73, 0xcf]))).toBe(true);
    expect(decodeRecord(sent[0]!.value)).toMatchObject({ seq: 1_800_000_000_000_001, ts: TS, instance: 'i-9' });
  });

  it('keeps the records when producing fails and sends them on the retried flush', async () => {
    let fail = true;
    const sent: string[] = [];
    const producer: TopicProducer = {
      send: async (_topic, messages) => {
        if (fail) throw Object.assign(new Error('broker down'), { retriable: true });
        sent.push(...messages.map((m) => (unpackr.unpack(m.value) as { id: string }).id));
      },
    };
    const relay = new TopicRelay(producer, 't', log);
    relay.append([makeRecord('a', { seq: 1 }), makeRecord('b', { seq: 2 })], origin);
    const err = await relay.flush().catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'LOGFS_E_KAFKA', retriable: true });
    relay.append([makeRecord('c', { seq: 3 })], origin);
    fail = false;
    await relay.flush();
    expect(sent).toEqual(['i-1:1', 'i-1:2', 'i-1:3']);
  });
});
