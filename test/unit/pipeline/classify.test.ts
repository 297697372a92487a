import { describe, expect, it } from 'vitest';
import { classify } from '../../../pipeline/agents/classify.js';
import { build, checkAgentCompliance, makeRecord, run } from './agent-harness.js';

function issuePaths(config: unknown): string[] {
  const res = classify.configSchema.safeParse(config);
  expect(res.success, 'config should be rejected').toBe(false);
  return res.error!.issues.map((i) => i.path.join('.'));
}

async function classesOf(config: unknown, records: ReturnType<typeof makeRecord>[]): Promise<(string | null)[]> {
  const { runtime } = await build(classify, config);
  const out = await run(runtime, records);
  expect(out.on('out')).toHaveLength(records.length);
  return out.on('out').map((r) => r.class);
}

describe('classify agent', () => {
  it('meets the agent contract', async () => {
    await checkAgentCompliance(
      classify,
      { rules: [{ class: 'critical', match: 'FATAL' }, { class: 'server-error', when: { field: 'fields.status', gte: 500 } }, { fromField: 'fields.level' }] },
      [makeRecord('FATAL x'), makeRecord('y', { fields: { status: 503 } }), makeRecord('z', { fields: { level: 'warn' } }), makeRecord('plain')],
    );
  });

  it('applies the first rule that matches', async () => {
    const rules = [
      { class: 'critical', match: 'FATAL|panic' },
      { class: 'errors/http', when: { field: 'fields.status', gte: 500 } },
      { class: 'errors', match: 'error', ignoreCase: true },
    ];
    expect(
      await classesOf({ rules }, [
        makeRecord('FATAL: disk gone', { fields: { status: 500 } }),
        makeRecord('ERROR upstream', { fields: { status: 502 } }),
        makeRecord('Error reading'),
        makeRecord('all good'),
      ]),
    ).toEqual(['critical', 'errors/http', 'errors', null]);
  });

  it('runs a regex on the chosen field', async () => {
    const rules = [{ class: 'api', match: '^/api/', field: 'fields.path' }];
    expect(await classesOf({ rules }, [makeRecord('/api/x'), makeRecord('x', { fields: { path: '/api/v1' } })])).toEqual([null, 'api']);
  });

  it('takes the class from a field when it is a valid label, else tries the next rule', async () => {
    const rules = [{ fromField: 'fields.level' }, { class: 'unknown', match: '' }];
    expect(
      await classesOf({ rules }, [
        makeRecord('a', { fields: { level: 'warn' } }),
        makeRecord('b', { fields: { level: 'db/slow' } }),
        makeRecord('c', { fields: { level: 'bad@label' } }),
        makeRecord('d', { fields: { level: '' } }),
        makeRecord('e', { fields: { level: { nested: 1 } } }),
        makeRecord('f', { fields: { level: 500 } }),
        makeRecord('g'),
      ]),
    ).toEqual(['warn', 'db/slow', 'unknown', 'unknown', 'unknown', '500', 'unknown']);
  });

  describe('when no rule matches', () => {
    const rules = [{ class: 'x', match: '^x' }];
    const rec = () => makeRecord('nothing', { class: 'from-mount' });

    it('keeps the label given at the mount by default', async () => {
      expect(await classesOf({ rules }, [rec()])).toEqual(['from-mount']);
    });

    it('sets the default class when one is configured', async () => {
      expect(await classesOf({ rules, default: 'other' }, [rec(), makeRecord('x1', { class: 'from-mount' })])).toEqual(['other', 'x']);
      expect(await classesOf({ rules, default: null }, [rec()])).toEqual([null]);
    });

    it('clears the label when keepLabel is false and there is no default', async () => {
      expect(await classesOf({ rules, keepLabel: false }, [rec()])).toEqual([null]);
      expect(await classesOf({ rules, keepLabel: false, default: 'other' }, [rec()])).toEqual(['other']);
    });
  });

  describe('config', () => {
    it('checks classes against the label rules of the mount', () => {
      expect(issuePaths({ rules: [{ class: 'a@b', match: 'x' }] })).toContain('rules.0.class');
      expect(issuePaths({ rules: [{ class: 'a//b', match: 'x' }] })).toContain('rules.0.class');
      expect(issuePaths({ rules: [{ class: '../up', match: 'x' }] })).toContain('rules.0.class');
      expect(issuePaths({ rules: [{ class: 'x'.repeat(201), match: 'x' }] })).toContain('rules.0.class');
      expect(issuePaths({ rules: [{ class: 'x', match: 'x' }], default: 'bad\nlabel' })).toContain('default');
      expect(classify.configSchema.safeParse({ rules: [{ class: 'errors/db.slow_v-2', match: 'x' }] }).success).toBe(true);
    });

    it('names the offending field of an ill-typed rule', () => {
      expect(issuePaths({ rules: [] })).toContain('rules');
      expect(issuePaths({ rules: [{ match: 'x' }] })).toContain('rules.0.class');
      expect(issuePaths({ rules: [{ class: 'a' }] })).toContain('rules.0');
      expect(issuePaths({ rules: [{ class: 'a', match: 'x', when: { field: 'class', eq: 'b' } }] })).toContain('rules.0.when');
      expect(issuePaths({ rules: [{ class: 'a', when: { field: 'class', eq: 'b' }, field: 'fields.x' }] })).toContain('rules.0.field');
      expect(issuePaths({ rules: [{ fromField: 'fields.level', class: 'a' }] })).toContain('rules.0.class');
      expect(issuePaths({ rules: [{ fromField: 'level' }] })).toContain('rules.0.fromField');
      expect(issuePaths({ rules: [{ class: 'a', match: '[' }] })).toContain('rules.0.match');
      expect(issuePaths({ rules: [{ class: 'a', match: 'x' }], keepLabel: 'yes' })).toContain('keepLabel');
    });

    it('rejects keepLabel: true together with a default that could never apply', () => {
      expect(issuePaths({ rules: [{ class: 'a', match: 'x' }], keepLabel: true, default: 'b' })).toContain('default');
    });
  });
});
