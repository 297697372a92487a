// The graph editor: YAML or JSON text, validated by the service (POST /graphs/validate) 400 ms
// after the last keystroke; each problem is marked on its line and its node is highlighted in
// the DAG preview. Apply commits it and follows the job until the workers run it.
import { useEffect, useMemo, useState } from 'react';
import { ApiError, post } from '../api/client';
import type { GraphDefinition, GraphProblem, GraphView, Job } from '../api/types';
import { Badge } from '../components/badge';
import { CodeEditor, type LineMark } from '../components/code-editor';
import { JobCard, useJob } from '../components/job-progress';
import { Card, ErrorBanner } from '../components/page';
import { parseDefinitionText, toYamlText, NEW_GRAPH_TEMPLATE, type ParsedText } from '../graph/definition-text';
import { DagView } from '../graph/dag-view';
import { href } from '../router';
import { useDebounced } from '../use-api';

interface Checked {
  parsed: ParsedText;
  problems: (GraphProblem & { line: number | null })[];
  ok: boolean;
  checking: boolean;
  error: ApiError | null;
}

export function GraphEditor({ graph, defaultPorts, onApplied }: { graph: GraphView | null; defaultPorts: Record<string, string>; onApplied: () => void }) {
  const [text, setText] = useState<string | null>(null);
  const [checked, setChecked] = useState<Checked | null>(null);
  const [applying, setApplying] = useState(false);
  const [applyError, setApplyError] = useState<ApiError | null>(null);
  const [started, setStarted] = useState<Job | null>(null);
  const [focusLine, setFocusLine] = useState<{ line: number; n: number } | null>(null);
  const job = useJob(started);
  const debounced = useDebounced(text, 400);

  // The text starts as the stored definition in YAML (or the template for a new graph).
  useEffect(() => {
    if (text !== null) return;
    if (!graph) setText(NEW_GRAPH_TEMPLATE);
    else void toYamlText(graph.definition).then(setText);
    // Only on first load: later polls of the graph must not overwrite the user's edits.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [graph]);

  useEffect(() => {
    if (debounced === null) return;
    let live = true;
    void (async () => {
      const parsed = await parseDefinitionText(debounced);
      if (parsed.syntaxError) {
        if (live) setChecked({ parsed, ok: false, checking: false, error: null, problems: [{ code: 'syntax', path: '', message: parsed.syntaxError.message, line: parsed.syntaxError.line }] });
        return;
      }
      setChecked((c) => (c ? { ...c, checking: true } : c));
      try {
        const r = await post<{ ok: boolean; problems: GraphProblem[] }>('graphs/validate', { definition: parsed.definition });
        if (live) setChecked({ parsed, ok: r.ok, checking: false, error: null, problems: r.problems.map((p) => ({ ...p, line: parsed.lineOf(p.path, p.node) })) });
      } catch (err) {
        // A 400 with problems is the same answer in another form.
        const e = err as ApiError;
        if (live) setChecked({ parsed, ok: false, checking: false, error: e.problems.length ? null : e, problems: e.problems.map((p) => ({ ...p, line: parsed.lineOf(p.path, p.node) })) });
      }
    })();
    return () => {
      live = false;
    };
  }, [debounced]);

  const [appliedName, setAppliedName] = useState<string | null>(null);
  useEffect(() => {
    if (job?.state === 'active') onApplied();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [job?.state]);

  const def = checked?.parsed.definition as GraphDefinition | undefined;
  const previewNodes = useMemo(
    () => (Array.isArray(def?.nodes) ? def.nodes.filter((n) => n && typeof n.id === 'string').map((n) => ({ id: n.id as string, type: String(n.type ?? '?'), inputs: Array.isArray(n.inputs) ? n.inputs.map(String) : [] })) : []),
    [def],
  );
  const badNodes = useMemo(() => new Set((checked?.problems ?? []).map((p) => p.node).filter((n): n is string => !!n)), [checked]);
  const marks: LineMark[] = (checked?.problems ?? []).filter((p) => p.line !== null).map((p) => ({ line: p.line as number, message: p.message }));
  const stale = text !== debounced || checked?.checking;
  const canApply = !!checked?.ok && !stale && !applying && (!job || job.state === 'active' || job.state === 'failed');

  const apply = async () => {
    if (!def) return;
    setApplying(true);
    setApplyError(null);
    try {
      setStarted(await post<Job>('graphs', { definition: def }));
      setAppliedName(typeof def.name === 'string' ? def.name : null);
    } catch (err) {
      setApplyError(err as ApiError);
    } finally {
      setApplying(false);
    }
  };

  return (
    <div className="editor-layout">
      <Card
        title="Definition"
        className="editor-card"
        actions={
          <>
            <ValidationBadge checked={checked} stale={!!stale} />
            <button className="btn btn-primary" data-testid="apply" disabled={!canApply} onClick={() => void apply()}>
              {applying ? 'Applying…' : 'Apply'}
            </button>
          </>
        }
      >
        {text === null ? null : <CodeEditor name="definition" value={text} onChange={setText} marks={marks} focusLine={focusLine} />}
        <p className="muted small">YAML or JSON. Every agent and its options are listed under Agents.</p>
      </Card>
      <div className="editor-side">
        <ErrorBanner error={applyError ?? checked?.error} />
        {job && <JobCard job={job} />}
        {job?.state === 'active' && appliedName && appliedName !== graph?.name && (
          <div className="banner banner-ok">
            <span>
              Graph <b>{appliedName}</b> is running.
            </span>
            <a className="btn btn-small btn-primary" href={href('graphs', appliedName)}>
              Open graph
            </a>
          </div>
        )}
        <Card title="Problems" actions={checked && <span className="muted small">{checked.problems.length || 'none'}</span>}>
          {!checked ? (
            <p className="muted">Checking…</p>
          ) : checked.problems.length === 0 ? (
            <p className="ok-line" data-testid="valid">
              ✓ Valid: {previewNodes.length} agents{def?.streams?.length ? `, streams ${def.streams.join(', ')}` : ', no streams yet'}.
            </p>
          ) : (
            <ul className="problems" data-testid="problems">
              {checked.problems.map((p, i) => (
                <li key={i} className="problem" onClick={() => p.line && setFocusLine({ line: p.line, n: Date.now() })}>
                  <div className="problem-where">
                    {p.node ? <Badge tone="bad">{p.node}</Badge> : <Badge tone="muted">graph</Badge>}
                    {p.path && <code>{p.path}</code>}
                    {p.line && <span className="muted small">line {p.line}</span>}
                    <span className="problem-code">{p.code}</span>
                  </div>
                  <div className="problem-msg">{p.message}</div>
                </li>
              ))}
            </ul>
          )}
        </Card>
        <Card title="Preview" flush>
          {previewNodes.length ? <DagView nodes={previewNodes} streams={def?.streams ?? []} defaultPorts={defaultPorts} problems={badNodes} /> : <p className="muted pad">The graph appears here once its nodes parse.</p>}
        </Card>
      </div>
    </div>
  );
}

function ValidationBadge({ checked, stale }: { checked: Checked | null; stale: boolean }) {
  if (!checked || stale) return <Badge tone="info">checking…</Badge>;
  if (checked.ok) return <Badge tone="ok" dot>valid</Badge>;
  return (
    <Badge tone="bad" dot>
      {checked.problems.length} problem{checked.problems.length === 1 ? '' : 's'}
    </Badge>
  );
}
