/**
 * File operations with the durability the archive promises (write, fsync, then rename and fsync the
 * directory), and the one place that turns a system error into LOGFS_E_ARCHIVE_IO.
 */
import fsp from 'node:fs/promises';
import path from 'node:path';
import { errorMessage, LogfsError } from '../../core/errors.js';

/** errno codes that can clear up on their own (space freed, device back, descriptors released). */
const TRANSIENT = new Set(['ENOSPC', 'EIO', 'EDQUOT', 'EAGAIN', 'EINTR', 'EMFILE', 'ENFILE', 'EBUSY']);

/** LOGFS_E_ARCHIVE_IO naming the operation, the path and the errno, with what to do about it. */
export function archiveIoError(op: string, file: string, err: unknown): LogfsError {
  if (err instanceof LogfsError) return err;
  const code = (err as NodeJS.ErrnoException).code ?? 'EUNKNOWN';
  const retriable = TRANSIENT.has(code);
  const advice =
    code === 'ENOSPC' || code === 'EDQUOT'
      ? 'free disk space; the write is retried'
      : code === 'EACCES' || code === 'EPERM' || code === 'EROFS'
        ? 'make the archive directory writable by this process'
        : retriable
          ? 'the write is retried'
          : 'check the archive directory';
  return new LogfsError('LOGFS_E_ARCHIVE_IO', `archive: cannot ${op} ${file} (${code}: ${errorMessage(err)}); ${advice}`, {
    retriable,
    cause: err,
    context: { path: file, errno: code },
  });
}

/** Runs `fn`, turning its error into archiveIoError(op, file). */
export async function io<T>(op: string, file: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw archiveIoError(op, file, err);
  }
}

export async function fsyncDir(dir: string): Promise<void> {
  await io('fsync directory', dir, async () => {
    const fh = await fsp.open(dir, 'r');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  });
}

/**
 * Replaces `file` so that a crash leaves the old or the new content, never a mix. `tmpTag` keeps
 * the temp names of processes that replace the same file (recovery of a dead writer) apart.
 */
export async function writeFileAtomic(file: string, data: string, tmpTag: string): Promise<void> {
  const commit = await prepareReplace(file, data, tmpTag);
  await commit();
}

/**
 * The first half of writeFileAtomic: the new content is durable in a temp file. The returned
 * function renames it into place and makes the rename durable; until it runs, `file` is unchanged.
 * Splitting the two lets the commit's own fsync run at the same time as the data's.
 */
export async function prepareReplace(file: string, data: string, tmpTag: string): Promise<() => Promise<void>> {
  const tmp = `${file}.${tmpTag}.tmp`;
  await io('write', tmp, async () => {
    const fh = await fsp.open(tmp, 'w', 0o644);
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
  });
  return async () => {
    await io('rename', file, () => fsp.rename(tmp, file));
    await fsyncDir(path.dirname(file));
  };
}

/** Replaces `file` atomically for readers, without waiting for the disk (see the callers for why that is enough). */
export async function replaceFile(file: string, data: string, tmpTag: string): Promise<void> {
  const tmp = `${file}.${tmpTag}.tmp`;
  await io('write', tmp, () => fsp.writeFile(tmp, data, { mode: 0o644 }));
  await io('rename', file, () => fsp.rename(tmp, file));
}

/** Makes a file written by replaceFile durable: its content, then its directory entry. */
export async function syncFile(file: string): Promise<void> {
  await io('fsync', file, async () => {
    const fh = await fsp.open(file, 'r');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  });
  await fsyncDir(path.dirname(file));
}

/**
 * Creates `rel` under `root` and makes every directory it created durable (its entry in the parent
 * is fsynced), so that a segment written there is found after a power cut.
 */
export async function ensureDir(root: string, rel: string): Promise<string> {
  const abs = path.join(root, rel);
  const first = await io('create directory', abs, () => fsp.mkdir(abs, { recursive: true }));
  if (first !== undefined) {
    for (let d = path.dirname(first); ; d = path.join(d, path.relative(d, abs).split(path.sep)[0] as string)) {
      await fsyncDir(d);
      if (d === abs) break;
    }
  }
  return abs;
}

/** The file's content, or undefined when it does not exist. */
export async function readIfExists(file: string): Promise<string | undefined> {
  try {
    return await fsp.readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw archiveIoError('read', file, err);
  }
}
