import { describe, expect, it } from 'vitest';
import { Histogram, histogramQuantile, MetricsRegistry, parsePrometheusText } from '../../gateway/metrics.js';

// Text exposition format 0.0.4: https://prometheus.io/docs/instrumenting/exposition_formats/
const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*"(?:,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*")*\})? (-?[0-9.e+]+|NaN|[+-]Inf)$/;

/** Checks the text the way a scraper would; returns the metric families in order of appearance. */
function checkExposition(text: string): { name: string; type: string; help: string; samples: string[] }[] {
  expect(text.endsWith('\n')).toBe(true);
  const families: { name: string; type: string; help: string; samples: string[] }[] = [];
  let current: (typeof families)[number] | undefined;
  for (const line of text.slice(0, -1).split('\n')) {
    const help = /^# HELP (\S+) (.*)$/.exec(line);
    const type = /^# TYPE (\S+) (counter|gauge|histogram|summary|untyped)$/.exec(line);
    if (help) {
      expect(help[1]).toMatch(METRIC_NAME);
      expect(families.some((f) => f.name === help[1]), `${help[1]} appears twice`).toBe(false);
      current = { name: help[1] as string, help: help[2] as string, type: '', samples: [] };
      families.push(current);
    } else if (type) {
      expect(type[1], 'TYPE follows the HELP of the same metric').toBe(current?.name);
      expect(current?.samples, 'TYPE comes before samples').toEqual([]);
      (current as (typeof families)[number]).type = type[2] as string;
    } else {
      const m = SAMPLE.exec(line);
      expect(m, `not a valid sample line: ${JSON.stringify(line)}`).not.toBeNull();
      const own = current?.type === 'histogram' ? [`${current.name}_bucket`, `${current.name}_sum`, `${current.name}_count`] : [current?.name];
      expect(own, `${m?.[1]} belongs to the family above it`).toContain(m?.[1]);
      current?.samples.push(line);
    }
  }
  return families;
}

describe('MetricsRegistry', () => {
  it('renders counters and gauges as valid Prometheus text', () => {
    const r = new MetricsRegistry();
    const written = r.counter('logfs_records_written_total', 'Records accepted from writers');
    let depth = 7;
    r.gauge('logfs_journal_bytes', 'Bytes in the journal not yet acknowledged', () => depth);
    written.inc();
    written.inc(4);
    depth = 9;
    const text = r.render();
    expect(text).toBe(
      [
        '# HELP logfs_records_written_total Records accepted from writers',
        '# TYPE logfs_records_written_total counter',
        'logfs_records_written_total 5',
        '# HELP logfs_journal_bytes Bytes in the journal not yet acknowledged',
        '# TYPE logfs_journal_bytes gauge',
        'logfs_journal_bytes 9',
        '',
      ].join('\n'),
    );
    expect(checkExposition(text).map((f) => [f.name, f.type, f.samples.length])).toEqual([
      ['logfs_records_written_total', 'counter', 1],
      ['logfs_journal_bytes', 'gauge', 1],
    ]);
  });

  it('renders a new counter as 0', () => {
    const r = new MetricsRegistry();
    r.counter('logfs_errors_total', 'Errors');
    expect(parsePrometheusText(r.render())).toEqual({ logfs_errors_total: 0 });
  });

  it('keeps labelled counter values apart', () => {
    const r = new MetricsRegistry();
    const c = r.counter('logfs_refused_total', 'Writes refused');
    c.inc(2, 'reason="full"');
    c.inc(1, 'reason="invalid"');
    c.inc(3, 'reason="full"');
    expect(c.get('reason="full"')).toBe(5);
    expect(c.get('reason="invalid"')).toBe(1);
    expect(c.get('reason="other"')).toBe(0);
    expect(c.get()).toBe(0);
    const families = checkExposition(r.render());
    expect(families[0]?.samples).toEqual([
      'logfs_refused_total 0',
      'logfs_refused_total{reason="full"} 5',
      'logfs_refused_total{reason="invalid"} 1',
    ]);
  });

  it('parsePrometheusText reads back what render wrote, equal to snapshot()', () => {
    const r = new MetricsRegistry();
    const a = r.counter('a_total', 'A');
    const b = r.counter('b_total', 'B');
    r.gauge('g', 'G', () => 1.5);
    r.gauge('big', 'Big', () => 2 ** 40);
    a.inc(3);
    b.inc(1, 'stream="x y"'); // a space inside a label value
    const parsed = parsePrometheusText(r.render());
    expect(parsed).toEqual({ a_total: 3, b_total: 0, 'b_total{stream="x y"}': 1, g: 1.5, big: 2 ** 40 });
    expect(parsed).toEqual(r.snapshot());
  });

  it('parsePrometheusText skips comments and blank lines', () => {
    expect(parsePrometheusText('# HELP x X\n# TYPE x gauge\n\nx 4\ny{a="b"} -2.5\n')).toEqual({ x: 4, 'y{a="b"}': -2.5 });
    expect(parsePrometheusText('')).toEqual({});
  });

  it('refuses to register a name twice, whatever the kind', () => {
    const r = new MetricsRegistry();
    r.counter('dup', 'first');
    expect(() => r.counter('dup', 'again')).toThrow(/dup registered twice/);
    expect(() => r.gauge('dup', 'again', () => 0)).toThrow(/dup registered twice/);
    r.gauge('g', 'gauge', () => 0);
    expect(() => r.counter('g', 'again')).toThrow(RangeError);
    // The first registration is untouched.
    expect(checkExposition(r.render()).map((f) => [f.name, f.help])).toEqual([
      ['dup', 'first'],
      ['g', 'gauge'],
    ]);
  });

  it('reads gauges when rendered, not when registered', () => {
    const r = new MetricsRegistry();
    let reads = 0;
    r.gauge('reads', 'Times read', () => ++reads);
    expect(reads).toBe(0);
    expect(parsePrometheusText(r.render()).reads).toBe(1);
    expect(r.snapshot().reads).toBe(2);
  });
});

