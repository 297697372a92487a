/**
 * Messages between the sandbox host (sandbox-host.ts, in the pipeline worker) and the sandbox
 * process (sandbox-worker.ts). Only strings and numbers cross: records go in as one JSON array and
 * come back as one JSON envelope that the driver (sandbox-driver.ts) built inside the vm context,
 * so no object of the sandbox's realm ever reaches the host.
 */

export interface SandboxLoad {
  t: 'load';
  /** The module's source, as the user wrote it. */
  source: string;
  /** Shown in stack traces and syntax errors. */
  filename: string;
  /** JSON text of the value passed to init(options). */
  options: string;
  /** Ports the module may emit on; the first is the default. */
  ports: string[];
  /** vm timeout of a batch. */
  cpuMs: number;
  /** vm timeout of loading the module and of init: a fresh process runs cold code. */
  loadCpuMs: number;
  maxOutputPerRecord: number;
  maxLogLines: number;
  maxLogChars: number;
}

export type ToSandbox = SandboxLoad | { t: 'run'; id: number; input: string };

export type FromSandbox =
  /** The module loaded; `envelope` carries init's logs, and `f` when loading or init failed. */
  | { t: 'loaded'; envelope: string }
  | { t: 'load-failed'; kind: 'syntax' | 'cpu' | 'crashed'; stage: 'load' | 'init'; message: string }
  | { t: 'ran'; id: number; envelope: string }
  /** The batch hit the CPU limit; `partial` is the envelope of the records finished before it. */
  | { t: 'timed-out'; id: number; partial: string | null }
  /** The driver itself failed (never the module: its errors are caught per record). */
  | { t: 'crashed'; id: number; message: string };

/**
 * What the driver returns for a call, as JSON text:
 * `r` one entry per input record (`{o: [[port, record], ...]}` or `{e: reason}`),
 * `f` a failure of the whole call, `l` log lines `[level, message]`, `d` log lines dropped.
 */
export interface SandboxEnvelope {
  r?: unknown[];
  f?: string;
  l: [string, string][];
  d: number;
}
