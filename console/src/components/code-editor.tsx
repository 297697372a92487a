// A plain textarea with line numbers and problem markers in the gutter: enough to edit a graph
// definition and see each validation problem on its line, without an editor library.
import { useEffect, useRef, useState } from 'react';

export interface LineMark {
  line: number;
  message: string;
}

const LINE_H = 20;

export function CodeEditor({ value, onChange, marks, focusLine, name }: { value: string; onChange: (v: string) => void; marks: LineMark[]; focusLine?: { line: number; n: number } | null; name?: string }) {
  const ta = useRef<HTMLTextAreaElement>(null);
  const [scroll, setScroll] = useState(0);
  const lines = value.split('\n').length;
  const byLine = new Map<number, string[]>();
  for (const m of marks) byLine.set(m.line, [...(byLine.get(m.line) ?? []), m.message]);

  // Jump to a line when a problem is clicked.
  useEffect(() => {
    const el = ta.current;
    if (!el || !focusLine) return;
    const starts = [0];
    for (let i = 0; i < value.length; i++) if (value[i] === '\n') starts.push(i + 1);
    const a = starts[focusLine.line - 1] ?? 0;
    const b = starts[focusLine.line] !== undefined ? (starts[focusLine.line] as number) - 1 : value.length;
    el.focus();
    el.setSelectionRange(a, b);
    el.scrollTop = Math.max(0, (focusLine.line - 4) * LINE_H);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [focusLine]);

  return (
    <div className="code-editor" style={{ ['--line-h' as string]: `${LINE_H}px` }}>
      <div className="code-gutter" aria-hidden>
        <div style={{ transform: `translateY(${-scroll}px)` }}>
          {Array.from({ length: lines }, (_, i) => {
            const msgs = byLine.get(i + 1);
            return (
              <div key={i} className={`code-ln ${msgs ? 'code-ln-bad' : ''}`} title={msgs?.join('\n')}>
                {msgs ? '●' : i + 1}
              </div>
            );
          })}
        </div>
      </div>
      <div className="code-area">
        <div className="code-bands" aria-hidden style={{ transform: `translateY(${-scroll}px)` }}>
          {[...byLine.entries()].map(([line, msgs]) => (
            <div key={line} className="code-band" style={{ top: (line - 1) * LINE_H }}>
              <span className="code-band-msg">{msgs[0]}</span>
            </div>
          ))}
        </div>
        <textarea ref={ta} name={name} spellCheck={false} autoCapitalize="off" autoCorrect="off" value={value} onChange={(e) => onChange(e.target.value)} onScroll={(e) => setScroll((e.target as HTMLTextAreaElement).scrollTop)} wrap="off" />
      </div>
    </div>
  );
}
