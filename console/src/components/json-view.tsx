// Pretty-printed JSON with keys, strings and numbers in their own colours.
import { Fragment } from 'react';

export function JsonView({ value, className = '' }: { value: unknown; className?: string }) {
  const text = JSON.stringify(value, null, 2) ?? 'undefined';
  const parts = text.split(/("(?:\\.|[^"\\])*"(?:\s*:)?|\b-?\d+(?:\.\d+)?(?:e[+-]?\d+)?\b|\btrue\b|\bfalse\b|\bnull\b)/g);
  return (
    <pre className={`code json ${className}`}>
      {parts.map((p, i) => {
        if (i % 2 === 0) return <Fragment key={i}>{p}</Fragment>;
        const cls = p.startsWith('"') ? (p.endsWith(':') ? 'j-key' : 'j-str') : /^(true|false|null)$/.test(p) ? 'j-lit' : 'j-num';
        return (
          <span key={i} className={cls}>
            {p}
          </span>
        );
      })}
    </pre>
  );
}
