/**
 * `logfsctl alarms`: alarms and resolutions from the embedded alarm log (`<data>/alarms`, written by
 * alarm nodes; pipeline/alarm-log.ts), optionally following new ones until Ctrl-C.
 */
import path from 'node:path';
import type { Argv, CommandModule } from 'yargs';
import type { AlarmEvent } from '../pipeline/agent.js';
import { readAlarms } from '../pipeline/alarm-log.js';
import { parseTimeArg } from './time-arg.js';

const DEFAULT_DATA = process.env.LOGFS_DATA ?? '/var/lib/logfs';

export function formatAlarm(e: AlarmEvent): string {
  const value = e.value === null ? '' : `  value=${e.value}`;
  const samples = e.sampleRecordIds.length > 0 ? `  samples=${e.sampleRecordIds.join(',')}` : '';
  return `${new Date(e.time).toISOString()}  ${e.state.toUpperCase().padEnd(8)}  ${e.alarm}  ${e.condition}${value}${samples}`;
}

export interface PrintAlarmsOptions {
  dataDir: string;
  follow: boolean;
  since?: string;
  json: boolean;
  print: (line: string) => void;
  warn: (line: string) => void;
  signal?: AbortSignal;
  now?: number;
}

/** Prints the alarms (and, following, those that come) until the end or the signal; returns how many. */
export async function printAlarms(opts: PrintAlarmsOptions): Promise<number> {
  const since = opts.since === undefined ? undefined : parseTimeArg(opts.since, 'since', opts.now);
  const dir = path.join(opts.dataDir, 'alarms');
  let n = 0;
  let bad = 0;
  for await (const e of readAlarms(dir, {
    follow: opts.follow,
    ...(since !== undefined ? { since } : {}),
    ...(opts.signal ? { signal: opts.signal } : {}),
    onBadLine: () => void bad++,
  })) {
    opts.print(opts.json ? JSON.stringify(e) : formatAlarm(e));
    n++;
  }
  if (bad > 0) opts.warn(`logfsctl: skipped ${bad} unreadable line${bad === 1 ? '' : 's'} in ${dir} (torn by a crash?)`);
  if (n === 0 && !opts.follow) opts.warn(`logfsctl: no alarms${since === undefined ? '' : ` since ${new Date(since).toISOString()}`} in ${dir}`);
  return n;
}

interface Common {
  data?: string;
}

interface AlarmsArgs extends Common {
  follow: boolean;
  since?: string;
  json: boolean;
}

export const alarmsCommand: CommandModule<Common, AlarmsArgs> = {
  command: 'alarms',
  describe: 'Print alarms and resolutions of alarm nodes (embedded log <data>/alarms); --follow keeps printing new ones',
  builder: (y: Argv<Common>) =>
    y
      .option('follow', { alias: 'f', type: 'boolean', default: false, describe: 'Keep printing alarms as they are raised, until Ctrl-C' })
      .option('since', { type: 'string', nargs: 1, describe: 'Only alarms at or after this: ISO time, or -15m / -2h / -1d' })
      .option('json', { type: 'boolean', default: false, describe: 'One JSON alarm per line' }) as unknown as Argv<AlarmsArgs>,
  handler: async (argv) => {
    const stop = new AbortController();
    const onSignal = (): void => stop.abort();
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    try {
      await printAlarms({
        dataDir: argv.data ?? DEFAULT_DATA,
        follow: argv.follow,
        ...(argv.since !== undefined ? { since: argv.since } : {}),
        json: argv.json,
        print: (l) => process.stdout.write(l + '\n'),
        warn: (l) => process.stderr.write(l + '\n'),
        signal: stop.signal,
      });
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
  },
};
