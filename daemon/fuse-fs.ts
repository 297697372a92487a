/**
 * The write-only FUSE filesystem. Streams are files (mode 0222), namespaces are directories; a class
 * label travels as `stream@label` (see stream-path.ts for why). Every open handle frames its own
 * lines; `fsync()` and `close()` wait for durability (DESIGN.md "Durability"). Errors become errno
 * values in errno.ts only. The errno of every operation is listed in docs/filesystem.md.
 */
import { execFile } from 'node:child_process';
import fsp from 'node:fs/promises';
import { promisify } from 'node:util';
import Fuse, { type FuseOps, type FuseStat } from 'fuse-native';
import { errorMessage, LogfsError } from '../core/errors.js';
import { componentLogger, type Logger } from '../core/logger.js';
import type { StreamCatalog } from '../control/store.js';
import type { IngestSink, InstanceIdentity } from '../gateway/index.js';
import { errnoOf } from './errno.js';
import { FAST_WRITE_ENTRY_HEADER, installFuseBinding, type FastWriteBinding } from './fuse-binding.js';
import { LineFramer, type FramedLine } from './line-framer.js';
import { resolvePath, type ResolvedPath } from './stream-path.js';

const execFileP = promisify(execFile);

export const MOUNT_DEFAULTS = {
  mountpoint: '/dev/logFS',
  /** Longest record; longer lines become several records marked as parts. */
  maxRecordBytes: 1024 * 1024,
  /**
   * st_blksize of stream files. Programs that size buffers by it (CPython) write 128 KiB at a time;
   * glibc stdio uses it only below 8 KiB, so a small value would only slow it (bench/write-path.ts).
   */
  blksize: 128 * 1024,
  /** Provision an unknown stream on its first create instead of answering ENOENT. */
  autoProvision: false,
  /** FUSE big_writes + max_write: up to 128 KiB per write request instead of 4 KiB. */
  bigWrites: true,
  /** FUSE direct_io: writes bypass the page cache and reach us in the caller's own sizes. */
  directIo: true,
  /** Let users other than the mounting one write (needs user_allow_other for non-root). */
  allowOther: process.getuid?.() === 0,
  /**
   * Answer write requests in C and take their bytes in batches (daemon/fuse-binding.ts); needs the
   * native build and is off when the gateway refuses writes with ENOSPC instead of blocking them.
   */
  fastWrites: true,
};

/**
 * Bytes of writes the fast write path holds before a write waits (x2: JavaScript copies one buffer
 * while FUSE threads fill the other). Far above one write request (128 KiB with big_writes).
 */
const FAST_WRITE_BUFFER_BYTES = 2 * 1024 * 1024;
/** fuse-native state buffers with a fast write path in them, for the life of the process. */
const RETAINED_FUSE_THREADS = new Set<Buffer>();

/** Bytes of taken writes framed per turn of the event loop (see takeFastWrites). */
const FAST_WRITE_SLICE_BYTES = 256 * 1024;

export type MountOptions = typeof MOUNT_DEFAULTS;

const O_ACCMODE = 3;
const O_RDONLY = 0;

/**
 * World-writable with the sticky bit, like /tmp: with default_permissions the kernel checks modes
 * itself, and a read-only directory would answer EACCES to every user but root before our handlers
 * could give the documented ENOENT and EPERM. We refuse every directory change anyway.
 */
const DIR_MODE = 0o041777;
const STREAM_MODE = 0o100222;

interface Handle {
  stream: string;
  label: string | null;
  framer: LineFramer;
  /** Journal position of the last record ingested through this handle; -1 before the first. */
  lastPosition: number;
  /** A delivery waiting for room in the journal; later writes queue behind it to keep order. */
  waiting: Promise<void> | undefined;
  /**
   * Why bytes the fast write path already answered could not be ingested. The handle's next write,
   * flush, fsync or close reports it, once (as a page-cache file system reports a failed
   * write-back); meanwhile the handle's writes take the stock path, which answers each one.
   */
  error?: unknown;
  /** The handle's writes take the stock path (after a failed fast write) until one succeeds. */
  diverted?: boolean;
}

interface FastPath {
  binding: FastWriteBinding;
  thread: Buffer;
  /** The last take: entries up to `end`, framed up to `offset`. */
  batch: Buffer;
  end: number;
  offset: number;
}

