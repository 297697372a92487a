/**
 * The embedded-mode alarm log: an AlarmSink that appends alarms and resolutions as NDJSON lines to
 * `<dir>/alarms.ndjson` (flush = append + one fsync), and `readAlarms`, which `logfsctl alarms`
 * uses to print them, optionally following the file like `tail -f`.
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { z } from 'zod';
import { errorMessage, LogfsError } from '../core/errors.js';
import type { AlarmEvent, AlarmSink } from './agent.js';
import { fsyncDir, openForAppend } from './metrics-store.js';

export const ALARM_LOG_FILE = 'alarms.ndjson';

export const ALARM_LOG_DEFAULTS = {
  /** How often a follower looks at the file when no change notification came (some file systems send none). */
  pollMs: 1000,
  readChunkBytes: 64 * 1024,
} as const;

export interface AlarmLogOptions {
  /** Directory of alarms.ndjson; created on the first flush. */
  dir: string;
}

export class AlarmLog implements AlarmSink {
  private pending: string[] = [];
  private fh: fsp.FileHandle | undefined;
  private queue: Promise<void> = Promise.resolve();

  constructor(readonly dir: string) {}

  /** Creates the directory now, so a log that cannot work fails at start rather than at the first flush. */
  static async open(opts: AlarmLogOptions): Promise<AlarmLog> {
    try {
      await fsp.mkdir(opts.dir, { recursive: true });
    } catch (err) {
      throw new LogfsError('LOGFS_E_ARCHIVE_IO', `cannot create the alarm log directory ${opts.dir}: ${errorMessage(err)}; check the --data directory and its permissions`, { cause: err });
    }
    return new AlarmLog(opts.dir);
  }

  publish(events: readonly AlarmEvent[]): void {
    for (const e of events) this.pending.push(JSON.stringify(e));
  }

  /** Appends and fsyncs everything published so far; concurrent calls run one after the other. */
  flush(): Promise<void> {
    const lines = this.pending;
    this.pending = [];
    const run = this.queue.then(() => this.append(lines));
    this.queue = run.catch(() => {});
    return run;
  }

  async close(): Promise<void> {
    await this.flush();
    await this.fh?.close();
    this.fh = undefined;
  }

  private async append(lines: string[]): Promise<void> {
    if (lines.length === 0) return;
    try {
      if (!this.fh) {
        await fsp.mkdir(this.dir, { recursive: true });
        const opened = await openForAppend(path.join(this.dir, ALARM_LOG_FILE));
        this.fh = opened.fh;
        if (opened.created) await fsyncDir(this.dir);
      }
      await this.fh.appendFile(lines.join('\n') + '\n');
      await this.fh.sync();
    } catch (err) {
      // Keep the alarms for a retried flush; reopen then, the file may end in a torn line.
      this.pending = [...lines, ...this.pending];
      await this.fh?.close().catch(() => {});
      this.fh = undefined;
      throw new LogfsError('LOGFS_E_ARCHIVE_IO', `could not write alarms to ${this.dir}: ${errorMessage(err)}; check free space and permissions`, {
        retriable: true,
        cause: err,
      });
    }
  }
}

const StoredAlarmSchema = z.object({
  alarm: z.string(),
  state: z.enum(['firing', 'resolved']),
  condition: z.string(),
  value: z.union([z.number(), z.string(), z.null()]),
  instance: z.string().nullable(),
  time: z.number(),
  sampleRecordIds: z.array(z.string()),
  graph: z.string(),
  node: z.string(),
});

export interface ReadAlarmsOptions {
  /** Keep reading lines appended later, until `signal` aborts. */
  follow?: boolean;
  /** Only alarms whose time (ms since the epoch) is at or after this. */
  since?: number;
  signal?: AbortSignal;
  pollMs?: number;
  /** Called for each line that is not an alarm. */
  onBadLine?: (file: string, line: number) => void;
}

/**
 * Alarms in the order they were written. Without `follow` it ends at the end of the file (a last
 * line without its newline is still being written, and is left out); with `follow` it waits for
 * more until the signal aborts. A file that shrinks or is replaced is read again from the start.
 */
export async function* readAlarms(dir: string, opts: ReadAlarmsOptions = {}): AsyncGenerator<AlarmEvent> {
  const file = path.join(dir, ALARM_LOG_FILE);
  const since = opts.since ?? -Infinity;
  const signal = opts.signal;
  const waker = opts.follow ? new ChangeWaker(dir, opts.pollMs ?? ALARM_LOG_DEFAULTS.pollMs, signal) : undefined;
  let offset = 0;
  let ino: number | undefined;
  let rest = '';
  let lineNo = 0;
  // Keeps a UTF-8 character that straddles two reads whole.
  let decoder = new StringDecoder('utf8');
  try {
    for (;;) {
      if (signal?.aborted) return;
      let fh: fsp.FileHandle | undefined;
      try {
        fh = await fsp.open(file, 'r');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
      if (fh) {
        const lines: string[] = [];
        try {
          const st = await fh.stat();
          if (st.ino !== ino || st.size < offset) {
            ino = st.ino;
            offset = 0;
            rest = '';
            lineNo = 0;
            decoder = new StringDecoder('utf8');
          }
          const buf = Buffer.alloc(ALARM_LOG_DEFAULTS.readChunkBytes);
          while (offset < st.size) {
            const { bytesRead } = await fh.read(buf, 0, buf.length, offset);
            if (bytesRead === 0) break;
            offset += bytesRead;
            // JSON.stringify escapes newlines inside strings, so every '\n' ends a line.
            const text = rest + decoder.write(buf.subarray(0, bytesRead));
            const parts = text.split('\n');
            rest = parts.pop()!;
            lines.push(...parts);
          }
        } finally {
          await fh.close();
        }
        for (const line of lines) {
          lineNo++;
          if (line === '') continue;
          let event: AlarmEvent;
          try {
            event = StoredAlarmSchema.parse(JSON.parse(line));
          } catch {
            opts.onBadLine?.(file, lineNo);
            continue;
          }
          if (event.time >= since) yield event;
        }
      }
      if (!waker) return;
      await waker.wait();
    }
  } finally {
    waker?.close();
  }
}

/** Resolves `wait()` on a change in the directory, after `pollMs` at the latest, or on abort. */
class ChangeWaker {
  private watcher: fs.FSWatcher | undefined;
  private wake: (() => void) | undefined;
  private changed = false;

  constructor(
    private readonly dir: string,
    private readonly pollMs: number,
    private readonly signal: AbortSignal | undefined,
  ) {
    this.watch();
    signal?.addEventListener('abort', this.onAbort, { once: true });
  }

  wait(): Promise<void> {
    if (!this.watcher) this.watch();
    if (this.changed || this.signal?.aborted) {
      this.changed = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.wake = undefined;
        this.changed = false;
        resolve();
      };
      const timer = setTimeout(done, this.pollMs);
      this.wake = done;
    });
  }

  close(): void {
    this.watcher?.close();
    this.watcher = undefined;
    this.signal?.removeEventListener('abort', this.onAbort);
    this.wake?.();
  }

  private watch(): void {
    try {
      this.watcher = fs.watch(this.dir, () => {
        this.changed = true;
        this.wake?.();
      });
      this.watcher.on('error', () => {
        this.watcher?.close();
        this.watcher = undefined;
      });
    } catch {
      // The directory does not exist yet, or cannot be watched: the poll covers it meanwhile.
    }
  }

  private readonly onAbort = (): void => this.wake?.();
}
