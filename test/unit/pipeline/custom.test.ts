import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import type { AgentRuntime } from '../../../pipeline/agent.js';
import { custom, CustomAgentRuntime } from '../../../pipeline/agents/custom/index.js';
import { FLAGS } from '../../../pipeline/record.js';
import { build, checkAgentCompliance, makeContext, makeRecord, run } from './agent-harness.js';

const FIXTURES = fileURLToPath(new URL('../../fixtures/custom-agents/', import.meta.url));

const UPPERCASE = `module.exports = { process(record) { record.data = record.data.toUpperCase(); return record; } };`;

const open: AgentRuntime[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((r) => r.close?.()));
});

async function agent(config: Record<string, unknown>): Promise<CustomAgentRuntime> {
  const { runtime } = await build(custom, config);
  open.push(runtime);
  return runtime as CustomAgentRuntime;
}

/** The rejection of activating `config`, as a LogfsError-like object. */
async function activationError(config: Record<string, unknown>): Promise<{ code: string; message: string }> {
  try {
    const { runtime } = await build(custom, config);
    open.push(runtime);
  } catch (err) {
    return err as { code: string; message: string };
  }
  throw new Error('the agent was activated');
}

const text = (records: { data: Buffer }[]) => records.map((r) => r.data.toString());

describe('custom agent', () => {
  it('meets the agent contract', async () => {
    await checkAgentCompliance(custom, { code: UPPERCASE }, [makeRecord('x'), makeRecord('y')]);
  });

  it('runs the module on each record and keeps the record IDs', async () => {
    const rt = await agent({ code: UPPERCASE });
    const input = [makeRecord('hello'), makeRecord('wörld')];
    const ids = input.map((r) => r.id);
    const out = await run(rt, input);
    expect(text(out.on('out'))).toEqual(['HELLO', 'WÖRLD']);
    expect(out.on('out').map((r) => r.id)).toEqual(ids);
    expect(out.on('error')).toEqual([]);
  });

  it('emits several records per input, drops, routes to the error port, and numbers the extra IDs', async () => {
    const rt = await agent({ module: path.join(FIXTURES, 'split-words.js') });
    const a = makeRecord('one two three', { fields: { level: 'info' } });
    const out = await run(rt, [a, makeRecord(''), makeRecord('a bad line')]);
    expect(text(out.on('out'))).toEqual(['one', 'two', 'three']);
    expect(out.on('out').map((r) => r.id)).toEqual([a.id, `${a.id}#1`, `${a.id}#2`]);
    expect(out.on('out').map((r) => r.fields)).toEqual([
      { level: 'info', word: 0 },
      { level: 'info', word: 1 },
      { level: 'info', word: 2 },
    ]);
    // Identity comes from the input record.
    expect(out.on('out')[2]).toMatchObject({ instance: a.instance, seq: a.seq, stream: a.stream, kind: 'log' });
    // Sent to the error port by the module itself: not a misbehaviour.
    expect(text(out.on('error'))).toEqual(['a bad line']);
    expect(out.on('error')[0]!.flags).toEqual(['rejected_word']);
    expect(rt.stats.misbehaved).toBe(0);
  });

  it('reads a module file and passes options to init; the trial on samples leaves no state behind', async () => {
    const rt = await agent({ module: path.join(FIXTURES, 'uppercase.js'), options: { field: 'shouted' } });
    const out = await run(rt, [makeRecord('a'), makeRecord('b')]);
    expect(text(out.on('out'))).toEqual(['A', 'B']);
    // The samples ran first, in another sandbox: the live module starts counting at 1.
    expect(out.on('out').map((r) => r.fields)).toEqual([
      { shouted: true, seen: 1 },
      { shouted: true, seen: 2 },
    ]);
  });

  it('accepts exactly one of code and module', () => {
    expect(custom.configSchema.safeParse({}).success).toBe(false);
    expect(custom.configSchema.safeParse({ code: UPPERCASE, module: 'x.js' }).success).toBe(false);
    const parsed = custom.configSchema.parse({ code: UPPERCASE });
    expect(parsed.limits).toEqual({ cpuMsPerBatch: 200, memoryMb: 64, maxOutputPerRecord: 100 });
    expect(parsed.samples.length).toBeGreaterThan(0);
    expect(custom.configSchema.safeParse({ code: UPPERCASE, limits: { memoryMb: 1 } }).success).toBe(false);
  });

  it('rejects a module file that cannot be read, naming the path', async () => {
    const err = await activationError({ module: path.join(FIXTURES, 'missing.js') });
    expect(err.code).toBe('LOGFS_E_CONFIG');
    expect(err.message).toContain('missing.js');
  });

  it('passes binary lines as text plus dataBase64 and keeps their bytes when data is untouched', async () => {
    const rt = await agent({ code: `module.exports = { process(r) { r.fields.b64 = r.dataBase64 || null; return r; } };` });
    const bytes = Buffer.from([0x61, 0xff, 0x62]);
    const out = await run(rt, [makeRecord(bytes), makeRecord('plain')]);
    expect(out.on('out')[0]!.data.equals(bytes)).toBe(true);
    expect(out.on('out')[0]!.fields.b64).toBe(bytes.toString('base64'));
    expect(out.on('out')[1]!.fields.b64).toBeNull();
  });
});

