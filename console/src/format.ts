// How numbers, sizes and times read in the console: short, with units, never "NaN".

export function fmtNum(n: number | null | undefined, digits = 0): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return '—';
  const abs = Math.abs(n);
  if (abs >= 1e9) return `${(n / 1e9).toFixed(1)}G`;
  if (abs >= 1e6) return `${(n / 1e6).toFixed(1)}M`;
  if (abs >= 1e4) return `${(n / 1e3).toFixed(1)}k`;
  return n.toLocaleString('en-US', { maximumFractionDigits: digits });
}

export function fmtBytes(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return '—';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
}

export function fmtRate(n: number | null | undefined, unit = '/s'): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return '—';
  return `${fmtNum(n, n < 10 ? 1 : 0)}${unit}`;
}

export function toDate(t: string | number | null | undefined): Date | null {
  if (t === null || t === undefined || t === '') return null;
  const d = typeof t === 'number' ? new Date(t) : new Date(t);
  return Number.isNaN(d.getTime()) ? null : d;
}

export function fmtTime(t: string | number | null | undefined): string {
  const d = toDate(t);
  if (!d) return '—';
  return d.toLocaleString('en-GB', { year: 'numeric', month: 'short', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false });
}

export function fmtClock(t: string | number | null | undefined, withMs = false): string {
  const d = toDate(t);
  if (!d) return '—';
  const s = d.toLocaleTimeString('en-GB', { hour12: false });
  return withMs ? `${s}.${String(d.getMilliseconds()).padStart(3, '0')}` : s;
}

export function fmtAgo(t: string | number | null | undefined, now = Date.now()): string {
  const d = toDate(t);
  if (!d) return '—';
  const s = Math.round((now - d.getTime()) / 1000);
  if (s < 2) return 'just now';
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ago`;
  return `${Math.floor(s / 86400)}d ago`;
}

export function fmtDuration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '—';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000} h`;
  if (ms % 60_000 === 0) return `${ms / 60_000} min`;
  return `${Math.floor(ms / 60_000)}m ${Math.round((ms % 60_000) / 1000)}s`;
}

export function fmtCost(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return '—';
  return n < 0.01 && n > 0 ? '< 0.01' : n.toFixed(2);
}

export function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}
