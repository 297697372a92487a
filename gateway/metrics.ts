/**
 * Self-observability: counters and gauges exposed as Prometheus text (exposition format 0.0.4)
 * on an HTTP port and read by `logfsctl status`.
 */
import http from 'node:http';
import type { Logger } from '../core/logger.js';

type Kind = 'counter' | 'gauge';

interface Metric {
  name: string;
  help: string;
  kind: Kind;
  values: Map<string, number>;
  /** Gauges that are read when scraped. */
  collect?: () => number;
}

export class MetricsRegistry {
  private readonly metrics = new Map<string, Metric>();

  counter(name: string, help: string): Counter {
    return new Counter(this.register(name, help, 'counter'));
  }

  gauge(name: string, help: string, collect: () => number): void {
    this.register(name, help, 'gauge').collect = collect;
  }

  /** Current values, keyed `name` or `name{labels}`. */
  snapshot(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const m of this.metrics.values()) {
      if (m.collect) out[m.name] = m.collect();
      for (const [labels, v] of m.values) out[labels ? `${m.name}{${labels}}` : m.name] = v;
    }
    return out;
  }

  render(): string {
    const lines: string[] = [];
    for (const m of this.metrics.values()) {
      lines.push(`# HELP ${m.name} ${m.help}`, `# TYPE ${m.name} ${m.kind}`);
      if (m.collect) lines.push(`${m.name} ${m.collect()}`);
      for (const [labels, v] of m.values) lines.push(labels ? `${m.name}{${labels}} ${v}` : `${m.name} ${v}`);
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
