/**
 * The sandbox process: a child process (not a worker thread: see sandbox-host.ts and docs/custom-agents.md)
 * that the host forks with a heap limit, Node's permission model and code generation from strings
 * disallowed. It runs one user module inside a `node:vm` context: no require, no process, no
 * import(), no timers, only the ECMAScript builtins and the driver's console.
 *
 * This file never touches an object of the context's realm beyond the driver's own functions; it
 * passes strings in and gets strings out. Every call into the context has the CPU limit as its vm
 * timeout, and microtasks run inside that call (`microtaskMode: 'afterEvaluate'`), so a promise
 * chain cannot outlive it.
 */
import { performance } from 'node:perf_hooks';
import process from 'node:process';
import { types } from 'node:util';
import vm from 'node:vm';
import { sandboxDriver, type DriverApi } from './sandbox-driver.js';
import type { FromSandbox, SandboxLoad, ToSandbox } from './sandbox-protocol.js';

const send = (m: FromSandbox): void => {
  process.send?.(m);
};

interface Loaded {
  context: vm.Context;
  api: DriverApi;
  timeout: number;
  run: vm.Script;
  partial: vm.Script;
}

let loaded: Loaded | undefined;

/**
 * Errors that leave a timed call are objects of the context's realm (Node builds even the timeout
 * error there), so only their own data properties are read: a getter or a setter the module put on
 * Error.prototype could otherwise run its code outside the CPU limit, or hide the timeout's code.
 * The time spent decides as well.
 */
function timedOut(err: unknown, startedAt: number, timeout: number): boolean {
  if (ownString(err, 'code') === 'ERR_SCRIPT_EXECUTION_TIMEOUT') return true;
  // Error's constructor defines `message` itself; no setter of the module is involved.
  if (ownString(err, 'message')?.startsWith('Script execution timed out') === true) return true;
  // vm's watchdog runs on its own clock and may fire a little early by ours.
  return performance.now() - startedAt >= timeout - 5;
}

function ownString(err: unknown, key: string): string | undefined {
  if (!types.isNativeError(err)) return undefined;
  const d = Object.getOwnPropertyDescriptor(err, key);
  return d !== undefined && typeof d.value === 'string' ? d.value : undefined;
}

function messageOf(err: unknown): string {
  return ownString(err, 'message') ?? 'the sandbox failed';
}

/** Compiles a script of ours or the module's; import() in it rejects with an error of the context's realm. */
function compile(source: string, filename: string, api: () => DriverApi | undefined): vm.Script {
  return new vm.Script(source, {
    filename,
    importModuleDynamically: (specifier: string) => {
      throw api()?.importError(String(specifier));
    },
  });
}

function load(m: SandboxLoad): void {
  const context = vm.createContext(Object.create(null), {
    name: m.filename,
    codeGeneration: { strings: false, wasm: false },
    microtaskMode: 'afterEvaluate',
  });
  const timeout = m.loadCpuMs;
  let api: DriverApi | undefined;
  const setup = compile(`'use strict';(${String(sandboxDriver)})`, 'logfs-sandbox-driver.js', () => api);
  const factory = setup.runInContext(context, { timeout }) as typeof sandboxDriver;
  api = factory(JSON.stringify(m.ports), m.maxOutputPerRecord, m.maxLogLines, m.maxLogChars);

  // The wrapper keeps the module's line numbers: nothing is added before its first line.
  let moduleScript: vm.Script;
  try {
    moduleScript = compile(`__logfs_load(function (module, exports, require) {${m.source}\n})`, m.filename, () => api);
  } catch (err) {
    send({ t: 'load-failed', kind: 'syntax', stage: 'load', message: syntaxMessage(err) });
    return;
  }
  let stage: 'load' | 'init' = 'load';
  let startedAt = performance.now();
  try {
    const result: unknown = moduleScript.runInContext(context, { timeout });
    if (typeof result !== 'string') {
      send({ t: 'load-failed', kind: 'crashed', stage, message: 'the module closed the function it is loaded in (unbalanced braces?)' });
      return;
    }
    if (result !== '') {
      send({ t: 'loaded', envelope: result });
      return;
    }
    stage = 'init';
    startedAt = performance.now();
    api.put(m.options);
    const envelope: unknown = compile('__logfs_init()', 'logfs-sandbox-init.js', () => api).runInContext(context, { timeout });
    if (typeof envelope !== 'string') throw new Error('init returned no result');
    loaded = {
      context,
      api,
      timeout: m.cpuMs,
      run: compile('__logfs_run()', 'logfs-sandbox-run.js', () => api),
      partial: compile('__logfs_partial()', 'logfs-sandbox-partial.js', () => api),
    };
    send({ t: 'loaded', envelope });
  } catch (err) {
    send({ t: 'load-failed', kind: timedOut(err, startedAt, timeout) ? 'cpu' : 'crashed', stage, message: messageOf(err) });
  }
}

/** "SyntaxError: Unexpected token '}' (custom.js:3)": V8 puts the location on the stack's first line. */
function syntaxMessage(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const where = err.stack?.split('\n', 1)[0] ?? '';
  const located = /:\d+$/.test(where) ? ` (${where})` : '';
  return `${err.name}: ${err.message}${located}`;
}

function run(id: number, input: string): void {
  if (!loaded) {
    send({ t: 'crashed', id, message: 'no module is loaded' });
    return;
  }
  loaded.api.put(input);
  const startedAt = performance.now();
  try {
    const envelope: unknown = loaded.run.runInContext(loaded.context, { timeout: loaded.timeout });
    if (typeof envelope === 'string') send({ t: 'ran', id, envelope });
    else send({ t: 'crashed', id, message: 'the driver returned no result' });
  } catch (err) {
    if (!timedOut(err, startedAt, loaded.timeout)) {
      send({ t: 'crashed', id, message: messageOf(err) });
      return;
    }
    let partial: string | null = null;
    try {
      const text: unknown = loaded.partial.runInContext(loaded.context, { timeout: loaded.timeout });
      if (typeof text === 'string') partial = text;
    } catch {
      // A module that keeps the context busy (a promise loop) loses the finished records too.
    }
    send({ t: 'timed-out', id, partial });
  }
}

process.on('message', (m: ToSandbox) => {
  if (m.t === 'load') load(m);
  else run(m.id, m.input);
});
// The host's end of the channel closing means the host is gone: nothing left to do.
process.on('disconnect', () => process.exit(0));
// A module's promise that nobody handles must not end the process (Node's default); the module's
// code is not looked at, as reading the reason could run its code outside the CPU limit.
process.on('unhandledRejection', () => {});
