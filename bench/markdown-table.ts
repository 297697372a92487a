/** Markdown tables and the number formats the benchmark prints. */

export type Cell = string | number | undefined;

/** A GitHub-flavoured markdown table; numbers are right-aligned, `undefined` prints as "—". */
export function markdownTable(header: string[], rows: Cell[][]): string {
  const text = rows.map((r) => header.map((_, i) => cellText(r[i])));
  const numeric = header.map((_, i) => rows.length > 0 && rows.every((r) => typeof r[i] === 'number' || r[i] === undefined));
  const width = header.map((h, i) => Math.max(h.length, 3, ...text.map((r) => (r[i] as string).length)));
  const line = (cells: string[]): string =>
    `| ${cells.map((c, i) => (numeric[i] ? c.padStart(width[i] as number) : c.padEnd(width[i] as number))).join(' | ')} |`;
  const rule = `|${width.map((w, i) => (numeric[i] ? `${'-'.repeat(w + 1)}:` : '-'.repeat(w + 2))).join('|')}|`;
  return [line(header), rule, ...text.map(line)].join('\n');
}

function cellText(c: Cell): string {
  if (c === undefined) return '—';
  if (typeof c === 'string') return c;
  return formatNumber(c);
}

/** Three significant digits below 100, whole numbers with thousands separators above. */
export function formatNumber(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  const abs = Math.abs(n);
  if (abs >= 100) return Math.round(n).toLocaleString('en-US');
  if (abs >= 10) return n.toFixed(1);
  if (abs >= 1) return n.toFixed(2);
  if (abs === 0) return '0';
  return n.toPrecision(2);
}

export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i] as number;
}
