// One graph: its DAG with per-agent throughput and the selected agent's config (Overview), the
// definition editor with live validation and Apply (Edit), and its versions with rollback
// (History). `#/graphs/+new` opens the editor on a template.
import { useEffect, useMemo, useState } from 'react';
import { ApiError, get, post } from '../api/client';
import type { AgentInfo, CommitInfo, GraphView, Job } from '../api/types';
import { Badge } from '../components/badge';
import { ConfirmDialog } from '../components/dialog';
import { JobCard, useJob } from '../components/job-progress';
import { JsonView } from '../components/json-view';
import { Card, EmptyState, ErrorBanner, KeyValues, Loading, PageHeader } from '../components/page';
import { fmtAgo, fmtNum, fmtRate, fmtTime } from '../format';
import { DagView } from '../graph/dag-view';
import { href, type Route } from '../router';
import { useApi } from '../use-api';
import { GraphEditor } from './graph-editor';

export function useAgentCatalogue() {
  const agents = useApi(() => get<AgentInfo[]>('agents'), []);
  const defaultPorts = useMemo(() => Object.fromEntries((agents.data ?? []).filter((a) => a.outputs[0]).map((a) => [a.type, a.outputs[0] as string])), [agents.data]);
  return { agents: agents.data ?? [], defaultPorts };
}

export function GraphPage({ name, route }: { name: string | null; route: Route }) {
  const tab = name === null ? 'edit' : (route.parts[1] ?? 'overview');
  const graph = useApi(() => (name ? get<GraphView>(`graphs/${encodeURIComponent(name)}`) : Promise.resolve(undefined)), [name], 3000);
  const catalogue = useAgentCatalogue();
  const g = graph.data;

  if (name && graph.error?.status === 404 && !g) {
    return (
      <Card>
        <EmptyState icon="◇" title={`There is no graph ${name}`} action={<a className="btn btn-primary" href={href('graphs', '+new')}>Write a graph</a>}>
          It may have been deleted, or it belongs to another provider.
        </EmptyState>
      </Card>
    );
  }

  const tabs: [string, string][] = !name ? [] : g?.builtIn ? [['overview', 'Overview']] : [['overview', 'Overview'], ['edit', 'Edit'], ['history', 'History']];
  return (
    <>
      <PageHeader
        crumbs={<a href={href('graphs')}>Graphs</a>}
        title={
          name ? (
            <>
              {name} {g && <Badge tone="accent">v{g.version}</Badge>}
            </>
          ) : (
            'New graph'
          )
        }
        subtitle={g?.definition.description ? String(g.definition.description) : name ? undefined : 'Write the definition; it is checked as you type. Apply commits it as a new store version and the workers switch to it live.'}
      />
      {tabs.length > 0 && (
        <div className="tabs" role="tablist">
          {tabs.map(([id, label]) => (
            <a key={id} role="tab" aria-selected={tab === id} className={`tab ${tab === id ? 'tab-active' : ''}`} href={id === 'overview' ? href('graphs', name as string) : href('graphs', name as string, id)}>
              {label}
            </a>
          ))}
        </div>
      )}
      <ErrorBanner error={graph.error && graph.error.status !== 404 ? graph.error : undefined} />
      {name && !g && graph.loading ? (
        <Loading />
      ) : tab === 'edit' ? (
        <GraphEditor graph={g ?? null} defaultPorts={catalogue.defaultPorts} onApplied={graph.reload} />
      ) : tab === 'history' && g ? (
        <GraphHistory graph={g} onRolledBack={graph.reload} />
      ) : g ? (
        <GraphOverview graph={g} agents={catalogue.agents} defaultPorts={catalogue.defaultPorts} selected={route.query.get('node')} />
      ) : null}
    </>
  );
}