/** fuse-native with the mount options it does not expose. */
class LogFuse extends Fuse {
  constructor(
    mnt: string,
    ops: FuseOps,
    private readonly extra: string[],
    opts: ConstructorParameters<typeof Fuse>[2],
  ) {
    super(mnt, ops, opts);
  }

  /** fuse-native's per-mount state, which the fast write path's functions take. */
  get thread(): Buffer | null {
    return this._thread;
  }

  protected override _fuseOptions(): string {
    const base = super._fuseOptions();
    const extra = this.extra.join(',');
    return base ? `${base},${extra}` : `-o${extra}`;
  }
}

export interface LogFsDeps {
  catalog: StreamCatalog;
  sink: IngestSink;
  identity: InstanceIdentity;
  /** Called for auto-provisioning; resolves once the stream is in the catalog. */
  provision?: (stream: string) => Promise<void>;
  log?: Logger;
}

export class LogFs {
  private readonly handles = new Map<number, Handle>();
  private nextFd = 1;
  private fuse: LogFuse | undefined;
  private readonly log: Logger;
  private readonly opts: MountOptions;
  private readonly now = new Date();
  /**
   * The fast write path, while it is on. `batch` receives each take: one buffer for the mount's
   * life, so taking allocates nothing; what is framed from it is ingested (copied) at once, or
   * copied before it waits.
   */
  private fast: FastPath | undefined;
  /** Taking fast writes waits for room in the journal (the writers block in C meanwhile). */
  private fastPaused = false;
  /** The next take, scheduled after a batch that may have left more behind. */
  private fastRetake: NodeJS.Immediate | undefined;

  constructor(
    private readonly deps: LogFsDeps,
    opts: Partial<MountOptions> = {},
  ) {
    this.opts = { ...MOUNT_DEFAULTS, ...opts };
    this.log = componentLogger('fuse', deps.log);
  }

  get mountpoint(): string {
    return this.opts.mountpoint;
  }

  get openHandles(): number {
    return this.handles.size;
  }

  async mount(): Promise<void> {
    const mnt = this.opts.mountpoint;
    await clearStaleMount(mnt, this.log);
    await fsp.mkdir(mnt, { recursive: true });
    const extra = ['fsname=logfs', 'subtype=logfs', 'default_permissions', 'entry_timeout=0', 'attr_timeout=0', 'negative_timeout=0'];
    if (this.opts.bigWrites) extra.push('big_writes', 'max_write=131072');
    if (this.opts.directIo) extra.push('direct_io');
    if (this.opts.allowOther) extra.push('allow_other');
    const native = installFuseBinding();
    const fuse = new LogFuse(mnt, this.ops(), extra, { timeout: false, mkdir: true });
    this.fuse = fuse;
    await new Promise<void>((resolve, reject) =>
      fuse.mount((err) => (err ? reject(new LogfsError('LOGFS_E_CONFIG', `cannot mount ${mnt}: ${err.message}`, { cause: err })) : resolve())),
    );
    const fastWrites = this.enableFastWrites(fuse, native.binding);
    this.log.info({ mountpoint: mnt, options: extra, binding: native.reason, fastWrites }, 'mounted');
  }

  /** Turns the fast write path on when it can be; returns whether it is, or why not. */
  private enableFastWrites(fuse: LogFuse, binding: FastWriteBinding | undefined): true | string {
    if (!this.opts.fastWrites) return 'off by configuration (mount.fastWrites)';
    if (!binding) return 'needs the native build';
    // Refusing with ENOSPC must answer the very write that finds the journal full.
    if (this.deps.sink.onFull === 'refuse') return 'off: the gateway refuses writes when the journal is full (onFull refuse)';
    const thread = fuse.thread;
    if (!thread) return 'off: fuse-native has no mount state';
    binding.fuse_native_fastwrite_enable(thread, FAST_WRITE_BUFFER_BYTES, () => {
      try {
        this.takeFastWrites(false);
      } catch (err) {
        // Not reachable by design (ingest errors are kept per handle); never let it kill the daemon.
        this.log.error({ err: errorMessage(err) }, 'taking fast writes failed');
      }
    });
    // The state holds the path's libuv handle, which (like fuse-native's own handles in the same
    // buffer) is never closed: the buffer must outlive the LogFs, or the loop would link through
    // freed memory once the Fuse object is collected after an unmount.
    RETAINED_FUSE_THREADS.add(thread);
    this.fast = { binding, thread, batch: Buffer.allocUnsafe(FAST_WRITE_BUFFER_BYTES), end: 0, offset: 0 };
    return true;
  }