describe('custom agent activation', () => {
  it('rejects a module that throws on a sample, with its message', async () => {
    const err = await activationError({ code: `module.exports = { process(r) { if (r.data === '') throw new Error('empty line'); return r; } };` });
    expect(err.code).toBe('LOGFS_E_SANDBOX');
    expect(err.message).toMatch(/sample 5 \(""\): threw Error: empty line/);
  });

  it('rejects a module that throws while loading or in init', async () => {
    expect((await activationError({ code: `throw new TypeError('no config');` })).message).toContain('the module threw TypeError: no config while loading');
    const init = await activationError({ code: `module.exports = { init(o) { throw new Error('need ' + o.key); }, process(r) { return r; } };`, options: { key: 'k1' } });
    expect(init.message).toContain('init(options) threw Error: need k1');
    expect((await activationError({ code: `module.exports = { handle() {} };` })).message).toContain('module.exports.process must be a function');
  });

  it('rejects an infinite loop with the CPU limit', async () => {
    const err = await activationError({ code: `module.exports = { process(r) { while (true) {} } };`, limits: { cpuMsPerBatch: 250 } });
    expect(err.code).toBe('LOGFS_E_SANDBOX');
    expect(err.message).toContain('exceeded the CPU limit of 250ms');
  });

  it('rejects an infinite loop at load time and in promise callbacks', async () => {
    // Loading and init get at least a second: a fresh sandbox runs cold code.
    expect((await activationError({ code: `for (;;) {}`, limits: { cpuMsPerBatch: 250 } })).message).toContain(
      'exceeded the CPU limit of 1000ms while loading',
    );
    const err = await activationError({
      code: `module.exports = { process(r) { Promise.resolve().then(function loop() { return Promise.resolve().then(loop); }); return r; } };`,
      limits: { cpuMsPerBatch: 250 },
    });
    expect(err.message).toContain('exceeded the CPU limit of 250ms');
  });

  it('rejects a memory hog with the memory limit', async () => {
    const err = await activationError({
      code: `const keep = new Map(); module.exports = { process(r) { for (let i = 0; ; i++) keep.set(i, { i, s: 'x' + i }); } };`,
      limits: { memoryMb: 32, cpuMsPerBatch: 20_000 },
    });
    expect(err.code).toBe('LOGFS_E_SANDBOX');
    expect(err.message).toContain('exceeded the memory limit of 32 MiB');
  });

  it('rejects invalid output, naming the path', async () => {
    const flags = await activationError({ code: `module.exports = { process(r) { r.flags.push('Not A Flag'); return r; } };` });
    expect(flags.message).toContain('emitted invalid output at path flags.0');
    const fields = await activationError({ code: `module.exports = { process(r) { r.fields = [1]; return r; } };` });
    expect(fields.message).toContain('emitted invalid output at path fields');
    const data = await activationError({ code: `module.exports = { process(r) { return { data: 42 }; } };` });
    expect(data.message).toContain('emitted invalid output at path data');
    const identity = await activationError({ code: `module.exports = { process(r) { r.instance = 'other'; return r; } };` });
    expect(identity.message).toContain('emitted invalid output at path instance: cannot be changed');
    const unknown = await activationError({ code: `module.exports = { process(r) { r.feilds = {}; return r; } };` });
    expect(unknown.message).toContain('emitted invalid output at path feilds');
    const scalar = await activationError({ code: `module.exports = { process(r) { return 'text'; } };` });
    expect(scalar.message).toContain('expected a record object, got string');
    const promise = await activationError({ code: `module.exports = { async process(r) { return r; } };` });
    expect(promise.message).toContain('returned a Promise');
    const port = await activationError({ code: `module.exports = { process(r, emit) { emit(r, 'elsewhere'); } };` });
    expect(port.message).toContain('emitted on unknown port "elsewhere"');
    const many = await activationError({ code: `module.exports = { process(r, emit) { for (let i = 0; i < 5; i++) emit(r); } };`, limits: { maxOutputPerRecord: 4 } });
    expect(many.message).toContain('emitted more than 4 records for one input record');
  });

  it('rejects a syntax error with its location', async () => {
    const err = await activationError({ code: `module.exports = {\n  process(r) { return r; }\n  oops(\n};` });
    expect(err.code).toBe('LOGFS_E_SANDBOX');
    expect(err.message).toMatch(/syntax error: SyntaxError: .*custom-agent\.js:\d/);
  });

  it('runs the trial on the configured samples', async () => {
    const code = `module.exports = { process(r) { const o = JSON.parse(r.data); r.fields.level = o.level; return r; } };`;
    expect((await activationError({ code })).message).toMatch(/threw SyntaxError/);
    const rt = await agent({ code, samples: ['{"level":"info"}'] });
    const out = await run(rt, [makeRecord('{"level":"warn"}')]);
    expect(out.on('out')[0]!.fields.level).toBe('warn');
  });
});

