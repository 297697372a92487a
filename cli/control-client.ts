/**
 * The control API's client (docs/control-api.md): every provisioning command of logfsctl goes
 * through it, so the same CLI drives the service of `logfsctl up` on this host or a remote cluster.
 * Errors of the API come back as LogfsError with the service's code and problems.
 */
import type { JobState, JobView } from '../control/api-schemas.js';
import { LogfsError, type ErrorCode } from '../core/errors.js';

export const CLIENT_DEFAULTS = {
  requestTimeoutMs: 30_000,
  /** How long a command waits for its provisioning job to become active (or fail). */
  jobWaitMs: 60_000,
  /** The longest a `?wait=` long poll is held by the service (docs/control-api.md). */
  longPollMs: 30_000,
} as const;

// The shapes of the API's answers, inferred from the schemas the service validates and documents with.
export type { CommitInfoView as CommitInfo, GraphView, JobState, JobView, Problem as GraphProblemView, StreamView } from '../control/api-schemas.js';

export const FINAL_JOB_STATES: readonly JobState[] = ['active', 'failed'];

export class ControlClient {
  constructor(
    readonly baseUrl: string,
    private readonly token: string | undefined,
  ) {}

  async request<T>(method: string, route: string, body?: unknown, query?: Record<string, string | number | undefined>): Promise<T> {
    const url = new URL(`/api/v1${route}`, this.baseUrl);
    for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
    let res: Response;
    try {
      res = await fetch(url, {
        method,
        headers: {
          ...(this.token ? { authorization: `Bearer ${this.token}` } : {}),
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(CLIENT_DEFAULTS.requestTimeoutMs + (query?.wait ? CLIENT_DEFAULTS.longPollMs : 0)),
      });
    } catch (cause) {
      throw new LogfsError('LOGFS_E_UNAVAILABLE', `the control API at ${this.baseUrl} does not answer (${(cause as Error).message}); is logfsctl up or logfsctl control run running?`, {
        retriable: true,
        cause,
      });
    }
    const text = await res.text();
    let json: unknown;
    try {
      json = text === '' ? undefined : JSON.parse(text);
    } catch {
      throw new LogfsError('LOGFS_E_UNAVAILABLE', `the control API at ${this.baseUrl} answered ${res.status} with something that is not JSON`);
    }
    if (!res.ok) {
      const err = (json as { error?: { code?: string; message?: string; problems?: unknown[] } } | undefined)?.error;
      throw new LogfsError((err?.code as ErrorCode | undefined) ?? 'LOGFS_E_UNAVAILABLE', err?.message ?? `the control API answered ${res.status}`, {
        context: { status: res.status, ...(err?.problems ? { problems: err.problems } : {}) },
      });
    }
    return json as T;
  }

  /** Waits until a job is active or failed (or `timeoutMs` passed) and returns its last view. */
  async waitForJob(job: JobView, timeoutMs: number = CLIENT_DEFAULTS.jobWaitMs): Promise<JobView> {
    const deadline = Date.now() + timeoutMs;
    let current = job;
    while (!FINAL_JOB_STATES.includes(current.state) && Date.now() < deadline) {
      current = await this.request<JobView>('GET', `/jobs/${encodeURIComponent(job.id)}`, undefined, { wait: 'active' });
    }
    return current;
  }
}

/** A path segment for a name that may hold `/` (stream names). */
export function seg(name: string): string {
  return encodeURIComponent(name);
}
