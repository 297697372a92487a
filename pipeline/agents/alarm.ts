/**
 * alarm: evaluates rules on the records it receives and publishes alarms (state `firing`) and their
 * resolutions (state `resolved`) to the alarm sink, also emitting them as `alarm` records on `out`.
 *
 * Rule kinds (exactly one per rule):
 * - `match` (a field predicate) or `pattern` (a regex on data): field rules, on every record except
 *   metric records. The condition holds from the first matching record while matches keep coming;
 *   it fires on a matching record at least `forMs` after the first, and clears (resolution) once
 *   `clearAfterMs` pass without a match.
 * - `invalidCount` (records flagged invalid) and `classCount` (records of one class): window rules,
 *   on log records, counted in tumbling event-time windows of `windowMs`. The condition holds while
 *   consecutive windows count more than `above`; it fires on the record that makes it hold for
 *   `forMs`, and clears when a window ends at or below the threshold (an empty window included).
 * - `metric`: on metric records (pipeline/agents/metric.ts) whose name matches; the condition holds
 *   while points of a series (name, bucket size, group) are above/below the threshold and clears on
 *   the first point that is not, or after `clearAfterMs` plus one bucket without a breaching point.
 *
 * An alarm's value: a field rule's field (`match` on one field), else the number of matching records
 * so far; a window rule's count in the window; a metric rule's value of `stat`.
 *
 * Time is event time. `tick(now)` moves the clock on while the input is idle: event time is taken to
 * advance with processing time since the last record, so windows close and conditions clear even
 * when nothing arrives. At most `maxPerPeriod` firings per rule in any `periodMs`; a suppressed
 * firing is retried on the next evidence and counted (`suppressedBefore` on the next alarm record).
 * `perInstance` keeps separate state (and alarm IDs `<graph>.<node>.<rule>.<instance>`) per instance.
 *
 * On drain (shutdown or reconfiguration) every firing alarm is resolved with a condition saying the
 * node stopped: the state does not survive, and an alarm left firing would never be resolved.
 */
import { z } from 'zod';
import { defineAgent, type AgentContext, type AgentRuntime, type AlarmEvent, type Outputs } from '../agent.js';
import { compilePredicate, fieldReader, PredicateSchema, RegexSchema, type CompiledPredicate, type Predicate } from '../field-predicate.js';
import { globToRegExp } from '../metrics-store.js';
import { derivedRecord, FLAGS, type PipelineRecord } from '../record.js';
import { watermarkHorizon } from '../event-time.js';

export const ALARM_DEFAULTS = {
  forMs: 0,
  clearAfterMs: 300_000,
  maxPerPeriod: 10,
  periodMs: 3_600_000,
  perInstance: false,
  windowMs: 60_000,
  allowedLatenessMs: 5_000,
  /** Sample record IDs carried by a firing. */
  maxSamples: 5,
} as const;

export const METRIC_STATS = ['count', 'rate', 'sum', 'avg', 'min', 'max', 'stddev', 'derivative', 'integral', 'invalid', 'late', 'outOfOrder'] as const;

const windowMs = z.number().int().min(1).default(ALARM_DEFAULTS.windowMs).describe('Length of the tumbling event-time window the records are counted in');
const above = z.number().int().min(0).describe('The condition holds for a window with more than this many records');

