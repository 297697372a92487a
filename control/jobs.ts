/**
 * Provisioning jobs (docs/control-api.md, "Jobs"): every change runs as a small state machine
 *
 *   pending → validating → committing → propagating → active
 *        ↘ failed(reason), from any state before active
 *
 * with the time of each transition. Propagating waits until every live daemon and pipeline worker
 * of the fleet reports that it applied the committed store version; a member that does not within
 * `propagationTimeoutMs` fails the job with a reason naming it (the change stays committed). The
 * last `keep` jobs are kept in memory and in `<data>/jobs.json` (replaced atomically), so a restart
 * still lists them; a job that a restart interrupted is marked failed.
 */
import crypto from 'node:crypto';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { errorMessage, LogfsError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { JobSchema, type JobState, type JobView } from './api-schemas.js';

export const JOBS_DEFAULTS = {
  keep: 500,
  fileName: 'jobs.json',
  /** A live member that has not applied a commit after this long fails its job. */
  propagationTimeoutMs: 30_000,
  /** Longest `GET /jobs/{id}?wait=active`. */
  longPollMs: 30_000,
  /** Fleet views notify on change; this re-check is the guarantee that nothing is missed. */
  recheckMs: 250,
  /** Coalesces bursts of transitions into one write of jobs.json. */
  persistDelayMs: 50,
} as const;

export type Job = JobView;

const FINAL: ReadonlySet<JobState> = new Set(['active', 'failed']);

/** Legal transitions: anything else is a bug in the caller. */
const NEXT: Record<JobState, readonly JobState[]> = {
  pending: ['validating', 'failed'],
  validating: ['committing', 'failed'],
  committing: ['propagating', 'active', 'failed'],
  propagating: ['active', 'failed'],
  active: [],
  failed: [],
};

/** The part of a fleet member this module reads (control/fleet: FleetMember). */
export interface FleetMemberLike {
  id: string;
  kind: string;
  host: string;
  storeVersion: number;
  alive: boolean;
  /** Workers: per graph the version running and why a newer one was refused, if it was. */
  pipeline?: { graphs: Record<string, { version: number; error?: string | null }> } | undefined;
}

/** The part of the fleet view this module uses (control/fleet: FleetView). */
export interface FleetSource {
  members(): readonly FleetMemberLike[];
  /** Calls `listener` when members change; returns an unsubscribe function. */
  watch(listener: (members: FleetMemberLike[]) => void): () => void;
}

export interface JobTrackerOptions {
  dataDir: string;
  fleet: FleetSource;
  log: Logger;
  propagationTimeoutMs?: number;
  keep?: number;
  /** Members that must apply a commit: live daemons and workers by default. */
  mustApply?: (m: FleetMemberLike) => boolean;
}

const JobsFileSchema = z.strictObject({ jobs: z.array(JobSchema) });

export class JobTracker {
  private readonly jobs = new Map<string, Job>();
  private readonly waiters = new Map<string, Set<() => void>>();
  private readonly propagations = new Set<() => void>();
  private persistTimer: NodeJS.Timeout | undefined;
  private persisting: Promise<void> = Promise.resolve();
  private closed = false;
  private readonly file: string;
  private readonly timeoutMs: number;
  private readonly keep: number;
  private readonly mustApply: (m: FleetMemberLike) => boolean;

  private constructor(private readonly opts: JobTrackerOptions) {
    this.file = path.join(opts.dataDir, JOBS_DEFAULTS.fileName);
    this.timeoutMs = opts.propagationTimeoutMs ?? JOBS_DEFAULTS.propagationTimeoutMs;
    this.keep = opts.keep ?? JOBS_DEFAULTS.keep;
    this.mustApply = opts.mustApply ?? ((m) => m.alive && (m.kind === 'daemon' || m.kind === 'worker'));
  }

  /** Loads `<data>/jobs.json`; jobs a restart interrupted are marked failed. */
  static async open(opts: JobTrackerOptions): Promise<JobTracker> {
    const t = new JobTracker(opts);
    let text: string | undefined;
    try {
      text = await fsp.readFile(t.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    if (text !== undefined) {
      const parsed = (() => {
        try {
          return JobsFileSchema.safeParse(JSON.parse(text));
        } catch {
          return undefined;
        }
      })();
      if (!parsed?.success) opts.log.warn({ file: t.file }, 'jobs file is unreadable; starting with no job history');
      else {
        const now = new Date().toISOString();
        for (const j of parsed.data.jobs) {
          if (!FINAL.has(j.state)) {
            j.transitions.push({ state: 'failed', at: now });
            j.reason = `interrupted in state ${j.state} by a restart of the control service${j.version !== null ? ` (version ${j.version} was committed)` : ''}`;
            j.state = 'failed';
            j.updatedAt = now;
          }
          t.jobs.set(j.id, j);
        }
      }
    }
    return t;
  }

  create(kind: Job['kind'], summary: string, author: string, provider: string | null): Job {
    const now = new Date().toISOString();
    const job: Job = {
      id: `job_${Date.now().toString(36)}${crypto.randomBytes(4).toString('hex')}`,
      kind,
      summary,
      author,
      provider,
      state: 'pending',
      reason: null,
      version: null,
      transitions: [{ state: 'pending', at: now }],
      createdAt: now,
      updatedAt: now,
      propagation: { members: [], delayMs: null },
    };
    this.jobs.set(job.id, job);
    this.trim();
    this.changed(job);
    return job;
  }

  transition(job: Job, state: JobState, reason: string | null = null): void {
    if (!NEXT[job.state].includes(state)) {
      throw new LogfsError('LOGFS_E_INTERNAL', `job ${job.id}: no transition from ${job.state} to ${state}`);
    }
    const now = new Date().toISOString();
    job.state = state;
    job.transitions.push({ state, at: now });
    job.updatedAt = now;
    if (state === 'failed') job.reason = reason ?? 'failed';
    this.changed(job);
  }

  fail(job: Job, err: unknown): void {
    if (!FINAL.has(job.state)) this.transition(job, 'failed', errorMessage(err));
  }

  /**
   * After the commit of `version`: propagating until every member that must apply it did, then
   * active; or failed naming the members that did not within the timeout. Resolves at the end.
   */
  propagate(job: Job, version: number, committedAt = Date.now(), graphs: Record<string, number> = {}): Promise<void> {
    job.version = version;
    const required = this.opts.fleet.members().filter(this.mustApply);
    if (required.length === 0) {
      this.transition(job, 'active');
      job.propagation = { members: [], delayMs: 0 };
      this.changed(job);
      return Promise.resolve();
    }
    job.propagation = { members: required.map((m) => ({ id: m.id, kind: m.kind, host: m.host, appliedAt: null })), delayMs: null };
    this.transition(job, 'propagating');
    return new Promise<void>((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      let recheck: NodeJS.Timeout | undefined;
      let unwatch: (() => void) | undefined;
      const finish = (): void => {
        if (timer) clearTimeout(timer);
        if (recheck) clearInterval(recheck);
        unwatch?.();
        this.propagations.delete(abort);
        resolve();
      };
      const abort = (): void => {
        this.fail(job, new LogfsError('LOGFS_E_SHUTTING_DOWN', 'the control service stopped while the change was propagating'));
        finish();
      };
      const check = (): void => {
        if (job.state !== 'propagating') return finish();
        const now = Date.now();
        const byId = new Map(this.opts.fleet.members().map((m) => [m.id, m]));
        let waiting = 0;
        let last = committedAt;
        for (const pm of job.propagation.members) {
          const m = byId.get(pm.id);
          const refused = m && m.storeVersion >= version ? refusedGraph(m, graphs) : undefined;
          if (refused) {
            // The worker keeps running the version before; the change is committed but not in effect.
            this.transition(job, 'failed', `${m!.kind} ${m!.id} on ${m!.host}: graph ${refused} (version ${version} stays committed; fix the graph and apply it again, or roll back)`);
            return finish();
          }
          if (pm.appliedAt === null && m && m.storeVersion >= version) {
            pm.appliedAt = new Date(now).toISOString();
            this.changed(job);
          }
          if (pm.appliedAt !== null) last = Math.max(last, Date.parse(pm.appliedAt));
          // A member that went away (stopped, crashed) is no longer waited for.
          else if (m && m.alive) waiting++;
        }
        if (waiting === 0) {
          job.propagation.delayMs = last - committedAt;
          this.transition(job, 'active');
          finish();
        }
      };
      const expire = (): void => {
        if (job.state !== 'propagating') return finish();
        const late = job.propagation.members.filter((m) => m.appliedAt === null);
        const names = late.map((m) => `${m.kind} ${m.id} on ${m.host}`).join(', ');
        this.transition(job, 'failed', `not applied within ${Math.round(this.timeoutMs / 1000)} s by ${names} (version ${version} is committed; those members may be stuck or partitioned)`);
        finish();
      };
      this.propagations.add(abort);
      unwatch = this.opts.fleet.watch(() => check());
      recheck = setInterval(check, JOBS_DEFAULTS.recheckMs);
      timer = setTimeout(expire, this.timeoutMs);
      check();
    });
  }

  get(id: string): Job | undefined {
    return this.jobs.get(id);
  }

  /** Newest first; `filter` keeps a provider to its own jobs. */
  list(limit = 100, filter: (j: Job) => boolean = () => true): Job[] {
    return [...this.jobs.values()].reverse().filter(filter).slice(0, limit);
  }

  /** Resolves with the job once it is active or failed, or as it is after `timeoutMs`. */
  async waitFinal(id: string, timeoutMs: number = JOBS_DEFAULTS.longPollMs): Promise<Job | undefined> {
    const job = this.jobs.get(id);
    if (!job || FINAL.has(job.state)) return job;
    await new Promise<void>((resolve) => {
      const set = this.waiters.get(id) ?? new Set();
      this.waiters.set(id, set);
      const done = (): void => {
        clearTimeout(timer);
        set.delete(done);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      set.add(done);
    });
    return this.jobs.get(id);
  }

  /** Stops waiting for propagations (their jobs fail), writes jobs.json a last time. */
  async close(): Promise<void> {
    this.closed = true;
    for (const abort of [...this.propagations]) abort();
    if (this.persistTimer) clearTimeout(this.persistTimer);
    this.persistTimer = undefined;
    await this.persisting;
    await this.persist();
  }

  private changed(job: Job): void {
    if (FINAL.has(job.state)) {
      const set = this.waiters.get(job.id);
      if (set) for (const w of [...set]) w();
      this.waiters.delete(job.id);
    }
    this.schedulePersist();
  }

  private trim(): void {
    while (this.jobs.size > this.keep) {
      const oldest = this.jobs.keys().next().value as string;
      this.jobs.delete(oldest);
    }
  }

  private schedulePersist(): void {
    if (this.persistTimer || this.closed) return;
    this.persistTimer = setTimeout(() => {
      this.persistTimer = undefined;
      this.persisting = this.persisting.then(() => this.persist());
    }, JOBS_DEFAULTS.persistDelayMs);
    this.persistTimer.unref();
  }

  private async persist(): Promise<void> {
    const tmp = `${this.file}.${process.pid}.${crypto.randomBytes(3).toString('hex')}.tmp`;
    try {
      await fsp.mkdir(path.dirname(this.file), { recursive: true });
      await fsp.writeFile(tmp, JSON.stringify({ jobs: [...this.jobs.values()] }) + '\n');
      await fsp.rename(tmp, this.file);
    } catch (err) {
      // Jobs are a record of what happened, not state the system needs: log and go on.
      this.opts.log.warn({ err: errorMessage(err), file: this.file }, 'could not write the jobs file');
      await fsp.rm(tmp, { force: true }).catch(() => undefined);
    }
  }
}

/** `name: error` of a graph of `graphs` (name → committed version) that the member refused to run. */
function refusedGraph(m: FleetMemberLike, graphs: Record<string, number>): string | undefined {
  for (const [name, v] of Object.entries(graphs)) {
    const error = m.pipeline?.graphs[name]?.error;
    if (error && error.startsWith(`version ${v} rejected`)) return `${name}: ${error}`;
  }
  return undefined;
}