function GraphOverview({ graph, agents, defaultPorts, selected }: { graph: GraphView; agents: AgentInfo[]; defaultPorts: Record<string, string>; selected: string | null }) {
  const [sel, setSel] = useState<string | null>(selected ?? graph.nodes[0]?.id ?? null);
  const node = graph.nodes.find((n) => n.id === sel);
  const defNode = graph.definition.nodes?.find((n) => n.id === sel);
  const agent = agents.find((a) => a.type === node?.type);
  const st = sel ? graph.stats?.[sel] : undefined;
  return (
    <div className="graph-layout">
      <Card
        title="Agents"
        className="graph-dag-card"
        actions={
          <span className="muted small">
            streams: {graph.streams.length ? graph.streams.join(', ') : 'none'} · updated {fmtAgo(graph.updatedAt)}
          </span>
        }
      >
        <DagView nodes={graph.nodes} streams={graph.streams} stats={graph.stats} defaultPorts={defaultPorts} selected={sel} onSelect={setSel} />
        <p className="muted small dag-hint">Click an agent to see its configuration and throughput.</p>
      </Card>
      <div className="graph-side">
        <Card title={node ? node.id : 'No agent selected'} actions={node && <Badge tone="accent">{node.type}</Badge>}>
          {node ? (
            <>
              {agent && <p className="muted">{agent.description}</p>}
              <KeyValues
                rows={[
                  ['Inputs', node.inputs.join(', ')],
                  ...(node.phase ? ([['Phase', node.phase]] as [string, string][]) : []),
                  ['Outputs', agent?.outputs.join(', ') || '—'],
                ]}
              />
              <div className="stats-mini" data-testid="node-stats">
                <div>
                  <span>in</span>
                  <b>{fmtNum(st?.in)}</b>
                </div>
                <div>
                  <span>out</span>
                  <b>{fmtNum(st?.out)}</b>
                </div>
                <div>
                  <span>errors</span>
                  <b className={st?.errors ? 'text-bad' : ''}>{fmtNum(st?.errors)}</b>
                </div>
                <div>
                  <span>rate</span>
                  <b>{fmtRate(st?.ratePerSec)}</b>
                </div>
                <div>
                  <span>CPU</span>
                  <b>{st ? `${fmtNum(st.cpuMs)} ms` : '—'}</b>
                </div>
              </div>
              <h3 className="section-title">Config</h3>
              <JsonView value={defNode?.config ?? {}} />
            </>
          ) : (
            <p className="muted">Select an agent in the graph.</p>
          )}
        </Card>
      </div>
      <Card title="Throughput per agent" flush className="graph-wide">
        <table className="table">
          <thead>
            <tr>
              <th>Agent</th>
              <th>Type</th>
              <th className="num">In</th>
              <th className="num">Out</th>
              <th className="num">Errors</th>
              <th className="num">Rate</th>
              <th className="num">CPU</th>
            </tr>
          </thead>
          <tbody>
            {graph.nodes.map((n) => {
              const s = graph.stats?.[n.id];
              return (
                <tr key={n.id} className={sel === n.id ? 'row-selected' : ''} onClick={() => setSel(n.id)}>
                  <td className="mono strong">{n.id}</td>
                  <td>{n.type}</td>
                  <td className="num">{fmtNum(s?.in)}</td>
                  <td className="num">{fmtNum(s?.out)}</td>
                  <td className={`num ${s?.errors ? 'text-bad' : ''}`}>{fmtNum(s?.errors)}</td>
                  <td className="num">{fmtRate(s?.ratePerSec)}</td>
                  <td className="num">{s ? `${fmtNum(s.cpuMs)} ms` : '—'}</td>
                </tr>
              );
            })}
          </tbody>
        </table>
        {!graph.stats && <p className="muted small table-note">No worker has reported this graph yet: start one (logfsctl up, or logfsctl pipeline run).</p>}
      </Card>
    </div>
  );
}

/** Commits that touched this graph: their change lines name it ("graph web applied …"). */
export function touchesGraph(c: CommitInfo, name: string): boolean {
  const re = new RegExp(`\\bgraph ${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\b`);
  return c.changes.some((ch) => re.test(ch));
}