const RuleSchema = z
  .strictObject({
    name: z
      .string()
      .regex(/^[a-z0-9][a-z0-9_-]*$/, 'rule names are lower-case letters, digits, _ and -')
      .max(64)
      .describe('Rule name, part of the alarm ID <graph>.<node>.<rule>[.<instance>]'),
    description: z.string().min(1).max(300).optional().describe('Condition text shown with the alarm; generated from the rule when absent'),
    match: PredicateSchema.optional().describe('Field rule: the condition holds while records satisfy this predicate'),
    pattern: RegexSchema.optional().describe('Field rule: the condition holds while record data matches this regular expression'),
    invalidCount: z
      .strictObject({ above, windowMs })
      .optional()
      .describe('Window rule: more than `above` records flagged invalid in a window'),
    classCount: z
      .strictObject({ class: z.string().min(1).describe('The class label to count'), above, windowMs })
      .optional()
      .describe('Window rule: more than `above` records of a class in a window'),
    metric: z
      .strictObject({
        name: z.string().min(1).describe('Metric name (<graph>.<node>.<field or count>); `*` matches any characters'),
        stat: z.enum(METRIC_STATS).default('avg').describe('Which value of the metric point to compare'),
        above: z.number().optional().describe('The condition holds for a point whose value is greater than this'),
        below: z.number().optional().describe('The condition holds for a point whose value is less than this'),
        bucketMinutes: z.number().positive().optional().describe('Only points of this bucket size (recommended: otherwise each size is its own alarm)'),
      })
      .refine((m) => m.above !== undefined || m.below !== undefined, 'a metric condition needs above, below or both')
      .optional()
      .describe('Metric rule: a value of metric records (from a metric node upstream) above or below a threshold'),
    forMs: z.number().int().min(0).default(ALARM_DEFAULTS.forMs).describe('The condition must hold this long (event time) before the alarm fires'),
    clearAfterMs: z
      .number()
      .int()
      .min(1)
      .default(ALARM_DEFAULTS.clearAfterMs)
      .describe('Field and metric rules: the condition clears after this long without a matching record or breaching point'),
    maxPerPeriod: z.number().int().min(1).default(ALARM_DEFAULTS.maxPerPeriod).describe('At most this many firings of the rule per period'),
    periodMs: z.number().int().min(1).default(ALARM_DEFAULTS.periodMs).describe('The period of maxPerPeriod, in milliseconds of event time'),
    perInstance: z.boolean().default(ALARM_DEFAULTS.perInstance).describe('Keep separate state, and raise separate alarms, per record instance'),
  })
  .superRefine((r, ctx) => {
    const kinds = (['match', 'pattern', 'invalidCount', 'classCount', 'metric'] as const).filter((k) => r[k] !== undefined);
    if (kinds.length !== 1) {
      ctx.addIssue({
        code: 'custom',
        message: `rule "${r.name}" needs exactly one condition of match, pattern, invalidCount, classCount, metric (has ${kinds.length === 0 ? 'none' : kinds.join(', ')})`,
      });
    }
  });
export type AlarmRule = z.infer<typeof RuleSchema>;

export const AlarmConfigSchema = z.strictObject({
  rules: z
    .array(RuleSchema)
    .min(1)
    .refine((rules) => new Set(rules.map((r) => r.name)).size === rules.length, 'rule names must be unique')
    .describe('The alarm rules; each is evaluated on every record'),
  allowedLatenessMs: z
    .number()
    .int()
    .min(0)
    .default(ALARM_DEFAULTS.allowedLatenessMs)
    .describe('Window rules: how far event time may run past a window end before the window is judged'),
});
export type AlarmConfig = z.infer<typeof AlarmConfigSchema>;

type Like = Pick<PipelineRecord, 'provider' | 'stream' | 'class' | 'instance' | 'host'>;

interface CountWindow {
  count: number;
  /** Event time of the record that took the count above the threshold; NaN until then. */
  breachedAt: number;
  samples: string[];
}

interface RuleState {
  alarm: string;
  instance: string | null;
  firing: boolean;
  /** Event time since which the condition holds; NaN when it does not. */
  since: number;
  /** Field and metric rules: latest event time at which the condition held. */
  lastEvidence: number;
  /** Field and metric rules: the condition clears this long after lastEvidence. */
  clearAfterMs: number;
  matches: number;
  value: number | string | null;
  samples: string[];
  like: Like;
  suppressed: boolean;
  /** Window rules: open windows by start, and the end of the last closed window of the chain. */
  windows: Map<number, CountWindow>;
  chainEnd: number;
}

interface CompiledRule {
  cfg: AlarmRule;
  kind: 'field' | 'window' | 'metric';
  base: string;
  condition: string;
  /** Field rules (predicate) and window rules (what is counted). */
  test?: CompiledPredicate;
  /** Pattern rules test the data text, decoded once per record for all of them. */
  re?: RegExp;
  readValue?: (r: PipelineRecord) => unknown;
  windowMs: number;
  above: number;
  metricName?: RegExp;
  states: Map<string, RuleState>;
  firings: number[];
  suppressed: number;
}

