// Provisioning jobs: every change runs as one (pending → validating → committing → propagating →
// active, or failed). A job's page shows its transitions and which members applied it, when.
import { get } from '../api/client';
import type { Job } from '../api/types';
import { Badge, StateBadge } from '../components/badge';
import { JobStepper } from '../components/job-progress';
import { Card, EmptyState, ErrorBanner, KeyValues, Loading, PageHeader } from '../components/page';
import { fmtAgo, fmtDuration, fmtTime } from '../format';
import { href, type Route } from '../router';
import { useApi } from '../use-api';

export function JobsPage({ route }: { route: Route }) {
  return route.parts[0] ? <JobDetail id={route.parts[0]} /> : <JobList />;
}

function JobList() {
  const jobs = useApi(() => get<Job[]>('jobs', { limit: 200 }), [], 2000);
  const list = jobs.data ?? [];
  return (
    <>
      <PageHeader title="Jobs" subtitle="Every change runs as a provisioning job, until every live member has applied it." />
      <ErrorBanner error={jobs.error} onRetry={jobs.reload} />
      <Card flush>
        {jobs.loading && !jobs.data ? (
          <Loading />
        ) : list.length === 0 ? (
          <EmptyState icon="☰" title="No jobs yet">
            Creating a stream or applying a graph starts a job; it shows here with each state it passes.
          </EmptyState>
        ) : (
          <table className="table table-click" data-testid="jobs-table">
            <thead>
              <tr>
                <th>State</th>
                <th>Change</th>
                <th>Author</th>
                <th className="num">Version</th>
                <th>Progress</th>
                <th className="num">Propagation</th>
                <th>Started</th>
              </tr>
            </thead>
            <tbody>
              {list.map((j) => (
                <tr key={j.id} onClick={() => (window.location.hash = href('jobs', j.id))}>
                  <td>
                    <StateBadge state={j.state} />
                  </td>
                  <td>
                    <a className="cell-main" href={href('jobs', j.id)}>
                      {j.summary}
                    </a>
                    {j.reason && <div className="cell-sub text-bad">{j.reason}</div>}
                  </td>
                  <td>{j.author}</td>
                  <td className="num">{j.version === null ? '—' : `v${j.version}`}</td>
                  <td>
                    <MiniSteps job={j} />
                  </td>
                  <td className="num">{fmtDuration(j.propagation.delayMs)}</td>
                  <td title={fmtTime(j.createdAt)}>{fmtAgo(j.createdAt)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Card>
    </>
  );
}

const STEPS = ['pending', 'validating', 'committing', 'propagating', 'active'];

function MiniSteps({ job }: { job: Job }) {
  const seen = new Set(job.transitions.map((t) => t.state as string));
  return (
    <span className="mini-steps" title={job.transitions.map((t) => `${t.state} ${fmtTime(t.at)}`).join('\n')}>
      {STEPS.map((s) => (
        <span key={s} className={`mini-step ${seen.has(s) ? (job.state === 'failed' ? 'mini-bad' : 'mini-done') : ''}`} />
      ))}
    </span>
  );
}

function JobDetail({ id }: { id: string }) {
  const job = useApi(() => get<Job>(`jobs/${encodeURIComponent(id)}`), [id], 1000);
  const j = job.data;
  const start = j ? Date.parse(j.createdAt) : 0;
  return (
    <>
      <PageHeader crumbs={<a href={href('jobs')}>Jobs</a>} title={j ? j.summary : `Job ${id}`} subtitle={j && <>by {j.author} · {fmtTime(j.createdAt)}</>} actions={j && <StateBadge state={j.state} />} />
      <ErrorBanner error={job.error} onRetry={job.reload} />
      {!j ? (
        <Loading />
      ) : (
        <>
          <Card>
            <JobStepper job={j} />
            {j.reason && <div className="banner banner-bad">{j.reason}</div>}
          </Card>
          <div className="grid-2">
            <Card title="Transitions" flush>
              <table className="table">
                <tbody>
                  {j.transitions.map((t, i) => (
                    <tr key={i}>
                      <td>
                        <StateBadge state={t.state} />
                      </td>
                      <td>{fmtTime(t.at)}</td>
                      <td className="num muted">+{fmtDuration(Date.parse(t.at) - start)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </Card>
            <Card title="Details">
              <KeyValues
                rows={[
                  ['Job', <code key="id">{j.id}</code>],
                  ['Kind', j.kind],
                  ['Store version', j.version === null ? '—' : `v${j.version}`],
                  ['Propagation delay', fmtDuration(j.propagation.delayMs)],
                  ['Updated', fmtTime(j.updatedAt)],
                ]}
              />
            </Card>
          </div>
          <Card title="Propagation" flush>
            {j.propagation.members.length === 0 ? (
              <EmptyState icon="▣" title="No members to wait for">
                {j.state === 'active' ? 'No fleet member was alive when the change was committed.' : 'Members are listed once the change is committed.'}
              </EmptyState>
            ) : (
              <table className="table" data-testid="propagation">
                <thead>
                  <tr>
                    <th>Member</th>
                    <th>Kind</th>
                    <th>Host</th>
                    <th>Applied</th>
                    <th className="num">After commit</th>
                  </tr>
                </thead>
                <tbody>
                  {j.propagation.members.map((m) => {
                    const committed = j.transitions.find((t) => t.state === 'propagating')?.at;
                    return (
                      <tr key={m.id}>
                        <td className="mono">{m.id}</td>
                        <td>{m.kind}</td>
                        <td>{m.host}</td>
                        <td>{m.appliedAt ? (
                            <Badge tone="ok" dot title={fmtTime(m.appliedAt)}>
                              applied
                            </Badge>
                          ) : (
                            <StateBadge state={j.state === 'failed' ? 'failed' : 'pending'} />
                          )}</td>
                        <td className="num">{m.appliedAt && committed ? fmtDuration(Date.parse(m.appliedAt) - Date.parse(committed)) : '—'}</td>
                      </tr>
                    );
                  })}
                </tbody>
              </table>
            )}
          </Card>
        </>
      )}
    </>
  );
}
