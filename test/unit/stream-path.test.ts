import { describe, expect, it } from 'vitest';
import { LogfsError, type ErrorCode } from '../../core/errors.js';
import {
  STREAM_NAME_MAX_BYTES,
  topicForStream,
  validateProviderName,
  validateStreamName,
} from '../../control/stream-name.js';
import { PATH_LIMITS, resolvePath, validateLabel, type StreamIndex } from '../../daemon/stream-path.js';

/** A StreamIndex over a fixed list of stream names, answering as StreamCatalog does. */
function indexOf(streams: string[]): StreamIndex {
  const names = new Set(streams);
  return {
    hasStream: (name) => names.has(name),
    hasNamespace: (prefix) => streams.some((s) => s.startsWith(prefix + '/')),
  };
}

const INDEX = indexOf(['app', 'ns/s', 'ns/deeper/t', 'both', 'both/child']);

/** Runs `fn` and returns the LogfsError code it threw (fails the test if it did not throw one). */
function codeOf(fn: () => unknown): ErrorCode {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(LogfsError);
    return (err as LogfsError).code;
  }
  throw new Error('expected a LogfsError, nothing was thrown');
}

describe('resolvePath', () => {
  it('resolves the root', () => {
    expect(resolvePath('/', INDEX)).toEqual({ kind: 'root' });
    expect(resolvePath('', INDEX)).toEqual({ kind: 'root' });
  });

  it('resolves namespaces as directories, at any depth', () => {
    expect(resolvePath('/ns', INDEX)).toEqual({ kind: 'namespace', prefix: 'ns' });
    expect(resolvePath('/ns/deeper', INDEX)).toEqual({ kind: 'namespace', prefix: 'ns/deeper' });
  });

  it('resolves streams without a label', () => {
    expect(resolvePath('/app', INDEX)).toEqual({ kind: 'stream', stream: 'app', label: null });
    expect(resolvePath('/ns/s', INDEX)).toEqual({ kind: 'stream', stream: 'ns/s', label: null });
    expect(resolvePath('/ns/deeper/t', INDEX)).toEqual({ kind: 'stream', stream: 'ns/deeper/t', label: null });
  });

  it('prefers the stream when a name is both a stream and a namespace', () => {
    expect(resolvePath('/both', INDEX)).toEqual({ kind: 'stream', stream: 'both', label: null });
    expect(resolvePath('/both/child', INDEX)).toEqual({ kind: 'stream', stream: 'both/child', label: null });
  });

  it('resolves stream@label', () => {
    expect(resolvePath('/app@critical', INDEX)).toEqual({ kind: 'stream', stream: 'app', label: 'critical' });
  });

  it('turns stream@a@b into the hierarchical label a/b', () => {
    expect(resolvePath('/app@a@b', INDEX)).toEqual({ kind: 'stream', stream: 'app', label: 'a/b' });
    expect(resolvePath('/app@x@y@z', INDEX)).toEqual({ kind: 'stream', stream: 'app', label: 'x/y/z' });
  });

  it('resolves a label on a stream in a namespace', () => {
    expect(resolvePath('/ns/s@x', INDEX)).toEqual({ kind: 'stream', stream: 'ns/s', label: 'x' });
    expect(resolvePath('/ns/deeper/t@x@y', INDEX)).toEqual({ kind: 'stream', stream: 'ns/deeper/t', label: 'x/y' });
  });

  it('reports missing streams, with and without a label', () => {
    expect(resolvePath('/nope', INDEX)).toEqual({ kind: 'missing', stream: 'nope', label: null });
    expect(resolvePath('/ns/nope', INDEX)).toEqual({ kind: 'missing', stream: 'ns/nope', label: null });
    expect(resolvePath('/nope@warn', INDEX)).toEqual({ kind: 'missing', stream: 'nope', label: 'warn' });
    expect(resolvePath('/ns/nope@a@b', INDEX)).toEqual({ kind: 'missing', stream: 'ns/nope', label: 'a/b' });
  });

  it('accepts labels with UTF-8, dots inside, "-" and spaces', () => {
    expect(resolvePath('/app@crit.db', INDEX)).toEqual({ kind: 'stream', stream: 'app', label: 'crit.db' });
    expect(resolvePath('/app@été 1-x', INDEX)).toEqual({ kind: 'stream', stream: 'app', label: 'été 1-x' });
  });

  it('rejects "." and ".." label levels', () => {
    expect(codeOf(() => resolvePath('/app@..', INDEX))).toBe('LOGFS_E_INVALID_LABEL');
    expect(codeOf(() => resolvePath('/app@.', INDEX))).toBe('LOGFS_E_INVALID_LABEL');
    expect(codeOf(() => resolvePath('/app@a@..', INDEX))).toBe('LOGFS_E_INVALID_LABEL');
    expect(codeOf(() => resolvePath('/app@.@b', INDEX))).toBe('LOGFS_E_INVALID_LABEL');
  });

  it('rejects empty label levels', () => {
    expect(codeOf(() => resolvePath('/app@', INDEX))).toBe('LOGFS_E_INVALID_LABEL');
    expect(codeOf(() => resolvePath('/app@a@@b', INDEX))).toBe('LOGFS_E_INVALID_LABEL');
    expect(codeOf(() => resolvePath('/app@@a', INDEX))).toBe('LOGFS_E_INVALID_LABEL');
    expect(codeOf(() => resolvePath('/app@a@', INDEX))).toBe('LOGFS_E_INVALID_LABEL');
  });

  it('rejects control characters in labels (C0, DEL, C1)', () => {
    for (const c of ['\x00', '\x01', '\x1f', '\x7f', '\u0085', '\u009f']) {
      expect(codeOf(() => resolvePath(`/app@a${c}b`, INDEX)), JSON.stringify(c)).toBe('LOGFS_E_INVALID_LABEL');
    }
    // Just outside the ranges is fine.
    expect(resolvePath('/app@a\u00a0b', INDEX)).toEqual({ kind: 'stream', stream: 'app', label: 'a\u00a0b' });
  });

  it('rejects a "/" after the label (stream@label is never a directory)', () => {
    expect(codeOf(() => resolvePath('/app@x/child', INDEX))).toBe('LOGFS_E_INVALID_LABEL');
  });

  it('rejects a label longer than the limit, and accepts one at the limit', () => {
    const max = PATH_LIMITS.maxLabelBytes;
    expect(max).toBe(200);
    expect(resolvePath(`/app@${'x'.repeat(max)}`, INDEX)).toEqual({ kind: 'stream', stream: 'app', label: 'x'.repeat(max) });
    expect(codeOf(() => resolvePath(`/app@${'x'.repeat(max + 1)}`, INDEX))).toBe('LOGFS_E_NAME_TOO_LONG');
    // Counted in bytes: 101 two-byte characters are 202 bytes.
    expect(codeOf(() => resolvePath(`/app@${'é'.repeat(101)}`, INDEX))).toBe('LOGFS_E_NAME_TOO_LONG');
    // The hierarchical label counts as a whole: 3 × 67 + 2 separators = 203 bytes.
    const levels = ['a', 'b', 'c'].map((c) => c.repeat(67)).join('@');
    expect(codeOf(() => resolvePath(`/app@${levels}`, INDEX))).toBe('LOGFS_E_NAME_TOO_LONG');
  });

  it('rejects a path component longer than 255 bytes', () => {
    expect(codeOf(() => resolvePath(`/${'a'.repeat(256)}`, INDEX))).toBe('LOGFS_E_NAME_TOO_LONG');
    expect(codeOf(() => resolvePath(`/ns/${'a'.repeat(256)}`, INDEX))).toBe('LOGFS_E_NAME_TOO_LONG');
    expect(codeOf(() => resolvePath(`/${'é'.repeat(128)}`, INDEX))).toBe('LOGFS_E_NAME_TOO_LONG');
    // 255 bytes is allowed (as a missing stream here).
    expect(resolvePath(`/${'a'.repeat(255)}`, INDEX)).toEqual({ kind: 'missing', stream: 'a'.repeat(255), label: null });
  });
});

