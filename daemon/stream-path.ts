/**
 * Resolves mount paths to streams and class labels, and validates names and labels.
 *
 * Why labels are `stream@label` and not `stream/label`: the kernel walks paths component by
 * component, so a name that is a regular file (writable with `>>`) cannot also be a directory with
 * children, and a directory cannot be opened for writing (EISDIR). A stream must stay a plain file,
 * so its class label travels in the last component: `/dev/logFS/myapp-error@critical`, and
 * `…@critical@db` for the hierarchical label `critical/db`. Namespaces in stream names (`myapp/error`)
 * are directories. See docs/filesystem.md.
 */
import { LogfsError } from '../core/errors.js';
import { LABEL_MAX_BYTES, STREAM_NAME_MAX_BYTES, validateLabel } from '../control/stream-name.js';

export { validateLabel };

export const LABEL_SEPARATOR = '@';

export const PATH_LIMITS = {
  /** Longest class label, in bytes of UTF-8. */
  maxLabelBytes: LABEL_MAX_BYTES,
  maxStreamNameBytes: STREAM_NAME_MAX_BYTES,
  /** Longest single path component Linux allows. */
  maxComponentBytes: 255,
} as const;

export type ResolvedPath =
  | { kind: 'root' }
  | { kind: 'namespace'; prefix: string }
  | { kind: 'stream'; stream: string; label: string | null }
  | { kind: 'missing'; stream: string; label: string | null };

/** What the resolver needs to know about provisioned streams. */
export interface StreamIndex {
  hasStream(name: string): boolean;
  /** True when some stream name starts with `prefix + "/"`. */
  hasNamespace(prefix: string): boolean;
}

/**
 * Resolves a FUSE path (always absolute, `/` separated, no `.`/`..` left: the kernel resolved them).
 * A missing stream is reported as `missing` so the caller can auto-provision it on create.
 */
export function resolvePath(path: string, index: StreamIndex): ResolvedPath {
  if (path === '/' || path === '') return { kind: 'root' };
  const rel = path.startsWith('/') ? path.slice(1) : path;
  for (const component of rel.split('/')) {
    if (Buffer.byteLength(component) > PATH_LIMITS.maxComponentBytes) {
      throw new LogfsError('LOGFS_E_NAME_TOO_LONG', `path component is longer than ${PATH_LIMITS.maxComponentBytes} bytes`);
    }
  }
  const at = rel.indexOf(LABEL_SEPARATOR);
  if (at === -1) {
    if (index.hasStream(rel)) return { kind: 'stream', stream: rel, label: null };
    if (index.hasNamespace(rel)) return { kind: 'namespace', prefix: rel };
    return { kind: 'missing', stream: rel, label: null };
  }
  const stream = rel.slice(0, at);
  const labelText = rel.slice(at + 1);
  if (labelText.includes('/')) {
    // `stream@label/child`: the kernel only asks this when `stream@label` was a directory, which it never is.
    throw new LogfsError('LOGFS_E_INVALID_LABEL', 'a class label cannot contain "/"; use "@" between label levels');
  }
  const label = validateLabel(labelText.split(LABEL_SEPARATOR).join('/'));
  return index.hasStream(stream) ? { kind: 'stream', stream, label } : { kind: 'missing', stream, label };
}
