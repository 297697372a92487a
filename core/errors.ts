/**
 * One error class tree for the whole project (modelled on kafkajs' src/errors.js).
 * Every error carries a stable code, whether retrying can help, the underlying cause and
 * context for logs. FUSE handlers map codes to errno values in one place (daemon/errno.ts).
 */
export const ERROR_CODES = [
  'LOGFS_E_CONFIG', // invalid configuration or CLI input
  'LOGFS_E_NOT_FOUND', // stream (or other named object) is not provisioned
  'LOGFS_E_EXISTS', // named object already exists
  'LOGFS_E_INVALID_LABEL', // class label fails validation
  'LOGFS_E_NAME_TOO_LONG', // path component or label too long
  'LOGFS_E_INVALID_NAME', // stream / provider name fails validation
  'LOGFS_E_READ_ONLY_OP', // operation the write-only filesystem does not support
  'LOGFS_E_NOT_WRITABLE', // read attempted on a write-only stream
  'LOGFS_E_JOURNAL_FULL', // journal at its bound and the policy is to refuse
  'LOGFS_E_JOURNAL_IO', // the journal could not write or fsync
  'LOGFS_E_JOURNAL_CORRUPT', // checksum or framing error in a journal segment
  'LOGFS_E_KAFKA', // Kafka request failed
  'LOGFS_E_GATEWAY_PROTOCOL', // malformed frame on the gateway socket
  'LOGFS_E_GATEWAY_REFUSED', // the gateway refused a client's identity
  'LOGFS_E_GATEWAY_UNAVAILABLE', // connection to the gateway lost
  'LOGFS_E_SHUTTING_DOWN', // component is closing
  'LOGFS_E_GRAPH_INVALID', // a graph definition failed validation
  'LOGFS_E_AGENT', // an agent failed to process or flush records
  'LOGFS_E_SANDBOX', // a custom agent broke a sandbox limit or threw
  'LOGFS_E_ARCHIVE_IO', // the archive could not be written or read
  'LOGFS_E_NO_KEY', // a stream is encrypted but its key is missing or unusable: nothing is written in clear
  'LOGFS_E_UNAUTHORIZED', // control API: no token, or one the store does not know
  'LOGFS_E_FORBIDDEN', // control API: the token's scope does not allow this
  'LOGFS_E_CONFLICT', // control API: the change conflicts with the current state (e.g. a provider that owns streams)
  'LOGFS_E_TOO_LARGE', // control API: request body over the limit
  'LOGFS_E_UNAVAILABLE', // the control API (or another service) does not answer
  'LOGFS_E_DECRYPT', // a record of an encrypted stream cannot be opened (wrong key, tampered)
  'LOGFS_E_INTERNAL', // a bug: never retried
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

export interface LogfsErrorOptions {
  retriable?: boolean;
  cause?: unknown;
  context?: Record<string, unknown>;
}

export class LogfsError extends Error {
  readonly code: ErrorCode;
  readonly retriable: boolean;
  readonly context: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, opts: LogfsErrorOptions = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'LogfsError';
    this.code = code;
    this.retriable = opts.retriable ?? false;
    this.context = opts.context ?? {};
  }
}

export function isLogfsError(err: unknown, code?: ErrorCode): err is LogfsError {
  return err instanceof LogfsError && (code === undefined || err.code === code);
}

/** Errors that indicate a bug in our code: retrying them only hides the bug. */
export function isProgrammingError(err: unknown): boolean {
  return (
    err instanceof TypeError ||
    err instanceof RangeError ||
    err instanceof ReferenceError ||
    err instanceof SyntaxError ||
    isLogfsError(err, 'LOGFS_E_INTERNAL')
  );
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
