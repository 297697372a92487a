/**
 * The unix datagram listener (syslog(3), `logger -u`, /dev/log). Node cannot bind a unix datagram
 * socket, so a small C relay (unix-dgram-relay.c, compiled with `cc -O2` on first use into
 * `<data>/bin/`, cached by source hash) binds it and writes each datagram length-prefixed to its
 * stdout. A relay that dies is restarted with the project's Backoff; the socket path stays ours.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { errorMessage, LogfsError } from '../../core/errors.js';
import type { Logger } from '../../core/logger.js';
import { Backoff } from '../../core/retry.js';

export const UNIX_DGRAM_DEFAULTS = {
  /** The relay's top header bit: the datagram was longer than its buffer and was cut. */
  cutFlag: 0x80000000,
  /** How long the relay may take to bind before start fails. */
  bindTimeoutMs: 10_000,
  /** A relay that ran this long before dying counts as healthy: the backoff starts over. */
  healthyRunMs: 10_000,
  savedSuffix: '.logfs-saved',
  /** How long the relay may take to exit on SIGTERM at close before it is killed. */
  stopTimeoutMs: 3_000,
};

export interface UnixDgramOptions {
  path: string;
  /** Octal permission bits of the socket file. */
  mode: string;
  /** Move a live socket (or symlink) at `path` aside and put it back on close. */
  takeOver: boolean;
  /** Where the compiled relay is cached (`<data>/bin`). */
  binDir: string;
}

export interface UnixDgramListener {
  readonly address: string;
  close(): Promise<void>;
}

const SOURCE_NAME = 'unix-dgram-relay.c';

/** The relay's source: beside this module when run from the sources, in the repo's inputs/syslog/ when run from dist/. */
function relaySource(): string {
  const here = import.meta.dirname;
  const candidates = [path.join(here, SOURCE_NAME), path.resolve(here, '../../../inputs/syslog', SOURCE_NAME)];
  const found = candidates.find((p) => fs.existsSync(p));
  if (!found) throw new LogfsError('LOGFS_E_INTERNAL', `${SOURCE_NAME} not found (looked in ${candidates.join(', ')})`);
  return found;
}

function run(cmd: string, args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stderr }));
  });
}

/** Compiles the relay once per source version; concurrent daemons race harmlessly (rename is atomic). */
export async function compileRelay(binDir: string, log: Logger): Promise<string> {
  const source = relaySource();
  const hash = crypto.createHash('sha256').update(await fsp.readFile(source)).digest('hex').slice(0, 16);
  const binary = path.join(binDir, `unix-dgram-relay-${hash}`);
  if (fs.existsSync(binary)) return binary;
  await fsp.mkdir(binDir, { recursive: true });
  const tmp = `${binary}.${process.pid}.tmp`;
  let result: { code: number | null; stderr: string };
  try {
    result = await run('cc', ['-O2', '-o', tmp, source]);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new LogfsError(
        'LOGFS_E_CONFIG',
        'the unix datagram syslog listener needs a C compiler ("cc") to build its relay once, and none was found: install one (apt-get install gcc) or turn inputs.syslog.unix off',
        { cause: err },
      );
    }
    throw err;
  }
  if (result.code !== 0) {
    await fsp.rm(tmp, { force: true });
    throw new LogfsError('LOGFS_E_CONFIG', `cc could not build ${source} (exit ${result.code}): ${result.stderr.trim()}`);
  }
  await fsp.rename(tmp, binary);
  log.info({ binary }, 'built the unix datagram relay');
  return binary;
}

/**
 * Makes `opts.path` free for us: nothing there, or a socket nobody receives on (left by a crash).
 * A live socket or a symlink (journald's /dev/log) is moved aside only when takeOver is set.
 * Returns the path it was moved to, if any.
 */
