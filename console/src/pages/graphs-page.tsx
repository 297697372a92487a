// Graphs: every graph with its streams, agents and version; a small DAG thumbnail for each.
import { get } from '../api/client';
import type { GraphView } from '../api/types';
import { Badge } from '../components/badge';
import { Card, EmptyState, ErrorBanner, Loading, PageHeader } from '../components/page';
import { fmtAgo, fmtRate, plural } from '../format';
import { href } from '../router';
import { useSession } from '../session';
import { useApi } from '../use-api';

export function GraphsPage() {
  const session = useSession();
  const graphs = useApi(() => get<GraphView[]>('graphs'), [], 5000);
  const list = graphs.data ?? [];
  return (
    <>
      <PageHeader
        title="Graphs"
        subtitle="Processing graphs: agents that parse, count, alarm and archive the records of their streams. Workers switch to a new version live."
        actions={
          <a className="btn btn-primary" href={href('graphs', '+new')}>
            + New graph
          </a>
        }
      />
      <ErrorBanner error={graphs.error} onRetry={graphs.reload} />
      <Card flush>
        {graphs.loading && !graphs.data ? (
          <Loading />
        ) : list.length === 0 ? (
          <EmptyState icon="◇" title="No graphs yet" action={<a className="btn btn-primary" href={href('graphs', '+new')}>Write a graph</a>}>
            Records of streams that no graph takes are archived by the default graph. Write a graph to parse them, count them as metrics or raise alarms.
          </EmptyState>
        ) : (
          <table className="table table-click" data-testid="graphs-table">
            <thead>
              <tr>
                <th>Name</th>
                {session.isAdmin && <th>Provider</th>}
                <th>Streams</th>
                <th>Agents</th>
                <th className="num">Version</th>
                <th className="num">Throughput</th>
                <th>Updated</th>
              </tr>
            </thead>
            <tbody>
              {list.map((g) => {
                const rate = Object.values(g.stats ?? {}).reduce((m, s) => Math.max(m, s.ratePerSec), 0);
                return (
                  <tr key={g.name} onClick={() => (window.location.hash = href('graphs', g.name))}>
                    <td>
                      <a className="cell-main" href={href('graphs', g.name)}>
                        {g.name}
                      </a>{' '}
                      {g.builtIn && (
                        <Badge tone="muted" title="Archives every stream no other graph takes; cannot be changed">
                          built-in
                        </Badge>
                      )}
                      {g.definition.description && <div className="cell-sub">{String(g.definition.description)}</div>}
                    </td>
                    {session.isAdmin && <td>{g.provider ?? <span className="muted">admin</span>}</td>}
                    <td>
                      {g.streams.length === 0 ? (
                        <span className="muted">none</span>
                      ) : (
                        <div className="tags">
                          {g.streams.map((s) => (
                            <span key={s} className="tag mono">
                              {s}
                            </span>
                          ))}
                        </div>
                      )}
                    </td>
                    <td>
                      <span className="muted">{plural(g.nodes.length, 'agent')}: </span>
                      {[...new Set(g.nodes.map((n) => n.type))].join(', ')}
                    </td>
                    <td className="num">v{g.version}</td>
                    <td className="num">{g.stats ? fmtRate(rate) : <span className="muted">—</span>}</td>
                    <td>{fmtAgo(g.updatedAt)}</td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        )}
      </Card>
    </>
  );
}
