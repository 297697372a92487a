// One record in full: its identity (instance, sequence), time, class, source and attributes, and
// the line itself (decoded when it is UTF-8, otherwise shown as base64).
import type { TailRecord } from '../api/types';
import { JsonView } from '../components/json-view';
import { Card, KeyValues } from '../components/page';
import { fmtTime } from '../format';

export function recordText(r: TailRecord): string {
  if (r.dataEncoding !== 'base64') return r.data;
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(Uint8Array.from(atob(r.data), (c) => c.charCodeAt(0)));
  } catch {
    return `‹${Math.floor((r.data.length * 3) / 4)} bytes of binary data›`;
  }
}

export function RecordDetail({ record, onClose }: { record: TailRecord; onClose: () => void }) {
  const { data: _data, dataEncoding: _enc, attrs, id, stream, class: cls, instance, host, seq, ts, source, ...rest } = record as TailRecord & Record<string, unknown>;
  return (
    <Card
      title="Record"
      className="record-detail"
      actions={
        <button className="icon-btn" aria-label="Close record" onClick={onClose}>
          ×
        </button>
      }
    >
      <pre className="code record-data" data-testid="record-data">
        {recordText(record)}
      </pre>
      <KeyValues
        rows={[
          ['ID', <code key="id">{id}</code>],
          ['Stream', stream],
          ['Class', cls || '—'],
          ['Time', fmtTime(ts)],
          ['Instance', instance],
          ['Host', host],
          ['Sequence', seq],
          ['Source', source],
          ...Object.entries(rest)
            .filter(([, v]) => v !== undefined && v !== null && typeof v !== 'object')
            .map(([k, v]) => [k.charAt(0).toUpperCase() + k.slice(1), String(v)] as [string, string]),
        ]}
      />
      {attrs && Object.keys(attrs).length > 0 && (
        <>
          <h3 className="section-title">Attributes</h3>
          <JsonView value={attrs} />
        </>
      )}
    </Card>
  );
}
