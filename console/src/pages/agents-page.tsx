// Agents: the catalogue of agent types a graph can use, with each one's outputs and options
// (from its JSON schema), to have at hand while writing a graph.
import { useState } from 'react';
import { get } from '../api/client';
import type { AgentInfo } from '../api/types';
import { Badge } from '../components/badge';
import { JsonView } from '../components/json-view';
import { Card, EmptyState, ErrorBanner, Loading, PageHeader } from '../components/page';
import { useApi } from '../use-api';

interface JsonSchema {
  type?: string | string[];
  description?: string;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  default?: unknown;
  enum?: unknown[];
  items?: JsonSchema;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
}

export function AgentsPage() {
  const agents = useApi(() => get<AgentInfo[]>('agents'), []);
  const list = agents.data ?? [];
  const [sel, setSel] = useState<string | null>(null);
  const [raw, setRaw] = useState(false);
  const agent = list.find((a) => a.type === sel) ?? list[0];
  const schema = (agent?.configSchema ?? {}) as JsonSchema;
  return (
    <>
      <PageHeader title="Agents" subtitle="The building blocks of graphs. Use a type in a node (type: metric) and set its options under config." />
      <ErrorBanner error={agents.error} onRetry={agents.reload} />
      {agents.loading && !agents.data ? (
        <Loading />
      ) : list.length === 0 ? (
        <Card>
          <EmptyState title="No agents" />
        </Card>
      ) : (
        <div className="agents-layout">
          <Card flush className="agents-list">
            {list.map((a) => (
              <button key={a.type} className={`agent-item ${agent?.type === a.type ? 'agent-active' : ''}`} onClick={() => setSel(a.type)}>
                <span className="agent-type">{a.type}</span>
                <span className="agent-desc">{a.description}</span>
              </button>
            ))}
          </Card>
          {agent && (
            <Card
              title={
                <>
                  {agent.type} {agent.sink && <Badge tone="muted">sink</Badge>}
                </>
              }
              actions={
                <button className="btn btn-ghost btn-small" onClick={() => setRaw(!raw)}>
                  {raw ? 'Options table' : 'JSON schema'}
                </button>
              }
            >
              <p>{agent.description}</p>
              <div className="kv-inline">
                <span className="muted">Outputs</span>
                {agent.outputs.length === 0 ? (
                  <span className="muted">none (sink)</span>
                ) : (
                  agent.outputs.map((o, i) => (
                    <Badge key={o} tone={i === 0 ? 'accent' : 'muted'} title={i === 0 ? 'default output' : undefined}>
                      {o}
                    </Badge>
                  ))
                )}
              </div>
              {raw ? (
                <JsonView value={agent.configSchema} className="json-tall" />
              ) : (
                <table className="table table-options">
                  <thead>
                    <tr>
                      <th>Option</th>
                      <th>Type</th>
                      <th>Default</th>
                      <th>Meaning</th>
                    </tr>
                  </thead>
                  <tbody>
                    {Object.entries(schema.properties ?? {}).map(([k, p]) => (
                      <tr key={k}>
                        <td className="mono strong">
                          {k}
                          {schema.required?.includes(k) && <span className="req"> *</span>}
                        </td>
                        <td className="mono small">{typeText(p)}</td>
                        <td className="mono small">{p.default === undefined ? '—' : JSON.stringify(p.default)}</td>
                        <td>{p.description ?? ''}</td>
                      </tr>
                    ))}
                    {Object.keys(schema.properties ?? {}).length === 0 && (
                      <tr>
                        <td colSpan={4} className="muted">
                          No options.
                        </td>
                      </tr>
                    )}
                  </tbody>
                </table>
              )}
            </Card>
          )}
        </div>
      )}
    </>
  );
}

function typeText(s: JsonSchema): string {
  if (s.enum) return s.enum.map((e) => JSON.stringify(e)).join(' | ');
  const alts = s.anyOf ?? s.oneOf;
  if (alts) return alts.map(typeText).join(' | ');
  if (s.type === 'array') return `${s.items ? typeText(s.items) : 'any'}[]`;
  return Array.isArray(s.type) ? s.type.join(' | ') : (s.type ?? 'any');
}
