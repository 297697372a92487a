/** `logfsctl tail`: decoded records of one stream, from Kafka or (embedded mode) the journal. */
import { LogfsError } from '../core/errors.js';
import { topicForStream } from '../control/stream-name.js';
import { openTailSource } from '../control/tail-source.js';
import type { LogRecord } from '../gateway/index.js';
import type { StreamKeyring } from '../gateway/record-crypto.js';

export interface TailOptions {
  stream: string;
  provider: string;
  topicPrefix: string;
  brokers: string[];
  journalDir: string;
  fromBeginning: boolean;
  classLabel?: string;
  count?: number;
  json: boolean;
  timeoutMs?: number;
  print: (line: string) => void;
  /** Keys to open records of encrypted streams (cli/stream-keys.ts); without, they are shown sealed. */
  keys?: StreamKeyring;
}

/** A record still sealed after tail tried to open it: why. */
type TailRecord = LogRecord & { sealed?: string };

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** JSON view of a record: data as text when it is valid UTF-8, else base64 (always base64 while sealed). */
export function recordToJson(r: TailRecord): Record<string, unknown> {
  if (r.enc !== undefined) return { ...r, data: r.data.toString('base64'), dataEncoding: 'base64' };
  let data: string;
  let dataEncoding = 'utf8';
  try {
    data = utf8.decode(r.data);
  } catch {
    data = r.data.toString('base64');
    dataEncoding = 'base64';
  }
  return { ...r, data, dataEncoding };
}

export function formatRecord(r: TailRecord): string {
  const label = r.class === null ? '' : ` [${r.class}]`;
  const part = r.part ? ` (part ${r.part[0]}${r.part[1] ? ', last' : ''})` : '';
  const data = r.enc === undefined ? r.data.toString('utf8') : `[encrypted: ${r.sealed ?? `key ${r.kid}`}]`;
  return `${new Date(r.ts).toISOString()} ${r.instance}#${r.seq}${label}${part} ${data}`;
}

export async function tailRecords(opts: TailOptions): Promise<void> {
  const topic = topicForStream(opts.provider, opts.stream, opts.topicPrefix);
  let seen = 0;
  let done!: () => void;
  let failed: unknown;
  const finished = new Promise<void>((resolve) => (done = resolve));
  // Sealed records are opened by the source (control/tail-source.ts) with opts.keys.
  const emit = (r: TailRecord): void => {
    if (opts.count !== undefined && seen >= opts.count) return;
    if (opts.classLabel !== undefined && r.class !== opts.classLabel) return;
    seen += 1;
    opts.print(opts.json ? JSON.stringify(recordToJson(r)) : formatRecord(r));
    if (opts.count !== undefined && seen >= opts.count) done();
  };
  const onSignal = (): void => done();
  process.once('SIGINT', onSignal);
  const timer = opts.timeoutMs === undefined ? undefined : setTimeout(() => done(), opts.timeoutMs);
  try {
    const source = await openTailSource({
      topic,
      stream: opts.stream,
      brokers: opts.brokers,
      journalDir: opts.journalDir,
      fromBeginning: opts.fromBeginning,
      ...(opts.keys ? { keys: opts.keys } : {}),
      clientId: 'logfsctl-tail',
      onRecord: emit,
      onError: (err) => {
        failed = err;
        done();
      },
    });
    await finished;
    await source.close();
  } finally {
    if (timer) clearTimeout(timer);
    process.off('SIGINT', onSignal);
  }
  if (failed !== undefined) throw failed;
  if (opts.count !== undefined && seen < opts.count) {
    throw new LogfsError('LOGFS_E_NOT_FOUND', `only ${seen} of ${opts.count} records arrived before the timeout`);
  }
}
