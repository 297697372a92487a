/**
 * What a commit changed, in words: the `changes` of a commit when its author gives none, shown by
 * `logfsctl history` and the console. One line per object, providers, tokens, streams then graphs,
 * each sorted by name; secrets (token hashes, stream keys) are never shown, only that they changed.
 */
import type { ProvisioningState, StreamSpec } from './store-schema.js';

export function describeChanges(before: ProvisioningState, after: ProvisioningState): string[] {
  const out: string[] = [];
  diffRecords(out, before.providers, after.providers, {
    label: (p) => `provider ${p.name}`,
    fields: (a, b) => fieldChanges(a, b, ['description']),
  });
  diffRecords(out, before.tokens, after.tokens, {
    label: (t) => `token ${t.name} (${t.id})`,
    fields: (a, b) => [...fieldChanges(a, b, ['name']), ...(JSON.stringify(a.scope) !== JSON.stringify(b.scope) ? [`scope ${scopeText(a.scope)} → ${scopeText(b.scope)}`] : []), ...(a.hash !== b.hash ? ['secret changed'] : [])],
  });
  diffRecords(out, before.streams, after.streams, {
    label: (s) => `stream ${s.name}`,
    fields: streamChanges,
  });
  diffRecords(out, before.graphs, after.graphs, {
    label: (g) => `graph ${g.name}`,
    created: (g) => `graph ${g.name} created v${g.version}`,
    updated: (a, b) => (a.version !== b.version ? `graph ${b.name} v${b.version}` : undefined),
    fields: (a, b) => [...fieldChanges(a, b, ['provider']), ...(JSON.stringify(a.definition) !== JSON.stringify(b.definition) ? ['definition changed'] : [])],
  });
  return out;
}

/** A one-line summary of changes, for a commit without a message. */
export function summarizeChanges(changes: string[]): string {
  if (changes.length === 0) return 'no changes';
  return changes.length === 1 ? changes[0]! : `${changes[0]} and ${changes.length - 1} more change${changes.length === 2 ? '' : 's'}`;
}

interface DiffRules<T> {
  label: (v: T) => string;
  created?: (v: T) => string;
  /** A line replacing the field list (e.g. a graph's new version); undefined: list the fields. */
  updated?: (a: T, b: T) => string | undefined;
  fields: (a: T, b: T) => string[];
}

function diffRecords<T>(out: string[], before: Record<string, T>, after: Record<string, T>, rules: DiffRules<T>): void {
  const names = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
  for (const name of names) {
    const a = before[name];
    const b = after[name];
    if (a === undefined && b !== undefined) out.push(rules.created ? rules.created(b) : `${rules.label(b)} created`);
    else if (a !== undefined && b === undefined) out.push(`${rules.label(a)} deleted`);
    else if (a !== undefined && b !== undefined && JSON.stringify(a) !== JSON.stringify(b)) {
      const line = rules.updated?.(a, b);
      if (line !== undefined) {
        out.push(line);
        continue;
      }
      const fields = rules.fields(a, b);
      out.push(fields.length > 0 ? `${rules.label(b)} updated: ${fields.join(', ')}` : `${rules.label(b)} updated`);
    }
  }
}

function streamChanges(a: StreamSpec, b: StreamSpec): string[] {
  const out = fieldChanges(a, b, ['provider', 'partitions']);
  if (a.encrypt !== b.encrypt) out.push(b.encrypt ? 'encryption on' : 'encryption off');
  if (a.key !== b.key) out.push(a.key === null ? 'key set' : b.key === null ? 'key removed' : 'key changed');
  out.push(...fieldChanges(a, b, ['rate', 'retentionHours', 'description', 'createdAt']));
  return out;
}

function fieldChanges<T extends object>(a: T, b: T, fields: (keyof T & string)[]): string[] {
  return fields.filter((f) => a[f] !== b[f]).map((f) => `${f} ${valueText(a[f])} → ${valueText(b[f])}`);
}

function valueText(v: unknown): string {
  if (typeof v !== 'string') return String(v);
  const short = v.length > 40 ? `${v.slice(0, 37)}...` : v;
  return JSON.stringify(short);
}

function scopeText(scope: 'admin' | { provider: string }): string {
  return scope === 'admin' ? 'admin' : `provider ${scope.provider}`;
}