  /** Writes answered by the fast path so far, and how many of them waited for room; undefined when off. */
  fastWriteStats(): { writes: number; waited: number } | undefined {
    if (!this.fast) return undefined;
    const [writes, waited] = this.fast.binding.fuse_native_fastwrite_stats(this.fast.thread);
    return { writes, waited };
  }

  /**
   * Frames the bytes of the writes the fast path answered. `force` takes them even while waiting for
   * room: flush, fsync, release and a stock-path write need every earlier write of their handle.
   */
  private takeFastWrites(force: boolean): void {
    const fast = this.fast;
    if (!fast || (this.fastPaused && !force)) return;
    const sink = this.deps.sink;
    const batch = fast.batch;
    // A slice per turn of the event loop: writers that keep the buffer full would otherwise keep
    // this going and make everything else on the thread (journal writes, Kafka acknowledgements,
    // fsync answers) wait for up to 2 MiB of framing.
    let budget = force ? Infinity : FAST_WRITE_SLICE_BYTES;
    for (;;) {
      if (fast.offset >= fast.end) {
        fast.end = fast.binding.fuse_native_fastwrite_take(fast.thread, batch);
        fast.offset = 0;
        if (fast.end === 0) break;
      }
      let o = fast.offset;
      const stop = Math.min(fast.end, o + budget);
      // Stop at the write that finds the journal full, not at the end of the slice: the writes
      // after it would each be framed line by line to wait for room, the slowest way there is,
      // at the very moment the host has no CPU to spare. They wait in the batch instead.
      while (o < stop && (force || !sink.isFull())) {
        const fd = batch.readUInt32LE(o);
        const len = batch.readUInt32LE(o + 4);
        o += FAST_WRITE_ENTRY_HEADER;
        this.takeFastWrite(fast, fd, batch.subarray(o, o + len));
        o += len;
      }
      budget -= o - fast.offset;
      fast.offset = o;
      if (!force && (budget <= 0 || sink.isFull())) {
        // The wake-up comes only when the C buffer was empty, so come back for the rest.
        if (!sink.isFull() && !this.fastRetake) {
          this.fastRetake = setImmediate(() => {
            this.fastRetake = undefined;
            this.takeFastWrites(false);
          });
        }
        break;
      }
    }
    if (sink.isFull() && !this.fastPaused) {
      // Stop taking: the C buffer fills and writers block in write() until there is room.
      this.fastPaused = true;
      sink.noteBackpressure('blocked');
      const resume = (): void => {
        this.fastPaused = false;
        this.takeFastWrites(false);
      };
      // A broken sink (a separate gateway gone) rejects: take anyway, and each handle's ingest
      // fails and is reported as for any refused write.
      sink.waitForRoom().then(resume, (err: unknown) => {
        this.log.warn({ err: errorMessage(err) }, 'waiting for room in the journal failed');
        resume();
      });
    }
  }

  /** A stock-path write on a diverted handle succeeded: its writes take the fast path again. */
  private undivert(fd: number, h: Handle): void {
    if (!h.diverted) return;
    h.diverted = false;
    this.fast?.binding.fuse_native_fastwrite_forget(this.fast.thread, fd);
  }

  private takeFastWrite(fast: FastPath, fd: number, bytes: Buffer): void {
    const h = this.handles.get(fd);
    if (!h) {
      // The kernel sends a handle's writes only between its open and its release.
      this.log.error({ fd, bytes: bytes.length }, 'fast write on an unknown handle; its bytes cannot be delivered');
      return;
    }
    const fail = (err: unknown): void => {
      if (h.error === undefined) {
        this.log.warn({ fd, stream: h.stream, err: errorMessage(err) }, 'an answered write could not be ingested; the handle\'s next write, fsync or close reports it');
      }
      h.error = err;
      if (!h.diverted) h.diverted = fast.binding.fuse_native_fastwrite_divert(fast.thread, fd) === 1;
    };
    const lines: FramedLine[] = [];
    try {
      // The write's complete lines go to the gateway as they lie in the batch (framed in C, no
      // object per line); the framer takes the line the handle's last write left unfinished, the
      // unterminated tail and overlong lines.
      const sink = this.deps.sink;
      if (sink.ingestChunk !== undefined && !h.waiting && !sink.isFull()) {
        if (!h.framer.idle) {
          const nl = bytes.indexOf(0x0a);
          if (nl !== -1) {
            h.framer.pushTransient(bytes.subarray(0, nl + 1), lines);
            bytes = bytes.subarray(nl + 1);
            // When it has to wait, the rest of the write waits behind it (below).
            if (this.ingestNow(h, lines)) lines.length = 0;
          }
        }
        if (lines.length === 0 && h.framer.idle && bytes.length > 0) {
          const { taken, lsn } = sink.ingestChunk(this.deps.identity, h.stream, h.label, bytes, this.opts.maxRecordBytes, 'fuse');
          if (taken > 0) {
            h.lastPosition = lsn;
            bytes = bytes.subarray(taken);
          }
        }
      }
      h.framer.pushTransient(bytes, lines);
      if (lines.length === 0) return;
      if (this.ingestNow(h, lines)) return;
    } catch (err) {
      fail(err);
      return;
    }
    // The lines wait (for room, or behind the handle's waiting delivery) while `batch` is reused.
    for (const l of lines) l.data = Buffer.from(l.data);
    this.deliver(h, lines).catch(fail);
  }

