/** Stream names: validated once here, used by the store, the mount and topic naming. */
import { LogfsError } from '../core/errors.js';

/** Longest stream name; Kafka topic names stop at 249 characters and carry a prefix. */
export const STREAM_NAME_MAX_BYTES = 180;

const STREAM_SEGMENT = /^[A-Za-z0-9_-]+$/;

/** Throws LOGFS_E_INVALID_NAME unless `name` is a valid stream name (`seg` or `ns/seg/...`). */
export function validateStreamName(name: string): string {
  if (Buffer.byteLength(name) > STREAM_NAME_MAX_BYTES) {
    throw new LogfsError('LOGFS_E_NAME_TOO_LONG', `stream name "${name}" is longer than ${STREAM_NAME_MAX_BYTES} bytes`);
  }
  const segments = name.split('/');
  for (const seg of segments) {
    if (!STREAM_SEGMENT.test(seg)) {
      throw new LogfsError(
        'LOGFS_E_INVALID_NAME',
        `stream name "${name}" is invalid: each "/"-separated part must be non-empty and use only letters, digits, "_" and "-"`,
        { context: { name } },
      );
    }
  }
  return name;
}


const PROVIDER_NAME = /^[a-z0-9][a-z0-9_-]{0,62}$/;

export function validateProviderName(name: string): string {
  if (!PROVIDER_NAME.test(name)) {
    throw new LogfsError(
      'LOGFS_E_INVALID_NAME',
      `provider name "${name}" is invalid: use 1-63 lower-case letters, digits, "_" or "-", starting with a letter or digit`,
    );
  }
  return name;
}

/**
 * Kafka topic of a stream: `logfs.<provider>.<stream with "/" as ".">`. Stream segments cannot
 * contain ".", so the mapping is one to one. Documented in docs/kafka.md.
 */
export function topicForStream(provider: string, stream: string, prefix = 'logfs'): string {
  return `${prefix}.${provider}.${stream.split('/').join('.')}`;
}