describe('validateLabel', () => {
  it('returns a valid label unchanged', () => {
    expect(validateLabel('critical/db')).toBe('critical/db');
  });

  it('rejects "@" inside a level', () => {
    expect(codeOf(() => validateLabel('a@b'))).toBe('LOGFS_E_INVALID_LABEL');
  });
});

describe('validateStreamName', () => {
  it('accepts plain and namespaced names', () => {
    for (const name of ['a', 'a-b-c/d', 'Ns/Sub/stream-1', 'x'.repeat(STREAM_NAME_MAX_BYTES)]) {
      expect(validateStreamName(name)).toBe(name);
    }
  });

  it('rejects invalid names with LOGFS_E_INVALID_NAME', () => {
    for (const name of ['', 'a//b', '/a', 'a/', 'a.b', 'a_b', 'a b', 'a@b', 'é', 'a\nb', '..']) {
      expect(codeOf(() => validateStreamName(name)), JSON.stringify(name)).toBe('LOGFS_E_INVALID_NAME');
    }
  });

  it('rejects a name longer than the limit with LOGFS_E_NAME_TOO_LONG', () => {
    expect(STREAM_NAME_MAX_BYTES).toBe(160);
    expect(codeOf(() => validateStreamName('x'.repeat(STREAM_NAME_MAX_BYTES + 1)))).toBe('LOGFS_E_NAME_TOO_LONG');
  });

  it('puts the name in the message', () => {
    expect(() => validateStreamName('bad name')).toThrow(/"bad name"/);
  });
});

