// Provisioning jobs as they run: a stepper of the job's states (pending → … → active, or failed),
// and toasts for the changes made from any page, each following its job until it is final.
import { useEffect, useState, useSyncExternalStore } from 'react';
import { get } from '../api/client';
import type { Job, JobState } from '../api/types';
import { fmtDuration } from '../format';
import { href } from '../router';
import { StateBadge } from './badge';

export const JOB_STEPS: JobState[] = ['pending', 'validating', 'committing', 'propagating', 'active'];
export const isFinal = (s: JobState) => s === 'active' || s === 'failed';

/** Follows a job until it is final; returns the latest view. */
export function useJob(initial: Job | null): Job | null {
  const [job, setJob] = useState(initial);
  useEffect(() => setJob(initial), [initial]);
  useEffect(() => {
    if (!job || isFinal(job.state)) return;
    const t = setTimeout(() => {
      get<Job>(`jobs/${encodeURIComponent(job.id)}`)
        .then(setJob)
        .catch(() => undefined);
    }, 300);
    return () => clearTimeout(t);
  }, [job]);
  return job;
}

export function JobStepper({ job }: { job: Job }) {
  const failed = job.state === 'failed';
  const reached = new Set(job.transitions.map((t) => t.state));
  reached.add(job.state);
  const at = (s: JobState) => job.transitions.find((t) => t.state === s)?.at;
  const start = Date.parse(job.createdAt);
  return (
    <div className="stepper" data-job-state={job.state}>
      {JOB_STEPS.map((s, i) => {
        const done = reached.has(s) && (s !== job.state || s === 'active');
        const current = s === job.state && !isFinal(job.state);
        const when = at(s);
        return (
          <div key={s} className={`step ${done ? 'step-done' : ''} ${current ? 'step-current' : ''}`}>
            <div className="step-dot">{done ? '✓' : i + 1}</div>
            <div className="step-label">{s}</div>
            <div className="step-time">{when ? `+${fmtDuration(Date.parse(when) - start)}` : ''}</div>
          </div>
        );
      })}
      {failed && (
        <div className="step step-failed">
          <div className="step-dot">!</div>
          <div className="step-label">failed</div>
        </div>
      )}
    </div>
  );
}

export function JobCard({ job }: { job: Job }) {
  return (
    <div className={`job-card job-${job.state}`} data-testid="job-card">
      <div className="job-card-head">
        <StateBadge state={job.state} />
        <span className="job-summary">{job.summary}</span>
        {job.version !== null && <span className="muted">→ store v{job.version}</span>}
        <a className="job-link" href={href('jobs', job.id)}>
          job {job.id.slice(0, 8)}
        </a>
      </div>
      <JobStepper job={job} />
      {job.reason && <div className="job-reason">{job.reason}</div>}
      {job.propagation.delayMs !== null && <div className="muted small">Applied by {job.propagation.members.length} members in {fmtDuration(job.propagation.delayMs)}</div>}
    </div>
  );
}

// Toasts: a tiny store outside React so any page can start one and navigate away.
type Toast = { key: number; job: Job; label: string };
let toasts: Toast[] = [];
let nextKey = 1;
const listeners = new Set<() => void>();
const emit = () => listeners.forEach((l) => l());

export function trackJob(job: Job, label?: string): void {
  toasts = [...toasts, { key: nextKey++, job, label: label ?? job.summary }];
  emit();
}

function dismiss(key: number) {
  toasts = toasts.filter((t) => t.key !== key);
  emit();
}

export function JobToasts() {
  const list = useSyncExternalStore(
    (l) => (listeners.add(l), () => listeners.delete(l)),
    () => toasts,
  );
  return (
    <div className="toasts" aria-live="polite">
      {list.map((t) => (
        <JobToast key={t.key} toast={t} />
      ))}
    </div>
  );
}

function JobToast({ toast }: { toast: Toast }) {
  const job = useJob(toast.job) ?? toast.job;
  useEffect(() => {
    if (job.state !== 'active') return;
    const t = setTimeout(() => dismiss(toast.key), 4000);
    return () => clearTimeout(t);
  }, [job.state, toast.key]);
  return (
    <div className={`toast toast-${job.state}`} data-testid="toast">
      <div className="toast-head">
        <StateBadge state={job.state} />
        <span className="toast-label">{toast.label}</span>
        <button className="icon-btn" aria-label="Dismiss" onClick={() => dismiss(toast.key)}>
          ×
        </button>
      </div>
      {job.reason && <div className="toast-reason">{job.reason}</div>}
      {job.state === 'active' && job.propagation.delayMs !== null && <div className="muted small">propagated in {fmtDuration(job.propagation.delayMs)}</div>}
    </div>
  );
}
