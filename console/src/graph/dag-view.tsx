// The visual DAG of a graph: SVG boxes for agents, curved edges labelled with their ports, the
// per-agent rate under each node, and problem highlighting for the editor's preview.
import { useMemo } from 'react';
import type { NodeStats } from '../api/types';
import { fmtRate } from '../format';
import { layoutDag, NODE_H, NODE_W, type LayoutInput } from './dag-layout';

export interface DagViewProps {
  nodes: LayoutInput[];
  streams?: string[];
  stats?: Record<string, NodeStats>;
  /** Default output of each agent type, to label edges that name no port. */
  defaultPorts?: Record<string, string>;
  selected?: string | null;
  problems?: Set<string>;
  onSelect?: (id: string) => void;
}

export function DagView({ nodes, streams = [], stats, defaultPorts = {}, selected, problems, onSelect }: DagViewProps) {
  const layout = useMemo(() => layoutDag(nodes), [nodes]);
  const at = new Map(layout.nodes.map((n) => [n.id, n]));
  const typeOf = new Map(nodes.map((n) => [n.id, n.type]));
  return (
    <div className="dag-scroll">
      <svg className="dag" width={layout.width} height={layout.height} viewBox={`0 0 ${layout.width} ${layout.height}`} role="img" aria-label="Graph of agents">
        <defs>
          <marker id="dag-arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
            <path d="M0,0 L10,5 L0,10 z" className="dag-arrowhead" />
          </marker>
        </defs>
        {layout.edges.map((e, i) => {
          const a = at.get(e.from);
          const b = at.get(e.to);
          if (!a || !b) return null;
          const x1 = a.x + NODE_W;
          const y1 = a.y + NODE_H / 2;
          const x2 = b.x - 2;
          const y2 = b.y + NODE_H / 2;
          const mx = (x1 + x2) / 2;
          const label = e.port ?? (e.from === 'source' ? null : (defaultPorts[typeOf.get(e.from) ?? ''] ?? null));
          const lx = x1 + (x2 - x1) * 0.5;
          const ly = y1 + (y2 - y1) * 0.5;
          return (
            <g key={i} className={`dag-edge ${e.port ? 'dag-edge-port' : ''}`}>
              <path d={`M${x1},${y1} C${mx},${y1} ${mx},${y2} ${x2},${y2}`} markerEnd="url(#dag-arrow)" />
              {label && (
                <g transform={`translate(${lx},${ly})`}>
                  <rect x={-(label.length * 3.4 + 7)} y={-9} width={label.length * 6.8 + 14} height={18} rx={9} className="dag-port-bg" />
                  <text className="dag-port" textAnchor="middle" dy="4">
                    {label}
                  </text>
                </g>
              )}
            </g>
          );
        })}
        {layout.nodes.map((n) => {
          const st = stats?.[n.id];
          const bad = problems?.has(n.id);
          const cls = ['dag-node', n.isSource ? 'dag-source' : '', selected === n.id ? 'dag-selected' : '', bad ? 'dag-bad' : ''].join(' ');
          return (
            <g key={n.id} className={cls} transform={`translate(${n.x},${n.y})`} onClick={() => !n.isSource && onSelect?.(n.id)} data-node={n.id}>
              <title>{n.isSource ? `source: ${streams.join(', ') || 'no streams'}` : `${n.id} (${n.type})`}</title>
              <rect width={NODE_W} height={NODE_H} rx={n.isSource ? NODE_H / 2 : 10} />
              {!n.isSource && <rect className="dag-type-bar" width={4} height={NODE_H - 16} x={0} y={8} rx={2} />}
              <text className="dag-id" x={n.isSource ? NODE_W / 2 : 16} y={21} textAnchor={n.isSource ? 'middle' : 'start'}>
                {clip(n.isSource ? 'source' : n.id, 20)}
              </text>
              <text className="dag-type" x={n.isSource ? NODE_W / 2 : 16} y={39} textAnchor={n.isSource ? 'middle' : 'start'}>
                {n.isSource ? clip(streams.join(', ') || 'no streams', 24) : n.type}
              </text>
              {st && !n.isSource && (
                <text className="dag-rate" x={NODE_W - 10} y={21} textAnchor="end">
                  {fmtRate(st.ratePerSec)}
                </text>
              )}
              {bad && (
                <g transform={`translate(${NODE_W - 12},${NODE_H - 12})`}>
                  <circle r={8} className="dag-bad-dot" />
                  <text className="dag-bad-mark" textAnchor="middle" dy="4">
                    !
                  </text>
                </g>
              )}
            </g>
          );
        })}
      </svg>
    </div>
  );
}

function clip(s: string, n: number): string {
  return s.length > n ? `${s.slice(0, n - 1)}…` : s;
}
