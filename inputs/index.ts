/**
 * The socket inputs' public face: logfsd starts every configured input beside the mount with
 * `startInputs` and closes them before its gateway closes. Inputs are registered here explicitly.
 */
import { MetricsRegistry } from '../gateway/metrics.js';
import type { InputsConfig } from './config.js';
import type { InputContext, RunningInput } from './input.js';
import { startSocketInput } from './socket/index.js';
import { startSyslogInputs } from './syslog/syslog-input.js';

export { InputsConfigSchema, SyslogConfigSchema, type InputsConfig, type InputsConfigInput, type SyslogConfig } from './config.js';
export type { InputContext, RunningInput } from './input.js';

export interface InputsContext extends InputContext {
  /** logfsd's state directory (the unix datagram relay is built into `<data>/bin`). */
  dataDir: string;
  /**
   * The gateway's registry, so that the inputs' counters are served on its metrics endpoint; a
   * daemon with a separate gateway has none and the inputs keep their own.
   */
  metrics?: MetricsRegistry;
}

/** Starts every configured input; if one fails, those already started are closed again. */
export async function startInputs(config: InputsConfig, ctx: InputsContext): Promise<RunningInput[]> {
  const started: RunningInput[] = [];
  try {
    started.push(...(await startSyslogInputs(config.syslog, { ...ctx, metrics: ctx.metrics ?? new MetricsRegistry() })));
    if (config.socket) started.push(await startSocketInput(config.socket, ctx));
  } catch (err) {
    await closeInputs(started);
    throw err;
  }
  return started;
}

/** Every address listened on (an input with several listeners lists each), for logs and runtime.json. */
export function inputAddresses(inputs: RunningInput[]): string[] {
  return inputs.flatMap((i) => ('addresses' in i && Array.isArray(i.addresses) ? (i.addresses as string[]) : [i.address]));
}

/** Closes inputs in reverse order of start; a failing close is reported, the others still close. */
export async function closeInputs(inputs: RunningInput[]): Promise<Error[]> {
  const errors: Error[] = [];
  for (const input of [...inputs].reverse()) {
    try {
      await input.close();
    } catch (err) {
      errors.push(err instanceof Error ? err : new Error(String(err)));
    }
  }
  return errors;
}
