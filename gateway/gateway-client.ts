/**
 * logfsd's side of a separate gateway: an IngestSink over a unix socket. Ingests are pipelined;
 * a barrier waits for the gateway's answer. A lost connection fails pending and later barriers and
 * writes with LOGFS_E_GATEWAY_UNAVAILABLE (EIO to the application): never a silent loss.
 */
import net from 'node:net';
import { errorMessage, LogfsError } from '../core/errors.js';
import { componentLogger, type Logger } from '../core/logger.js';
import type { IngestLine, IngestSink, InstanceIdentity } from './gateway.js';
import { encodeFrame, FrameReader, type ServerFrame, type WireLine } from './gateway-protocol.js';
import type { RecordSource } from './record-codec.js';

export interface GatewayClient extends IngestSink {
  readonly identity: InstanceIdentity;
  close(): Promise<void>;
}

export async function connectGateway(socketPath: string, credential: string | undefined, parentLog?: Logger, claim?: string): Promise<GatewayClient> {
  const log = componentLogger('gateway-client', parentLog);
  const sock = net.createConnection(socketPath);
  const reader = new FrameReader();
  const barriers = new Map<number, { resolve: () => void; reject: (e: Error) => void }>();
  let nextBarrier = 1;
  let serverFull = false;
  let broken: LogfsError | undefined;
  const roomWaiters: (() => void)[] = [];

  let onFull: 'block' | 'refuse' = 'block';
  // An older gateway refuses lines with attrs (and would drop the connection): send it the bare lines.
  let takesAttrs = false;
  let warnedAttrs = false;
  const welcome = new Promise<InstanceIdentity>((resolve, reject) => {
    const fail = (err: LogfsError): void => {
      broken ??= err;
      reject(err);
      for (const b of barriers.values()) b.reject(err);
      barriers.clear();
      for (const w of roomWaiters.splice(0)) w();
    };
    sock.on('error', (err) =>
      fail(new LogfsError('LOGFS_E_GATEWAY_UNAVAILABLE', `gateway socket ${socketPath}: ${errorMessage(err)}`, { cause: err, retriable: true })),
    );
    sock.on('close', () => fail(new LogfsError('LOGFS_E_GATEWAY_UNAVAILABLE', `gateway at ${socketPath} closed the connection`, { retriable: true })));
    sock.on('drain', () => {
      if (!serverFull) for (const w of roomWaiters.splice(0)) w();
    });
    sock.on('data', (chunk: Buffer) => {
      let frames: unknown[];
      try {
        frames = reader.push(chunk);
      } catch (err) {
        sock.destroy(err as Error);
        return;
      }
      for (const raw of frames) {
        const f = raw as ServerFrame;
        if (f.t === 'welcome') {
          onFull = f.onFull === 'refuse' ? 'refuse' : 'block';
          takesAttrs = f.features?.includes('attrs') === true;
          resolve({ instance: f.instance, provider: f.provider });
        }
        else if (f.t === 'refused') fail(new LogfsError('LOGFS_E_GATEWAY_REFUSED', `gateway refused this daemon: ${f.reason}`));
        else if (f.t === 'barrier-ok' || f.t === 'barrier-err') {
          const b = barriers.get(f.id);
          barriers.delete(f.id);
          if (f.t === 'barrier-ok') b?.resolve();
          else b?.reject(new LogfsError('LOGFS_E_JOURNAL_IO', `gateway could not make records durable: ${f.message}`));
        } else if (f.t === 'full') {
          serverFull = f.v;
          if (!serverFull && !sock.writableNeedDrain) for (const w of roomWaiters.splice(0)) w();
        }
      }
    });
    sock.on('connect', () => sock.write(encodeFrame({ t: 'hello', ...(credential ? { credential } : {}), ...(claim ? { instance: claim } : {}) })));
  });
  const identity = await welcome;
  log.info({ socket: socketPath, ...identity }, 'connected to the gateway');

  const check = (): void => {
    if (broken) throw broken;
  };
  return {
    identity,
    onFull,

    ingest(_who, stream, label, lines: IngestLine[], source: RecordSource): number {
      check();
      if (!takesAttrs && !warnedAttrs && lines.some((l) => l.attrs)) {
        warnedAttrs = true;
        log.warn({ socket: socketPath }, 'the gateway predates per-line attrs: syslog and socket records reach it without their header fields; upgrade the gateway');
      }
      const wire: WireLine[] = lines.map((l) =>
        l.attrs && takesAttrs ? { d: l.data, ...(l.part ? { p: l.part } : {}), a: l.attrs } : l.part ? [l.data, l.part[0], l.part[1]] : l.data,
      );
      sock.write(encodeFrame({ t: 'ingest', stream, class: label, source, lines: wire }));
      return 0;
    },
    // A full local socket buffer is backpressure (wait), never a reason to refuse; a lost
    // connection makes ingest throw (EIO), not ENOSPC.
    isFull: () => !broken && ((serverFull && onFull === 'block') || sock.writableNeedDrain),
    // The gateway's policy: with "refuse" the mount answers ENOSPC while the gateway reports full.
    refusing: () => !broken && serverFull && onFull === 'refuse',
    waitForRoom: () => {
      if (broken) return Promise.reject(broken);
      return new Promise<void>((resolve) => roomWaiters.push(resolve)).then(check);
    },
    barrier(): Promise<void> {
      if (broken) return Promise.reject(broken);
      const id = nextBarrier++;
      return new Promise<void>((resolve, reject) => {
        barriers.set(id, { resolve, reject });
        sock.write(encodeFrame({ t: 'barrier', id }));
      });
    },
    noteBackpressure: () => undefined,
    close: async () => {
      sock.end();
      await new Promise<void>((resolve) => (sock.closed ? resolve() : sock.once('close', () => resolve())));
    },
  };
}