/** Human-readable form of a predicate, for the alarm's condition text. */
export function describePredicate(p: Predicate): string {
  if ('all' in p) return `(${p.all.map(describePredicate).join(' and ')})`;
  if ('any' in p) return `(${p.any.map(describePredicate).join(' or ')})`;
  if ('not' in p) return `not ${describePredicate(p.not)}`;
  const f = p.field;
  const parts: string[] = [];
  const j = (v: unknown): string => JSON.stringify(v);
  if (p.eq !== undefined) parts.push(`${f} == ${j(p.eq)}`);
  if (p.ne !== undefined) parts.push(`${f} != ${j(p.ne)}`);
  if (p.gt !== undefined) parts.push(`${f} > ${p.gt}`);
  if (p.gte !== undefined) parts.push(`${f} >= ${p.gte}`);
  if (p.lt !== undefined) parts.push(`${f} < ${p.lt}`);
  if (p.lte !== undefined) parts.push(`${f} <= ${p.lte}`);
  if (p.in !== undefined) parts.push(`${f} in ${j(p.in)}`);
  if (p.exists !== undefined) parts.push(p.exists ? `${f} exists` : `${f} is absent`);
  if (p.matches !== undefined) parts.push(`${f} =~ /${p.matches}/`);
  return parts.join(' and ');
}

export function formatDuration(ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}

function conditionText(r: AlarmRule): string {
  let text: string;
  if (r.description !== undefined) text = r.description;
  else if (r.match) text = describePredicate(r.match);
  else if (r.pattern !== undefined) text = `data =~ /${r.pattern}/`;
  else if (r.invalidCount) text = `more than ${r.invalidCount.above} invalid records in ${formatDuration(r.invalidCount.windowMs)}`;
  else if (r.classCount) text = `more than ${r.classCount.above} records of class "${r.classCount.class}" in ${formatDuration(r.classCount.windowMs)}`;
  else {
    const m = r.metric!;
    const sides = [m.above !== undefined ? `> ${m.above}` : '', m.below !== undefined ? `< ${m.below}` : ''].filter(Boolean);
    text = `${m.name} ${m.stat} ${sides.join(' or ')}`;
  }
  return r.forMs > 0 ? `${text} for ${formatDuration(r.forMs)}` : text;
}

function alarmValue(v: unknown): number | string | null {
  if (v === undefined || v === null) return null;
  if (typeof v === 'number' || typeof v === 'string') return v;
  if (typeof v === 'object') return JSON.stringify(v).slice(0, 200);
  return String(v);
}

function likeOf(r: PipelineRecord): Like {
  return { provider: r.provider, stream: r.stream, class: r.class, instance: r.instance, host: r.host };
}

class AlarmRuntime implements AgentRuntime {
  private readonly rules: CompiledRule[];
  private readonly windowRules: CompiledRule[];
  private maxTs = -Infinity;
  /** Every count window ending at or before this has been judged. */
  private closedWatermark = -Infinity;
  private lastArrival: number | undefined;
  private sawRecords = false;
  private events: AlarmEvent[] = [];

  constructor(
    private readonly c: AlarmConfig,
    private readonly ctx: AgentContext,
  ) {
    this.rules = c.rules.map((r) => this.compile(r));
    this.windowRules = this.rules.filter((r) => r.kind === 'window');
  }

  private compile(r: AlarmRule): CompiledRule {
    const rule: CompiledRule = {
      cfg: r,
      kind: 'field',
      base: `${this.ctx.graph}.${this.ctx.nodeId}.${r.name}`,
      condition: conditionText(r),
      windowMs: 0,
      above: 0,
      states: new Map(),
      firings: [],
      suppressed: 0,
    };
    if (r.match) {
      rule.test = compilePredicate(r.match);
      if ('field' in r.match) rule.readValue = fieldReader(r.match.field);
    } else if (r.pattern !== undefined) {
      rule.re = new RegExp(r.pattern);
    } else if (r.invalidCount) {
      rule.kind = 'window';
      rule.windowMs = r.invalidCount.windowMs;
      rule.above = r.invalidCount.above;
      rule.test = (rec) => rec.flags.includes(FLAGS.invalid);
    } else if (r.classCount) {
      const cls = r.classCount.class;
      rule.kind = 'window';
      rule.windowMs = r.classCount.windowMs;
      rule.above = r.classCount.above;
      rule.test = (rec) => rec.class === cls;
    } else {
      rule.kind = 'metric';
      rule.metricName = globToRegExp(r.metric!.name);
    }
    return rule;
  }

