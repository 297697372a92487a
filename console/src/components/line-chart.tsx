// A time-series line chart in plain SVG: time axis, value axis with round ticks, one line per
// series, and a hover cursor with a tooltip listing every series' value at that time.
import { useEffect, useMemo, useRef, useState } from 'react';
import { fmtClock, fmtNum } from '../format';

export interface ChartSeries {
  label: string;
  points: { t: number; v: number }[];
}

const COLORS = ['#4f46e5', '#0891b2', '#d97706', '#db2777', '#16a34a', '#7c3aed', '#dc2626', '#0d9488'];
export const seriesColor = (i: number) => COLORS[i % COLORS.length] as string;

const M = { top: 16, right: 36, bottom: 30, left: 56 };

export function LineChart({ series, height = 260, unit = '' }: { series: ChartSeries[]; height?: number; unit?: string }) {
  const box = useRef<HTMLDivElement>(null);
  const [width, setWidth] = useState(720);
  const [hover, setHover] = useState<number | null>(null);
  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const ro = new ResizeObserver(([e]) => e && setWidth(Math.max(280, Math.floor(e.contentRect.width))));
    ro.observe(el);
    return () => ro.disconnect();
  }, []);

  const all = series.flatMap((s) => s.points);
  const { t0, t1, v1, ticks } = useMemo(() => {
    const ts = all.map((p) => p.t);
    let t0 = Math.min(...ts);
    let t1 = Math.max(...ts);
    if (!Number.isFinite(t0)) {
      t1 = Date.now();
      t0 = t1 - 60_000;
    }
    if (t1 - t0 < 1000) {
      t0 -= 30_000;
      t1 += 30_000;
    }
    const vmax = Math.max(0, ...all.map((p) => p.v));
    const ticks = niceTicks(vmax || 1, 4);
    return { t0, t1, v1: ticks[ticks.length - 1] as number, ticks };
  }, [all]);

  const iw = width - M.left - M.right;
  const ih = height - M.top - M.bottom;
  const x = (t: number) => M.left + ((t - t0) / (t1 - t0)) * iw;
  const y = (v: number) => M.top + ih - (v / v1) * ih;
  const timeTicks = Array.from({ length: 5 }, (_, i) => t0 + ((t1 - t0) * i) / 4);
  const times = [...new Set(all.map((p) => p.t))].sort((a, b) => a - b);

  const onMove = (ev: React.MouseEvent<SVGRectElement>) => {
    const rect = (ev.currentTarget as SVGRectElement).getBoundingClientRect();
    const t = t0 + ((ev.clientX - rect.left) / rect.width) * (t1 - t0);
    let best: number | null = null;
    for (const c of times) if (best === null || Math.abs(c - t) < Math.abs(best - t)) best = c;
    setHover(best);
  };

  return (
    <div className="chart" ref={box}>
      <svg width={width} height={height} className="chart-svg">
        {ticks.map((v) => (
          <g key={v}>
            <line className="chart-grid" x1={M.left} x2={width - M.right} y1={y(v)} y2={y(v)} />
            <text className="chart-tick" x={M.left - 8} y={y(v)} dy="4" textAnchor="end">
              {fmtNum(v, 2)}
              {unit}
            </text>
          </g>
        ))}
        {timeTicks.map((t) => (
          <text key={t} className="chart-tick" x={x(t)} y={height - 8} textAnchor="middle">
            {fmtClock(t)}
          </text>
        ))}
        <line className="chart-axis" x1={M.left} x2={width - M.right} y1={M.top + ih} y2={M.top + ih} />
        {series.map((s, i) => {
          const pts = [...s.points].sort((a, b) => a.t - b.t);
          if (pts.length === 0) return null;
          const d = pts.map((p, j) => `${j ? 'L' : 'M'}${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`).join(' ');
          const area = `${d} L${x((pts[pts.length - 1] as { t: number }).t).toFixed(1)},${M.top + ih} L${x((pts[0] as { t: number }).t).toFixed(1)},${M.top + ih} Z`;
          return (
            <g key={s.label} className="chart-series">
              {series.length === 1 && <path d={area} fill={seriesColor(i)} opacity={0.08} />}
              <path d={d} fill="none" stroke={seriesColor(i)} strokeWidth={2} strokeLinejoin="round" />
              {pts.map((p) => (
                <circle key={p.t} cx={x(p.t)} cy={y(p.v)} r={pts.length > 60 ? 0 : 3} fill="white" stroke={seriesColor(i)} strokeWidth={2} className="chart-point" />
              ))}
            </g>
          );
        })}
        {hover !== null && <line className="chart-cursor" x1={x(hover)} x2={x(hover)} y1={M.top} y2={M.top + ih} />}
        <rect x={M.left} y={M.top} width={Math.max(0, iw)} height={Math.max(0, ih)} fill="transparent" onMouseMove={onMove} onMouseLeave={() => setHover(null)} />
      </svg>
      {hover !== null && (
        <div className="chart-tip" style={{ left: Math.min(x(hover) + 12, width - 200), top: M.top }}>
          <div className="chart-tip-time">{fmtClock(hover)}</div>
          {series.map((s, i) => {
            const p = s.points.find((q) => q.t === hover);
            return p ? (
              <div key={s.label} className="chart-tip-row">
                <span className="swatch" style={{ background: seriesColor(i) }} />
                <span className="chart-tip-label">{s.label}</span>
                <b>{fmtNum(p.v, 3)}</b>
              </div>
            ) : null;
          })}
        </div>
      )}
    </div>
  );
}

/** Round axis ticks from 0 to at least `max`: 0, 2, 4, 6 or 0, 250, 500… */
export function niceTicks(max: number, count: number): number[] {
  const raw = max / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = ([1, 2, 2.5, 5, 10].find((m) => m * mag >= raw) ?? 10) * mag;
  const out: number[] = [];
  for (let v = 0; v <= max + step * 0.999; v += step) out.push(Number(v.toPrecision(12)));
  return out.length > 1 ? out : [0, step];
}
