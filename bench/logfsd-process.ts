/**
 * One logfsd under test: provisions the benchmark stream with logfsctl, starts `bin/logfsd.js` as
 * a child process with a config file, waits until the mount is up and runtime.json names the
 * metrics endpoint, and stops it with SIGTERM (which unmounts). Its output goes to our stderr.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { LOGFSD_NODE_FLAGS } from '../cli/node-flags.js';
import type { RuntimeInfo } from '../daemon/daemon.js';
import { parsePrometheusText } from '../gateway/metrics.js';
import type { Logger } from '../core/logger.js';

const execFileP = promisify(execFile);

export const BENCH_STREAM = 'bench';
export const BENCH_INSTANCE = 'bench';

export interface LogfsdOptions {
  root: string;
  /** Directory holding this logfsd's data dir and mount point. */
  dir: string;
  /** Bootstrap broker; undefined runs the embedded mode. */
  kafka: string | undefined;
  /** logfsd configuration (docs/configuration.md), written to a JSON config file. */
  config: Record<string, unknown>;
  log: Logger;
}

async function isMountPoint(dir: string): Promise<boolean> {
  const info = await fsp.readFile('/proc/self/mountinfo', 'utf8').catch(() => '');
  const escaped = dir.replace(/ /g, '\\040');
  return info.split('\n').some((line) => line.split(' ')[4] === escaped);
}

export class LogfsdProcess {
  private exitCode: number | null | undefined;
  private exitSignal: NodeJS.Signals | null = null;
  private stopping = false;
  private readonly exited: Promise<void>;

  private constructor(
    private readonly child: ChildProcess,
    readonly dataDir: string,
    readonly mountpoint: string,
    private readonly log: Logger,
  ) {
    this.exited = new Promise((resolve) =>
      child.once('exit', (code, signal) => {
        this.exitCode = code ?? (signal ? -1 : null);
        this.exitSignal = signal;
        if (!this.stopping) log.error({ pid: child.pid, code, signal }, 'logfsd exited unexpectedly');
        resolve();
      }),
    );
  }

  runtime!: RuntimeInfo;

  get pid(): number {
    return this.child.pid as number;
  }

  /** Path of the benchmark stream in the mount, with a class label. */
  streamPath(label: string): string {
    return path.join(this.mountpoint, `${BENCH_STREAM}@${label}`);
  }

  static async start(opts: LogfsdOptions): Promise<LogfsdProcess> {
    const dataDir = path.join(opts.dir, 'data');
    const mountpoint = path.join(opts.dir, 'mnt');
    await fsp.mkdir(dataDir, { recursive: true });
    const configFile = path.join(opts.dir, 'logfsd.json');
    await fsp.writeFile(configFile, JSON.stringify(opts.config, null, 2));
    await execFileP(process.execPath, [
      path.join(opts.root, 'bin/logfsctl.js'),
      'stream', 'create', BENCH_STREAM, '--data', dataDir, '--partitions', '1',
    ]);
    const args = [
      path.join(opts.root, 'bin/logfsd.js'),
      '--config', configFile,
      '--data', dataDir,
      '--mount', mountpoint,
      '--instance-id', BENCH_INSTANCE,
      '--metrics', '127.0.0.1:0',
      '--log-level', 'warn',
      ...(opts.kafka ? ['--kafka', opts.kafka] : []),
    ];
    // LOGFS_BENCH_NODE_ARGS: extra node flags for logfsd, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof"
    // to profile it under the benchmark's load.
    const nodeArgs = (process.env.LOGFS_BENCH_NODE_ARGS ?? '').split(/\s+/).filter(Boolean);
    const child = spawn(process.execPath, [...LOGFSD_NODE_FLAGS, ...nodeArgs, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    const tag = `[logfsd ${path.basename(opts.dir)}] `;
    for (const stream of [child.stdout, child.stderr]) {
      stream?.setEncoding('utf8');
      stream?.on('data', (chunk: string) => process.stderr.write(chunk.replace(/^(?=.)/gm, tag)));
    }
    const p = new LogfsdProcess(child, dataDir, mountpoint, opts.log);
    try {
      await p.waitUntilMounted(30_000);
    } catch (err) {
      // The caller has no handle on it yet: a logfsd left running would keep its mount busy.
      await p.stop();
      throw err;
    }
    return p;
  }

  private async waitUntilMounted(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (this.exitCode !== undefined) throw new Error(`logfsd exited with ${this.exitCode} before mounting`);
      // Not there yet, or (from a logfsd that writes it in place) not whole yet: look again.
      const info = await fsp
        .readFile(path.join(this.dataDir, 'runtime.json'), 'utf8')
        .then((t) => JSON.parse(t) as RuntimeInfo)
        .catch(() => undefined);
      if (info && info.pid === this.pid && info.metrics && (await isMountPoint(this.mountpoint))) {
        this.runtime = info;
        return;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`logfsd did not mount ${this.mountpoint} within ${timeoutMs} ms`);
  }

  /** Throws when logfsd is no longer running, saying how it ended. */
  assertRunning(): void {
    if (this.exitCode !== undefined) {
      throw new Error(`logfsd (pid ${this.pid}) exited ${this.exitSignal ? `on ${this.exitSignal}` : `with code ${this.exitCode}`} during the benchmark`);
    }
  }

  /** The Prometheus counters and gauges, by name. */
  async metrics(): Promise<Record<string, number>> {
    this.assertRunning();
    try {
      const res = await fetch(`http://${this.runtime.metrics}/metrics`, { signal: AbortSignal.timeout(10_000) });
      return parsePrometheusText(await res.text());
    } catch (err) {
      this.assertRunning();
      throw err;
    }
  }

  /** SIGTERM (logfsd unmounts and exits), SIGKILL and a lazy unmount if it does not within 30 s. */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.exitCode === undefined) {
      this.child.kill('SIGTERM');
      const timer = setTimeout(() => {
        this.log.warn({ pid: this.pid }, 'logfsd did not stop within 30 s; killing it');
        this.child.kill('SIGKILL');
      }, 30_000);
      await this.exited;
      clearTimeout(timer);
    }
    if (await isMountPoint(this.mountpoint)) {
      await execFileP('fusermount', ['-uz', this.mountpoint]).catch(() => execFileP('umount', ['-l', this.mountpoint]));
    }
  }
}
