/**
 * The code that runs inside the sandbox's vm context around the user's module: it loads the module
 * (CommonJS style), calls init(options) and process(record, emit) for every record of a batch, and
 * turns everything the module produced into one JSON string.
 *
 * `sandboxDriver` is never called where it is defined: the sandbox process evaluates its source
 * text inside the context, so it must not refer to anything outside its own body. Because of that,
 * every object the module sees (records, emit, console) belongs to the context's realm; an object
 * of the sandbox process's realm would hand the module that realm's `Function` and with it
 * `process`. Builtins are captured before the module runs, so a module that replaces
 * `JSON.stringify` or `Array.isArray` cannot bend the driver; what the driver calls on the module's
 * objects (getters, toJSON) runs inside the same CPU-limited call, and the host validates the
 * result anyway.
 */

/** The API the driver installs (as non-writable globals) for the sandbox process's scripts. */
export interface DriverApi {
  /** Hands a string (batch or options JSON) to the next call; nothing of the module runs here. */
  put(text: string): void;
  /** An Error of the context's realm, thrown at a module that tries `import()`. */
  importError(specifier: string): Error;
}

export function sandboxDriver(portsJson: string, maxOutput: number, maxLogLines: number, maxLogChars: number): DriverApi {
  'use strict';
  const g = globalThis as any;
  const stringify = JSON.stringify;
  const parse = JSON.parse;
  const isArray = Array.isArray;
  const apply = Reflect.apply;
  const define = Object.defineProperty;
  const freeze = Object.freeze;
  const toText = String;
  const ErrorCtor = Error;
  const ports: string[] = parse(portsJson);
  const portList = stringify(ports);

  // Binary buffers live outside the JavaScript heap, so the memory limit would not bound them;
  // WebAssembly is off (codeGeneration.wasm) and the engine's own console reaches the inspector.
  const removed = ['ArrayBuffer', 'SharedArrayBuffer', 'Atomics', 'DataView', 'WebAssembly', 'console',
    'Int8Array', 'Uint8Array', 'Uint8ClampedArray', 'Int16Array', 'Uint16Array', 'Int32Array', 'Uint32Array',
    'Float32Array', 'Float64Array', 'BigInt64Array', 'BigUint64Array'];
  for (let i = 0; i < removed.length; i++) delete g[removed[i] as string];

  let input = '';
  let mod: any = null;
  let processFn: any = null;

  // State of the record being processed.
  let active = false;
  let outs: string[] = [];
  let nOut = 0;
  let overflow = false;
  let problem = '';

  // State of the current call.
  let results: string[] = [];
  let nDone = 0;
  let logs: string[] = [];
  let dropped = 0;

  function describe(err: any): string {
    try {
      if (err !== null && typeof err === 'object' && typeof err.message === 'string') {
        const name = typeof err.name === 'string' && err.name !== '' ? err.name : 'Error';
        return name + ': ' + err.message;
      }
      return toText(err);
    } catch {
      return 'a value that cannot be shown';
    }
  }

  function show(v: any): string {
    if (typeof v === 'string') return v;
    try {
      const s = stringify(v);
      if (typeof s === 'string') return s;
    } catch {
      // fall through to String(v)
    }
    try {
      return toText(v);
    } catch {
      return '[unprintable]';
    }
  }

  function note(level: string, message: string): void {
    if (logs.length >= maxLogLines) {
      dropped++;
      return;
    }
    logs[logs.length] = '[' + stringify(level) + ',' + stringify(message) + ']';
  }

  function logger(level: string): (...args: unknown[]) => void {
    return function () {
      if (logs.length >= maxLogLines) {
        dropped++;
        return;
      }
      let msg = '';
      for (let i = 0; i < arguments.length; i++) {
        msg += (i === 0 ? '' : ' ') + show(arguments[i]);
        if (msg.length > maxLogChars) break;
      }
      if (msg.length > maxLogChars) msg = msg.slice(0, maxLogChars) + '…';
      note(level, msg);
    };
  }

  function allowedPort(p: unknown): boolean {
    for (let i = 0; i < ports.length; i++) if (ports[i] === p) return true;
    return false;
  }

  function setProblem(p: string): void {
    if (problem === '') problem = p;
  }

  function emit(record: unknown, port?: unknown): void {
    if (!active) {
      note('warn', 'emit() was called after process() returned; the record was ignored');
      return;
    }
    const p = port === undefined ? ports[0] : port;
    if (!allowedPort(p)) {
      setProblem('emitted on unknown port ' + (typeof p === 'string' ? stringify(p) : show(p)) + ' (ports: ' + portList + ')');
      return;
    }
    if (record === null || typeof record !== 'object' || isArray(record)) {
      setProblem('emitted invalid output: expected a record object, got ' + (record === null ? 'null' : isArray(record) ? 'an array' : typeof record));
      return;
    }
    if (nOut >= maxOutput) {
      overflow = true;
      return;
    }
    let text: unknown;
    try {
      text = stringify(record);
    } catch (err) {
      setProblem('emitted a record that cannot be converted to JSON: ' + describe(err));
      return;
    }
    if (typeof text !== 'string') {
      setProblem('emitted invalid output: the record converts to no JSON value');
      return;
    }
    outs[nOut++] = '[' + stringify(p) + ',' + text + ']';
  }

  function envelope(failure: string, withResults: boolean): string {
    let r = '';
    for (let i = 0; i < nDone; i++) r += (i === 0 ? '' : ',') + results[i];
    let l = '';
    for (let i = 0; i < logs.length; i++) l += (i === 0 ? '' : ',') + logs[i];
    const text =
      '{' + (withResults ? '"r":[' + r + '],' : '') + (failure === '' ? '' : '"f":' + stringify(failure) + ',') + '"l":[' + l + '],"d":' + dropped + '}';
    results = [];
    nDone = 0;
    logs = [];
    dropped = 0;
    return text;
  }

  function load(wrapper: any): string {
    const module: any = { exports: {} };
    try {
      apply(wrapper, module.exports, [module, module.exports, requireStub]);
    } catch (err) {
      return envelope('the module threw ' + describe(err) + ' while loading', false);
    }
    const exp = module.exports;
    if (exp === null || (typeof exp !== 'object' && typeof exp !== 'function')) {
      return envelope('module.exports must be an object with a process(record, emit) function', false);
    }
    if (typeof exp.process !== 'function') return envelope('module.exports.process must be a function: process(record, emit)', false);
    if (exp.init !== undefined && typeof exp.init !== 'function') return envelope('module.exports.init must be a function when present', false);
    mod = exp;
    processFn = exp.process;
    return '';
  }

  function init(): string {
    if (mod === null) return envelope('the module was not loaded: did its source close the function it is loaded in?', false);
    const options = parse(input);
    input = '';
    try {
      if (typeof mod.init === 'function') apply(mod.init, mod, [options]);
    } catch (err) {
      return envelope('init(options) threw ' + describe(err), false);
    }
    return envelope('', false);
  }

  function run(): string {
    try {
      const records = parse(input);
      input = '';
      results = [];
      nDone = 0;
      const n = records.length;
      for (let i = 0; i < n; i++) {
        outs = [];
        nOut = 0;
        overflow = false;
        problem = '';
        active = true;
        try {
          const ret: any = apply(processFn, mod, [records[i], emit]);
          if (ret !== undefined && ret !== null) {
            if (isArray(ret)) {
              const m = ret.length;
              for (let j = 0; j < m; j++) emit(ret[j]);
            } else if (typeof ret === 'object' && typeof ret.then === 'function') {
              setProblem('returned a Promise: process(record, emit) must be synchronous');
            } else {
              emit(ret);
            }
          }
        } catch (err) {
          problem = 'threw ' + describe(err);
        }
        active = false;
        if (problem === '' && overflow) problem = 'emitted more than ' + maxOutput + ' records for one input record (limits.maxOutputPerRecord)';
        if (problem !== '') {
          results[nDone] = '{"e":' + stringify(problem) + '}';
        } else {
          let o = '';
          for (let j = 0; j < nOut; j++) o += (j === 0 ? '' : ',') + outs[j];
          results[nDone] = '{"o":[' + o + ']}';
        }
        nDone++;
        outs = [];
      }
      return envelope('', true);
    } catch (err) {
      active = false;
      return envelope('the sandbox driver failed: ' + describe(err), false);
    }
  }

  /** What finished before the CPU limit stopped `run`. */
  function partial(): string {
    active = false;
    return envelope('', true);
  }

  function requireStub(name: unknown): never {
    throw new ErrorCtor('require(' + (typeof name === 'string' ? stringify(name) : show(name)) + ') is not available in a custom agent: the sandbox has no modules, inline what you need');
  }

  g.console = freeze({ log: logger('info'), info: logger('info'), debug: logger('debug'), warn: logger('warn'), error: logger('error') });
  // Non-writable and non-configurable, so a module cannot replace what the sandbox process calls.
  const hidden = { writable: false, configurable: false, enumerable: false };
  define(g, '__logfs_load', { ...hidden, value: load });
  define(g, '__logfs_init', { ...hidden, value: init });
  define(g, '__logfs_run', { ...hidden, value: run });
  define(g, '__logfs_partial', { ...hidden, value: partial });

  return freeze({
    put(text: string): void {
      input = text;
    },
    importError(specifier: string): Error {
      return new ErrorCtor('import(' + stringify(specifier) + ') is not available in a custom agent: the sandbox has no modules');
    },
  });
}
