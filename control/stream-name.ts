/** Stream names: validated once here, used by the store, the mount and topic naming. */
import { LogfsError } from '../core/errors.js';

/**
 * Longest stream name. A topic is `<prefix ≤ 20>.<provider ≤ 63>.<stream>` and Kafka stops at 249
 * characters: 20 + 1 + 63 + 1 + 160 = 245.
 */
export const STREAM_NAME_MAX_BYTES = 160;
export const TOPIC_PREFIX_MAX = 20;

/**
 * No "_" (and no "."): Kafka refuses a topic whose name equals an existing one once "." and "_" are
 * treated alike, so with "_" allowed the streams `a_b` and `a/b` could not both have a topic.
 */
const STREAM_SEGMENT = /^[A-Za-z0-9-]+$/;
/** A whole stream name, as one pattern (for schemas; validateStreamName also checks the length). */
export const STREAM_NAME = /^[A-Za-z0-9-]+(\/[A-Za-z0-9-]+)*$/;

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
        `stream name "${name}" is invalid: each "/"-separated part must be non-empty and use only letters, digits and "-"`,
        { context: { name } },
      );
    }
  }
  return name;
}


export const PROVIDER_NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;

export function validateProviderName(name: string): string {
  if (!PROVIDER_NAME.test(name)) {
    throw new LogfsError(
      'LOGFS_E_INVALID_NAME',
      `provider name "${name}" is invalid: use 1-63 lower-case letters, digits or "-", starting with a letter or digit`,
    );
  }
  return name;
}

/**
 * Kafka topic of a stream: `logfs.<provider>.<stream with "/" as ".">`. Names contain neither "."
 * nor "_", so distinct streams get distinct topics even by Kafka's collision rule ("." = "_").
 * Documented in docs/kafka.md.
 */
export function topicForStream(provider: string, stream: string, prefix = 'logfs'): string {
  return `${prefix}.${provider}.${stream.split('/').join('.')}`;
}

/** Longest class label, in bytes of UTF-8. */
export const LABEL_MAX_BYTES = 200;

// Control characters (C0, DEL, C1) are refused in labels; so are the path separator and `@`.
// eslint-disable-next-line no-control-regex
const LABEL_FORBIDDEN = /[\u0000-\u001f\u007f-\u009f/@]/u;

/**
 * Checks a class label (levels joined by "/"): the rule of the mount (daemon/stream-path.ts) and of
 * classify, so a class set by a graph is one a writer could have given. Throws
 * LOGFS_E_INVALID_LABEL or LOGFS_E_NAME_TOO_LONG.
 */
export function validateLabel(label: string): string {
  if (Buffer.byteLength(label) > LABEL_MAX_BYTES) {
    throw new LogfsError('LOGFS_E_NAME_TOO_LONG', `class label is longer than ${LABEL_MAX_BYTES} bytes`, {
      context: { label },
    });
  }
  for (const level of label.split('/')) {
    if (level === '' || level === '.' || level === '..') {
      throw new LogfsError('LOGFS_E_INVALID_LABEL', `class label "${label}" has an empty, "." or ".." level`, {
        context: { label },
      });
    }
    if (LABEL_FORBIDDEN.test(level)) {
      throw new LogfsError('LOGFS_E_INVALID_LABEL', `class label "${label}" contains a control character or "@"`, {
        context: { label },
      });
    }
  }
  return label;
}
