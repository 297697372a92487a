/**
 * A separate per-host gateway process serving several instances' daemons over unix sockets.
 * The gateway decides each connection's identity from its own configuration (the socket path, and
 * the credential when one is configured) and refuses a client that claims another identity.
 */
import crypto from 'node:crypto';
import fsp from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { errorMessage } from '../core/errors.js';
import { validateStreamName } from '../control/stream-name.js';
import { componentLogger, type Logger } from '../core/logger.js';
import type { Gateway, IngestLine, InstanceIdentity } from './gateway.js';
import { encodeFrame, FrameReader, parseClientFrame, type ClientFrame, type ServerFrame } from './gateway-protocol.js';

export interface GatewayServer {
  close(): Promise<void>;
}

function sameSecret(a: string, b: string): boolean {
  const ha = crypto.createHash('sha256').update(a).digest();
  const hb = crypto.createHash('sha256').update(b).digest();
  return crypto.timingSafeEqual(ha, hb);
}

export async function serveGateway(gateway: Gateway, parentLog?: Logger): Promise<GatewayServer> {
  const log = componentLogger('gateway-server', parentLog);
  const servers: net.Server[] = [];
  const sockets = new Set<net.Socket>();
  for (const inst of gateway.config.remoteInstances) {
    const identity: InstanceIdentity = { instance: inst.id, provider: inst.provider ?? gateway.config.provider };
    await fsp.mkdir(path.dirname(inst.socket), { recursive: true });
    await fsp.rm(inst.socket, { force: true }); // a socket file left by a crash
    const server = net.createServer((sock) => {
      sockets.add(sock);
      sock.on('close', () => sockets.delete(sock));
      handleConnection(sock, gateway, identity, inst.credential, log);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(inst.socket, () => resolve());
    });
    await fsp.chmod(inst.socket, 0o660);
    servers.push(server);
    log.info({ socket: inst.socket, instance: inst.id, credential: Boolean(inst.credential) }, 'listening for an instance');
  }
  return {
    close: async () => {
      for (const s of sockets) s.destroy();
      await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
    },
  };
}

function handleConnection(sock: net.Socket, gateway: Gateway, identity: InstanceIdentity, credential: string | undefined, log: Logger): void {
  const reader = new FrameReader();
  let welcomed = false;
  let lastPosition = -1;
  let lastFull: boolean | undefined;
  const send = (f: ServerFrame): void => {
    if (!sock.destroyed) sock.write(encodeFrame(f));
  };
  const refuse = (reason: string): void => {
    log.warn({ instance: identity.instance, reason }, 'refused a gateway client');
    send({ t: 'refused', reason });
    sock.end();
  };
  // Clients learn whether to refuse writes (onFull "refuse") from this flag.
  const fullTimer = setInterval(() => {
    const full = gateway.isFull();
    if (welcomed && full !== lastFull) send({ t: 'full', v: (lastFull = full) });
  }, 50);
  sock.on('close', () => clearInterval(fullTimer));
  sock.on('error', (err) => log.debug({ err: errorMessage(err) }, 'gateway client socket error'));

  const handle = (f: ClientFrame): void => {
    if (!welcomed) {
      if (f.t !== 'hello') return refuse('first frame must be hello');
      if (credential !== undefined && (typeof f.credential !== 'string' || !sameSecret(f.credential, credential))) {
        return refuse('wrong or missing credential');
      }
      if (f.instance !== undefined && f.instance !== identity.instance) {
        return refuse(`client claims instance "${f.instance}" but this socket belongs to "${identity.instance}"`);
      }
      welcomed = true;
      send({ t: 'welcome', instance: identity.instance, provider: identity.provider, onFull: gateway.onFull, features: ['attrs'] });
      return;
    }
    if (f.t === 'ingest') {
      // The daemon resolved the path against its own store; check the name before it becomes a topic.
      validateStreamName(f.stream);
      const lines: IngestLine[] = f.lines.map((l) =>
        Buffer.isBuffer(l) ? { data: l } : Array.isArray(l) ? { data: l[0], part: [l[1], l[2]] } : { data: l.d, ...(l.p ? { part: l.p } : {}), attrs: l.a },
      );
      lastPosition = gateway.ingest(identity, f.stream, f.class, lines, f.source);
    } else if (f.t === 'barrier') {
      const id = f.id;
      gateway.barrier(lastPosition).then(
        () => send({ t: 'barrier-ok', id }),
        (err: unknown) => send({ t: 'barrier-err', id, message: errorMessage(err) }),
      );
    } else {
      refuse('hello sent twice');
    }
  };

  sock.on('data', (chunk: Buffer) => {
    try {
      for (const raw of reader.push(chunk)) handle(parseClientFrame(raw));
    } catch (err) {
      // A malformed frame ends this connection only; other clients keep flowing.
      return refuse(errorMessage(err));
    }
    // Backpressure: stop reading while the journal is at its bound; the client's socket buffer
    // fills and its writers block.
    if (gateway.onFull === 'block' && gateway.isFull()) {
      sock.pause();
      gateway.waitForRoom().then(() => sock.resume(), () => sock.resume());
    }
  });
}
