/**
 * Escapes from the custom agent's sandbox. Each module tries to get hold of `process` and, with it,
 * to write a canary file; the attempt must fail inside the sandbox (activation rejected, or the
 * record sent to the error port) and the canary must never appear.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { AgentRuntime } from '../../../pipeline/agent.js';
import { custom } from '../../../pipeline/agents/custom/index.js';
import { build, makeRecord, run } from './agent-harness.js';

let dir: string;
let canary: string;
const open: AgentRuntime[] = [];

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'logfs-sandbox-'));
  canary = path.join(dir, 'escaped');
});
afterEach(async () => {
  await Promise.all(open.splice(0).map((r) => r.close?.()));
  expect(fs.existsSync(canary), 'a module reached the host and wrote the canary file').toBe(false);
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** A module whose process() evaluates `expr` to get `process`, then writes the canary with it. */
function escaping(expr: string): string {
  return `module.exports = { process(record, emit) {
    const p = ${expr};
    p.getBuiltinModule('fs').writeFileSync(${JSON.stringify(canary)}, 'escaped');
    return record;
  } };`;
}

async function activationError(code: string): Promise<string> {
  try {
    const { runtime } = await build(custom, { code });
    open.push(runtime);
  } catch (err) {
    expect((err as { code: string }).code).toBe('LOGFS_E_SANDBOX');
    return (err as Error).message;
  }
  throw new Error('the agent was activated');
}

describe('custom agent sandbox', () => {
  it.each([
    ['require', `require('fs')`, /threw Error: require\("fs"\) is not available in a custom agent/],
    ['process', `process`, /threw ReferenceError: process is not defined/],
    ['globalThis.process', `globalThis.process.mainModule`, /threw TypeError/],
    ['the Function constructor via this', `this.constructor.constructor('return process')()`, /threw EvalError: Code generation from strings disallowed/],
    ['the Function constructor via the record', `record.constructor.constructor('return process')()`, /threw EvalError: Code generation from strings disallowed/],
    ['the Function constructor via emit', `emit.constructor.constructor('return process')()`, /threw EvalError: Code generation from strings disallowed/],
    ['eval', `eval('process')`, /threw EvalError: Code generation from strings disallowed/],
    ['new Function', `new Function('return process')()`, /threw EvalError: Code generation from strings disallowed/],
    ['a caller chain', `(function f() { let c = f.caller; while (c && c.caller) c = c.caller; return c.constructor('return process')(); })()`, /threw (TypeError|EvalError)/],
  ])('blocks %s at activation', async (_name, expr, reason) => {
    expect(await activationError(escaping(expr))).toMatch(reason);
  });

  it('blocks the Function constructor at load time', async () => {
    const msg = await activationError(`this.constructor.constructor('return process')().exit(3);`);
    expect(msg).toContain('the module threw EvalError: Code generation from strings disallowed');
  });

  it('rejects import() with an error of the sandbox, so its constructor leads nowhere', async () => {
    const code = `
      let state = 'pending';
      let asked = false;
      module.exports = { process(record) {
        if (!asked) {
          asked = true;
          import('fs').then(
            (m) => { state = 'imported ' + typeof m.writeFileSync; },
            (e) => {
              try {
                const p = e.constructor.constructor('return process')();
                p.getBuiltinModule('fs').writeFileSync(${JSON.stringify(canary)}, 'escaped');
                state = 'escaped';
              } catch (x) { state = 'blocked: ' + e.message + ' / ' + x.message; }
            },
          );
        }
        record.fields.state = state;
        return record;
      } };`;
    const { runtime } = await build(custom, { code, samples: ['x'] });
    open.push(runtime);
    // The rejection settles between calls; its handler runs within a later (time-limited) call.
    let state = 'pending';
    for (let i = 0; i < 20 && state === 'pending'; i++) {
      const out = await run(runtime, [makeRecord(`r${i}`)]);
      state = String(out.on('out')[0]?.fields.state);
      if (state === 'pending') await new Promise((r) => setTimeout(r, 20));
    }
    expect(state).toMatch(/^blocked: import\("fs"\) is not available in a custom agent.* \/ Code generation from strings disallowed/);
  });

  it('exposes only the ECMAScript builtins and its own console', async () => {
    const names = ['setTimeout', 'setImmediate', 'queueMicrotask', 'fetch', 'Buffer', 'process', 'require', 'structuredClone', 'ArrayBuffer', 'SharedArrayBuffer', 'Uint8Array', 'WebAssembly', 'Atomics', 'TextEncoder', 'performance'];
    const code = `module.exports = { process(r) { r.fields.types = ${JSON.stringify(names)}.map((n) => typeof globalThis[n]); r.fields.console = typeof console.log; return r; } };`;
    const { runtime } = await build(custom, { code });
    open.push(runtime);
    const out = await run(runtime, [makeRecord('x')]);
    expect(out.on('out')[0]!.fields.types).toEqual(names.map(() => 'undefined'));
    expect(out.on('out')[0]!.fields.console).toBe('function');
  });

  it('cannot replace the driver, and a hijacked Error.prototype does not hide the CPU limit', async () => {
    const code = `
      try { globalThis.__logfs_run = () => '{}'; } catch (e) {}
      Object.defineProperty(Error.prototype, 'code', { set(v) {}, get() { return 'fake'; } });
      module.exports = { process(r) { if (r.data === 'spin') for (;;) {} return r; } };`;
    const { runtime } = await build(custom, { code, samples: ['x'], limits: { cpuMsPerBatch: 250 } });
    open.push(runtime);
    const ok = await run(runtime, [makeRecord('fine')]);
    expect(ok.on('out').map((r) => r.data.toString())).toEqual(['fine']);
    const out = await run(runtime, [makeRecord('spin')]);
    expect(out.on('error')[0]!.fields._custom_error).toBe('exceeded the CPU limit of 250ms per batch');
  });

  it('survives an unhandled promise rejection in the module', async () => {
    const code = `module.exports = { process(r) { Promise.reject(new Error('nobody listens')); return r; } };`;
    const { runtime } = await build(custom, { code });
    open.push(runtime);
    for (let i = 0; i < 3; i++) {
      const out = await run(runtime, [makeRecord(`r${i}`)]);
      expect(out.on('out').length).toBe(1);
    }
  });
});
