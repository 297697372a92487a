/**
 * Routing of syslog messages to streams (issue 4, "Routing"): ordered rules, the first match
 * chooses the stream; the class label is the rule's class, else the severity name; unmatched
 * messages go to the default stream; a rule whose stream is not provisioned sends its messages to
 * the default stream instead, and the caller counts them.
 */
import type { SyslogRule } from '../config.js';
import { FACILITY_NAMES, SEVERITY_NAMES, type SyslogMessage } from './syslog-message.js';

/** What routing looks at; a parsed SyslogMessage has it. */
export type RoutableMessage = Pick<SyslogMessage, 'facility' | 'severity' | 'hostname' | 'appName' | 'msg'>;

export interface RoutingConfig {
  rules: SyslogRule[];
  defaultStream: string;
  classFrom: 'severity' | 'none';
}

export interface Route {
  stream: string;
  label: string | null;
  /** Index of the rule that matched; -1 for the default stream. */
  rule: number;
  /** The stream the matching rule named when it is not provisioned (the message went to the default). */
  unprovisioned?: string;
}

interface CompiledRule {
  stream: string;
  label: string | undefined;
  appName?: (s: string) => boolean;
  hostname?: (s: string) => boolean;
  facility?: Set<number>;
  severity?: Set<number>;
  pattern?: RegExp;
}

const list = <T>(v: T | T[]): T[] => (Array.isArray(v) ? v : [v]);

/** Exact names and `*` globs, compiled to one predicate. */
function nameMatcher(patterns: string | string[]): (s: string) => boolean {
  const exact = new Set<string>();
  const globs: RegExp[] = [];
  for (const p of list(patterns)) {
    if (!p.includes('*')) exact.add(p);
    else globs.push(new RegExp(`^${p.split('*').map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`, 's'));
  }
  return (s) => exact.has(s) || globs.some((g) => g.test(s));
}

function codes(values: (string | number)[], names: readonly string[]): Set<number> {
  // Names were checked against the same tables by the config schema.
  return new Set(values.map((v) => (typeof v === 'number' ? v : names.indexOf(v))));
}

function compile(rule: SyslogRule): CompiledRule {
  const m = rule.match;
  return {
    stream: rule.stream,
    label: rule.class,
    ...(m.appName !== undefined ? { appName: nameMatcher(m.appName) } : {}),
    ...(m.hostname !== undefined ? { hostname: nameMatcher(m.hostname) } : {}),
    ...(m.facility !== undefined ? { facility: codes(list<string | number>(m.facility), FACILITY_NAMES) } : {}),
    ...(m.severity !== undefined ? { severity: codes(list<string | number>(m.severity), SEVERITY_NAMES) } : {}),
    ...(m.pattern !== undefined ? { pattern: new RegExp(m.pattern, 'u') } : {}),
  };
}

export class SyslogRouter {
  private readonly rules: CompiledRule[];

  /**
   * `isProvisioned` answers for the host's provider, from the current provisioning state; it is
   * asked per message, so it must be cheap (a Set kept up to date by a store watcher).
   */
  constructor(
    private readonly config: RoutingConfig,
    private readonly isProvisioned: (stream: string) => boolean,
  ) {
    this.rules = config.rules.map(compile);
  }

  /** Rules whose stream is not provisioned now: reported when the inputs start and on changes. */
  unprovisionedRules(): { rule: number; stream: string }[] {
    return this.rules.flatMap((r, i) => (this.isProvisioned(r.stream) ? [] : [{ rule: i, stream: r.stream }]));
  }

  route(m: RoutableMessage): Route {
    let text: string | undefined;
    for (let i = 0; i < this.rules.length; i++) {
      const r = this.rules[i] as CompiledRule;
      if (r.facility && (m.facility === null || !r.facility.has(m.facility))) continue;
      if (r.severity && (m.severity === null || !r.severity.has(m.severity))) continue;
      if (r.appName && (m.appName === null || !r.appName(m.appName))) continue;
      if (r.hostname && (m.hostname === null || !r.hostname(m.hostname))) continue;
      if (r.pattern) {
        // Decoded once per message and only when a rule asks; invalid bytes become U+FFFD.
        text ??= m.msg.toString('utf8');
        if (!r.pattern.test(text)) continue;
      }
      const label = r.label ?? this.severityLabel(m);
      if (!this.isProvisioned(r.stream)) return { stream: this.config.defaultStream, label, rule: i, unprovisioned: r.stream };
      return { stream: r.stream, label, rule: i };
    }
    return { stream: this.config.defaultStream, label: this.severityLabel(m), rule: -1 };
  }

  private severityLabel(m: RoutableMessage): string | null {
    if (this.config.classFrom === 'none' || m.severity === null) return null;
    return SEVERITY_NAMES[m.severity] ?? null;
  }
}
