/**
 * `logfsctl metrics QUERY`: metric points from the embedded metric store (`<data>/metrics`, written
 * by metric nodes; pipeline/metrics-store.ts), as a table or as JSON lines.
 *
 * QUERY is `name{label=value,...}`: the name may contain `*` (any characters) or be left out, the
 * braces are optional. Times are ISO 8601, `now`, or relative to now (`-15m`, `-2h`, `-1d`).
 */
import path from 'node:path';
import type { Argv, CommandModule } from 'yargs';
import { parseDurationArg, parseTimeArg } from './time-arg.js';
import { LogfsError } from '../core/errors.js';
import type { MetricPoint } from '../pipeline/agent.js';
import { parseMetricSelector, queryMetrics } from '../pipeline/metrics-store.js';

const DEFAULT_DATA = process.env.LOGFS_DATA ?? '/var/lib/logfs';

export const METRICS_COMMAND_DEFAULTS = { from: '-1h' } as const;

const PREFERRED = ['count', 'rate', 'sum', 'avg', 'min', 'max', 'stddev', 'derivative', 'integral', 'invalid', 'late', 'outOfOrder'];

function formatNumber(v: number | undefined): string {
  if (v === undefined) return '-';
  if (Number.isInteger(v)) return String(v);
  return String(Number(v.toPrecision(6)));
}

export function formatBucket(ms: number): string {
  for (const [unit, size] of [['d', 86_400_000], ['h', 3_600_000], ['m', 60_000], ['s', 1000]] as const) {
    if (ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}

/** The points as an aligned table: time, bucket, name, group, then every value that occurs. */
export function metricsTable(points: readonly MetricPoint[]): string[] {
  const present = new Set(points.flatMap((p) => Object.keys(p.values)));
  const columns = [...PREFERRED.filter((k) => present.has(k)), ...[...present].filter((k) => !PREFERRED.includes(k)).sort()];
  const header = ['TIME', 'BUCKET', 'NAME', 'GROUP', ...columns.map((c) => c.toUpperCase())];
  const rows = points.map((p) => [
    new Date(p.bucketStart).toISOString(),
    formatBucket(p.bucketMs),
    p.name,
    Object.entries(p.group)
      .map(([k, v]) => `${k}=${v}`)
      .join(',') || '-',
    ...columns.map((c) => formatNumber(p.values[c])),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  // Text columns align left, numbers right.
  const line = (cells: string[]): string => cells.map((c, i) => (i < 4 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ').trimEnd();
  return [line(header), ...rows.map(line)];
}

export interface PrintMetricsOptions {
  dataDir: string;
  query: string;
  from?: string;
  to?: string;
  bucket?: string;
  json: boolean;
  print: (line: string) => void;
  warn: (line: string) => void;
  now?: number;
}

/** Runs the query and prints the result; returns how many points it printed. */
export async function printMetrics(opts: PrintMetricsOptions): Promise<number> {
  const now = opts.now ?? Date.now();
  const selector = parseMetricSelector(opts.query);
  const from = opts.from === undefined ? undefined : parseTimeArg(opts.from, 'from', now);
  const to = opts.to === undefined ? undefined : parseTimeArg(opts.to, 'to', now);
  if (from !== undefined && to !== undefined && to <= from) throw new LogfsError('LOGFS_E_CONFIG', `--to must be after --from (${new Date(from).toISOString()})`);
  const bucketMs = opts.bucket === undefined ? undefined : parseDurationArg(opts.bucket, 'bucket');
  const dir = path.join(opts.dataDir, 'metrics');
  let bad = 0;
  const points = await queryMetrics(
    dir,
    {
      ...(selector.name !== undefined ? { name: selector.name } : {}),
      labels: selector.labels,
      ...(from !== undefined ? { from } : {}),
      ...(to !== undefined ? { to } : {}),
      ...(bucketMs !== undefined ? { bucketMs } : {}),
    },
    { onBadLine: () => void bad++ },
  );
  if (bad > 0) opts.warn(`logfsctl: skipped ${bad} unreadable line${bad === 1 ? '' : 's'} in ${dir} (torn by a crash?)`);
  if (points.length === 0) {
    const range = `${from === undefined ? 'the beginning' : new Date(from).toISOString()} to ${to === undefined ? 'now' : new Date(to).toISOString()}`;
    opts.warn(`logfsctl: no metric points match "${opts.query}" from ${range} in ${dir} (widen --from?)`);
    return 0;
  }
  if (opts.json) for (const p of points) opts.print(JSON.stringify(p));
  else for (const l of metricsTable(points)) opts.print(l);
  return points.length;
}

interface Common {
  data?: string;
}

interface MetricsArgs extends Common {
  query: string;
  from: string;
  to?: string;
  bucket?: string;
  json: boolean;
}

export const metricsCommand: CommandModule<Common, MetricsArgs> = {
  command: 'metrics <query>',
  describe: 'Print metric points of metric nodes (embedded store <data>/metrics); QUERY is name{label=value,...}, * in the name matches anything',
  builder: (y: Argv<Common>) =>
    y
      .positional('query', { type: 'string', demandOption: true, describe: "Metric selector, e.g. 'web.*.count{class=error}' or '*'" })
      // nargs: 1 so that a relative time like -15m is the value, not another flag.
      .option('from', { type: 'string', nargs: 1, default: METRICS_COMMAND_DEFAULTS.from, describe: 'Buckets starting at or after this: ISO time, now, or -15m / -2h / -1d' })
      .option('to', { type: 'string', nargs: 1, describe: 'Buckets starting before this (same forms as --from)' })
      .option('bucket', { type: 'string', describe: 'Only this bucket size, e.g. 1m, 5m, 1h' })
      .option('json', { type: 'boolean', default: false, describe: 'One JSON point per line' }) as unknown as Argv<MetricsArgs>,
  handler: async (argv) => {
    await printMetrics({
      dataDir: argv.data ?? DEFAULT_DATA,
      query: argv.query,
      from: argv.from,
      ...(argv.to !== undefined ? { to: argv.to } : {}),
      ...(argv.bucket !== undefined ? { bucket: argv.bucket } : {}),
      json: argv.json,
      print: (l) => process.stdout.write(l + '\n'),
      warn: (l) => process.stderr.write(l + '\n'),
    });
  },
};