describe('Histogram', () => {
  it('renders cumulative buckets, +Inf, sum and count as valid Prometheus text', () => {
    const r = new MetricsRegistry();
    const h = r.histogram('logfs_wait_seconds', 'Waits', [0.01, 0.05, 1]);
    h.observe(0.01); // on a bound: counted in that bucket (le is inclusive)
    h.observe(0.02, 3); // a group of three with one value
    h.observe(7);
    const text = r.render();
    expect(text).toBe(
      [
        '# HELP logfs_wait_seconds Waits',
        '# TYPE logfs_wait_seconds histogram',
        'logfs_wait_seconds_bucket{le="0.01"} 1',
        'logfs_wait_seconds_bucket{le="0.05"} 4',
        'logfs_wait_seconds_bucket{le="1"} 4',
        'logfs_wait_seconds_bucket{le="+Inf"} 5',
        'logfs_wait_seconds_sum 7.07',
        'logfs_wait_seconds_count 5',
        '',
      ].join('\n'),
    );
    expect(checkExposition(text).map((f) => [f.name, f.type, f.samples.length])).toEqual([['logfs_wait_seconds', 'histogram', 6]]);
    expect(parsePrometheusText(text)).toEqual(r.snapshot());
    expect(h.count).toBe(5);
  });

  it('refuses bounds that are empty, unordered or not finite', () => {
    expect(() => new Histogram('h', [])).toThrow(/ascending/);
    expect(() => new Histogram('h', [1, 1])).toThrow(/ascending/);
    expect(() => new Histogram('h', [2, 1])).toThrow(/ascending/);
    expect(() => new Histogram('h', [1, Infinity])).toThrow(/finite/);
  });
});

describe('histogramQuantile', () => {
  const buckets = (h: Histogram): [number, number][] =>
    h.series().flatMap(([k, v]): [number, number][] => {
      const le = /le="([^"]+)"/.exec(k)?.[1];
      return le === undefined ? [] : [[le === '+Inf' ? Infinity : Number(le), v]];
    });

  it('interpolates inside the bucket the rank falls in, and gives that bucket\'s bound', () => {
    const h = new Histogram('h', [10, 20, 50]);
    for (let i = 0; i < 90; i++) h.observe(5);
    for (let i = 0; i < 10; i++) h.observe(30);
    // Rank 50 of 100 is in (0, 10], 50/90 of the way; rank 99 in (20, 50], 9/10 of the way.
    expect(histogramQuantile(0.5, buckets(h))?.value).toBeCloseTo((10 * 50) / 90);
    expect(histogramQuantile(0.5, buckets(h))?.atMost).toBe(10);
    expect(histogramQuantile(0.99, buckets(h))).toEqual({ value: 20 + (30 * 9) / 10, atMost: 50 });
    expect(histogramQuantile(0.9, buckets(h))).toEqual({ value: 10, atMost: 10 });
  });

  it('says only "beyond the last bound" for a rank in +Inf, and nothing without observations', () => {
    const h = new Histogram('h', [10]);
    h.observe(1);
    h.observe(100, 9);
    expect(histogramQuantile(0.99, buckets(h))).toEqual({ value: 10, atMost: Infinity });
    expect(histogramQuantile(0.99, buckets(new Histogram('e', [10])))).toBeUndefined();
    expect(histogramQuantile(0.5, [])).toBeUndefined();
  });
});
