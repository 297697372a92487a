import { afterEach, describe, expect, it, vi } from 'vitest';
import { ERROR_CODES, errorMessage, isLogfsError, isProgrammingError, LogfsError } from '../../core/errors.js';
import { Backoff, BACKOFF_DEFAULTS, isRetriable, retry, sleep } from '../../core/retry.js';

afterEach(() => {
  vi.restoreAllMocks();
});

/** Rejects with whatever `fn` rejects with, as a value. */
async function rejection(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => {
      throw new Error('expected a rejection');
    },
    (e: unknown) => e,
  );
}

/** A fn for retry() that fails with the given errors in turn, then returns 'ok'; records attempts. */
function failing(errors: unknown[]): { fn: (attempt: number) => Promise<string>; attempts: number[] } {
  const attempts: number[] = [];
  return {
    attempts,
    fn: async (attempt) => {
      attempts.push(attempt);
      if (attempts.length <= errors.length) throw errors[attempts.length - 1];
      return 'ok';
    },
  };
}

const FAST = { initialMs: 1, maxMs: 2, jitter: 0 };

describe('Backoff', () => {
  it('grows by the factor from the initial delay and caps at maxMs (no jitter)', () => {
    const b = new Backoff({ initialMs: 100, maxMs: 1000, factor: 2, jitter: 0 });
    const delays = Array.from({ length: 7 }, () => b.next());
    expect(delays).toEqual([100, 200, 400, 800, 1000, 1000, 1000]);
    expect(b.attempts).toBe(7);
  });

  it('uses the documented defaults', () => {
    expect(BACKOFF_DEFAULTS).toEqual({ initialMs: 100, maxMs: 30_000, factor: 2, jitter: 0.2 });
    const b = new Backoff({ jitter: 0 });
    expect([b.next(), b.next(), b.next()]).toEqual([100, 200, 400]);
  });

  it('reset starts again from the initial delay', () => {
    const b = new Backoff({ initialMs: 10, maxMs: 1000, factor: 3, jitter: 0 });
    expect([b.next(), b.next(), b.next()]).toEqual([10, 30, 90]);
    b.reset();
    expect(b.attempts).toBe(0);
    expect([b.next(), b.next()]).toEqual([10, 30]);
  });

  it('keeps jittered delays within ±jitter of the base delay', () => {
    const b = new Backoff({ initialMs: 1000, maxMs: 100_000, factor: 1, jitter: 0.25 });
    const delays = Array.from({ length: 2000 }, () => b.next());
    expect(Math.min(...delays)).toBeGreaterThanOrEqual(750);
    expect(Math.max(...delays)).toBeLessThanOrEqual(1250);
    // It really is random: the spread covers most of the range.
    expect(Math.max(...delays) - Math.min(...delays)).toBeGreaterThan(400);
    expect(new Set(delays).size).toBeGreaterThan(100);
  });

  it('hits the jitter bounds exactly at the extremes of Math.random', () => {
    const random = vi.spyOn(Math, 'random');
    random.mockReturnValue(0);
    expect(new Backoff({ initialMs: 400, maxMs: 10_000, jitter: 0.5 }).next()).toBe(200);
    random.mockReturnValue(0.5);
    expect(new Backoff({ initialMs: 400, maxMs: 10_000, jitter: 0.5 }).next()).toBe(400);
    random.mockReturnValue(0.999999);
    expect(new Backoff({ initialMs: 400, maxMs: 10_000, jitter: 0.5 }).next()).toBe(600);
  });

  it('never returns a negative delay', () => {
    const random = vi.spyOn(Math, 'random').mockReturnValue(0);
    expect(new Backoff({ initialMs: 100, jitter: 1.5 }).next()).toBe(0);
    random.mockRestore();
  });

  // BackoffOptions.maxMs is documented as "Upper bound of a single delay", and the module header
  // promises "full jitter" (AWS: random between 0 and the capped delay). The jitter is added after
  // the cap, so a delay can reach maxMs × (1 + jitter): 36 s with the defaults, 2 × maxMs with jitter 1.
  it('never returns a delay above maxMs, jitter included', () => {
    vi.spyOn(Math, 'random').mockReturnValue(0.999999);
    const b = new Backoff({ initialMs: 100, maxMs: 1000, factor: 2, jitter: 0.2 });
    const delays = Array.from({ length: 8 }, () => b.next());
    expect(Math.max(...delays)).toBeLessThanOrEqual(1000);
  });
});

