import { describe, expect, it } from 'vitest';
import { validate } from '../../../pipeline/agents/validate.js';
import { FLAGS } from '../../../pipeline/record.js';
import { build, checkAgentCompliance, makeRecord, run } from './agent-harness.js';

function issuePaths(config: unknown): string[] {
  const res = validate.configSchema.safeParse(config);
  expect(res.success, 'config should be rejected').toBe(false);
  return res.error!.issues.map((i) => i.path.join('.'));
}

const ISO = { match: '^\\d{4}-\\d{2}-\\d{2}T' };

describe('validate agent', () => {
  it('meets the agent contract', async () => {
    await checkAgentCompliance(validate, { format: ISO, required: ['fields.status'], when: { field: 'fields.status', lt: 600 } }, [
      makeRecord('2024-01-01T00:00:00Z ok', { fields: { status: 200 } }),
      makeRecord('garbage'),
    ]);
  });

  it('routes by a format regex on the line and names the check that failed', async () => {
    const { runtime } = await build(validate, { format: ISO });
    const out = await run(runtime, [makeRecord('2024-05-01T10:00:00Z started'), makeRecord('started at noon')]);
    expect(out.on('valid').map((r) => r.data.toString())).toEqual(['2024-05-01T10:00:00Z started']);
    const [bad] = out.on('invalid');
    expect(bad!.data.toString()).toBe('started at noon');
    expect(bad!.flags).toEqual([FLAGS.invalid]);
    expect(bad!.fields._invalid_reason).toBe('format: data ~ /^\\d{4}-\\d{2}-\\d{2}T/ does not hold');
    expect(out.on('valid')[0]!.flags).toEqual([]);
  });

  it('runs the format regex on a field, case-insensitively if asked', async () => {
    const { runtime } = await build(validate, { format: { match: '^(get|post)$', field: 'fields.method', ignoreCase: true } });
    const out = await run(runtime, [makeRecord('a', { fields: { method: 'GET' } }), makeRecord('b', { fields: { method: 'BREW' } }), makeRecord('c')]);
    expect(out.on('valid').map((r) => r.data.toString())).toEqual(['a']);
    expect(out.on('invalid').map((r) => r.data.toString())).toEqual(['b', 'c']);
  });

  it('requires fields to be present and non-empty', async () => {
    const { runtime } = await build(validate, { required: ['fields.status', 'fields.req.path'] });
    const ok = makeRecord('ok', { fields: { status: 0, req: { path: '/' } } });
    const records = [
      ok,
      makeRecord('missing', { fields: { req: { path: '/' } } }),
      makeRecord('empty', { fields: { status: '', req: { path: '/' } } }),
      makeRecord('null', { fields: { status: null, req: { path: '/' } } }),
      makeRecord('emptyList', { fields: { status: [], req: { path: '/' } } }),
      makeRecord('nested', { fields: { status: 200, req: {} } }),
    ];
    const out = await run(runtime, records);
    expect(out.on('valid')).toEqual([ok]);
    expect(out.on('invalid').map((r) => [r.data.toString(), r.fields._invalid_reason])).toEqual([
      ['missing', 'required: fields.status is missing or empty'],
      ['empty', 'required: fields.status is missing or empty'],
      ['null', 'required: fields.status is missing or empty'],
      ['emptyList', 'required: fields.status is missing or empty'],
      ['nested', 'required: fields.req.path is missing or empty'],
    ]);
  });

  it('checks a predicate', async () => {
    const { runtime } = await build(validate, { when: { field: 'fields.status', gte: 100, lt: 600 } });
    const out = await run(runtime, [makeRecord('a', { fields: { status: '404' } }), makeRecord('b', { fields: { status: 999 } })]);
    expect(out.on('valid').map((r) => r.data.toString())).toEqual(['a']);
    expect(out.on('invalid')[0]!.fields._invalid_reason).toBe('when: the predicate does not hold');
  });

  it('requires every configured check to hold, reporting the first that fails', async () => {
    const { runtime } = await build(validate, { format: ISO, required: ['fields.status'], when: { field: 'fields.status', lt: 500 } });
    const out = await run(runtime, [
      makeRecord('2024-01-01T00:00:00Z a', { fields: { status: 200 } }),
      makeRecord('2024-01-01T00:00:00Z b', { fields: { status: 503 } }),
      makeRecord('2024-01-01T00:00:00Z c'),
      makeRecord('d', { fields: { status: 200 } }),
    ]);
    expect(out.on('valid')).toHaveLength(1);
    expect(out.on('invalid').map((r) => (r.fields._invalid_reason as string).split(':')[0])).toEqual(['when', 'required', 'format']);
  });

  it('never flags a record twice and keeps its other flags', async () => {
    const { runtime } = await build(validate, { required: ['fields.x'] });
    const [r] = (await run(runtime, [makeRecord('x', { flags: [FLAGS.parseFailed, FLAGS.invalid] })])).on('invalid');
    expect(r!.flags).toEqual([FLAGS.parseFailed, FLAGS.invalid]);
  });

  it('copes with binary data', async () => {
    const { runtime } = await build(validate, { format: ISO });
    const out = await run(runtime, [makeRecord(Buffer.from([0xff, 0x00, 0xc3]))]);
    expect(out.on('invalid')).toHaveLength(1);
  });

  describe('config', () => {
    it('needs at least one check', () => {
      expect(issuePaths({})).toEqual(['']);
    });

    it('names the offending field of an ill-typed config', () => {
      expect(issuePaths({ required: ['status'] })).toContain('required.0');
      expect(issuePaths({ required: [] })).toContain('required');
      expect(issuePaths({ format: { field: 'fields.a' } })).toContain('format.match');
      expect(issuePaths({ format: { match: '(' } })).toContain('format.match');
      expect(issuePaths({ format: { match: 'a', when: { field: 'class', eq: 'x' } } })).toContain('format');
      expect(issuePaths({ when: { field: 'fields.a' } })).toContain('when');
    });
  });
});
