/**
 * The host side of a custom agent's sandbox. It forks the sandbox process (sandbox-worker.ts) with
 * the memory limit, loads the module, and runs one batch at a time under a watchdog. A sandbox that
 * dies (memory), hangs (watchdog) or breaks the CPU limit is replaced before the next batch, with a
 * backoff while it keeps failing; the caller gets an outcome for every batch, never an exception.
 *
 * Why a child process and not a worker thread with resourceLimits: a worker that reaches its heap
 * limit through one large allocation (a growing Map or array) aborts the whole process instead of
 * ending with ERR_WORKER_OUT_OF_MEMORY (https://github.com/nodejs/node/issues/47224), and a custom
 * agent must never take the pipeline worker down with it.
 */
import { fork, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { LogfsError } from '../../core/errors.js';
import type { Logger } from '../../core/logger.js';
import { Backoff, sleep } from '../../core/retry.js';
import type { FromSandbox, SandboxEnvelope, ToSandbox } from './sandbox-protocol.js';

export const SANDBOX_DEFAULTS = {
  cpuMsPerBatch: 200,
  memoryMb: 64,
  maxOutputPerRecord: 100,
  /** Loading the module and init(options) may take this long even when the batch limit is lower. */
  loadCpuMs: 1000,
  /** Console lines a module keeps per call (batch, load); more are counted and reported, not kept. */
  maxLogLines: 20,
  /** Longer console lines are cut. */
  maxLogChars: 1000,
  /** Sandbox console lines written to the pipeline's log per window, over all calls. */
  logLinesPerWindow: 100,
  logWindowMs: 60_000,
  /** A sandbox that does not answer within this multiple of the CPU limit (at least watchdogMinMs) is killed. */
  watchdogFactor: 5,
  watchdogMinMs: 1000,
  /** Extra time for the process to start (Node's own start-up) before the module is loaded. */
  startupMs: 10_000,
  /** Delay between restarts of a sandbox that keeps failing batch after batch. */
  backoff: { initialMs: 200, maxMs: 10_000 },
} as const;

export interface SandboxConfig {
  /** Names the agent in messages, e.g. `custom agent "orders"`. */
  label: string;
  source: string;
  /** Shown in syntax errors and stack traces. */
  filename: string;
  /** Any JSON value, given to init(options). */
  options: unknown;
  /** Ports the module may emit on; the first is emit's default. */
  ports: string[];
  cpuMsPerBatch: number;
  memoryMb: number;
  maxOutputPerRecord: number;
}

/** What the module did with one record: records per port, or why it failed. */
export type SandboxEntry = { o: [string, unknown][] } | { e: string };

export type BatchOutcome =
  | { ok: true; entries: SandboxEntry[] }
  /**
   * The whole call failed with `reason`; `done` holds the entries of the records finished before.
   * With `culprit`, the record at index `done.length` was running when the limit struck.
   */
  | { ok: false; reason: string; done: SandboxEntry[]; culprit: boolean };

export interface SandboxStats {
  batches: number;
  /** Processes started after the first: deaths, CPU-limit breaches, restarts. */
  restarts: number;
  cpuLimit: number;
  memoryLimit: number;
  watchdog: number;
  crashes: number;
}

const EnvelopeSchema = z.object({
  r: z.array(z.unknown()).optional(),
  f: z.string().optional(),
  l: z.array(z.tuple([z.string(), z.string()])),
  d: z.number(),
});

const EntrySchema = z.union([z.strictObject({ o: z.array(z.tuple([z.string(), z.unknown()])) }), z.strictObject({ e: z.string() })]);

type Reply = FromSandbox | { t: 'died'; reason: string };

/** One sandbox process; events of a replaced one can no longer touch its successor. */
interface SandboxProcess {
  child: ChildProcess;
  stderr: string;
  stderrEnded: Promise<void>;
  /** Set when the host killed it, as the reason to report. */
  killedBecause?: string;
  /** Set once it exited: why. */
  deadBecause?: string;
  exited: Promise<void>;
  pending?: { id: number; settle: (r: Reply) => void };
}

/**
 * The compiled sandbox process. Under vitest this module runs from the TypeScript sources, whose
 * sibling is a .ts file Node cannot start; the build output (npm run build) is used then.
 */
function workerFile(): string {
  const sibling = fileURLToPath(new URL('./sandbox-worker.js', import.meta.url));
  if (fs.existsSync(sibling)) return sibling;
  const built = fileURLToPath(new URL('../../dist/pipeline/sandbox/sandbox-worker.js', import.meta.url));
  if (fs.existsSync(built)) return built;
  throw new LogfsError('LOGFS_E_INTERNAL', `the custom agent sandbox is not built (${built} is missing); run npm run build`);
}

/**
 * Node flags of the sandbox process: the heap limit, no code generation from strings even in the
 * process's own realm, and (where Node has it) the permission model: no file access beyond its own
 * code, no child processes, no workers. The vm context is the sandbox; these are the second wall.
 */
function sandboxExecArgv(dir: string, memoryMb: number): string[] {
  const known = process.allowedNodeEnvironmentFlags;
  const permission = known.has('--permission') ? '--permission' : known.has('--experimental-permission') ? '--experimental-permission' : undefined;
  return [
    ...(permission ? [permission, `--allow-fs-read=${dir}`] : []),
    '--disallow-code-generation-from-strings',
    // Lets import() in the module reject with an error of the module's own realm (see sandbox-worker.ts).
    '--experimental-vm-modules',
    '--no-warnings',
    `--max-old-space-size=${memoryMb}`,
    `--max-semi-space-size=${Math.max(1, Math.min(16, Math.floor(memoryMb / 16)))}`,
  ];
}

export class SandboxHost {
  private proc: SandboxProcess | undefined;
  private nextId = 1;
  private failuresInARow = 0;
  private readonly backoff = new Backoff(SANDBOX_DEFAULTS.backoff);
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;
  private readonly watchdogMs: number;
  private readonly loadCpuMs: number;
  private logWindowStart = 0;
  private logLinesInWindow = 0;
  private logLinesSuppressed = 0;
  readonly stats: SandboxStats = { batches: 0, restarts: 0, cpuLimit: 0, memoryLimit: 0, watchdog: 0, crashes: 0 };

  constructor(
    private readonly cfg: SandboxConfig,
    private readonly log: Logger,
  ) {
    this.watchdogMs = Math.max(SANDBOX_DEFAULTS.watchdogMinMs, SANDBOX_DEFAULTS.watchdogFactor * cfg.cpuMsPerBatch);
    this.loadCpuMs = Math.max(SANDBOX_DEFAULTS.loadCpuMs, cfg.cpuMsPerBatch);
  }

  /** Starts the sandbox and loads the module; rejects with LOGFS_E_SANDBOX naming what went wrong. */
  start(): Promise<void> {
    return this.serial(() => this.launch());
  }

  /** A fresh sandbox: the module's state (caches, counters) starts over. */
  restart(): Promise<void> {
    return this.serial(async () => {
      await this.stop();
      this.stats.restarts++;
      await this.launch();
    });
  }

  /** Runs one batch (`input`: JSON array of `count` records); resolves with an outcome, never rejects. */
  runBatch(input: string, count: number): Promise<BatchOutcome> {
    return this.serial(() => this.runOne(input, count));
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.stop();
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.queue.then(fn);
    this.queue = result.catch(() => {});
    return result;
  }

  private async runOne(input: string, count: number): Promise<BatchOutcome> {
    this.stats.batches++;
    if (this.closed) return { ok: false, reason: `${this.cfg.label} is closed`, done: [], culprit: false };
    if (!this.proc) {
      const reason = await this.revive();
      if (reason) return { ok: false, reason, done: [], culprit: false };
    }
    const proc = this.proc as SandboxProcess;
    const id = this.nextId++;
    const reply = await this.request(proc, { t: 'run', id, input }, id, this.watchdogMs);
    switch (reply.t) {
      case 'ran': {
        const envelope = this.readEnvelope(reply.envelope);
        const failure = envelope === undefined ? 'returned a malformed result' : envelope.f;
        if (failure !== undefined || envelope?.r === undefined || envelope.r.length !== count) {
          this.stats.crashes++;
          await this.retire(proc);
          return { ok: false, reason: failure ?? `returned ${envelope?.r?.length ?? 0} results for ${count} records`, done: [], culprit: false };
        }
        this.failuresInARow = 0;
        this.backoff.reset();
        return { ok: true, entries: envelope.r.map((e) => this.readEntry(e)) };
      }
      case 'timed-out': {
        this.stats.cpuLimit++;
        // The module was stopped mid-record: its state may be half-updated, and a promise loop
        // would keep the context busy. The next batch gets a fresh sandbox.
        await this.retire(proc);
        const envelope = reply.partial === null ? undefined : this.readEnvelope(reply.partial);
        const done = (envelope?.r ?? []).slice(0, count).map((e) => this.readEntry(e));
        // Without the partial results (the context stayed busy) nobody can be named the culprit.
        const culprit = reply.partial !== null && done.length < count;
        return { ok: false, reason: `exceeded the CPU limit of ${this.cfg.cpuMsPerBatch}ms per batch`, done, culprit };
      }
      case 'crashed':
        this.stats.crashes++;
        await this.retire(proc);
        return { ok: false, reason: `the sandbox failed: ${reply.message}`, done: [], culprit: false };
      case 'died':
        this.failuresInARow++;
        this.log.warn({ reason: reply.reason }, `${this.cfg.label}: sandbox stopped during a batch; a new one starts for the next batch`);
        return { ok: false, reason: reply.reason, done: [], culprit: false };
      default:
        await this.retire(proc);
        return { ok: false, reason: `the sandbox answered ${reply.t} to a batch`, done: [], culprit: false };
    }
  }

  /** Starts a new sandbox for the next batch, after a backoff delay when the last ones kept failing. */
  private async revive(): Promise<string | undefined> {
    if (this.failuresInARow > 1) await sleep(this.backoff.next());
    this.stats.restarts++;
    try {
      await this.launch();
      return undefined;
    } catch (err) {
      this.failuresInARow++;
      const reason = err instanceof LogfsError ? err.message : String(err);
      this.log.error({ reason }, `${this.cfg.label}: the sandbox could not be restarted; the batch goes to the error port`);
      return `the sandbox could not be restarted: ${reason}`;
    }
  }

  /** A sandbox that broke a limit: counted as a failure (for the backoff) and killed. */
  private async retire(proc: SandboxProcess): Promise<void> {
    this.failuresInARow++;
    await this.stop(proc);
  }

  private async launch(): Promise<void> {
    const { cfg } = this;
    const proc = this.spawn();
    const load: ToSandbox = {
      t: 'load',
      source: cfg.source,
      filename: cfg.filename,
      options: JSON.stringify(cfg.options ?? null),
      ports: cfg.ports,
      cpuMs: cfg.cpuMsPerBatch,
      loadCpuMs: this.loadCpuMs,
      maxOutputPerRecord: cfg.maxOutputPerRecord,
      maxLogLines: SANDBOX_DEFAULTS.maxLogLines,
      maxLogChars: SANDBOX_DEFAULTS.maxLogChars,
    };
    const reply = await this.request(proc, load, 0, SANDBOX_DEFAULTS.startupMs + SANDBOX_DEFAULTS.watchdogFactor * this.loadCpuMs);
    let failure: string | undefined;
    if (reply.t === 'loaded') {
      const envelope = this.readEnvelope(reply.envelope);
      failure = envelope === undefined ? 'the sandbox returned a malformed result while loading the module' : envelope.f;
    } else if (reply.t === 'load-failed') {
      const what = reply.stage === 'load' ? 'while loading' : 'in init(options)';
      failure =
        reply.kind === 'syntax'
          ? `the module has a syntax error: ${reply.message}`
          : reply.kind === 'cpu'
            ? `the module exceeded the CPU limit of ${this.loadCpuMs}ms ${what}`
            : `the sandbox failed ${what}: ${reply.message}`;
    } else if (reply.t === 'died') {
      failure = `the sandbox ${reply.reason} while loading the module`;
    } else {
      failure = `the sandbox answered ${reply.t} while loading the module`;
    }
    if (failure !== undefined) {
      await this.stop(proc);
      throw new LogfsError('LOGFS_E_SANDBOX', `${cfg.label}: ${failure}. Fix the module (or its limits) and apply the graph again.`, {
        context: { filename: cfg.filename },
      });
    }
    this.proc = proc;
  }

  private spawn(): SandboxProcess {
    const file = workerFile();
    const child = fork(file, [], {
      execArgv: sandboxExecArgv(path.dirname(file), this.cfg.memoryMb),
      serialization: 'advanced',
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
      // Nothing of the pipeline worker's environment (credentials) is visible in there.
      env: {},
    });
    let exitedResolve: () => void = () => {};
    const proc: SandboxProcess = {
      child,
      stderr: '',
      stderrEnded: new Promise((resolve) => child.stderr?.once('close', resolve)),
      exited: new Promise((resolve) => (exitedResolve = resolve)),
    };
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (d: string) => {
      proc.stderr = (proc.stderr + d).slice(-4096);
    });
    child.on('message', (m: FromSandbox) => {
      const p = proc.pending;
      if (p && ('id' in m ? m.id === p.id : p.id === 0)) p.settle(m);
    });
    child.on('error', (err) => {
      // Spawning failed, or a message could not be sent; 'exit' follows when there is a process.
      if (child.pid === undefined) void this.onExit(proc, null, null, err.message).then(exitedResolve);
    });
    child.on('exit', (code, signal) => void this.onExit(proc, code, signal).then(exitedResolve));
    return proc;
  }

  private async onExit(proc: SandboxProcess, code: number | null, signal: NodeJS.Signals | null, spawnError?: string): Promise<void> {
    if (proc.deadBecause !== undefined) return;
    // V8 reports a heap overflow on stderr just before the process aborts.
    await Promise.race([proc.stderrEnded, sleep(200)]);
    let reason: string;
    if (proc.killedBecause !== undefined) reason = proc.killedBecause;
    else if (/heap out of memory|allocation failed|reached heap limit/i.test(proc.stderr)) {
      this.stats.memoryLimit++;
      reason = `exceeded the memory limit of ${this.cfg.memoryMb} MiB`;
    } else if (spawnError !== undefined) reason = `could not be started: ${spawnError}`;
    else {
      this.stats.crashes++;
      reason = `exited unexpectedly (${signal ? `signal ${signal}` : `exit code ${code}`})`;
      const lastLine = proc.stderr.trim().split('\n').pop();
      if (lastLine) this.log.warn({ stderr: lastLine }, `${this.cfg.label}: sandbox process output before it exited`);
    }
    proc.deadBecause = reason;
    if (this.proc === proc) this.proc = undefined;
    proc.pending?.settle({ t: 'died', reason });
  }

  /** Sends `msg` and waits for its answer; kills the process when it does not come within `timeoutMs`. */
  private request(proc: SandboxProcess, msg: ToSandbox, id: number, timeoutMs: number): Promise<Reply> {
    return new Promise((resolve) => {
      if (proc.deadBecause !== undefined) return resolve({ t: 'died', reason: proc.deadBecause });
      const timer = setTimeout(() => {
        this.stats.watchdog++;
        proc.killedBecause = `did not answer within ${timeoutMs}ms and was stopped`;
        proc.child.kill('SIGKILL');
      }, timeoutMs);
      proc.pending = {
        id,
        settle: (r) => {
          clearTimeout(timer);
          proc.pending = undefined;
          resolve(r);
        },
      };
      // A failed send means the process is gone or going: its exit settles the request.
      proc.child.send(msg, () => {});
    });
  }

  private async stop(proc: SandboxProcess | undefined = this.proc): Promise<void> {
    if (!proc) return;
    if (this.proc === proc) this.proc = undefined;
    if (proc.deadBecause === undefined) {
      proc.killedBecause ??= 'was stopped';
      proc.child.kill('SIGKILL');
    }
    await proc.exited;
  }

  /** Parses what the driver returned and passes its console lines on to the log. */
  private readEnvelope(text: string): SandboxEnvelope | undefined {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      return undefined;
    }
    const envelope = EnvelopeSchema.safeParse(parsed);
    if (!envelope.success) return undefined;
    this.writeLogs(envelope.data.l, envelope.data.d);
    return envelope.data as SandboxEnvelope;
  }

  private readEntry(raw: unknown): SandboxEntry {
    const entry = EntrySchema.safeParse(raw);
    if (!entry.success) return { e: 'the sandbox returned a malformed result for this record' };
    if ('o' in entry.data) {
      for (const [port] of entry.data.o) if (!this.cfg.ports.includes(port)) return { e: `emitted on unknown port ${JSON.stringify(port)}` };
    }
    return entry.data;
  }

  /** The module's console, rate-limited per window so a chatty module cannot flood the pipeline's log. */
  private writeLogs(lines: [string, string][], droppedInSandbox: number): void {
    if (lines.length === 0 && droppedInSandbox === 0) return;
    const now = Date.now();
    if (now - this.logWindowStart >= SANDBOX_DEFAULTS.logWindowMs) {
      if (this.logLinesSuppressed > 0) {
        this.log.warn({ suppressed: this.logLinesSuppressed }, `${this.cfg.label}: console lines of the module were suppressed (rate limit)`);
      }
      this.logWindowStart = now;
      this.logLinesInWindow = 0;
      this.logLinesSuppressed = 0;
    }
    this.logLinesSuppressed += droppedInSandbox;
    for (const [level, message] of lines) {
      if (this.logLinesInWindow >= SANDBOX_DEFAULTS.logLinesPerWindow) {
        this.logLinesSuppressed++;
        continue;
      }
      this.logLinesInWindow++;
      const write = level === 'debug' ? this.log.debug : level === 'warn' ? this.log.warn : level === 'error' ? this.log.error : this.log.info;
      write.call(this.log, { sandbox: this.cfg.label }, message);
    }
  }
}
