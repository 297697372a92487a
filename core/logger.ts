/**
 * Structured logging. Every component logs through a child of the root logger bound to
 * `{ component }`; nothing but the CLI's user-facing output writes to the console directly.
 */
import { pino, type Logger } from 'pino';

export type { Logger };

let root: Logger | undefined;

export interface LoggerOptions {
  level?: string;
  /** File descriptor or path to write to; stderr by default so stdout stays for program output. */
  destination?: number | string;
}

export function configureLogger(opts: LoggerOptions = {}): Logger {
  const level = opts.level ?? process.env.LOGFS_LOG_LEVEL ?? 'info';
  root = pino({ level, base: { pid: process.pid } }, pino.destination({ dest: opts.destination ?? 2, sync: false }));
  return root;
}

export function rootLogger(): Logger {
  return root ?? configureLogger();
}

export function componentLogger(component: string, parent?: Logger): Logger {
  return (parent ?? rootLogger()).child({ component });
}