  async unmount(): Promise<void> {
    const fuse = this.fuse;
    if (!fuse) return;
    this.fuse = undefined;
    if (this.fast) {
      // Writes from now on take the stock path; what the buffer holds is framed first.
      this.fast.binding.fuse_native_fastwrite_disable(this.fast.thread);
      this.takeFastWrites(true);
      clearImmediate(this.fastRetake);
      this.fast = undefined;
    }
    await new Promise<void>((resolve) =>
      fuse.unmount((err) => {
        if (err) this.log.warn({ err: errorMessage(err) }, 'unmount failed; trying a lazy unmount');
        resolve();
      }),
    );
    await lazyUnmount(this.opts.mountpoint);
    this.log.info({ mountpoint: this.opts.mountpoint, openHandles: this.handles.size }, 'unmounted');
  }

  private resolve(path: string): ResolvedPath {
    return resolvePath(path, this.deps.catalog);
  }

  private stat(mode: number): FuseStat {
    const file = (mode & 0o170000) === 0o100000;
    return {
      mode,
      uid: process.getuid?.() ?? 0,
      gid: process.getgid?.() ?? 0,
      size: 0,
      nlink: file ? 1 : 2,
      blksize: this.opts.blksize,
      blocks: 0,
      atime: this.now,
      mtime: this.now,
      ctime: this.now,
    };
  }

  private statOf(resolved: ResolvedPath): FuseStat | number {
    switch (resolved.kind) {
      case 'root':
      case 'namespace':
        return this.stat(DIR_MODE);
      case 'stream':
        return this.stat(STREAM_MODE);
      case 'missing':
        return Fuse.ENOENT;
    }
  }

  private openHandle(stream: string, label: string | null): number {
    const fd = this.nextFd++;
    this.handles.set(fd, { stream, label, framer: new LineFramer(this.opts.maxRecordBytes), lastPosition: -1, waiting: undefined });
    return fd;
  }

  /**
   * Sends framed lines to the gateway, waiting for room or refusing per the gateway's policy. Lines
   * of one handle reach the gateway in the order they were written, even while a delivery waits.
   */
  private deliver(h: Handle, lines: FramedLine[]): Promise<void> {
    const run = (h.waiting ?? Promise.resolve()).then(() => this.deliverNow(h, lines));
    const settled = run.then(
      () => undefined,
      () => undefined,
    );
    h.waiting = settled;
    void settled.then(() => {
      if (h.waiting === settled) h.waiting = undefined;
    });
    return run;
  }

  private async deliverNow(h: Handle, lines: FramedLine[]): Promise<void> {
    const sink = this.deps.sink;
    if (sink.refusing()) {
      sink.noteBackpressure('refused');
      throw new LogfsError('LOGFS_E_JOURNAL_FULL', 'journal full; write refused', { retriable: true });
    }
    if (sink.isFull()) {
      sink.noteBackpressure('blocked');
      await sink.waitForRoom();
    }
    h.lastPosition = sink.ingest(this.deps.identity, h.stream, h.label, lines, 'fuse');
  }

  /**
   * The hot path of both write paths: when nothing of the handle waits and the journal has room,
   * ingests at once (no promise, no allocation beyond the records) and returns true; false when
   * the lines must go through deliver(). Throws what ingest throws.
   */
  private ingestNow(h: Handle, lines: FramedLine[]): boolean {
    if (h.waiting || this.deps.sink.isFull()) return false;
    h.lastPosition = this.deps.sink.ingest(this.deps.identity, h.stream, h.label, lines, 'fuse');
    return true;
  }

