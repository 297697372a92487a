/**
 * A member's side of the fleet: a heartbeat every second with what `collect()` returns, one at
 * once whenever the member has applied a new provisioning store version (provisioning jobs measure
 * the propagation delay of a change from it), and a tombstone when it stops cleanly.
 */
import os from 'node:os';
import type { Logger } from 'pino';
import { errorMessage } from '../../core/errors.js';
import { EMPTY_USAGE, type MemberKind, type MemberMessage, type MemberState } from './member.js';
import { FLEET_DEFAULTS, type FleetTransport } from './transport.js';

export interface ReporterOptions {
  /** Stable across restarts where the member is (`daemon-<host>-<instance>`), else unique (`worker-<host>-<pid>`). */
  id: string;
  kind: MemberKind;
  /** Default os.hostname(). */
  host?: string;
  collect: () => MemberState;
  log: Logger;
  heartbeatMs?: number;
}

export class FleetReporter {
  private storeVersion = 0;
  private timer: NodeJS.Timeout | undefined;
  private sending: Promise<void> | undefined;
  private again = false;
  private stopped = false;
  private failing = false;

  constructor(
    private readonly transport: FleetTransport,
    private readonly opts: ReporterOptions,
  ) {}

  get id(): string {
    return this.opts.id;
  }

  start(): void {
    if (this.timer || this.stopped) return;
    this.publish();
    this.timer = setInterval(() => this.publish(), this.opts.heartbeatMs ?? FLEET_DEFAULTS.heartbeatMs);
    this.timer.unref();
  }

  /** The member has applied store version `version`: tell the fleet now rather than at the next beat. */
  noteStoreVersion(version: number): void {
    if (version === this.storeVersion) return;
    this.storeVersion = version;
    if (this.timer) this.publish();
  }

  /** Stops the heartbeat and removes the member from the fleet. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.timer);
    this.timer = undefined;
    await this.sending;
    await this.transport.remove(this.opts.id).catch((err: unknown) => this.opts.log.warn({ err: errorMessage(err) }, 'fleet: could not remove this member; it will show as not alive'));
  }

  /** One message at a time; a request while one is in flight sends again right after it, with fresh data. */
  private publish(): void {
    if (this.stopped) return;
    if (this.sending) {
      this.again = true;
      return;
    }
    this.sending = this.send().finally(() => {
      this.sending = undefined;
      if (this.again) {
        this.again = false;
        this.publish();
      }
    });
  }

  private async send(): Promise<void> {
    let message: MemberMessage;
    try {
      const state = this.opts.collect();
      message = {
        id: this.opts.id,
        kind: this.opts.kind,
        host: this.opts.host ?? os.hostname(),
        pid: process.pid,
        ...state,
        storeVersion: this.storeVersion,
        seenAt: new Date().toISOString(),
        usage: state.usage ?? EMPTY_USAGE,
      };
    } catch (err) {
      this.opts.log.error({ err }, 'fleet: collecting this member\'s report failed (a bug); skipping this heartbeat');
      return;
    }
    try {
      await this.transport.publish(message);
      if (this.failing) this.opts.log.info('fleet: heartbeats get through again');
      this.failing = false;
    } catch (err) {
      // The next beat tries again; say so once, not every second.
      if (!this.failing) this.opts.log.warn({ err: errorMessage(err) }, 'fleet: heartbeat not published; retrying every beat');
      this.failing = true;
    }
  }
}
