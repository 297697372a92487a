// Alarms: what is firing now, and what fired and resolved before.
import { get } from '../api/client';
import type { AlarmView } from '../api/types';
import { StateBadge } from '../components/badge';
import { Card, EmptyState, ErrorBanner, Loading, PageHeader, Stat } from '../components/page';
import { fmtAgo, fmtDuration, fmtTime } from '../format';
import { href } from '../router';
import { useApi } from '../use-api';

export function AlarmsPage() {
  const alarms = useApi(() => get<AlarmView[]>('alarms', { state: 'all', limit: 500 }), [], 2000);
  const list = alarms.data ?? [];
  const active = list.filter((a) => a.state === 'active');
  const resolved = list.filter((a) => a.state === 'resolved');
  return (
    <>
      <PageHeader title="Alarms" subtitle="Raised by alarm agents in your graphs; an alarm resolves when its condition clears." />
      <ErrorBanner error={alarms.error} onRetry={alarms.reload} />
      {alarms.loading && !alarms.data ? (
        <Loading />
      ) : (
        <>
          <div className="stats-row">
            <Stat label="Active" value={<span className={active.length ? 'text-bad' : 'text-ok'}>{active.length}</span>} />
            <Stat label="Resolved" value={resolved.length} />
            <Stat label="Last fired" value={list[0] ? fmtAgo(list[0].firedAt) : '—'} />
          </div>
          <Card title="Active" flush>
            {active.length === 0 ? (
              <EmptyState icon="✓" title="All clear">
                No alarm is firing. Alarm agents (<code>type: alarm</code>) raise them from rules on records or metrics.
              </EmptyState>
            ) : (
              <AlarmTable alarms={active} />
            )}
          </Card>
          <Card title="Resolved" flush>
            {resolved.length === 0 ? <EmptyState icon="○" title="No resolved alarms yet" /> : <AlarmTable alarms={resolved} />}
          </Card>
        </>
      )}
    </>
  );
}

function AlarmTable({ alarms }: { alarms: AlarmView[] }) {
  return (
    <table className="table" data-testid="alarms-table">
      <thead>
        <tr>
          <th>State</th>
          <th>Alarm</th>
          <th>Condition</th>
          <th>Graph</th>
          <th>Instance</th>
          <th className="num">Firings</th>
          <th>Fired</th>
          <th>Duration</th>
        </tr>
      </thead>
      <tbody>
        {alarms.map((a) => (
          <tr key={a.id} className={a.state === 'active' ? 'row-alert' : ''}>
            <td>
              <StateBadge state={a.state === 'active' ? 'firing' : 'resolved'} />
            </td>
            <td className="strong">{a.name}</td>
            <td>{a.message}</td>
            <td>{a.graph ? <a href={href('graphs', a.graph)}>{a.graph}{a.node ? ` / ${a.node}` : ''}</a> : '—'}</td>
            <td className="mono">{a.instance ?? <span className="muted">all</span>}</td>
            <td className="num">{a.count}</td>
            <td title={fmtTime(a.firedAt)}>{fmtAgo(a.firedAt)}</td>
            <td>{fmtDuration((a.resolvedAt ? Date.parse(a.resolvedAt) : Date.now()) - Date.parse(a.firedAt))}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