  /** Emits the handle's partial line and waits until everything it wrote is durable. */
  private async drainHandle(h: Handle): Promise<void> {
    this.takeFastWrites(true);
    reportWriteBackError(h);
    const lines: FramedLine[] = [];
    h.framer.flush(lines);
    if (lines.length > 0) await this.deliver(h, lines);
    await this.handleBarrier(h);
  }

  /** Durability of every record written through `h`, including a delivery still waiting for room. */
  private async handleBarrier(h: Handle): Promise<void> {
    this.takeFastWrites(true);
    await h.waiting;
    reportWriteBackError(h);
    await this.deps.sink.barrier(h.lastPosition);
  }

  private ops(): FuseOps {
    const reply = (cb: (err: number) => void, p: Promise<unknown>, what: string): void => {
      p.then(
        () => cb(0),
        (err: unknown) => {
          this.log.warn({ err: errorMessage(err), op: what }, 'operation failed');
          cb(errnoOf(err));
        },
      );
    };
    const eperm = (cb: (err: number) => void): void => cb(Fuse.EPERM);

    return {
      init: (cb) => cb(0),
      statfs: (_path, cb) =>
        cb(0, {
          bsize: this.opts.blksize,
          frsize: this.opts.blksize,
          blocks: 0,
          bfree: 0,
          bavail: 0,
          files: this.deps.catalog.all().length,
          ffree: 0,
          favail: 0,
          fsid: 0x6c6f6773,
          flag: 0,
          namemax: 255,
        }),
      getattr: (path, cb) => {
        try {
          const st = this.statOf(this.resolve(path));
          if (typeof st === 'number') cb(st);
          else cb(0, st);
        } catch (err) {
          cb(errnoOf(err));
        }
      },
      fgetattr: (_path, fd, cb) => {
        const h = this.handles.get(fd);
        if (h) cb(0, this.stat(STREAM_MODE));
        else cb(Fuse.EBADF);
      },
      readdir: (path, cb) => {
        try {
          const r = this.resolve(path);
          if (r.kind !== 'root' && r.kind !== 'namespace') return cb(r.kind === 'missing' ? Fuse.ENOENT : Fuse.ENOTDIR);
          const { files, dirs } = this.deps.catalog.children(r.kind === 'root' ? '' : r.prefix);
          const names = ['.', '..', ...dirs, ...files];
          const stats = [this.stat(DIR_MODE), this.stat(DIR_MODE), ...dirs.map(() => this.stat(DIR_MODE)), ...files.map(() => this.stat(STREAM_MODE))];
          cb(0, names, stats);
        } catch (err) {
          cb(errnoOf(err));
        }
      },
      open: (path, flags, cb) => {
        try {
          const r = this.resolve(path);
          if (r.kind === 'missing') return cb(Fuse.ENOENT);
          if (r.kind !== 'stream') return cb(Fuse.EISDIR);
          // Write-only: a read-only open is refused here; a read-write open succeeds but reads fail.
          if ((flags & O_ACCMODE) === O_RDONLY) return cb(Fuse.EACCES);
          cb(0, this.openHandle(r.stream, r.label));
        } catch (err) {
          cb(errnoOf(err));
        }
      },
      create: (path, _mode, cb) => {
        let r: ResolvedPath;
        try {
          r = this.resolve(path);
        } catch (err) {
          return cb(errnoOf(err));
        }
        if (r.kind === 'stream') return cb(0, this.openHandle(r.stream, r.label));
        if (r.kind !== 'missing') return cb(Fuse.EISDIR);
        const provision = this.deps.provision;
        if (!this.opts.autoProvision || !provision) return cb(Fuse.ENOENT);
        const { stream, label } = r;
        provision(stream).then(
          () => cb(0, this.openHandle(stream, label)),
          (err: unknown) => {
            this.log.warn({ stream, err: errorMessage(err) }, 'auto-provisioning failed');
            cb(errnoOf(err));
          },
        );
      },
      write: (_path, fd, buf, len, _pos, cb) => {
        // The stock path: the fast path is off, the write is larger than its buffer, or the handle
        // is diverted. Earlier writes of this handle may still be in the fast path's buffer.
        this.takeFastWrites(true);
        const h = this.handles.get(fd);
        if (!h) return cb(Fuse.EBADF);
        if (h.error !== undefined) {
          // An earlier write's bytes were refused: say so now, and leave this write's bytes untaken.
          const err = h.error;
          h.error = undefined;
          return cb(errnoOf(err));
        }
        const sink = this.deps.sink;
        if (sink.refusing()) {
          // Refuse before the framer takes the bytes, so that the application's retry of the same
          // write() is framed exactly once.
          sink.noteBackpressure('refused');
          return cb(Fuse.ENOSPC);
        }
        const lines: FramedLine[] = [];
        h.framer.push(len === buf.length ? buf : buf.subarray(0, len), lines);
        if (lines.length === 0) return cb(len);
        try {
          if (this.ingestNow(h, lines)) {
            this.undivert(fd, h);
            return cb(len);
          }
        } catch (err) {
          return cb(errnoOf(err));
        }
        this.deliver(h, lines).then(
          () => {
            this.undivert(fd, h);
            cb(len);
          },
          (err: unknown) => cb(errnoOf(err)),
        );
      },
      read: (_path, _fd, _buf, _len, _pos, cb) => cb(Fuse.EACCES),
      flush: (_path, fd, cb) => {
        const h = this.handles.get(fd);
        if (!h) return cb(0);
        reply(cb, this.drainHandle(h), 'flush');
      },
      fsync: (_path, _datasync, fd, cb) => {
        const h = this.handles.get(fd);
        if (!h) return cb(Fuse.EBADF);
        reply(cb, this.handleBarrier(h), 'fsync');
      },
      release: (_path, fd, cb) => {
        this.takeFastWrites(true);
        const h = this.handles.get(fd);
        this.handles.delete(fd);
        this.fast?.binding.fuse_native_fastwrite_forget(this.fast.thread, fd);
        if (!h) return cb(0);
        // flush() already drained on close(); this catches writes that raced with it.
        reply(cb, this.drainHandle(h), 'release');
      },
      truncate: (_path, _size, cb) => cb(0),
      ftruncate: (_path, _fd, _size, cb) => cb(0),
      utimens: (_path, _a, _m, cb) => cb(0),
      chmod: (_path, _mode, cb) => eperm(cb),
      chown: (_path, _uid, _gid, cb) => eperm(cb),
      unlink: (_path, cb) => eperm(cb),
      rename: (_src, _dest, cb) => eperm(cb),
      link: (_src, _dest, cb) => eperm(cb),
      symlink: (_src, _dest, cb) => eperm(cb),
      mkdir: (_path, _mode, cb) => eperm(cb),
      rmdir: (_path, cb) => eperm(cb),
      mknod: (_path, _mode, _dev, cb) => eperm(cb),
    };
  }
}

