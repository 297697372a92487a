/**
 * Metrics and alarms as the console shows them, read through the modules `logfsctl metrics` and
 * `logfsctl alarms` use (pipeline/metrics-store.ts, pipeline/alarm-log.ts): metric points grouped
 * into series, alarm events folded into episodes (fired … resolved).
 */
import type { AlarmEvent, MetricPoint } from '../../pipeline/agent.js';
import { readAlarms } from '../../pipeline/alarm-log.js';
import { parseMetricSelector, queryMetrics, type MetricQuery } from '../../pipeline/metrics-store.js';
import type { AlarmView, MetricSeries } from '../api-schemas.js';

export function groupText(group: Record<string, string>): string | null {
  const keys = Object.keys(group).sort();
  return keys.length === 0 ? null : keys.map((k) => `${k}=${group[k]}`).join(',');
}

/** `label=value[,label=value]` (as in `logfsctl metrics name{…}`). */
export function parseGroupSelector(text: string | undefined): Record<string, string> {
  return text === undefined || text.trim() === '' ? {} : parseMetricSelector(`{${text}}`).labels;
}

export interface SeriesQuery extends Omit<MetricQuery, 'labels'> {
  group?: string;
}

/**
 * Points matching the query as series: one per (name, group, bucket size), points by time. `visible`
 * decides per metric name (a provider sees its own graphs' metrics: names are `<graph>.<node>.…`).
 */
export async function metricSeries(dir: string, q: SeriesQuery, visible: (name: string) => boolean, onBadLine?: () => void): Promise<MetricSeries[]> {
  const labels = parseGroupSelector(q.group);
  const points = await queryMetrics(
    dir,
    {
      ...(q.name !== undefined ? { name: q.name } : {}),
      labels,
      ...(q.from !== undefined ? { from: q.from } : {}),
      ...(q.to !== undefined ? { to: q.to } : {}),
      ...(q.bucketMs !== undefined ? { bucketMs: q.bucketMs } : {}),
    },
    onBadLine ? { onBadLine } : {},
  );
  const series = new Map<string, MetricSeries>();
  for (const p of points) {
    if (!visible(p.name)) continue;
    const group = groupText(p.group);
    const key = `${p.name}\u0000${group ?? ''}\u0000${p.bucketMs}`;
    let s = series.get(key);
    if (!s) series.set(key, (s = { name: p.name, group, labels: { ...p.group }, bucketMs: p.bucketMs, points: [] }));
    s.points.push(pointOf(p));
  }
  return [...series.values()].sort((a, b) => a.name.localeCompare(b.name) || (a.group ?? '').localeCompare(b.group ?? '') || a.bucketMs - b.bucketMs);
}

function pointOf(p: MetricPoint): Record<string, number> {
  return { t: p.bucketStart, ...p.values };
}

function message(e: AlarmEvent): string {
  return `${e.condition}${e.value === null ? '' : ` (value ${e.value})`}`;
}

/**
 * Alarm episodes: an alarm (its id) fires, may fire again while active (counted), and resolves.
 * Newest first. `visible` decides per graph.
 */
export async function alarmEpisodes(dir: string, state: 'active' | 'resolved' | 'all', limit: number, visible: (graph: string) => boolean, onBadLine?: () => void): Promise<AlarmView[]> {
  const open = new Map<string, AlarmView>();
  const episodes: AlarmView[] = [];
  for await (const e of readAlarms(dir, onBadLine ? { onBadLine } : {})) {
    if (!visible(e.graph)) continue;
    const current = open.get(e.alarm);
    if (e.state === 'firing') {
      if (current) {
        current.count += 1;
        current.message = message(e);
        current.value = e.value;
        continue;
      }
      const view: AlarmView = {
        id: `${e.alarm}@${e.time}`,
        name: e.alarm,
        state: 'active',
        firedAt: new Date(e.time).toISOString(),
        resolvedAt: null,
        instance: e.instance,
        message: message(e),
        count: 1,
        graph: e.graph,
        node: e.node,
        value: e.value,
        sampleRecordIds: e.sampleRecordIds,
      };
      open.set(e.alarm, view);
      episodes.push(view);
    } else if (current) {
      current.state = 'resolved';
      current.resolvedAt = new Date(e.time).toISOString();
      open.delete(e.alarm);
    }
  }
  return episodes
    .filter((a) => state === 'all' || a.state === state)
    .reverse()
    .slice(0, limit);
}
