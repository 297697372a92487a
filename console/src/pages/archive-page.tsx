// Archive browser: drill down provider → stream → class → instance → hour using the archive's
// indexes (GET /archive/tree), then page through the records of the selection (GET /archive).
import { useState } from 'react';
import { get } from '../api/client';
import type { ArchiveLevel, ArchiveTree, ArchivedRecordView } from '../api/types';
import { Card, EmptyState, ErrorBanner, Loading, PageHeader } from '../components/page';
import { fmtBytes, fmtClock, fmtNum, fmtTime } from '../format';
import { href, navigate, type Route } from '../router';
import { useApi } from '../use-api';
import { RecordDetail, recordText } from './record-detail';

const LEVELS: { level: ArchiveLevel; param: string; label: string; plural: string }[] = [
  { level: 'provider', param: 'provider', label: 'Provider', plural: 'Providers' },
  { level: 'stream', param: 'stream', label: 'Stream', plural: 'Streams' },
  { level: 'class', param: 'class', label: 'Class', plural: 'Classes' },
  { level: 'instance', param: 'instance', label: 'Instance', plural: 'Instances' },
  { level: 'hour', param: 'hour', label: 'Hour', plural: 'Hours' },
];
const PAGE = 50;

export function ArchivePage({ route }: { route: Route }) {
  const q = route.query;
  const archive = q.get('archive') ?? undefined;
  // The selection so far: each level's key, up to the first level not chosen.
  const chosen: Partial<Record<string, string>> = {};
  for (const l of LEVELS) {
    const v = q.get(l.param);
    if (v === null) break;
    chosen[l.param] = v;
  }
  const depth = Object.keys(chosen).length;
  const treeQuery = { archive, provider: chosen.provider, stream: chosen.stream, class: chosen.class, instance: chosen.instance };
  const tree = useApi(() => (depth < LEVELS.length ? get<ArchiveTree>('archive/tree', treeQuery) : Promise.resolve(undefined)), [route.query.toString()]);

  const hour = chosen.hour ? Date.parse(chosen.hour) : undefined;
  const [cursors, setCursors] = useState<string[]>([]);
  const after = cursors[cursors.length - 1];
  const recordsQuery = { ...treeQuery, limit: PAGE, after, from: hour, to: hour !== undefined ? hour + 3_600_000 - 1 : undefined };
  const records = useApi(() => (depth >= 2 ? get<{ records: ArchivedRecordView[]; next?: string }>('archive', recordsQuery) : Promise.resolve(undefined)), [route.query.toString(), after]);
  const [selected, setSelected] = useState<ArchivedRecordView | null>(null);

  const go = (params: Record<string, string>) => {
    setCursors([]);
    setSelected(null);
    const p = new URLSearchParams(params);
    navigate(`${href('archive')}${p.size ? `?${p}` : ''}`);
  };
  const upTo = (n: number) => {
    const p: Record<string, string> = archive ? { archive } : {};
    LEVELS.slice(0, n).forEach((l) => (p[l.param] = chosen[l.param] as string));
    return p;
  };
  const level = LEVELS[depth];
  const archives = tree.data?.archives ?? [];

  return (
    <>
      <PageHeader
        title="Archive"
        subtitle="Stored records, browsed by provider, stream, class, instance and hour."
        actions={
          archives.length > 1 && (
            <label className="field field-inline">
              <span className="field-label">Archive</span>
              <select value={archive ?? 'default'} onChange={(e) => go({ archive: e.target.value })}>
                {archives.map((a) => (
                  <option key={a}>{a}</option>
                ))}
              </select>
            </label>
          )
        }
      />
      <nav className="drill" aria-label="Archive path">
        <button className={`drill-step ${depth === 0 ? 'drill-current' : ''}`} onClick={() => go(upTo(0))}>
          {archive ?? 'default'} archive
        </button>
        {LEVELS.slice(0, depth).map((l, i) => (
          <span key={l.param} className="drill-part">
            <span className="drill-sep">›</span>
            <button className={`drill-step ${i === depth - 1 ? 'drill-current' : ''}`} onClick={() => go(upTo(i + 1))}>
              <span className="drill-kind">{l.label}</span> {l.param === 'hour' ? fmtTime(chosen.hour) : chosen[l.param] === '' ? '(no class)' : chosen[l.param]}
            </button>
          </span>
        ))}
      </nav>
      <ErrorBanner error={tree.error ?? records.error} />
      <div className={`archive-layout ${depth >= 2 ? 'archive-with-records' : ''}`}>
        {level && (
          <Card title={level.plural} flush className="archive-level">
            {tree.loading && !tree.data ? (
              <Loading />
            ) : (tree.data?.items.length ?? 0) === 0 ? (
              <EmptyState icon="▤" title="Nothing archived here yet">
                Graphs with an <code>archive</code> agent store records here (streams that no graph takes are archived by the default graph). Write to a stream and come back in a few seconds.
              </EmptyState>
            ) : (
              <table className="table table-click" data-testid="archive-level">
                <thead>
                  <tr>
                    <th>{level.label}</th>
                    <th className="num">Records</th>
                    {depth < 2 && <th className="num">Size</th>}
                    <th>Span</th>
                  </tr>
                </thead>
                <tbody>
                  {tree.data?.items.map((it) => (
                    <tr key={it.key} onClick={() => go({ ...upTo(depth), [level.param]: it.key })}>
                      <td className="cell-main">{level.level === 'hour' ? fmtTime(it.key) : it.label}</td>
                      <td className="num">{it.records === null ? '—' : fmtNum(it.records)}</td>
                      {depth < 2 && <td className="num">{it.bytes === null ? '—' : fmtBytes(it.bytes)}</td>}
                      <td className="muted small nowrap">
                        {it.from !== null ? (depth < 2 ? `${fmtTime(it.from)} – ${fmtClock(it.to)}` : `${fmtClock(it.from)} – ${fmtClock(it.to)}`) : '—'}
                        {it.seq && ` · seq ${it.seq[0]}–${it.seq[1]}`}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            )}
          </Card>
        )}
        {depth >= 2 && (
          <Card
            title="Records"
            flush
            className="archive-records"
            actions={
              <div className="pager">
                <span className="muted small">page {cursors.length + 1}</span>
                <button className="btn btn-small" disabled={cursors.length === 0} onClick={() => setCursors((c) => c.slice(0, -1))}>
                  ‹ Newer
                </button>
                <button className="btn btn-small" disabled={!records.data?.next} onClick={() => records.data?.next && setCursors((c) => [...c, records.data?.next as string])}>
                  Older ›
                </button>
              </div>
            }
          >
            {records.loading && !records.data ? (
              <Loading />
            ) : (records.data?.records.length ?? 0) === 0 ? (
              <EmptyState icon="▤" title="No records in this selection" />
            ) : (
              <div className="tail-list tail-list-static" data-testid="archive-records">
                {records.data?.records.map((r) => (
                  <div key={`${r.stream}/${r.id}`} className={`tail-row ${selected?.id === r.id ? 'tail-row-selected' : ''}`} onClick={() => setSelected(r)}>
                    <span className="tail-time" title={fmtTime(r.ts)}>
                      {fmtClock(r.ts, true)}
                    </span>
                    <span className="tail-inst">{r.class ?? '—'}</span>
                    <span className="tail-data">{recordText(r)}</span>
                  </div>
                ))}
              </div>
            )}
          </Card>
        )}
        {selected && <RecordDetail record={selected} onClose={() => setSelected(null)} />}
      </div>
    </>
  );
}