describe('isRetriable', () => {
  it('never retries programming errors', () => {
    expect(isRetriable(new TypeError('x'))).toBe(false);
    expect(isRetriable(new RangeError('x'))).toBe(false);
    expect(isRetriable(new ReferenceError('x'))).toBe(false);
    expect(isRetriable(new SyntaxError('x'))).toBe(false);
    expect(isRetriable(new LogfsError('LOGFS_E_INTERNAL', 'bug', { retriable: true }))).toBe(false);
  });

  it('follows the retriable flag of LogfsError (default false)', () => {
    expect(isRetriable(new LogfsError('LOGFS_E_KAFKA', 'x', { retriable: true }))).toBe(true);
    expect(isRetriable(new LogfsError('LOGFS_E_KAFKA', 'x', { retriable: false }))).toBe(false);
    expect(isRetriable(new LogfsError('LOGFS_E_KAFKA', 'x'))).toBe(false);
  });

  it('retries other errors unless they say retriable: false', () => {
    expect(isRetriable(new Error('ECONNRESET'))).toBe(true);
    expect(isRetriable(Object.assign(new Error('kafkajs'), { retriable: false }))).toBe(false);
    expect(isRetriable(Object.assign(new Error('kafkajs'), { retriable: true }))).toBe(true);
    expect(isRetriable(null)).toBe(true);
    expect(isRetriable('string')).toBe(true);
  });
});

describe('retry', () => {
  it('returns at once when the first attempt succeeds', async () => {
    const { fn, attempts } = failing([]);
    const onRetry = vi.fn();
    expect(await retry(fn, { retries: 5, onRetry, ...FAST })).toBe('ok');
    expect(attempts).toEqual([0]);
    expect(onRetry).not.toHaveBeenCalled();
  });

  it('retries retriable errors until success, passing the attempt number', async () => {
    const e1 = new Error('first');
    const e2 = new LogfsError('LOGFS_E_KAFKA', 'second', { retriable: true });
    const { fn, attempts } = failing([e1, e2]);
    const calls: [unknown, number, number][] = [];
    const result = await retry(fn, { retries: 5, initialMs: 3, maxMs: 100, factor: 2, jitter: 0, onRetry: (err, n, d) => calls.push([err, n, d]) });
    expect(result).toBe('ok');
    expect(attempts).toEqual([0, 1, 2]);
    expect(calls).toEqual([
      [e1, 1, 3],
      [e2, 2, 6],
    ]);
  });

  it('waits the backoff delay between attempts', async () => {
    const { fn } = failing([new Error('a'), new Error('b')]);
    const started = Date.now();
    await retry(fn, { retries: 2, initialMs: 40, maxMs: 1000, factor: 1, jitter: 0 });
    expect(Date.now() - started).toBeGreaterThanOrEqual(75);
  });

  it('stops at a LogfsError that is not retriable', async () => {
    const err = new LogfsError('LOGFS_E_NOT_FOUND', 'gone');
    const { fn, attempts } = failing([err, err]);
    const onRetry = vi.fn();
    expect(await rejection(retry(fn, { retries: 5, onRetry, ...FAST }))).toBe(err);
    expect(attempts).toEqual([0]);
    expect(onRetry).not.toHaveBeenCalled();
  });

  it('never retries a TypeError, even with retries left', async () => {
    const err = new TypeError('undefined is not a function');
    const { fn, attempts } = failing([err]);
    expect(await rejection(retry(fn, { retries: Infinity, ...FAST }))).toBe(err);
    expect(attempts).toEqual([0]);
  });

  it('gives up after `retries` retries with the last error', async () => {
    const errors = [new Error('0'), new Error('1'), new Error('2'), new Error('3'), new Error('4')];
    const { fn, attempts } = failing(errors);
    const onRetry = vi.fn();
    expect(await rejection(retry(fn, { retries: 3, onRetry, ...FAST }))).toBe(errors[3]);
    expect(attempts).toEqual([0, 1, 2, 3]);
    expect(onRetry.mock.calls.map((c) => c[1])).toEqual([1, 2, 3]);
  });

  it('with retries 0 tries exactly once', async () => {
    const err = new Error('once');
    const { fn, attempts } = failing([err]);
    expect(await rejection(retry(fn, { retries: 0, ...FAST }))).toBe(err);
    expect(attempts).toEqual([0]);
  });

  it('stops waiting when the signal aborts, with the abort reason', async () => {
    const ac = new AbortController();
    const { fn, attempts } = failing(Array.from({ length: 1000 }, () => new Error('down')));
    const started = Date.now();
    setTimeout(() => ac.abort(new Error('shutting down')), 30);
    const err = await rejection(retry(fn, { retries: Infinity, initialMs: 10_000, maxMs: 10_000, jitter: 0, signal: ac.signal }));
    expect(errorMessage(err)).toBe('shutting down');
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(attempts).toEqual([0]);
  });

  it('does not retry once the signal has aborted', async () => {
    const ac = new AbortController();
    const err = new Error('down');
    const attempts: number[] = [];
    const p = retry(
      async (n) => {
        attempts.push(n);
        if (n === 2) ac.abort();
        throw err;
      },
      { retries: Infinity, ...FAST, signal: ac.signal },
    );
    expect(await rejection(p)).toBe(err);
    expect(attempts).toEqual([0, 1, 2]);
  });
});