function GraphHistory({ graph, onRolledBack }: { graph: GraphView; onRolledBack: () => void }) {
  const history = useApi(() => get<CommitInfo[]>('history', { limit: 500 }), [graph.version], 5000);
  const [target, setTarget] = useState<CommitInfo | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  const [started, setJob] = useState<Job | null>(null);
  const job = useJob(started);
  useEffect(() => {
    if (job?.state === 'active') {
      onRolledBack();
      history.reload();
    }
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [job?.state]);
  const [viewing, setViewing] = useState<number | null>(null);
  const snapshot = useApi(() => (viewing === null ? Promise.resolve(undefined) : get<{ commit: CommitInfo; state: unknown }>(`history/${viewing}`)), [viewing]);
  const all = history.data ?? [];
  const mine = all.filter((c) => touchesGraph(c, graph.name));
  const latest = all[0]?.version;

  if (history.error?.status === 403) {
    return (
      <Card>
        <EmptyState icon="⟲" title="History is for admins">
          Versions and rollback change the whole store, so only an admin token can see and use them.
        </EmptyState>
      </Card>
    );
  }
  return (
    <>
      <ErrorBanner error={history.error} onRetry={history.reload} />
      {job && <JobCard job={job} />}
      <Card flush title={`Versions that changed ${graph.name}`} actions={<span className="muted small">store at v{latest ?? '…'}</span>}>
        {history.loading && !history.data ? (
          <Loading />
        ) : mine.length === 0 ? (
          <EmptyState icon="⟲" title="No versions recorded">Changes to this graph appear here as they are committed.</EmptyState>
        ) : (
          <table className="table" data-testid="history-table">
            <thead>
              <tr>
                <th>Version</th>
                <th>When</th>
                <th>Author</th>
                <th>Changes</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {mine.map((c) => (
                <tr key={c.version}>
                  <td>
                    <b>v{c.version}</b> {c.version === latest && <Badge tone="ok">current</Badge>}
                  </td>
                  <td title={fmtTime(c.at)}>{fmtAgo(c.at)}</td>
                  <td>{c.author}</td>
                  <td>
                    {c.message && <div className="cell-main">{c.message}</div>}
                    <ul className="changes">
                      {c.changes.map((ch, i) => (
                        <li key={i}>{ch}</li>
                      ))}
                    </ul>
                  </td>
                  <td className="row-actions">
                    <button className="btn btn-ghost btn-small" onClick={() => setViewing(viewing === c.version ? null : c.version)}>
                      {viewing === c.version ? 'Hide' : 'View'}
                    </button>
                    {c.version !== latest && (
                      <button className="btn btn-small" onClick={() => (setError(null), setTarget(c))}>
                        Roll back to v{c.version}
                      </button>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Card>
      {viewing !== null && (
        <Card title={`Store at v${viewing}`}>
          {snapshot.data ? <JsonView value={graphAt(snapshot.data.state, graph.name) ?? snapshot.data.state} className="json-tall" /> : <Loading />}
        </Card>
      )}
      <ConfirmDialog
        open={target !== null}
        title={`Roll back to v${target?.version}?`}
        confirmLabel={`Roll back to v${target?.version}`}
        danger
        busy={busy}
        onClose={() => setTarget(null)}
        onConfirm={async () => {
          if (!target) return;
          setBusy(true);
          try {
            const j = await post<Job>('rollback', { version: target.version });
            setJob(j);
            setTarget(null);
          } catch (err) {
            setError(err as ApiError);
          } finally {
            setBusy(false);
          }
        }}
      >
        <p>
          The whole store (streams, graphs and assignments) returns to how it was at <b>v{target?.version}</b>, committed as a new version; later versions stay in the history, so you can roll forward again.
        </p>
        <ErrorBanner error={error} />
      </ConfirmDialog>
    </>
  );
}

/** The graph's entry in a store snapshot, whatever the snapshot's exact layout. */
function graphAt(state: unknown, name: string): unknown {
  const graphs = (state as { graphs?: unknown } | null)?.graphs;
  if (Array.isArray(graphs)) return graphs.find((g) => (g as { name?: string }).name === name || (g as { definition?: { name?: string } }).definition?.name === name);
  if (graphs && typeof graphs === 'object') return (graphs as Record<string, unknown>)[name];
  return undefined;
}
