import fsp from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { connectGateway } from '../../gateway/gateway-client.js';
import { encodeFrame, FrameReader, parseClientFrame, type ClientFrame, type ServerFrame } from '../../gateway/gateway-protocol.js';

/** A gateway that speaks the protocol as a given version would: with or without the attrs feature. */
async function fakeGateway(features: string[] | undefined): Promise<{ socket: string; frames: ClientFrame[]; close(): Promise<void> }> {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'logfs-gw-'));
  const socket = path.join(dir, 'gw.sock');
  const frames: ClientFrame[] = [];
  const server = net.createServer((s) => {
    const reader = new FrameReader();
    s.on('data', (chunk) => {
      for (const raw of reader.push(chunk)) {
        const f = parseClientFrame(raw);
        frames.push(f);
        if (f.t === 'hello') {
          const welcome: ServerFrame = { t: 'welcome', instance: 'i-1', provider: 'acme', onFull: 'block', ...(features ? { features } : {}) };
          s.write(encodeFrame(welcome));
        }
      }
    });
  });
  await new Promise<void>((r) => server.listen(socket, r));
  return { socket, frames, close: async () => void (await new Promise((r) => server.close(r)), await fsp.rm(dir, { recursive: true, force: true })) };
}

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0)) await c();
});

describe('gateway client and gateway features', () => {
  for (const [label, features, expectAttrs] of [
    ['a gateway that takes attrs gets them', ['attrs'], true],
    ['an older gateway gets bare lines, so it does not drop the connection', undefined, false],
  ] as const) {
    it(label, async () => {
      const gw = await fakeGateway(features ? [...features] : undefined);
      closers.push(gw.close);
      const client = await connectGateway(gw.socket, undefined, pino({ level: 'silent' }));
      closers.unshift(() => client.close());
      client.ingest(client.identity, 'syslog', 'err', [{ data: Buffer.from('hello'), attrs: { appName: 'app' } }], 'syslog');
      await new Promise((r) => setTimeout(r, 100));
      const ingest = gw.frames.find((f) => f.t === 'ingest') as Extract<ClientFrame, { t: 'ingest' }>;
      expect(ingest).toBeDefined();
      const line = ingest.lines[0]!;
      if (expectAttrs) expect(line).toMatchObject({ a: { appName: 'app' } });
      else expect(Buffer.isBuffer(line) && line.toString()).toBe('hello');
    });
  }
});
