// Metrics: the points metric agents wrote, as time-series charts. Pick a metric, a statistic, a
// group and a bucket size; the chart refreshes every 2 s.
import { useMemo } from 'react';
import { get } from '../api/client';
import type { MetricSeries } from '../api/types';
import { Badge } from '../components/badge';
import { LineChart, seriesColor, type ChartSeries } from '../components/line-chart';
import { Card, EmptyState, ErrorBanner, Loading, PageHeader, Stat } from '../components/page';
import { fmtDuration, fmtNum } from '../format';
import { href, navigate, type Route } from '../router';
import { useApi } from '../use-api';

const RANGES = ['-15m', '-1h', '-6h', '-24h'];
const STATS = ['count', 'rate', 'avg', 'sum', 'min', 'max', 'stddev'];

export function MetricsPage({ route }: { route: Route }) {
  const q = route.query;
  const range = q.get('from') ?? '-1h';
  const all = useApi(() => get<{ series: MetricSeries[] }>('metrics', { from: range }), [range], 2000);
  const series = all.data?.series ?? [];
  const names = [...new Set(series.map((s) => s.name))].sort();
  const name = q.get('name') && names.includes(q.get('name') as string) ? (q.get('name') as string) : (names[0] ?? '');
  const ofName = series.filter((s) => s.name === name);
  const buckets = [...new Set(ofName.map((s) => s.bucketMs))].sort((a, b) => a - b);
  const bucket = Number(q.get('bucket')) || buckets[0] || 0;
  const groups = [...new Set(ofName.map((s) => s.group ?? ''))].sort();
  const group = q.get('group') ?? '*';
  const available = STATS.filter((st) => ofName.some((s) => s.points.some((p) => typeof p[st] === 'number')));
  const stat = q.get('stat') && available.includes(q.get('stat') as string) ? (q.get('stat') as string) : (available.includes('avg') ? 'avg' : (available[0] ?? 'count'));

  const set = (k: string, v: string) => {
    const p = new URLSearchParams(q);
    p.set(k, v);
    if (k === 'name') ['group', 'bucket', 'stat'].forEach((x) => p.delete(x));
    navigate(`${href('metrics')}?${p}`);
  };

  const chart: ChartSeries[] = useMemo(
    () =>
      ofName
        .filter((s) => s.bucketMs === bucket && (group === '*' || (s.group ?? '') === group))
        .map((s) => ({ label: s.group ?? 'all', points: s.points.filter((p) => typeof p[stat] === 'number').map((p) => ({ t: p.t, v: p[stat] as number })) })),
    [ofName, bucket, group, stat],
  );
  const latest = chart.flatMap((s) => s.points).sort((a, b) => b.t - a.t)[0];
  const total = ofName.filter((s) => s.bucketMs === bucket && (group === '*' || (s.group ?? '') === group)).reduce((n, s) => n + s.points.reduce((m, p) => m + (p.count ?? 0), 0), 0);

  return (
    <>
      <PageHeader title="Metrics" subtitle="Statistics that metric agents compute per event-time bucket." />
      <ErrorBanner error={all.error} onRetry={all.reload} />
      {all.loading && !all.data ? (
        <Loading />
      ) : names.length === 0 ? (
        <Card>
          <EmptyState icon="∿" title="No metrics in this time range" action={<a className="btn btn-primary" href={href('graphs', '+new')}>Add a metric agent</a>}>
            A graph with a <code>metric</code> agent writes points here, one per bucket, named <code>graph.node.field</code>. Points appear when a bucket closes or after the agent's <code>idleFlushMs</code>.
          </EmptyState>
        </Card>
      ) : (
        <>
          <div className="toolbar">
            <label className="field field-inline">
              <span className="field-label">Metric</span>
              <select name="metric" value={name} onChange={(e) => set('name', e.target.value)}>
                {names.map((n) => (
                  <option key={n}>{n}</option>
                ))}
              </select>
            </label>
            <label className="field field-inline">
              <span className="field-label">Statistic</span>
              <select name="stat" value={stat} onChange={(e) => set('stat', e.target.value)}>
                {available.map((s) => (
                  <option key={s}>{s}</option>
                ))}
              </select>
            </label>
            <label className="field field-inline">
              <span className="field-label">Group</span>
              <select name="group" value={group} onChange={(e) => set('group', e.target.value)}>
                <option value="*">all groups ({groups.length})</option>
                {groups.map((g) => (
                  <option key={g} value={g}>
                    {g || '(one group)'}
                  </option>
                ))}
              </select>
            </label>
            <label className="field field-inline">
              <span className="field-label">Bucket</span>
              <select name="bucket" value={bucket} onChange={(e) => set('bucket', e.target.value)}>
                {buckets.map((b) => (
                  <option key={b} value={b}>
                    {fmtDuration(b)}
                  </option>
                ))}
              </select>
            </label>
            <div className="segmented" role="group" aria-label="Time range">
              {RANGES.map((r) => (
                <button key={r} className={r === range ? 'seg-on' : ''} onClick={() => set('from', r)}>
                  {r.slice(1)}
                </button>
              ))}
            </div>
            <div className="toolbar-spacer" />
            <Badge tone="ok" dot>
              <span className="pulse">auto-refresh 2 s</span>
            </Badge>
          </div>
          <div className="stats-row">
            <Stat label={`Latest ${stat}`} value={latest ? fmtNum(latest.v, 3) : '—'} />
            <Stat label="Records counted" value={fmtNum(total)} hint={`in ${chart.reduce((n, s) => n + s.points.length, 0)} buckets`} />
            <Stat label="Series" value={chart.length} />
          </div>
          <Card title={`${name} · ${stat}`} actions={<Legend series={chart} />}>
            <div data-testid="metric-chart" data-points={chart.reduce((n, s) => n + s.points.length, 0)} data-total={total}>
              <LineChart series={chart} />
            </div>
          </Card>
        </>
      )}
    </>
  );
}

function Legend({ series }: { series: ChartSeries[] }) {
  if (series.length <= 1) return null;
  return (
    <div className="legend">
      {series.slice(0, 8).map((s, i) => (
        <span key={s.label} className="legend-item">
          <span className="swatch" style={{ background: seriesColor(i) }} />
          {s.label}
        </span>
      ))}
      {series.length > 8 && <span className="muted">+{series.length - 8}</span>}
    </div>
  );
}
