/**
 * The one retry/backoff helper (after kafkajs' src/retry): exponential backoff with jitter,
 * never retrying programming errors or errors marked non-retriable. Components never hand-roll
 * sleep loops; they call `retry` or ask `Backoff` for the next delay.
 */
import { isLogfsError, isProgrammingError } from './errors.js';

export interface BackoffOptions {
  /** First delay in milliseconds. */
  initialMs: number;
  /** Upper bound of a single delay in milliseconds. */
  maxMs: number;
  /** Growth factor per attempt. */
  factor: number;
  /** Fraction of the delay that is randomised (0 = none, 1 = full jitter). */
  jitter: number;
}

export const BACKOFF_DEFAULTS: BackoffOptions = { initialMs: 100, maxMs: 30_000, factor: 2, jitter: 0.2 };

export class Backoff {
  private attempt = 0;
  private readonly opts: BackoffOptions;

  constructor(opts: Partial<BackoffOptions> = {}) {
    this.opts = { ...BACKOFF_DEFAULTS, ...opts };
  }

  /**
   * Delay before the next attempt; grows with every call until `reset()`. The delay is spread by
   * ±jitter around the exponential value so that many clients do not retry in step, and is never
   * above `maxMs`.
   */
  next(): number {
    const { initialMs, maxMs, factor, jitter } = this.opts;
    const base = Math.min(maxMs, initialMs * factor ** this.attempt);
    this.attempt += 1;
    const spread = base * jitter;
    return Math.min(maxMs, Math.max(0, Math.round(base - spread + Math.random() * 2 * spread)));
  }

  get attempts(): number {
    return this.attempt;
  }

  reset(): void {
    this.attempt = 0;
  }
}

export interface RetryOptions extends Partial<BackoffOptions> {
  /** Attempts after the first; Infinity retries until `signal` aborts. */
  retries: number;
  signal?: AbortSignal;
  onRetry?: (err: unknown, attempt: number, delayMs: number) => void;
}

export function isRetriable(err: unknown): boolean {
  if (isProgrammingError(err)) return false;
  if (isLogfsError(err)) return err.retriable;
  // Errors from libraries (kafkajs sets `retriable`) and system calls are retried unless they say no.
  const flag = (err as { retriable?: unknown } | null)?.retriable;
  return flag !== false;
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export async function retry<T>(fn: (attempt: number) => Promise<T>, opts: RetryOptions): Promise<T> {
  const backoff = new Backoff(opts);
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (err) {
      if (attempt >= opts.retries || !isRetriable(err) || opts.signal?.aborted) throw err;
      const delay = backoff.next();
      opts.onRetry?.(err, attempt + 1, delay);
      await sleep(delay, opts.signal);
    }
  }
}