  process(batch: PipelineRecord[], out: Outputs): void {
    const rules = this.rules;
    // A record from a clock far ahead goes into its window but does not move the watermark.
    const horizon = watermarkHorizon();
    for (const r of batch) {
      if (r.ts > this.maxTs && r.ts <= horizon) this.maxTs = r.ts;
      let text: string | undefined;
      for (let i = 0; i < rules.length; i++) {
        const rule = rules[i]!;
        if (rule.kind === 'field') {
          if (r.kind === 'metric') continue;
          let hit: boolean;
          if (rule.re) hit = rule.re.test((text ??= r.data.toString('utf8')));
          else hit = rule.test!(r);
          if (hit) this.onMatch(rule, r, out);
        } else if (rule.kind === 'window') {
          if (r.kind === 'log' && rule.test!(r)) this.onCount(rule, r, out);
        } else if (r.kind === 'metric') {
          this.onMetric(rule, r, out);
        }
      }
    }
    if (batch.length > 0) this.sawRecords = true;
    this.advance(this.maxTs, out);
    this.publish();
  }

  tick(now: number, out: Outputs): void {
    if (this.sawRecords || this.lastArrival === undefined) {
      this.lastArrival = now;
      this.sawRecords = false;
    }
    if (this.maxTs !== -Infinity) this.advance(this.maxTs + Math.max(0, now - this.lastArrival), out);
    this.publish();
  }

  drain(out: Outputs): void {
    const time = this.maxTs === -Infinity ? Date.now() : this.maxTs;
    for (const rule of this.rules) {
      for (const st of rule.states.values()) {
        if (st.firing) this.publishEvent(rule, st, 'resolved', time, null, [], out, `${rule.condition} (alarm node stopped: shutdown or reconfiguration)`);
      }
      rule.states.clear();
    }
    this.publish();
  }

  flush(): Promise<void> {
    return this.ctx.services.alarms.flush();
  }

  private stateFor(rule: CompiledRule, r: PipelineRecord, series = '', label = ''): RuleState {
    const instance = rule.cfg.perInstance ? r.instance : null;
    const key = instance === null ? series : `${series}\u0001${instance}`;
    let st = rule.states.get(key);
    if (st === undefined) {
      st = {
        alarm: `${rule.base}${instance === null ? '' : `.${instance}`}${label}`,
        instance,
        firing: false,
        since: NaN,
        lastEvidence: -Infinity,
        clearAfterMs: rule.cfg.clearAfterMs,
        matches: 0,
        value: null,
        samples: [],
        like: likeOf(r),
        suppressed: false,
        windows: new Map(),
        chainEnd: NaN,
      };
      rule.states.set(key, st);
    }
    return st;
  }

  private onMatch(rule: CompiledRule, r: PipelineRecord, out: Outputs): void {
    const st = this.stateFor(rule, r);
    if (Number.isNaN(st.since)) this.startHolding(st, r.ts);
    else if (r.ts < st.since) st.since = r.ts;
    if (r.ts > st.lastEvidence) st.lastEvidence = r.ts;
    st.matches++;
    if (st.samples.length < ALARM_DEFAULTS.maxSamples) st.samples.push(r.id);
    st.like = likeOf(r);
    st.value = rule.readValue ? alarmValue(rule.readValue(r)) : st.matches;
    if (!st.firing && r.ts - st.since >= rule.cfg.forMs) this.fire(rule, st, r.ts, st.value, st.samples, out);
  }

