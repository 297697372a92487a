/**
 * Self-observability: counters and gauges exposed as Prometheus text (exposition format 0.0.4)
 * on an HTTP port and read by `logfsctl status`.
 */
import http from 'node:http';
import type { Logger } from '../core/logger.js';

type Kind = 'counter' | 'gauge' | 'histogram';

interface Metric {
  name: string;
  help: string;
  kind: Kind;
  values: Map<string, number>;
  /** Gauges that are read when scraped. */
  collect?: () => number;
  /** Histograms: their series, rendered in the exposition format's order. */
  histogram?: Histogram;
}

export class MetricsRegistry {
  private readonly metrics = new Map<string, Metric>();

  counter(name: string, help: string): Counter {
    return new Counter(this.register(name, help, 'counter'));
  }

  gauge(name: string, help: string, collect: () => number): void {
    this.register(name, help, 'gauge').collect = collect;
  }

  /** A histogram with these bucket upper bounds (ascending; `+Inf` is added). */
  histogram(name: string, help: string, bounds: readonly number[]): Histogram {
    const h = new Histogram(name, bounds);
    this.register(name, help, 'histogram').histogram = h;
    return h;
  }

  /** Current values, keyed `name` or `name{labels}`. */
  snapshot(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const m of this.metrics.values()) {
      if (m.collect) out[m.name] = m.collect();
      for (const [labels, v] of m.values) out[labels ? `${m.name}{${labels}}` : m.name] = v;
      if (m.histogram) for (const [key, v] of m.histogram.series()) out[key] = v;
    }
    return out;
  }

  render(): string {
    const lines: string[] = [];
    for (const m of this.metrics.values()) {
      lines.push(`# HELP ${m.name} ${m.help}`, `# TYPE ${m.name} ${m.kind}`);
      if (m.collect) lines.push(`${m.name} ${m.collect()}`);
      for (const [labels, v] of m.values) lines.push(labels ? `${m.name}{${labels}} ${v}` : `${m.name} ${v}`);
      if (m.histogram) for (const [key, v] of m.histogram.series()) lines.push(`${key} ${v}`);
    }
    return lines.join('\n') + '\n';
  }

  private register(name: string, help: string, kind: Kind): Metric {
    if (this.metrics.has(name)) throw new RangeError(`metric ${name} registered twice`);
    const m: Metric = { name, help, kind, values: new Map() };
    this.metrics.set(name, m);
    return m;
  }
}

export class Counter {
  constructor(private readonly metric: Metric) {
    metric.values.set('', 0);
  }

  inc(by = 1, labels = ''): void {
    this.metric.values.set(labels, (this.metric.values.get(labels) ?? 0) + by);
  }

  get(labels = ''): number {
    return this.metric.values.get(labels) ?? 0;
  }
}

/**
 * Counts of observations by upper bound, as Prometheus histograms are: cumulative `_bucket{le}`
 * series, `_sum` and `_count`. observe() takes a weight, so a group of records with one value is
 * one call.
 */
export class Histogram {
  readonly bounds: readonly number[];
  private readonly counts: Float64Array;
  private sum = 0;
  private total = 0;

  constructor(
    private readonly name: string,
    bounds: readonly number[],
  ) {
    if (bounds.length === 0 || bounds.some((b, i) => !Number.isFinite(b) || (i > 0 && b <= (bounds[i - 1] as number)))) {
      throw new RangeError(`histogram ${name}: bucket bounds must be finite and ascending`);
    }
    this.bounds = [...bounds];
    this.counts = new Float64Array(bounds.length + 1);
  }

  observe(value: number, count = 1): void {
    const b = this.bounds;
    let lo = 0;
    let hi = b.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (value <= (b[mid] as number)) hi = mid;
      else lo = mid + 1;
    }
    this.counts[lo] = (this.counts[lo] as number) + count;
    this.sum += value * count;
    this.total += count;
  }

  get count(): number {
    return this.total;
  }

  /** [series, value] in exposition order: cumulative buckets, then sum and count. */
  series(): [string, number][] {
    const out: [string, number][] = [];
    let cum = 0;
    for (let i = 0; i <= this.bounds.length; i++) {
      cum += this.counts[i] as number;
      out.push([`${this.name}_bucket{le="${i < this.bounds.length ? String(this.bounds[i]) : '+Inf'}"}`, cum]);
    }
    out.push([`${this.name}_sum`, this.sum], [`${this.name}_count`, this.total]);
    return out;
  }
}

/**
 * The q-quantile (0..1) of a histogram's observations from its cumulative buckets (upper bound →
 * count, +Inf last as Infinity), interpolated linearly inside the bucket it falls in, as
 * Prometheus' histogram_quantile() does; also the bucket's upper bound, which no more than (1 - q)
 * of the observations exceed. Undefined when there are none.
 */
export function histogramQuantile(q: number, buckets: readonly (readonly [number, number])[]): { value: number; atMost: number } | undefined {
  const total = buckets.length ? (buckets[buckets.length - 1] as readonly [number, number])[1] : 0;
  if (!(total > 0)) return undefined;
  const rank = q * total;
  let prevBound = 0;
  let prevCount = 0;
  for (const [bound, count] of buckets) {
    if (count >= rank) {
      // In the +Inf bucket there is no upper bound to interpolate to: the last finite one is all we know.
      if (bound === Infinity) return { value: prevBound, atMost: Infinity };
      const inBucket = count - prevCount;
      return { value: inBucket > 0 ? prevBound + ((bound - prevBound) * (rank - prevCount)) / inBucket : bound, atMost: bound };
    }
    prevBound = bound;
    prevCount = count;
  }
  return undefined;
}

/**
 * A histogram's cumulative buckets [upper bound, count] (+Inf as Infinity), ascending, from what
 * parsePrometheusText() or snapshot() gave; `minus` (an earlier reading) is subtracted.
 */
export function histogramBuckets(values: Record<string, number>, name: string, minus: Record<string, number> = {}): [number, number][] {
  const prefix = `${name}_bucket{le="`;
  const out: [number, number][] = [];
  for (const [key, v] of Object.entries(values)) {
    if (!key.startsWith(prefix) || !key.endsWith('"}')) continue;
    const le = key.slice(prefix.length, -2);
    out.push([le === '+Inf' ? Infinity : Number(le), v - (minus[key] ?? 0)]);
  }
  return out.sort((a, b) => a[0] - b[0]);
}

/** Parses Prometheus text back into name → value (for `logfsctl status` and tests). */
export function parsePrometheusText(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const sp = line.lastIndexOf(' ');
    out[line.slice(0, sp)] = Number(line.slice(sp + 1));
  }
  return out;
}

export async function serveMetrics(registry: MetricsRegistry, listen: string, log: Logger): Promise<http.Server> {
  const sep = listen.lastIndexOf(':');
  const host = listen.slice(0, sep);
  const port = Number(listen.slice(sep + 1));
  const server = http.createServer((req, res) => {
    if (req.url === '/metrics') {
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
      res.end(registry.render());
    } else if (req.url === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('ok\n');
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const addr = server.address();
  log.info({ listen: typeof addr === 'object' && addr ? `${addr.address}:${addr.port}` : listen }, 'metrics endpoint up');
  return server;
}