describe('validateProviderName', () => {
  it('accepts lower-case names of 1 to 63 characters', () => {
    for (const name of ['a', '0', 'acme', 'a-b-c', 'x'.repeat(63)]) expect(validateProviderName(name)).toBe(name);
  });

  it('rejects everything else', () => {
    for (const name of ['', 'Acme', '-a', '_a', 'a_b', 'a.b', 'a/b', 'a b', 'x'.repeat(64)]) {
      expect(codeOf(() => validateProviderName(name)), JSON.stringify(name)).toBe('LOGFS_E_INVALID_NAME');
    }
  });
});

describe('topicForStream', () => {
  it('maps namespaces to dots under the prefix and provider', () => {
    expect(topicForStream('p', 'ns/s')).toBe('logfs.p.ns.s');
    expect(topicForStream('acme', 'app')).toBe('logfs.acme.app');
    expect(topicForStream('acme', 'a/b/c', 'custom')).toBe('custom.acme.a.b.c');
  });

  it('gives distinct topics to distinct stream names', () => {
    const names = ['a', 'b', 'a/b', 'ab', 'a-b', 'a_b', 'a/b/c', 'a/bc', 'ab/c', 'A', 'a/B'];
    const topics = names.map((n) => topicForStream('p', n));
    expect(new Set(topics).size).toBe(names.length);
  });

  it('keeps the longest stream name within Kafka\'s 249-character topic limit', () => {
    const topic = topicForStream('x'.repeat(63), 'y'.repeat(STREAM_NAME_MAX_BYTES));
    expect(topic.length).toBeLessThanOrEqual(249);
  });

  // Kafka refuses to create a topic whose name equals an existing one once "." and "_" are treated
  // alike (Topic.hasCollision; "Topic 'a_b' collides with existing topics: a.b"), because both become
  // "_" in metric names. Streams "a/b" and "a_b" are both valid, so the second one cannot get a topic.
  it('gives stream names that Kafka considers colliding distinct topics', () => {
    const kafkaNormal = (topic: string): string => topic.replaceAll('.', '_');
    // "_" cannot appear in a valid name, so "a_b" never gets a topic that collides with "a/b"'s.
    expect(codeOf(() => validateStreamName('a_b'))).toBe('LOGFS_E_INVALID_NAME');
    expect(codeOf(() => validateProviderName('a_b'))).toBe('LOGFS_E_INVALID_NAME');
    const names = ['a', 'a/b', 'a-b', 'a/b/c', 'ab/c', 'a/bc', 'a-/b', 'a/-b'];
    const normalised = names.map((n) => kafkaNormal(topicForStream('p', validateStreamName(n))));
    expect(new Set(normalised).size).toBe(names.length);
  });
});