  private onCount(rule: CompiledRule, r: PipelineRecord, out: Outputs): void {
    const st = this.stateFor(rule, r);
    const w = rule.windowMs;
    let start = Math.floor(r.ts / w) * w;
    // A record for a window already judged counts in the newest window: seen, not lost.
    if (start + w <= this.closedWatermark) start = Math.floor(Math.max(this.maxTs, this.closedWatermark) / w) * w;
    let win = st.windows.get(start);
    if (win === undefined) st.windows.set(start, (win = { count: 0, breachedAt: NaN, samples: [] }));
    win.count++;
    if (win.samples.length < ALARM_DEFAULTS.maxSamples) win.samples.push(r.id);
    st.like = likeOf(r);
    if (Number.isNaN(win.breachedAt) && win.count > rule.above) {
      win.breachedAt = r.ts;
      if (Number.isNaN(st.since)) st.since = r.ts;
    }
    if (!Number.isNaN(win.breachedAt) && !st.firing && r.ts - st.since >= rule.cfg.forMs) this.fire(rule, st, r.ts, win.count, win.samples, out);
  }

  private onMetric(rule: CompiledRule, r: PipelineRecord, out: Outputs): void {
    const f = r.fields;
    const m = rule.cfg.metric!;
    if (typeof f.name !== 'string' || !rule.metricName!.test(f.name)) return;
    const bucketMs = typeof f.bucketMs === 'number' ? f.bucketMs : 0;
    if (m.bucketMinutes !== undefined && bucketMs !== m.bucketMinutes * 60_000) return;
    const v = f[m.stat];
    if (typeof v !== 'number') return;
    const group = f.group !== null && typeof f.group === 'object' ? (f.group as Record<string, unknown>) : {};
    const labels = Object.keys(group)
      .sort()
      .map((k) => `${k}=${String(group[k])}`)
      .join(',');
    const series = `${f.name}\u0001${bucketMs}\u0001${labels}`;
    const t0 = typeof f.bucketStart === 'number' ? f.bucketStart : r.ts;
    const t1 = typeof f.bucketEnd === 'number' ? f.bucketEnd : r.ts;
    const breach = (m.above !== undefined && v > m.above) || (m.below !== undefined && v < m.below);
    if (!breach) {
      const key = rule.cfg.perInstance ? `${series}\u0001${r.instance}` : series;
      const st = rule.states.get(key);
      if (st === undefined) return;
      if (st.firing) this.publishEvent(rule, st, 'resolved', t1, v, [], out);
      rule.states.delete(key);
      return;
    }
    const st = this.stateFor(rule, r, series, `{${labels}}:${formatDuration(bucketMs)}`);
    // The next point of a series comes a bucket later: silence shorter than that is no evidence.
    st.clearAfterMs = rule.cfg.clearAfterMs + bucketMs;
    if (Number.isNaN(st.since)) this.startHolding(st, t0);
    else if (t0 < st.since) st.since = t0;
    if (t1 > st.lastEvidence) st.lastEvidence = t1;
    st.matches++;
    if (st.samples.length < ALARM_DEFAULTS.maxSamples) st.samples.push(r.id);
    st.like = likeOf(r);
    st.value = v;
    if (!st.firing && t1 - st.since >= rule.cfg.forMs) this.fire(rule, st, t1, v, st.samples, out);
  }

  private startHolding(st: RuleState, ts: number): void {
    st.since = ts;
    st.lastEvidence = ts;
    st.matches = 0;
    st.samples = [];
    st.suppressed = false;
  }

  /** Moves the clock to `clock` (event time): judges count windows and clears stale conditions. */
  private advance(clock: number, out: Outputs): void {
    const watermark = clock - this.c.allowedLatenessMs;
    if (watermark > this.closedWatermark) {
      this.closedWatermark = watermark;
      for (const rule of this.windowRules) this.judgeWindows(rule, watermark, out);
    }
    for (const rule of this.rules) {
      if (rule.kind === 'window') continue;
      for (const [key, st] of rule.states) {
        if (clock - st.lastEvidence < st.clearAfterMs) continue;
        if (st.firing) this.publishEvent(rule, st, 'resolved', st.lastEvidence + st.clearAfterMs, null, [], out);
        rule.states.delete(key);
      }
    }
  }