/** Throws, once, the error of a write the fast path answered but whose bytes were refused. */
function reportWriteBackError(h: Handle): void {
  const err = h.error;
  if (err === undefined) return;
  h.error = undefined;
  throw err;
}

/** True when `dir` is a mount point per /proc/self/mountinfo. */
export async function isMountPoint(dir: string): Promise<boolean> {
  const info = await fsp.readFile('/proc/self/mountinfo', 'utf8').catch(() => '');
  const escaped = dir.replace(/ /g, '\\040');
  return info.split('\n').some((line) => line.split(' ')[4] === escaped);
}

/** Lazily unmounts `dir` if it is mounted (fusermount, fusermount3, then umount -l). */
export async function lazyUnmount(dir: string): Promise<void> {
  if (!(await isMountPoint(dir))) return;
  for (const cmd of ['fusermount', 'fusermount3', 'umount']) {
    const args = cmd === 'umount' ? ['-l', dir] : ['-uz', dir];
    try {
      await execFileP(cmd, args);
      return;
    } catch {
      // try the next tool
    }
  }
}

/**
 * A logfsd killed with SIGKILL leaves its mount behind ("Transport endpoint is not connected").
 * Clear it before mounting again; a live mount served by another process is an error.
 */
export async function clearStaleMount(dir: string, log: Logger): Promise<void> {
  if (!(await isMountPoint(dir))) return;
  try {
    await fsp.stat(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOTCONN') {
      log.warn({ mountpoint: dir }, 'clearing a stale mount left by a crash');
      await lazyUnmount(dir);
      return;
    }
    throw err;
  }
  throw new LogfsError('LOGFS_E_CONFIG', `${dir} is already mounted; stop the logfsd serving it or run "logfsctl umount ${dir}"`);
}
