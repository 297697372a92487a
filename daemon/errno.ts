/**
 * The one place where errors become errno values for FUSE replies. docs/filesystem.md lists what
 * each operation answers.
 */
import Fuse from 'fuse-native';
import { isLogfsError, type ErrorCode } from '../core/errors.js';

const ERRNO_BY_CODE: Partial<Record<ErrorCode, number>> = {
  LOGFS_E_NOT_FOUND: Fuse.ENOENT,
  LOGFS_E_EXISTS: Fuse.EEXIST,
  LOGFS_E_INVALID_LABEL: Fuse.EINVAL,
  LOGFS_E_INVALID_NAME: Fuse.EINVAL,
  LOGFS_E_NAME_TOO_LONG: Fuse.ENAMETOOLONG,
  LOGFS_E_READ_ONLY_OP: Fuse.EPERM,
  LOGFS_E_NOT_WRITABLE: Fuse.EACCES,
  LOGFS_E_JOURNAL_FULL: Fuse.ENOSPC,
  LOGFS_E_JOURNAL_IO: Fuse.EIO,
  LOGFS_E_GATEWAY_UNAVAILABLE: Fuse.EIO,
  LOGFS_E_SHUTTING_DOWN: Fuse.EIO,
};

/** Negative errno for a FUSE callback; unknown errors are EIO. */
export function errnoOf(err: unknown): number {
  if (isLogfsError(err)) return ERRNO_BY_CODE[err.code] ?? Fuse.EIO;
  return Fuse.EIO;
}
