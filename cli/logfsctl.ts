/**
 * `logfsctl`: run logFS on one host (`up`), mount and unmount, provision streams, tail records,
 * show status, and define and run processing graphs (graph, pipeline, archive, metrics, alarms). It finds the running system through `--data DIR` (default /var/lib/logfs or
 * LOGFS_DATA). User-facing output goes to stdout; errors to stderr with a non-zero exit code.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import yargs, { type Argv } from 'yargs';
import { hideBin } from 'yargs/helpers';
import { errorMessage, LogfsError } from '../core/errors.js';
import { configureLogger } from '../core/logger.js';
import { processAlive } from '../core/process-alive.js';
import { sleep } from '../core/retry.js';
import { validateProviderName } from '../control/stream-name.js';
import { readRuntime, type RuntimeInfo } from '../daemon/daemon.js';
import { isMountPoint, lazyUnmount } from '../daemon/fuse-fs.js';
import { histogramBuckets, histogramQuantile, parsePrometheusText } from '../gateway/index.js';
import { controlCommand, DEFAULT_LISTEN, runUp } from './control-command.js';
import { daemonConfigFromFlags, daemonFlags, brokersOf } from './daemon-options.js';
import { alarmsCommand } from './alarms-command.js';
import { archiveCommand } from './archive-command.js';
import { graphCommand } from './graph-command.js';
import { metricsCommand } from './metrics-command.js';
import { pipelineCommand } from './pipeline-command.js';
import { historyCommand, jobsCommand, providerCommand, rollbackCommand, streamCommand, tokenCommand } from './provision-commands.js';
import { tailRecords } from './tail.js';
import { LOGFSD_NODE_FLAGS } from './node-flags.js';
import { localStreamKeys } from './stream-keys.js';

const DEFAULT_DATA = process.env.LOGFS_DATA ?? '/var/lib/logfs';

interface Common {
  data: string;
  api?: string;
  token?: string;
}

function out(line = ''): void {
  process.stdout.write(line + '\n');
}

async function defaultProvider(argv: Common & { provider?: string }): Promise<string> {
  if (argv.provider) return validateProviderName(argv.provider);
  return (await readRuntime(argv.data))?.provider ?? 'default';
}

async function mountCommand(argv: Common & { dir: string; kafka?: string[]; wait: number }): Promise<void> {
  const dir = path.resolve(argv.dir);
  const running = await readRuntime(argv.data);
  if (running) throw new LogfsError('LOGFS_E_CONFIG', `a logfsd (pid ${running.pid}) already serves ${argv.data}, mounted at ${running.mountpoint}`);
  await fsp.mkdir(argv.data, { recursive: true });
  const logFile = path.join(argv.data, 'logfsd.log');
  const logfsd = fileURLToPath(new URL('./logfsd.js', import.meta.url));
  const args = [...LOGFSD_NODE_FLAGS, logfsd, '--data', argv.data, '--mount', dir];
  for (const b of brokersOf(argv.kafka) ?? []) args.push('--kafka', b);
  const fd = fs.openSync(logFile, 'a');
  const child = spawn(process.execPath, args, { detached: true, stdio: ['ignore', fd, fd] });
  child.unref();
  fs.closeSync(fd);
  const deadline = Date.now() + argv.wait * 1000;
  while (Date.now() < deadline) {
    const rt = await readRuntime(argv.data);
    if (rt && rt.pid === child.pid && (await isMountPoint(dir))) {
      out(`mounted ${dir} (logfsd pid ${rt.pid}, log ${logFile})`);
      return;
    }
    if (child.exitCode !== null) break;
    await sleep(100);
  }
  throw new LogfsError('LOGFS_E_CONFIG', `logfsd did not mount ${dir}; see ${logFile}`);
}

async function umountCommand(argv: Common & { dir: string }): Promise<void> {
  const dir = path.resolve(argv.dir);
  const rt = await readRuntime(argv.data);
  if (rt && rt.mountpoint === dir) {
    process.kill(rt.pid, 'SIGTERM');
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      if (!processAlive(rt.pid)) {
        out(`unmounted ${dir}`);
        return;
      }
      await sleep(100);
    }
    throw new LogfsError('LOGFS_E_CONFIG', `logfsd (pid ${rt.pid}) did not stop within 30 s`);
  }
  if (await isMountPoint(dir)) {
    // Mounted but not by the logfsd of this data dir: a stale mount or another data dir's.
    await lazyUnmount(dir);
    if (await isMountPoint(dir)) throw new LogfsError('LOGFS_E_CONFIG', `could not unmount ${dir}`);
    out(`unmounted ${dir} (no logfsd of ${argv.data} served it)`);
    return;
  }
  throw new LogfsError('LOGFS_E_NOT_FOUND', `${dir} is not mounted`);
}

async function statusCommand(argv: Common & { json: boolean }): Promise<void> {
  const rt = await readRuntime(argv.data);
  if (!rt) throw new LogfsError('LOGFS_E_NOT_FOUND', `no logfsd is running for ${argv.data}`);
  let metrics: Record<string, number> = {};
  if (rt.metrics) {
    const res = await fetch(`http://${rt.metrics}/metrics`, { signal: AbortSignal.timeout(5000) });
    metrics = parsePrometheusText(await res.text());
  }
  if (argv.json) {
    out(JSON.stringify({ runtime: rt, metrics }, null, 2));
    return;
  }
  const m = (k: string): string => (k in metrics ? String(metrics[k]) : '-');
  out(`logfsd pid ${rt.pid}, up since ${rt.startedAt}`);
  out(`mount        ${rt.mountpoint}`);
  out(`instance     ${rt.instance} (provider ${rt.provider})`);
  out(`mode         ${rt.embedded ? 'embedded (journal is the bus)' : `kafka ${rt.brokers.join(',')}`}`);
  out(`records      in ${m('logfs_records_in_total')}  out ${m('logfs_records_out_total')}`);
  out(`bytes        in ${m('logfs_bytes_in_total')}  out ${m('logfs_bytes_out_total')}`);
  out(`journal      ${m('logfs_journal_bytes')} bytes in ${m('logfs_journal_segments')} segments, ${m('logfs_journal_unacked_bytes')} not yet in Kafka`);
  const ack = histogramBuckets(metrics, 'logfs_kafka_ack_seconds');
  const quantile = (q: number): string => {
    const r = histogramQuantile(q, ack);
    return r === undefined ? '-' : r.atMost === Infinity ? `> ${r.value * 1000} ms` : `${Number((r.value * 1000).toPrecision(3))} ms`;
  };
  out(`kafka        connected ${m('logfs_kafka_connected')}  errors ${m('logfs_kafka_errors_total')}  retries ${m('logfs_kafka_retries_total')}`);
  if (ack.length > 0) out(`ack wait     p50 ${quantile(0.5)}  p99 ${quantile(0.99)}  (accepted → Kafka ack, since start)`);
  out(`writers      blocked now ${m('logfs_blocked_writers')}  blocked total ${m('logfs_writes_blocked_total')}  refused ${m('logfs_writes_refused_total')}`);
}

function withData<T>(y: Argv<T>): Argv<T & Common> {
  return y
    .option('data', { type: 'string', default: DEFAULT_DATA, describe: 'State directory of the running system (or LOGFS_DATA)' })
    .option('api', { type: 'string', describe: 'Control API base URL (or LOGFS_API; default: the one of logfsctl up on --data, else in-process)' })
    .option('token', { type: 'string', describe: 'Control API token (or LOGFS_TOKEN, or the config file; default: <data>/admin.token)' }) as Argv<T & Common>;
}

async function main(): Promise<void> {
  const cli = withData(yargs(hideBin(process.argv)).scriptName('logfsctl'))
    .command(
      'up',
      'Run everything on this host (embedded defaults unless --kafka is given) until Ctrl-C',
      (y) => daemonFlags(y).option('api', { type: 'string', default: DEFAULT_LISTEN, describe: 'Serve the control API and web console on HOST:PORT ("off": none)' }),
      async (argv) => {
        const config = await daemonConfigFromFlags(argv);
        const log = configureLogger({ level: config.logLevel });
        process.stderr.write(`logfsctl: mounting ${config.mount.path} (data ${config.dataDir}); Ctrl-C to stop\n`);
        await runUp(config, log, argv.api === 'off' ? null : argv.api);
        // Shut down cleanly by now; fuse-native can keep a native handle alive after an external
        // umount, so exit rather than wait for the event loop to drain.
        process.exit(0);
      },
    )
    .command(
      'mount <dir>',
      'Start a logfsd in the background that mounts DIR',
      (y) =>
        y
          .positional('dir', { type: 'string', demandOption: true })
          .option('kafka', { type: 'string', array: true, describe: 'Kafka bootstrap brokers' })
          .option('wait', { type: 'number', default: 30, describe: 'Seconds to wait for the mount' }),
      (argv) => mountCommand(argv as Common & { dir: string; kafka?: string[]; wait: number }),
    )
    .command(
      'umount <dir>',
      'Stop the logfsd serving DIR (or clear a stale mount)',
      (y) => y.positional('dir', { type: 'string', demandOption: true }),
      (argv) => umountCommand(argv as Common & { dir: string }),
    )
    .command(streamCommand as never)
    .command(providerCommand as never)
    .command(tokenCommand as never)
    .command(jobsCommand as never)
    .command(historyCommand as never)
    .command(rollbackCommand as never)
    .command(controlCommand as never)
    .command(
      'tail <stream>',
      'Print decoded records of a stream (from Kafka, or the journal in embedded mode)',
      (y) =>
        y
          .positional('stream', { type: 'string', demandOption: true })
          .option('from-beginning', { type: 'boolean', default: false })
          .option('class', { type: 'string', describe: 'Only records with this class label' })
          .option('count', { type: 'number', describe: 'Stop after N records' })
          .option('json', { type: 'boolean', default: false, describe: 'One JSON object per line' })
          .option('kafka', { type: 'string', array: true, describe: 'Brokers (default: those of the running logfsd)' })
          .option('provider', { type: 'string' })
          .option('timeout', { type: 'number', describe: 'Give up after this many seconds without reaching --count' }),
      async (argv) => {
        const rt: RuntimeInfo | undefined = await readRuntime(argv.data);
        const brokers = brokersOf(argv.kafka) ?? rt?.brokers ?? [];
        await tailRecords({
          stream: argv.stream as string,
          provider: await defaultProvider(argv),
          topicPrefix: rt?.topicPrefix ?? 'logfs',
          brokers,
          journalDir: rt?.journalDir || path.join(argv.data, 'journal'),
          fromBeginning: argv['from-beginning'],
          classLabel: argv.class,
          count: argv.count,
          json: argv.json,
          timeoutMs: argv.timeout === undefined ? undefined : argv.timeout * 1000,
          print: out,
          keys: await localStreamKeys(argv.data, (text) => process.stderr.write(`logfsctl: warning: ${text}\n`)),
        });
      },
    )
    .command(graphCommand as never)
    .command(pipelineCommand as never)
    .command(archiveCommand as never)
    .command(metricsCommand as never)
    .command(alarmsCommand as never)
    .command(
      'status',
      'Show the running logfsd and its counters',
      (y) => y.option('json', { type: 'boolean', default: false }),
      (argv) => statusCommand(argv),
    )
    .demandCommand(1, 'name a command; see --help')
    .strict()
    .help()
    .fail((msg, err) => {
      if (err) process.stderr.write(`logfsctl: ${errorMessage(err)}\n`);
      else process.stderr.write(`logfsctl: ${msg}\nRun "logfsctl --help" for usage.\n`);
      process.exit(err ? 1 : 2);
    });
  await cli.parseAsync();
}

// `logfsctl … | head` closes the pipe early: that is the reader being done, not an error.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});

main().catch((err: unknown) => {
  process.stderr.write(`logfsctl: ${errorMessage(err)}\n`);
  process.exit(1);
});
