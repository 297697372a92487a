/**
 * `GET /streams/{name}/tail` as Server-Sent Events (https://html.spec.whatwg.org/multipage/server-sent-events.html):
 * `event: ready` once the source reads (records written from then on arrive), then `event: record`
 * with a TailRecord per record, a comment every 15 s so proxies keep the connection, and the
 * consumer closed when the client goes away. A client that cannot keep up is sent `event: dropped`
 * with how many records it missed, rather than the service buffering without bound.
 */
import type http from 'node:http';
import { errorMessage } from '../../core/errors.js';
import type { Logger } from '../../core/logger.js';
import { openTailSource, type TailRecord, type TailSource } from '../tail-source.js';
import type { TailTarget } from '../service/index.js';

export const SSE_DEFAULTS = {
  keepAliveMs: 15_000,
  /** Unsent bytes beyond which records are dropped for this client. */
  maxBufferedBytes: 4 * 1024 * 1024,
  retryMs: 2_000,
} as const;

export interface TailSettings {
  brokers: string[];
  journalDir: string;
  log: Logger;
  /** Open tails, so that stopping the service ends them. */
  open: Set<() => void>;
  keepAliveMs?: number;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** The JSON of a record in the tail (docs/control-api.md, TailRecord). */
export function tailRecordView(r: TailRecord): Record<string, unknown> {
  let data: string;
  let dataEncoding: 'utf8' | 'base64' = 'utf8';
  if (r.enc !== undefined) {
    data = r.data.toString('base64');
    dataEncoding = 'base64';
  } else {
    try {
      data = utf8.decode(r.data);
    } catch {
      data = r.data.toString('base64');
      dataEncoding = 'base64';
    }
  }
  return {
    id: `${r.instance}:${r.seq}`,
    provider: r.provider,
    stream: r.stream,
    class: r.class,
    instance: r.instance,
    host: r.host,
    seq: r.seq,
    ts: r.ts,
    source: r.source,
    data,
    dataEncoding,
    ...(r.part ? { part: r.part } : {}),
    ...(r.attrs !== undefined ? { attrs: r.attrs } : {}),
    ...(r.enc !== undefined ? { enc: r.enc, kid: r.kid } : {}),
    ...(r.sealed !== undefined ? { sealed: r.sealed } : {}),
  };
}

export async function serveTail(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  target: TailTarget,
  opts: TailSettings & { fromBeginning: boolean; classLabel?: string },
): Promise<undefined> {
  let dropped = 0;
  let ended = false;
  const write = (text: string): void => {
    if (!ended) res.write(text);
  };
  const onRecord = (r: TailRecord): void => {
    if (opts.classLabel !== undefined && r.class !== opts.classLabel) return;
    if (res.writableLength > SSE_DEFAULTS.maxBufferedBytes) {
      dropped++;
      return;
    }
    if (dropped > 0) {
      write(`event: dropped\ndata: ${JSON.stringify({ count: dropped })}\n\n`);
      dropped = 0;
    }
    write(`event: record\nid: ${r.instance}:${r.seq}\ndata: ${JSON.stringify(tailRecordView(r))}\n\n`);
  };
  let source: TailSource | undefined;
  let keepAlive: NodeJS.Timeout | undefined;
  const finish = (): void => {
    if (ended) return;
    ended = true;
    if (keepAlive) clearInterval(keepAlive);
    opts.open.delete(finish);
    void source?.close().catch(() => undefined);
    res.end();
  };
  // Opening fails before anything is sent (no topic yet, say): the caller answers a JSON error.
  source = await openTailSource({
    topic: target.topic,
    stream: target.stream,
    brokers: opts.brokers,
    journalDir: opts.journalDir,
    fromBeginning: opts.fromBeginning,
    keys: target.keys,
    clientId: 'logfs-control-tail',
    onRecord,
    onError: (err) => {
      opts.log.warn({ stream: target.stream, err: errorMessage(err) }, 'tail source failed');
      write(`event: error\ndata: ${JSON.stringify({ message: errorMessage(err) })}\n\n`);
      finish();
    },
  });
  if (req.destroyed || res.destroyed) {
    await source.close();
    return undefined;
  }
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache, no-store',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
  });
  res.flushHeaders();
  write(`retry: ${SSE_DEFAULTS.retryMs}\n\n`);
  write(`event: ready\ndata: ${JSON.stringify({ stream: target.stream, topic: target.topic, mode: opts.brokers.length > 0 ? 'kafka' : 'journal' })}\n\n`);
  keepAlive = setInterval(() => write(`: keep-alive ${new Date().toISOString()}\n\n`), opts.keepAliveMs ?? SSE_DEFAULTS.keepAliveMs);
  opts.open.add(finish);
  req.on('close', finish);
  res.on('close', finish);
  return undefined;
}
