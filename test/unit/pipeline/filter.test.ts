import { describe, expect, it } from 'vitest';
import { filter } from '../../../pipeline/agents/filter.js';
import { build, checkAgentCompliance, makeRecord, run } from './agent-harness.js';

function issuePaths(config: unknown): string[] {
  const res = filter.configSchema.safeParse(config);
  expect(res.success, 'config should be rejected').toBe(false);
  return res.error!.issues.map((i) => i.path.join('.'));
}

async function route(config: unknown, records: ReturnType<typeof makeRecord>[]): Promise<{ pass: string[]; drop: string[] }> {
  const { runtime } = await build(filter, config);
  const out = await run(runtime, records);
  const pass = out.on('pass').map((r) => r.data.toString());
  const drop = out.on('drop').map((r) => r.data.toString());
  expect(pass.length + drop.length).toBe(records.length);
  return { pass, drop };
}

describe('filter agent', () => {
  it('meets the agent contract', async () => {
    await checkAgentCompliance(filter, { pass: { match: 'ERROR' }, drop: { when: { field: 'fields.noise', eq: true } } }, [
      makeRecord('ERROR a'),
      makeRecord('ERROR b', { fields: { noise: true } }),
      makeRecord('INFO c'),
    ]);
  });

  it('passes only records that match the pass regex', async () => {
    expect(await route({ pass: { match: '^(WARN|ERROR) ' } }, [makeRecord('ERROR x'), makeRecord('INFO y'), makeRecord('xERROR z')])).toEqual({
      pass: ['ERROR x'],
      drop: ['INFO y', 'xERROR z'],
    });
  });

  it('drops records that match the drop predicate', async () => {
    const records = [makeRecord('a', { fields: { path: '/health' } }), makeRecord('b', { fields: { path: '/api' } }), makeRecord('c')];
    expect(await route({ drop: { when: { field: 'fields.path', in: ['/health', '/ready'] } } }, records)).toEqual({ pass: ['b', 'c'], drop: ['a'] });
  });

  it('lets drop win over pass', async () => {
    const config = { pass: { match: 'error', ignoreCase: true }, drop: { match: 'healthcheck', field: 'fields.agent' } };
    const records = [makeRecord('Error 1', { fields: { agent: 'healthcheck/1.0' } }), makeRecord('ERROR 2', { fields: { agent: 'curl' } }), makeRecord('ok 3')];
    expect(await route(config, records)).toEqual({ pass: ['ERROR 2'], drop: ['Error 1', 'ok 3'] });
  });

  it('runs a regex on a field, treating a missing field as no match', async () => {
    const records = [makeRecord('a', { fields: { status: 503 } }), makeRecord('b', { fields: { status: 200 } }), makeRecord('c')];
    expect(await route({ pass: { match: '^5', field: 'fields.status' } }, records)).toEqual({ pass: ['a'], drop: ['b', 'c'] });
  });

  it('matches on the record class and copes with binary data', async () => {
    const records = [makeRecord(Buffer.from([0xff, 0x00]), { class: 'audit' }), makeRecord(Buffer.from([0xc3]))];
    expect((await route({ pass: { match: '^audit$', field: 'class' } }, records)).pass).toHaveLength(1);
  });

  describe('config', () => {
    it('needs pass, drop or both', () => {
      expect(issuePaths({})).toEqual(['']);
    });

    it('names the offending field of an ill-typed config', () => {
      expect(issuePaths({ pass: { match: '(' } })).toContain('pass.match');
      expect(issuePaths({ pass: { match: 'a', when: { field: 'class', eq: 'x' } } })).toContain('pass.when');
      expect(issuePaths({ drop: { field: 'fields.a' } })).toContain('drop.field');
      expect(issuePaths({ drop: { when: { field: 'class', eq: 'x' }, ignoreCase: true } })).toContain('drop.ignoreCase');
      expect(issuePaths({ pass: { match: 'a', field: 'nope' } })).toContain('pass.field');
      expect(issuePaths({ pass: 'ERROR' })).toContain('pass');
    });
  });
});