describe('custom agent at run time', () => {
  it('sends exactly the records the module throws on to the error port, flagged with the reason', async () => {
    const rt = await agent({ code: `module.exports = { process(r) { if (r.data.startsWith('boom')) throw new RangeError('bad ' + r.data); return r; } };` });
    const input = [makeRecord('ok 1'), makeRecord('boom 2'), makeRecord('ok 3'), makeRecord('boom 4')];
    const out = await run(rt, input);
    expect(text(out.on('out'))).toEqual(['ok 1', 'ok 3']);
    const errors = out.on('error');
    expect(text(errors)).toEqual(['boom 2', 'boom 4']);
    expect(errors.map((r) => r.id)).toEqual([input[1]!.id, input[3]!.id]);
    for (const r of errors) expect(r.flags).toContain(FLAGS.customError);
    expect(errors[0]!.fields._custom_error).toBe('threw RangeError: bad boom 2');
    expect(rt.stats.misbehaved).toBe(2);
  });

  it('after the CPU limit, keeps what finished, flags the record that ran and the ones not run', async () => {
    const rt = await agent({
      code: `module.exports = { process(r) { if (r.data === 'spin') for (;;) {} return r; } };`,
      limits: { cpuMsPerBatch: 250 },
    });
    const input = [makeRecord('a'), makeRecord('spin'), makeRecord('b')];
    const out = await run(rt, input);
    expect(text(out.on('out'))).toEqual(['a']);
    expect(out.on('error').map((r) => r.fields._custom_error)).toEqual([
      'exceeded the CPU limit of 250ms per batch',
      `not run: the batch exceeded the CPU limit of 250ms per batch while record ${input[1]!.id} was processed`,
    ]);
    // A fresh sandbox takes the next batch.
    expect(text((await run(rt, [makeRecord('c')])).on('out'))).toEqual(['c']);
  });

  it('sends the batch to the error port when the sandbox runs out of memory, and recovers for the next batch', async () => {
    const rt = await agent({
      code: `const keep = []; module.exports = { process(r) { if (r.data === 'hog') for (;;) keep.push(new Array(1000).fill(r.data)); return r; } };`,
      limits: { memoryMb: 32, cpuMsPerBatch: 20_000 },
    });
    const out = await run(rt, [makeRecord('a'), makeRecord('hog'), makeRecord('b')]);
    expect(out.on('out')).toEqual([]);
    expect(out.on('error').map((r) => r.fields._custom_error)).toEqual(Array(3).fill('exceeded the memory limit of 32 MiB'));
    const next = await run(rt, [makeRecord('c'), makeRecord('d')]);
    expect(text(next.on('out'))).toEqual(['c', 'd']);
    expect(rt.stats.memoryLimit).toBe(1);
  });

  it('kills a sandbox that stops answering (watchdog) and recovers for the next batch', async () => {
    // The setter runs when Node builds the timeout error, outside the vm timeout: only the watchdog ends it.
    const rt = await agent({
      code: `Object.defineProperty(Error.prototype, 'code', { set(v) { for (;;) {} } });
        module.exports = { process(r) { if (r.data === 'spin') for (;;) {} return r; } };`,
      samples: ['x'],
      limits: { cpuMsPerBatch: 250 },
    });
    const started = Date.now();
    const out = await run(rt, [makeRecord('a'), makeRecord('spin')]);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(out.on('error').map((r) => r.fields._custom_error)).toEqual(Array(2).fill('did not answer within 1250ms and was stopped'));
    expect(text((await run(rt, [makeRecord('b')])).on('out'))).toEqual(['b']);
    expect(rt.stats.watchdog).toBe(1);
  });

  it('turns a stack overflow into an error for that record only', async () => {
    const rt = await agent({ code: `function deep(n) { return deep(n + 1) + 1; } module.exports = { process(r) { if (r.data === 'deep') deep(0); return r; } };` });
    const out = await run(rt, [makeRecord('deep'), makeRecord('flat')]);
    expect(out.on('error')[0]!.fields._custom_error).toBe('threw RangeError: Maximum call stack size exceeded');
    expect(text(out.on('out'))).toEqual(['flat']);
  });

  it('flags records that cannot be passed to the module instead of failing the batch', async () => {
    const rt = await agent({ code: UPPERCASE });
    const odd = makeRecord('big', { fields: { n: 10n } });
    const out = await run(rt, [makeRecord('fine'), odd]);
    expect(text(out.on('out'))).toEqual(['FINE']);
    expect(out.on('error')[0]!.fields._custom_error).toMatch(/could not be passed to the module/);
  });

  it('writes the module console to the log, at most 20 lines per batch', async () => {
    const lines: { msg: string; sandbox?: string; level: number }[] = [];
    const log = pino({ level: 'debug' }, { write: (s: string) => void lines.push(JSON.parse(s)) });
    const { runtime } = await build(
      custom,
      { code: `module.exports = { process(r) { for (let i = 0; i < 50; i++) console.warn('line', i, { d: r.data }); return r; } };` },
      makeContext({ log }),
    );
    open.push(runtime);
    lines.length = 0;
    await run(runtime, [makeRecord('x')]);
    const fromModule = lines.filter((l) => l.sandbox !== undefined);
    expect(fromModule[0]).toMatchObject({ msg: 'line 0 {"d":"x"}', level: 40 });
    expect(fromModule.length).toBe(20);
  });
});
