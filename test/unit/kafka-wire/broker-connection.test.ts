import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { BrokerConnection } from '../../../gateway/kafka-wire/broker-connection.js';
import { ApiKey, Writer } from '../../../gateway/kafka-wire/protocol.js';

/** A fake broker: answers ApiVersions, then hands every other request to `reply` with its correlation id. */
async function fakeBroker(reply: (socket: net.Socket, correlationId: number, apiKey: number) => void): Promise<net.Server> {
  const server = net.createServer((socket) => {
    let buf = Buffer.alloc(0);
    socket.on('data', (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      while (buf.length >= 4 && buf.length >= 4 + buf.readInt32BE(0)) {
        const frame = buf.subarray(4, 4 + buf.readInt32BE(0));
        buf = buf.subarray(4 + frame.length);
        const apiKey = frame.readInt16BE(0);
        const id = frame.readInt32BE(4);
        if (apiKey === ApiKey.ApiVersions) {
          const body = new Writer().int32(id).int16(0).int32(4)
            .int16(ApiKey.Produce).int16(3).int16(12).int16(ApiKey.Metadata).int16(0).int16(13)
            .int16(ApiKey.ApiVersions).int16(0).int16(4).int16(ApiKey.InitProducerId).int16(0).int16(5).bytes();
          socket.write(frame4(body));
        } else reply(socket, id, apiKey);
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return server;
}

function frame4(body: Buffer): Buffer {
  const size = Buffer.alloc(4);
  size.writeInt32BE(body.length);
  return Buffer.concat([size, body]);
}

const servers: net.Server[] = [];
const conns: BrokerConnection[] = [];
afterEach(async () => {
  for (const c of conns.splice(0)) c.close();
  for (const s of servers.splice(0)) await new Promise((r) => s.close(r));
});

async function connect(server: net.Server, requestTimeoutMs = 2_000): Promise<BrokerConnection> {
  const { port } = server.address() as net.AddressInfo;
  const conn = new BrokerConnection({ host: '127.0.0.1', port, clientId: 'test', connectionTimeoutMs: 1_000, requestTimeoutMs });
  conns.push(conn);
  await conn.connect();
  return conn;
}

describe('broker connection', () => {
  it('agrees on request versions and reassembles responses split byte by byte or sharing a read', async () => {
    const server = await fakeBroker((socket, id) => {
      const bytes = frame4(new Writer().int32(id).int32(0x01020304).string('split').bytes());
      // One byte per write, each flushed on its own.
      void (async () => {
        for (const b of bytes) {
          socket.write(Buffer.from([b]));
          await new Promise((r) => setImmediate(r));
        }
      })();
    });
    servers.push(server);
    const conn = await connect(server);
    expect(conn.versions).toEqual({ [ApiKey.Produce]: 8, [ApiKey.Metadata]: 8, [ApiKey.ApiVersions]: 0, [ApiKey.InitProducerId]: 1 });
    const r = await conn.request(ApiKey.Metadata, 8, [Buffer.from('x')]);
    expect([r.int32(), r.string()]).toEqual([0x01020304, 'split']);
  });

  it('matches several responses in one read, out of order, to their requests', async () => {
    const ids: number[] = [];
    const server = await fakeBroker((socket, id) => {
      ids.push(id);
      if (ids.length === 2) socket.write(Buffer.concat([...ids].reverse().map((i) => frame4(new Writer().int32(i).int32(i * 10).bytes()))));
    });
    servers.push(server);
    const conn = await connect(server);
    const [a, b] = await Promise.all([conn.request(ApiKey.Metadata, 8, []), conn.request(ApiKey.Metadata, 8, [])]);
    expect(a.int32()).toBe(ids[0]! * 10);
    expect(b.int32()).toBe(ids[1]! * 10);
  });

  it('fails a request that gets no answer in time as retriable, and closes the connection', async () => {
    const server = await fakeBroker(() => undefined);
    servers.push(server);
    const conn = await connect(server, 200);
    await expect(conn.request(ApiKey.Produce, 8, [])).rejects.toMatchObject({ retriable: true, code: 'LOGFS_E_KAFKA' });
    expect(conn.alive).toBe(false);
    await expect(conn.request(ApiKey.Produce, 8, [])).rejects.toMatchObject({ retriable: true });
  });
});