async function claimPath(opts: UnixDgramOptions, relay: string, log: Logger): Promise<string | undefined> {
  let st: fs.Stats;
  try {
    st = await fsp.lstat(opts.path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    await fsp.mkdir(path.dirname(opts.path), { recursive: true });
    return undefined;
  }
  const what = st.isSymbolicLink() ? `a symlink to ${await fsp.readlink(opts.path)}` : st.isSocket() ? 'a socket' : undefined;
  if (what === undefined) {
    throw new LogfsError('LOGFS_E_CONFIG', `syslog unix socket path ${opts.path} exists and is not a socket; remove it or choose another path`);
  }
  const live = st.isSymbolicLink() || (await run(relay, ['probe', opts.path])).code === 0;
  if (!live) {
    log.info({ path: opts.path }, 'removing a stale syslog socket nobody receives on');
    await fsp.rm(opts.path, { force: true });
    // Ours, left by a logfsd that was killed while it held the path: the system logger's socket
    // it moved aside is still saved, and goes back when this one stops.
    const saved = opts.path + UNIX_DGRAM_DEFAULTS.savedSuffix;
    if (opts.takeOver && fs.existsSync(saved)) return saved;
    return undefined;
  }
  if (!opts.takeOver) {
    throw new LogfsError(
      'LOGFS_E_CONFIG',
      `syslog unix socket path ${opts.path} is ${what} that another process receives on (a system logger such as systemd-journald or rsyslog); ` +
        'set inputs.syslog.unix.takeOver: true to move it aside while logfsd runs, or choose another path',
    );
  }
  const saved = opts.path + UNIX_DGRAM_DEFAULTS.savedSuffix;
  if (fs.existsSync(saved)) {
    throw new LogfsError('LOGFS_E_CONFIG', `cannot take over ${opts.path}: ${saved} exists already (left by an earlier logfsd?); put it back or remove it`);
  }
  await fsp.rename(opts.path, saved);
  log.warn({ path: opts.path, savedAs: saved }, `took over ${opts.path} (it was ${what}); it is put back when logfsd stops`);
  return saved;
}

/** Splits the relay's stdout into datagrams. */
class RelayReader {
  private pending: Buffer = Buffer.alloc(0);

  constructor(
    private readonly onReady: () => void,
    private readonly onDatagram: (data: Buffer, cut: boolean) => void,
  ) {}

  push(chunk: Buffer): void {
    let buf = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    let off = 0;
    while (buf.length - off >= 4) {
      const header = buf.readUInt32BE(off);
      const len = header & ~UNIX_DGRAM_DEFAULTS.cutFlag;
      if (buf.length - off < 4 + len) break;
      if (len === 0) this.onReady();
      // A copy: the chunk is large and the message outlives it in the journal batch.
      else this.onDatagram(Buffer.from(buf.subarray(off + 4, off + 4 + len)), (header & UNIX_DGRAM_DEFAULTS.cutFlag) !== 0);
      off += 4 + len;
    }
    buf = buf.subarray(off);
    this.pending = buf.length === 0 ? Buffer.alloc(0) : Buffer.from(buf);
  }
}

export async function listenUnixDgram(opts: UnixDgramOptions, onDatagram: (data: Buffer, cut: boolean) => void, log: Logger): Promise<UnixDgramListener> {
  const relay = await compileRelay(opts.binDir, log);
  const saved = await claimPath(opts, relay, log);
  const backoff = new Backoff({ initialMs: 100, maxMs: 10_000 });
  let child: ChildProcess | undefined;
  let closing = false;
  let restartTimer: NodeJS.Timeout | undefined;

  /** Starts the relay; resolves once it has bound the socket. */
  const startRelay = (): Promise<void> =>
    new Promise((resolve, reject) => {
      const c = spawn(relay, ['bind', opts.path, opts.mode], { stdio: ['ignore', 'pipe', 'pipe'] });
      child = c;
      const startedAt = Date.now();
      let ready = false;
      let stderr = '';
      const timer = setTimeout(() => {
        c.kill('SIGKILL');
        reject(new LogfsError('LOGFS_E_INTERNAL', `the unix datagram relay did not bind ${opts.path} within ${UNIX_DGRAM_DEFAULTS.bindTimeoutMs} ms`));
      }, UNIX_DGRAM_DEFAULTS.bindTimeoutMs);
      const reader = new RelayReader(() => {
        ready = true;
        clearTimeout(timer);
        resolve();
      }, onDatagram);
      c.stdout?.on('data', (chunk: Buffer) => reader.push(chunk));
      c.stderr?.setEncoding('utf8').on('data', (s: string) => (stderr += s).length > 4096 && (stderr = stderr.slice(-4096)));
      c.once('error', (err) => {
        clearTimeout(timer);
        if (!ready) reject(new LogfsError('LOGFS_E_CONFIG', `cannot run the unix datagram relay ${relay}: ${errorMessage(err)}`, { cause: err }));
      });
      c.once('close', (code, signal) => {
        clearTimeout(timer);
        if (!ready) {
          reject(new LogfsError('LOGFS_E_CONFIG', `the unix datagram relay could not listen on ${opts.path} (exit ${code ?? signal}): ${stderr.trim()}`));
          return;
        }
        if (closing) return;
        if (Date.now() - startedAt > UNIX_DGRAM_DEFAULTS.healthyRunMs) backoff.reset();
        const delay = backoff.next();
        log.error({ path: opts.path, code, signal, stderr: stderr.trim(), restartInMs: delay }, 'the unix datagram relay died; restarting it');
        restartTimer = setTimeout(() => void restart(), delay);
      });
    });

  const restart = async (): Promise<void> => {
    restartTimer = undefined;
    if (closing) return;
    try {
      // The dead relay's socket file is ours and in the way of bind().
      await fsp.rm(opts.path, { force: true });
      await startRelay();
      log.info({ path: opts.path }, 'unix datagram relay restarted');
    } catch (err) {
      const delay = backoff.next();
      log.error({ err: errorMessage(err), restartInMs: delay }, 'restarting the unix datagram relay failed');
      if (!closing) restartTimer = setTimeout(() => void restart(), delay);
    }
  };

  try {
    await startRelay();
  } catch (err) {
    if (saved) await fsp.rename(saved, opts.path).catch(() => undefined);
    throw err;
  }
  log.info({ path: opts.path, relay }, 'listening for syslog on a unix datagram socket');

  return {
    address: `unix://${opts.path}`,
    close: async () => {
      closing = true;
      if (restartTimer) clearTimeout(restartTimer);
      const c = child;
      if (c && c.exitCode === null && c.signalCode === null) {
        const gone = new Promise<void>((resolve) => c.once('close', () => resolve()));
        c.kill('SIGTERM');
        // A SIGTERM that lands just before the relay blocks in recv() waits for the next datagram:
        // on a quiet socket, kill it rather than hold up logfsd's shutdown.
        const force = setTimeout(() => c.kill('SIGKILL'), UNIX_DGRAM_DEFAULTS.stopTimeoutMs);
        await gone;
        clearTimeout(force);
      }
      await fsp.rm(opts.path, { force: true });
      if (saved) {
        await fsp.rename(saved, opts.path).catch((err: unknown) => log.error({ err: errorMessage(err), path: opts.path, saved }, 'could not put the saved socket back'));
      }
    },
  };
}
