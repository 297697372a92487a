// Live tail: the records of a stream as they arrive (server-sent events; EventSource cannot set
// headers, so the token goes in ?token=). Pause keeps receiving but holds the new records back.
import { useEffect, useRef, useState } from 'react';
import { apiUrl, get, getToken, seg } from '../api/client';
import type { StreamView, TailRecord } from '../api/types';
import { Badge } from '../components/badge';
import { Card, EmptyState, ErrorBanner, PageHeader } from '../components/page';
import { fmtClock } from '../format';
import { href, navigate, type Route } from '../router';
import { useApi } from '../use-api';
import { RecordDetail, recordText } from './record-detail';

const KEEP = 2000;
type Conn = 'connecting' | 'live' | 'reconnecting' | 'closed';

export function TailPage({ route }: { route: Route }) {
  const streams = useApi(() => get<StreamView[]>('streams'), []);
  const stream = route.query.get('stream') ?? '';
  const cls = route.query.get('class') ?? '';
  const from = route.query.get('from') === 'beginning' ? 'beginning' : 'end';
  const [records, setRecords] = useState<TailRecord[]>([]);
  const [held, setHeld] = useState<TailRecord[]>([]);
  const [paused, setPaused] = useState(false);
  const [conn, setConn] = useState<Conn>('closed');
  const [selected, setSelected] = useState<TailRecord | null>(null);
  const pausedRef = useRef(paused);
  pausedRef.current = paused;
  const list = useRef<HTMLDivElement>(null);
  const stick = useRef(true);

  const setQuery = (q: Record<string, string>) => {
    const p = new URLSearchParams({ stream, class: cls, from, ...q });
    for (const [k, v] of [...p.entries()]) if (!v || (k === 'from' && v === 'end')) p.delete(k);
    navigate(`${href('tail')}?${p}`);
  };

  useEffect(() => {
    setRecords([]);
    setHeld([]);
    setSelected(null);
    if (!stream) return;
    setConn('connecting');
    const es = new EventSource(apiUrl(`streams/${seg(stream)}/tail`, { from, class: cls || undefined, token: getToken() }));
    es.onopen = () => setConn('live');
    es.onerror = () => setConn(es.readyState === EventSource.CLOSED ? 'closed' : 'reconnecting');
    es.addEventListener('record', (ev) => {
      const r = JSON.parse((ev as MessageEvent<string>).data) as TailRecord;
      if (pausedRef.current) setHeld((h) => [...h, r].slice(-KEEP));
      else setRecords((rs) => [...rs, r].slice(-KEEP));
    });
    return () => {
      es.close();
      setConn('closed');
    };
  }, [stream, cls, from]);

  // Follow the newest record unless the user scrolled up to read.
  useEffect(() => {
    const el = list.current;
    if (el && stick.current) el.scrollTop = el.scrollHeight;
  }, [records]);

  const resume = () => {
    setRecords((rs) => [...rs, ...held].slice(-KEEP));
    setHeld([]);
    setPaused(false);
  };
  const classes = [...new Set(records.map((r) => r.class).filter((c): c is string => !!c))].sort();

  return (
    <>
      <PageHeader title="Live tail" subtitle="Records of a stream as the gateways send them, a moment after a program writes them." />
      <ErrorBanner error={streams.error} />
      <div className="toolbar">
        <label className="field field-inline">
          <span className="field-label">Stream</span>
          <select name="stream" value={stream} onChange={(e) => setQuery({ stream: e.target.value })}>
            <option value="">Choose a stream…</option>
            {(streams.data ?? []).map((s) => (
              <option key={`${s.provider}/${s.name}`} value={s.name}>
                {s.name}
              </option>
            ))}
          </select>
        </label>
        <label className="field field-inline">
          <span className="field-label">Class</span>
          <input name="class" list="tail-classes" placeholder="all" value={cls} onChange={(e) => setQuery({ class: e.target.value })} />
          <datalist id="tail-classes">
            {classes.map((c) => (
              <option key={c} value={c} />
            ))}
          </datalist>
        </label>
        <label className="field field-inline">
          <span className="field-label">From</span>
          <select name="from" value={from} onChange={(e) => setQuery({ from: e.target.value })}>
            <option value="end">now on</option>
            <option value="beginning">the beginning</option>
          </select>
        </label>
        <div className="toolbar-spacer" />
        {stream && <ConnBadge conn={conn} paused={paused} />}
        {stream && (
          <button className="btn" data-testid="pause" onClick={() => (paused ? resume() : setPaused(true))}>
            {paused ? `Resume${held.length ? ` (${held.length} new)` : ''}` : 'Pause'}
          </button>
        )}
        {records.length > 0 && (
          <button className="btn btn-ghost" onClick={() => (setRecords([]), setSelected(null))}>
            Clear
          </button>
        )}
      </div>
      <div className={`tail-layout ${selected ? 'tail-with-detail' : ''}`}>
        <Card flush className="tail-card">
          {!stream ? (
            <EmptyState icon="›_" title="Pick a stream to tail">
              Then write to its file in a mount, e.g. <code>echo hello &gt;&gt; /mnt/logfs/myapp/error</code>, and watch the record arrive.
            </EmptyState>
          ) : records.length === 0 ? (
            <EmptyState icon="›_" title={conn === 'live' ? `Waiting for records on ${stream}` : 'Connecting…'}>
              New records appear here as they arrive. Write a line to <code>{stream}</code> in a mount to see one.
            </EmptyState>
          ) : (
            <div
              className="tail-list"
              ref={list}
              data-testid="tail-list"
              onScroll={(e) => {
                const el = e.currentTarget;
                stick.current = el.scrollHeight - el.scrollTop - el.clientHeight < 40;
              }}
            >
              {records.map((r) => (
                <div key={r.id} className={`tail-row ${selected?.id === r.id ? 'tail-row-selected' : ''}`} onClick={() => setSelected(r)} data-testid="tail-row">
                  <span className="tail-time">{fmtClock(r.ts, true)}</span>
                  <span className="tail-class">
                    {r.class === null ? <span className="muted">—</span> : <Badge tone={/err|fatal|crit/i.test(r.class) ? 'bad' : /warn/i.test(r.class) ? 'warn' : 'muted'}>{r.class}</Badge>}
                  </span>
                  <span className="tail-inst">{r.instance}</span>
                  <span className="tail-data">{recordText(r)}</span>
                </div>
              ))}
            </div>
          )}
        </Card>
        {selected && <RecordDetail record={selected} onClose={() => setSelected(null)} />}
      </div>
      {records.length > 0 && <p className="muted small">{records.length} records shown{records.length >= KEEP ? ` (the newest ${KEEP})` : ''}.</p>}
    </>
  );
}

function ConnBadge({ conn, paused }: { conn: Conn; paused: boolean }) {
  if (paused) return <Badge tone="warn" dot>paused</Badge>;
  if (conn === 'live')
    return (
      <Badge tone="ok" dot>
        <span className="pulse">live</span>
      </Badge>
    );
  return <Badge tone={conn === 'reconnecting' ? 'warn' : 'info'} dot>{conn}</Badge>;
}
