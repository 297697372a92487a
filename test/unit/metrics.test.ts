import { describe, expect, it } from 'vitest';
import { MetricsRegistry, parsePrometheusText } from '../../gateway/metrics.js';

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
      expect(m?.[1], 'samples belong to the family above them').toBe(current?.name);
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