describe('sleep', () => {
  it('resolves after the delay', async () => {
    const started = Date.now();
    await sleep(30);
    expect(Date.now() - started).toBeGreaterThanOrEqual(25);
  });

  it('rejects at once on an already aborted signal', async () => {
    const ac = new AbortController();
    ac.abort(new Error('already'));
    expect(errorMessage(await rejection(sleep(10_000, ac.signal)))).toBe('already');
  });
});

describe('LogfsError', () => {
  it('carries code, retriable, cause and context', () => {
    const cause = new Error('disk full');
    const e = new LogfsError('LOGFS_E_JOURNAL_IO', 'cannot write the journal', { retriable: true, cause, context: { seg: 3 } });
    expect(e).toBeInstanceOf(Error);
    expect([e.name, e.code, e.message, e.retriable, e.cause, e.context]).toEqual([
      'LogfsError',
      'LOGFS_E_JOURNAL_IO',
      'cannot write the journal',
      true,
      cause,
      { seg: 3 },
    ]);
    const plain = new LogfsError('LOGFS_E_CONFIG', 'bad');
    expect([plain.retriable, plain.context, 'cause' in plain]).toEqual([false, {}, false]);
  });

  it('isLogfsError matches class and, when given, code', () => {
    const e = new LogfsError('LOGFS_E_EXISTS', 'x');
    expect(isLogfsError(e)).toBe(true);
    expect(isLogfsError(e, 'LOGFS_E_EXISTS')).toBe(true);
    expect(isLogfsError(e, 'LOGFS_E_NOT_FOUND')).toBe(false);
    expect(isLogfsError(Object.assign(new Error('x'), { code: 'LOGFS_E_EXISTS' }))).toBe(false);
  });

  it('isProgrammingError and errorMessage', () => {
    expect(isProgrammingError(new TypeError('x'))).toBe(true);
    expect(isProgrammingError(new Error('x'))).toBe(false);
    expect(errorMessage(new Error('m'))).toBe('m');
    expect(errorMessage('s')).toBe('s');
    expect(errorMessage(42)).toBe('42');
  });

  it('has unique, prefixed codes', () => {
    expect(new Set(ERROR_CODES).size).toBe(ERROR_CODES.length);
    for (const c of ERROR_CODES) expect(c).toMatch(/^LOGFS_E_[A-Z_]+$/);
  });
});
