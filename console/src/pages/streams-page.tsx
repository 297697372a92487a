// Streams: the table (provider, partitions, encryption, volume, graphs, usage and cost), and the
// dialogs to create, edit, assign to graphs and delete one.
import { useState } from 'react';
import { ApiError, del, get, patch, post, seg } from '../api/client';
import type { GraphView, Job, Provider, StreamInput, StreamView } from '../api/types';
import { Badge } from '../components/badge';
import { ConfirmDialog, Dialog } from '../components/dialog';
import { trackJob } from '../components/job-progress';
import { Card, EmptyState, ErrorBanner, Loading, PageHeader, Stat } from '../components/page';
import { fmtBytes, fmtCost, fmtNum, fmtRate, plural } from '../format';
import { href } from '../router';
import { useSession } from '../session';
import { useApi } from '../use-api';

export function StreamsPage() {
  const session = useSession();
  const streams = useApi(() => get<StreamView[]>('streams'), [], 5000);
  const graphs = useApi(() => get<GraphView[]>('graphs'), [], 10000);
  const [creating, setCreating] = useState(false);
  const [editing, setEditing] = useState<StreamView | null>(null);
  const [assigning, setAssigning] = useState<StreamView | null>(null);
  const [deleting, setDeleting] = useState<StreamView | null>(null);
  const [busy, setBusy] = useState(false);
  const [deleteError, setDeleteError] = useState<ApiError | null>(null);

  const list = streams.data ?? [];
  const totals = list.reduce((a, s) => ({ records: a.records + s.usage.records, bytes: a.bytes + s.usage.bytes, cost: a.cost + s.cost }), { records: 0, bytes: 0, cost: 0 });
  const done = (job: Job, label: string) => {
    trackJob(job, label);
    streams.reload();
    graphs.reload();
  };

  return (
    <>
      <PageHeader
        title="Streams"
        subtitle="Each stream is a file in every mount of its provider; its records go to one Kafka topic."
        actions={
          <button className="btn btn-primary" onClick={() => setCreating(true)}>
            + New stream
          </button>
        }
      />
      <ErrorBanner error={streams.error} onRetry={streams.reload} />
      {list.length > 0 && (
        <div className="stats-row">
          <Stat label="Streams" value={list.length} hint={`${list.filter((s) => s.encrypt).length} encrypted`} />
          <Stat label="Records" value={fmtNum(totals.records)} hint="measured, all time" />
          <Stat label="Volume" value={fmtBytes(totals.bytes)} />
          <Stat label="Cost" value={fmtCost(totals.cost)} hint="cost units from measured use" />
        </div>
      )}
      <Card flush>
        {streams.loading && !streams.data ? (
          <Loading />
        ) : list.length === 0 ? (
          <EmptyState
            icon="≡"
            title="No streams yet"
            action={
              <button className="btn btn-primary" onClick={() => setCreating(true)}>
                Create your first stream
              </button>
            }
          >
            A stream appears as a file in the mount (<code>/mnt/logfs/myapp/error</code>); whatever programs write to it becomes records. Create one, then write to it.
          </EmptyState>
        ) : (
          <table className="table" data-testid="streams-table">
            <thead>
              <tr>
                <th>Name</th>
                {session.isAdmin && <th>Provider</th>}
                <th className="num">Partitions</th>
                <th>Encryption</th>
                <th className="num">Est. rate</th>
                <th>Graphs</th>
                <th className="num">Usage</th>
                <th className="num">Cost</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {list.map((s) => (
                <tr key={`${s.provider}/${s.name}`} data-stream={s.name}>
                  <td>
                    <div className="cell-main mono">{s.name}</div>
                    {s.description && <div className="cell-sub">{s.description}</div>}
                  </td>
                  {session.isAdmin && <td>{s.provider}</td>}
                  <td className="num">{s.partitions}</td>
                  <td>{s.encrypt ? <Badge tone="accent" title={s.keyId ? `key ${s.keyId}` : undefined}>
                        <svg viewBox="0 0 12 12" width="11" height="11" aria-hidden>
                          <rect x="2" y="5.5" width="8" height="5.5" rx="1.2" fill="currentColor" />
                          <path d="M4 5.5V4a2 2 0 0 1 4 0v1.5" fill="none" stroke="currentColor" strokeWidth="1.4" />
                        </svg>
                        encrypted
                      </Badge> : <span className="muted">none</span>}</td>
                  <td className="num">{s.rate === null ? <span className="muted">—</span> : fmtRate(s.rate)}</td>
                  <td>
                    {s.graphs.length === 0 ? (
                      <span className="muted">default</span>
                    ) : (
                      <div className="tags">
                        {s.graphs.map((g) => (
                          <a key={g} className="tag" href={href('graphs', g)}>
                            {g}
                          </a>
                        ))}
                      </div>
                    )}
                  </td>
                  <td className="num">
                    <div>
                      {fmtNum(s.usage.records)} rec · {fmtBytes(s.usage.bytes)}
                    </div>
                    <div className="cell-sub" title={`gateway ${fmtNum(s.usage.cpuMs)} ms, agents ${fmtNum(s.usage.agentCpuMs)} ms`}>
                      {fmtNum(s.usage.cpuMs + s.usage.agentCpuMs)} ms CPU
                    </div>
                  </td>
                  <td className="num strong">{fmtCost(s.cost)}</td>
                  <td className="row-actions">
                    <a className="btn btn-ghost btn-small" href={`${href('tail')}?stream=${encodeURIComponent(s.name)}`}>
                      Tail
                    </a>
                    <button className="btn btn-ghost btn-small" onClick={() => setAssigning(s)}>
                      Graphs
                    </button>
                    <button className="btn btn-ghost btn-small" onClick={() => setEditing(s)}>
                      Edit
                    </button>
                    <button className="btn btn-ghost btn-small btn-danger-text" onClick={() => (setDeleteError(null), setDeleting(s))}>
                      Delete
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Card>

      {creating && <StreamForm onClose={() => setCreating(false)} onDone={(j, n) => (setCreating(false), done(j, `Create stream ${n}`))} />}
      {editing && <StreamForm stream={editing} onClose={() => setEditing(null)} onDone={(j, n) => (setEditing(null), done(j, `Update stream ${n}`))} />}
      {assigning && <AssignDialog stream={assigning} graphs={graphs.data ?? []} onClose={() => setAssigning(null)} onDone={(j) => (setAssigning(null), done(j, `Assign ${assigning.name}`))} />}
      <ConfirmDialog
        open={deleting !== null}
        title={`Delete stream ${deleting?.name ?? ''}?`}
        confirmLabel="Delete stream"
        danger
        busy={busy}
        onClose={() => setDeleting(null)}
        onConfirm={async () => {
          if (!deleting) return;
          setBusy(true);
          try {
            const job = await del<Job>(`streams/${seg(deleting.name)}`);
            done(job, `Delete stream ${deleting.name}`);
            setDeleting(null);
          } catch (err) {
            setDeleteError(err as ApiError);
          } finally {
            setBusy(false);
          }
        }}
      >
        <p>
          The file <code>{deleting?.name}</code> disappears from every mount of <b>{deleting?.provider}</b>, and graphs stop taking its records. Records already in Kafka and in the archive are kept until their retention ends.
        </p>
        <ErrorBanner error={deleteError} />
      </ConfirmDialog>
    </>
  );
}

function StreamForm({ stream, onClose, onDone }: { stream?: StreamView; onClose: () => void; onDone: (job: Job, name: string) => void }) {
  const session = useSession();
  const editing = stream !== undefined;
  const providers = useApi(() => (session.isAdmin ? get<Provider[]>('providers') : Promise.resolve([] as Provider[])), []);
  const [name, setName] = useState(stream?.name ?? '');
  const [provider, setProvider] = useState(stream?.provider ?? '');
  const [partitions, setPartitions] = useState(String(stream?.partitions ?? 1));
  const [encrypt, setEncrypt] = useState(stream?.encrypt ?? false);
  const [key, setKey] = useState('');
  const [rate, setRate] = useState(stream?.rate === null || stream?.rate === undefined ? '' : String(stream.rate));
  const [retention, setRetention] = useState(stream?.retentionHours === null || stream?.retentionHours === undefined ? '' : String(stream.retentionHours));
  const [description, setDescription] = useState(stream?.description ?? '');
  const [error, setError] = useState<ApiError | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async () => {
    setBusy(true);
    setError(null);
    const num = (s: string) => (s.trim() === '' ? null : Number(s));
    try {
      if (editing) {
        const body: Record<string, unknown> = { partitions: Number(partitions), rate: num(rate), retentionHours: num(retention), description: description.trim() || null };
        if (encrypt !== stream.encrypt || (encrypt && key)) body.encrypt = encrypt;
        if (encrypt && key) body.key = key.trim();
        onDone(await patch<Job>(`streams/${seg(stream.name)}`, body), stream.name);
      } else {
        const body: StreamInput = { name: name.trim(), partitions: Number(partitions), encrypt, rate: num(rate), retentionHours: num(retention), description: description.trim() || null };
        if (session.isAdmin && provider.trim()) body.provider = provider.trim();
        if (encrypt && key.trim()) body.key = key.trim();
        onDone(await post<Job>('streams', body), body.name);
      }
    } catch (err) {
      setError(err as ApiError);
    } finally {
      setBusy(false);
    }
  };

  return (
    <Dialog
      open
      title={editing ? `Edit ${stream.name}` : 'New stream'}
      onClose={onClose}
      footer={
        <>
          <button className="btn" onClick={onClose}>
            Cancel
          </button>
          <button className="btn btn-primary" form="stream-form" type="submit" disabled={busy || (!editing && !name.trim())}>
            {busy ? 'Saving…' : editing ? 'Save changes' : 'Create stream'}
          </button>
        </>
      }
    >
      <form
        id="stream-form"
        className="form"
        onSubmit={(e) => {
          e.preventDefault();
          void submit();
        }}
      >
        <ErrorBanner error={error} />
        {!editing && (
          <label className="field">
            <span className="field-label">Name</span>
            <input name="name" className="mono" autoFocus placeholder="myapp/error" value={name} onChange={(e) => setName(e.target.value)} />
            <span className="field-help">The path of the file in the mount. Segments of a-z, 0-9, “-”, “_”, “.” separated by “/”.</span>
          </label>
        )}
        {!editing && session.isAdmin && (
          <label className="field">
            <span className="field-label">Provider</span>
            <input name="provider" list="providers" placeholder="default provider" value={provider} onChange={(e) => setProvider(e.target.value)} />
            <datalist id="providers">
              {(providers.data ?? []).map((p) => (
                <option key={p.name} value={p.name} />
              ))}
            </datalist>
            <span className="field-help">The tenant that owns the stream; its hosts mount it.</span>
          </label>
        )}
        <div className="form-row">
          <label className="field">
            <span className="field-label">Partitions</span>
            <input name="partitions" type="number" min={stream?.partitions ?? 1} max={1024} value={partitions} onChange={(e) => setPartitions(e.target.value)} />
            <span className="field-help">{editing ? 'May only grow.' : 'Bounds how many workers share it.'}</span>
          </label>
          <label className="field">
            <span className="field-label">Estimated rate</span>
            <div className="input-unit">
              <input name="rate" type="number" min={0} step="any" placeholder="—" value={rate} onChange={(e) => setRate(e.target.value)} />
              <span>records/s</span>
            </div>
          </label>
          <label className="field">
            <span className="field-label">Retention</span>
            <div className="input-unit">
              <input name="retentionHours" type="number" min={1} step="any" placeholder="broker default" value={retention} onChange={(e) => setRetention(e.target.value)} />
              <span>hours</span>
            </div>
          </label>
        </div>
        <label className="check">
          <input name="encrypt" type="checkbox" checked={encrypt} onChange={(e) => setEncrypt(e.target.checked)} />
          <span>
            <b>Encrypt records</b>
            <span className="field-help">The gateway encrypts each record before it leaves the host; Kafka and the archive only hold ciphertext.</span>
          </span>
        </label>
        {encrypt && (
          <label className="field">
            <span className="field-label">Key (optional)</span>
            <input name="key" className="mono" placeholder={stream?.keyId ? `keep key ${stream.keyId}` : 'generated: 32 random bytes'} value={key} onChange={(e) => setKey(e.target.value)} />
            <span className="field-help">Base64 of 32 bytes. Leave empty to {stream?.keyId ? 'keep the current key' : 'have one generated'}; only its fingerprint is shown afterwards.</span>
          </label>
        )}
        <label className="field">
          <span className="field-label">Description</span>
          <input name="description" placeholder="What writes to it, who reads it" value={description} onChange={(e) => setDescription(e.target.value)} />
        </label>
      </form>
    </Dialog>
  );
}

function AssignDialog({ stream, graphs, onClose, onDone }: { stream: StreamView; graphs: GraphView[]; onClose: () => void; onDone: (job: Job) => void }) {
  // An admin graph (no provider) may take any stream; a provider's graph only its own.
  const candidates = graphs.filter((g) => !g.builtIn && (g.provider === null || g.provider === stream.provider));
  const [chosen, setChosen] = useState(new Set(stream.graphs.filter((g) => candidates.some((c) => c.name === g))));
  const [error, setError] = useState<ApiError | null>(null);
  const [busy, setBusy] = useState(false);
  const save = async () => {
    setBusy(true);
    setError(null);
    const edits = candidates
      .filter((g) => g.streams.includes(stream.name) !== chosen.has(g.name))
      .map((g) => ({ op: 'assignStreams', graph: g.name, streams: chosen.has(g.name) ? [...g.streams, stream.name] : g.streams.filter((s) => s !== stream.name) }));
    try {
      if (edits.length === 0) return onClose();
      onDone(await post<Job>('commits', { message: `assign ${stream.name} to ${[...chosen].join(', ') || 'the default graph'}`, edits }));
    } catch (err) {
      setError(err as ApiError);
    } finally {
      setBusy(false);
    }
  };
  return (
    <Dialog
      open
      title={`Graphs taking ${stream.name}`}
      onClose={onClose}
      footer={
        <>
          <button className="btn" onClick={onClose}>
            Cancel
          </button>
          <button className="btn btn-primary" disabled={busy} onClick={() => void save()}>
            {busy ? 'Saving…' : 'Save assignment'}
          </button>
        </>
      }
    >
      <ErrorBanner error={error} />
      {candidates.length === 0 ? (
        <EmptyState icon="◇" title="No graphs to assign" action={<a className="btn btn-primary" href={href('graphs', '+new')}>Write a graph</a>}>
          Records of this stream go to the default graph, which archives them. Write a graph to parse, count, alarm or route them.
        </EmptyState>
      ) : (
        <div className="checklist">
          {candidates.map((g) => (
            <label key={g.name} className="check">
              <input
                type="checkbox"
                checked={chosen.has(g.name)}
                onChange={(e) => {
                  const next = new Set(chosen);
                  if (e.target.checked) next.add(g.name);
                  else next.delete(g.name);
                  setChosen(next);
                }}
              />
              <span>
                <b>{g.name}</b> <span className="muted">v{g.version} · {plural(g.nodes.length, 'agent')}</span>
                {g.definition.description && <span className="field-help">{String(g.definition.description)}</span>}
              </span>
            </label>
          ))}
          <p className="field-help">Unassigned streams go to the default graph (archive only). All changes commit together as one store version.</p>
        </div>
      )}
    </Dialog>
  );
}