  private judgeWindows(rule: CompiledRule, watermark: number, out: Outputs): void {
    const w = rule.windowMs;
    for (const [key, st] of rule.states) {
      const due = [...st.windows.keys()].filter((s) => s + w <= watermark).sort((a, b) => a - b);
      for (const start of due) {
        const win = st.windows.get(start)!;
        st.windows.delete(start);
        if (!Number.isNaN(win.breachedAt)) st.chainEnd = start + w;
        else if (!Number.isNaN(st.since)) this.breakChain(rule, st, start + w, win.count, out);
      }
      // No window at all after the chain's last one means an empty window: below the threshold.
      if (!Number.isNaN(st.since) && !Number.isNaN(st.chainEnd) && watermark >= st.chainEnd + w) this.breakChain(rule, st, st.chainEnd + w, 0, out);
      if (st.windows.size === 0 && Number.isNaN(st.since)) rule.states.delete(key);
    }
  }

  private breakChain(rule: CompiledRule, st: RuleState, time: number, value: number, out: Outputs): void {
    if (st.firing) this.publishEvent(rule, st, 'resolved', time, value, [], out);
    st.firing = false;
    st.suppressed = false;
    st.chainEnd = NaN;
    // A later window may already be above the threshold: a new chain starts with it.
    let since = NaN;
    for (const win of st.windows.values()) {
      if (!Number.isNaN(win.breachedAt) && (Number.isNaN(since) || win.breachedAt < since)) since = win.breachedAt;
    }
    st.since = since;
  }

  private fire(rule: CompiledRule, st: RuleState, time: number, value: number | string | null, samples: string[], out: Outputs): void {
    const { maxPerPeriod, periodMs } = rule.cfg;
    const recent = rule.firings.filter((t) => t > time - periodMs);
    if (recent.length >= maxPerPeriod) {
      if (!st.suppressed) {
        st.suppressed = true;
        rule.suppressed++;
        this.ctx.log.debug({ alarm: st.alarm, maxPerPeriod, periodMs }, 'alarm: firing suppressed by the rate limit');
      }
      rule.firings = recent;
      return;
    }
    recent.push(time);
    rule.firings = recent;
    st.firing = true;
    st.suppressed = false;
    this.publishEvent(rule, st, 'firing', time, value, samples.slice(0, ALARM_DEFAULTS.maxSamples), out);
  }

  private publishEvent(
    rule: CompiledRule,
    st: RuleState,
    state: AlarmEvent['state'],
    time: number,
    value: number | string | null,
    samples: string[],
    out: Outputs,
    condition = rule.condition,
  ): void {
    const event: AlarmEvent = {
      alarm: st.alarm,
      state,
      condition,
      value,
      instance: st.instance,
      time,
      sampleRecordIds: samples,
      graph: this.ctx.graph,
      node: this.ctx.nodeId,
    };
    this.events.push(event);
    const fields: Record<string, unknown> = { ...event, rule: rule.cfg.name };
    if (state === 'firing') {
      fields.suppressedBefore = rule.suppressed;
      rule.suppressed = 0;
    }
    out.emit(
      'out',
      derivedRecord({
        id: `${this.ctx.graph}/${this.ctx.nodeId}@${this.ctx.run}:${st.alarm}:${state}:${time}`,
        kind: 'alarm',
        like: st.like,
        ts: time,
        data: `${state.toUpperCase()} ${st.alarm}: ${condition}${value === null ? '' : ` (value ${value})`}`,
        fields,
      }),
    );
  }

  private publish(): void {
    if (this.events.length === 0) return;
    const events = this.events;
    this.events = [];
    this.ctx.services.alarms.publish(events);
  }
}

export const alarm = defineAgent<AlarmConfig>({
  type: 'alarm',
  description: 'Raises alarms on field matches, invalid or class counts and metric thresholds, held for a duration and rate-limited',
  configSchema: AlarmConfigSchema,
  ports: () => ['out'],
  sink: true,
  readsOnly: true,
  create: (c, ctx) => new AlarmRuntime(c, ctx),
});
