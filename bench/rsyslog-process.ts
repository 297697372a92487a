/**
 * The comparison: Debian's rsyslogd with rsyslog-kafka, a private instance (own config, work
 * directory and pid file; no imklog, no system socket) receiving on the same three transports as
 * logfsd and producing to the same broker with omkafka. Its output goes to our stderr.
 *
 * What it writes to Kafka is one JSON object per message holding the parsed header fields and the
 * message, which is the work logfsd does too (parse, keep the fields, produce one record each).
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Logger } from '../core/logger.js';

const execFileP = promisify(execFile);

export interface RsyslogOptions {
  dir: string;
  udpPort: number;
  tcpPort: number;
  /** Path of the unix datagram socket (imuxsock). */
  socket: string;
  broker: string;
  topic: string;
  log: Logger;
}

/**
 * The tuning a careful operator would give rsyslog for this load, no more: a large in-memory
 * queue for the Kafka ruleset (the default main queue holds 100,000 messages, and omkafka's
 * librdkafka queue as many), librdkafka's batching with acks=all like logfsd's producer, and no
 * rate limit on the unix socket (imuxsock limits each process to 200 messages per 5 s by default).
 */
function config(o: RsyslogOptions): string {
  return `
global(workDirectory="${o.dir}" maxMessageSize="64k")
module(load="imudp")
module(load="imtcp")
module(load="imuxsock" SysSock.Use="off")
module(load="omkafka")
input(type="imudp" address="127.0.0.1" port="${o.udpPort}" ruleset="kafka" rcvBufSize="4m")
input(type="imtcp" address="127.0.0.1" port="${o.tcpPort}" ruleset="kafka")
# useSpecialParser off: the messages are RFC 5424, which imuxsock's own parser does not read.
input(type="imuxsock" Socket="${o.socket}" ruleset="kafka" RateLimit.Interval="0" useSpecialParser="off" parseHostname="on")
template(name="logfsJson" type="list" option.jsonf="on") {
  property(outname="facility" name="syslogfacility-text" format="jsonf")
  property(outname="severity" name="syslogseverity-text" format="jsonf")
  property(outname="timestamp" name="timereported" dateFormat="rfc3339" format="jsonf")
  property(outname="received" name="timegenerated" dateFormat="rfc3339" format="jsonf")
  property(outname="hostname" name="hostname" format="jsonf")
  property(outname="appName" name="app-name" format="jsonf")
  property(outname="procId" name="procid" format="jsonf")
  property(outname="msgId" name="msgid" format="jsonf")
  property(outname="structuredData" name="structured-data" format="jsonf")
  property(outname="msg" name="msg" format="jsonf")
}
ruleset(name="kafka" queue.type="LinkedList" queue.size="2000000" queue.dequeueBatchSize="1024") {
  action(type="omkafka" broker=["${o.broker}"] topic="${o.topic}" template="logfsJson"
         confParam=["queue.buffering.max.messages=2000000", "linger.ms=5", "batch.num.messages=10000"]
         topicConfParam=["request.required.acks=-1"]
         action.resumeRetryCount="-1" action.resumeInterval="1")
}
`;
}

async function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

export class RsyslogProcess {
  private exitCode: number | null | undefined;
  private stopping = false;
  private readonly exited: Promise<void>;

  private constructor(private readonly child: ChildProcess, log: Logger) {
    this.exited = new Promise((resolve) =>
      child.once('exit', (code, signal) => {
        this.exitCode = code ?? -1;
        if (!this.stopping) log.error({ pid: child.pid, code, signal }, 'rsyslogd exited unexpectedly');
        resolve();
      }),
    );
  }

  get pid(): number {
    return this.child.pid as number;
  }

  static async version(): Promise<string> {
    const { stdout } = await execFileP('rsyslogd', ['-v']);
    // The first line reads "rsyslogd  8.2302.0 (aka 2023.02) compiled with:".
    const m = /rsyslogd\s+(\S+)/.exec(stdout);
    return m ? `rsyslogd ${m[1]}` : 'rsyslogd';
  }

  static async start(o: RsyslogOptions): Promise<RsyslogProcess> {
    await fsp.mkdir(o.dir, { recursive: true });
    const conf = path.join(o.dir, 'rsyslog.conf');
    await fsp.writeFile(conf, config(o));
    // -N1 validates the config first, so a config error fails here with rsyslog's own message.
    await execFileP('rsyslogd', ['-N1', '-f', conf]).catch((err: { stderr?: string }) => {
      throw new Error(`rsyslogd rejects ${conf}: ${err.stderr ?? String(err)}`);
    });
    const child = spawn('rsyslogd', ['-n', '-f', conf, '-i', path.join(o.dir, 'rsyslogd.pid')], { stdio: ['ignore', 'pipe', 'pipe'] });
    for (const stream of [child.stdout, child.stderr]) {
      stream?.setEncoding('utf8');
      stream?.on('data', (chunk: string) => process.stderr.write(chunk.replace(/^(?=.)/gm, '[rsyslogd] ')));
    }
    const p = new RsyslogProcess(child, o.log);
    const deadline = Date.now() + 20_000;
    while (!(fs.existsSync(o.socket) && (await canConnect(o.tcpPort)))) {
      p.assertRunning();
      if (Date.now() > deadline) {
        await p.stop();
        throw new Error('rsyslogd did not listen within 20 s');
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    return p;
  }

  assertRunning(): void {
    if (this.exitCode !== undefined) throw new Error(`rsyslogd (pid ${this.pid}) exited with ${this.exitCode}`);
  }

  /** SIGTERM (rsyslog drains its queues within its shutdown timeout), SIGKILL after 30 s. */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.exitCode !== undefined) return;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 30_000);
    await this.exited;
    clearTimeout(timer);
  }
}
