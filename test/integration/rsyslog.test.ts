/**
 * rsyslog as a client nobody here wrote (issue 4): a private rsyslogd receives from util-linux
 * `logger` (on its own unix socket and TCP port) and forwards everything to logfsd's syslog TCP
 * listener with omfwd twice, once with RFC 6587 octet counting in RFC 5424 format and once with
 * rsyslog's default: newline framing in its traditional (RFC 3164) format. Each message must then
 * arrive twice in the right stream, with the severity as class and the header fields as attrs.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SyslogAttrs } from '../../inputs/syslog/syslog-message.js';
import { Daemon, execFileP, logfsctl, randomName, sh, tempDir, waitFor } from './harness.js';

/** The record as `logfsctl tail --json` prints it. */
interface TailRecord {
  stream: string;
  class: string | null;
  source: string;
  data: string;
  dataEncoding: string;
  attrs?: SyslogAttrs;
}

/** rsyslog's name for this host in what it forwards (global localHostname): a known value to check. */
const RS_HOST = 'rs-test-host';

async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise((r) => srv.close(r));
  return port;
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

/**
 * A private rsyslogd: its own config, work directory and pid file, no imklog and no system socket
 * (SysSock.Use off), so it neither reads the kernel log nor competes with a system logger.
 */
class Rsyslogd {
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  readonly socket: string;
  readonly logFile: string;

  constructor(
    readonly dir: string,
    readonly tcpPort: number,
    readonly forwardPort: number,
  ) {
    this.socket = path.join(dir, 'in.sock');
    this.logFile = path.join(dir, 'rsyslogd.log');
  }

  config(): string {
    // Both forwarding actions retry every second without limit behind their own in-memory queue,
    // so a message that arrives while logfsd is not yet accepting waits instead of being dropped.
    const retry = 'action.resumeRetryCount="-1" action.resumeInterval="1" queue.type="LinkedList"';
    return `
global(workDirectory="${this.dir}" localHostname="${RS_HOST}" maxMessageSize="64k")
module(load="imuxsock" SysSock.Use="off")
module(load="imtcp")
# The inputs feed their own ruleset: rsyslogd's internal messages stay in the default one, which has
# no action, so the only records in logfsd are the ones this test sends.
input(type="imuxsock" Socket="${this.socket}" ruleset="fwd" RateLimit.Interval="0")
input(type="imtcp" address="127.0.0.1" port="${this.tcpPort}" ruleset="fwd")
ruleset(name="fwd") {
  # RFC 6587 section 3.4.1 octet counting, RFC 5424 format.
  action(type="omfwd" target="127.0.0.1" port="${this.forwardPort}" protocol="tcp"
         TCP_Framing="octet-counted" template="RSYSLOG_SyslogProtocol23Format" ${retry})
  # rsyslog's default: RFC 6587 section 3.4.2 newline framing, RSYSLOG_TraditionalForwardFormat
  # (RFC 3164 header).
  action(type="omfwd" target="127.0.0.1" port="${this.forwardPort}" protocol="tcp" ${retry})
}
`;
  }

  async start(): Promise<void> {
    const conf = path.join(this.dir, 'rsyslog.conf');
    await fsp.writeFile(conf, this.config());
    // -N1 checks the config and exits: a config error then fails here with rsyslog's message.
    await execFileP('rsyslogd', ['-N1', '-f', conf]);
    const fd = fs.openSync(this.logFile, 'a');
    const child = spawn('rsyslogd', ['-n', '-f', conf, '-i', path.join(this.dir, 'rsyslogd.pid')], { stdio: ['ignore', fd, fd] });
    fs.closeSync(fd);
    this.child = child;
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    await waitFor('rsyslogd to listen', async () => {
      if (child.exitCode !== null) throw new Error(`rsyslogd exited with ${child.exitCode}: ${await fsp.readFile(this.logFile, 'utf8')}`);
      return fs.existsSync(this.socket) && (await canConnect(this.tcpPort));
    }, 20_000);
  }

  async stop(): Promise<void> {
    if (!this.child || this.child.exitCode !== null) return;
    this.child.kill('SIGTERM');
    await this.exited;
  }
}

async function tail(d: Daemon, stream: string, count: number): Promise<TailRecord[]> {
  const r = await logfsctl(['tail', stream, '--json', '--from-beginning', '--count', String(count), '--timeout', '30', '--data', d.dataDir]);
  expect(r.code, `${r.stderr}\n${await d.logTail()}`).toBe(0);
  return r.stdout.trim().split('\n').map((l) => JSON.parse(l) as TailRecord);
}

function byFormat(records: TailRecord[], marker: string): Map<string | undefined, TailRecord> {
  const mine = records.filter((r) => r.data.includes(marker));
  return new Map(mine.map((r) => [r.attrs?.format, r]));
}

const withinMs = (iso: string | undefined, ms: number): boolean => iso !== undefined && Math.abs(Date.parse(iso) - Date.now()) < ms;

describe('rsyslog forwarding to logfsd with omfwd over TCP', () => {
  let d: Daemon;
  let rs: Rsyslogd;
  let dir: string;
  const m1 = randomName('m1-');
  const m2 = randomName('m2-');
  const bulk = 200;

  beforeAll(async () => {
    await execFileP('rsyslogd', ['-v']).catch(() => {
      throw new Error('rsyslogd is not installed: run scripts/setup.sh test');
    });
    const port = await freePort();
    d = await Daemon.start({
      streams: ['syslog', 'bulk'],
      args: ['--syslog-tcp', `127.0.0.1:${port}`],
      config: { inputs: { syslog: { rules: [{ stream: 'bulk', match: { appName: 'rsbulk' } }] } } },
    });
    dir = await tempDir('logfs-rsyslog-');
    rs = new Rsyslogd(dir, await freePort(), port);
    await rs.start();

    // One message on rsyslog's unix socket the way syslog(3) sends it (RFC 3164 header) ...
    await sh(`logger -u ${rs.socket} -t rsapp --id=4242 -p local3.err -- "${m1} from the unix socket"`);
    // ... one over TCP in RFC 5424 with structured data and a MSGID ...
    await sh(
      `logger -n 127.0.0.1 -P ${rs.tcpPort} -T --octet-count --rfc5424 -t rsapp -p user.warning --msgid M2 ` +
        `--sd-id ex@32473 --sd-param 'k="v w"' -- "${m2} over tcp"`,
    );
    // ... and a burst that a routing rule sends to another stream: none may be lost on the way.
    await sh(`seq -f 'bulk %g' 1 ${bulk} | logger -u ${rs.socket} -t rsbulk -p daemon.info`);
  }, 120_000);

  afterAll(async () => {
    await rs?.stop();
    await d?.cleanup();
    if (dir) await fsp.rm(dir, { recursive: true, force: true });
  });

  it('a message from the unix socket arrives in both framings with its severity as class and its header as attrs', async () => {
    const records = await tail(d, 'syslog', 4);
    const got = byFormat(records, m1);
    expect([...got.keys()].sort()).toEqual(['rfc3164', 'rfc5424']);
    for (const r of got.values()) {
      expect(r).toMatchObject({ stream: 'syslog', class: 'err', source: 'syslog', dataEncoding: 'utf8' });
      // The record's data is the MSG alone. rsyslog's 5424 template ends with a newline that it
      // counts into the octet-counted frame; rsyslog itself drops such a trailing LF on reception
      // (its global parser.dropTrailingLFOnReception, on by default), and so must logfsd.
      expect(r.data.trim()).toBe(`${m1} from the unix socket`);
      expect(r.data.endsWith('\n')).toBe(false);
      expect(r.attrs).toMatchObject({ facility: 'local3', facilityCode: 19, severity: 'err', severityCode: 3, hostname: RS_HOST, appName: 'rsapp', procId: '4242' });
      expect(r.attrs?.problem, JSON.stringify(r.attrs)).toBeUndefined();
    }
    // RFC 5424 carries a full timestamp; RFC 3164's has no year or zone, so only the day is sure.
    expect(withinMs(got.get('rfc5424')?.attrs?.timestamp, 5 * 60_000), JSON.stringify(got.get('rfc5424')?.attrs)).toBe(true);
    expect(withinMs(got.get('rfc3164')?.attrs?.timestamp, 26 * 3600_000), JSON.stringify(got.get('rfc3164')?.attrs)).toBe(true);
  });

  it('an RFC 5424 message keeps its MSGID and structured data through octet-counted forwarding', async () => {
    const records = await tail(d, 'syslog', 4);
    const got = byFormat(records, m2);
    expect([...got.keys()].sort()).toEqual(['rfc3164', 'rfc5424']);
    // rsyslog forwards this one (it had no PROCID) as `<12>TIMESTAMP HOST rsapp MSG`: a TAG with
    // no colon. RFC 3164 section 4.1.3 (https://www.rfc-editor.org/rfc/rfc3164#section-4.1.3): "Any
    // non-alphanumeric character will terminate the TAG field", so TAG is rsapp, as rsyslog reads it.
    for (const r of got.values()) {
      expect(r).toMatchObject({ stream: 'syslog', class: 'warning', source: 'syslog' });
      expect(r.data.trim()).toBe(`${m2} over tcp`);
      expect(r.attrs).toMatchObject({ facility: 'user', severity: 'warning', appName: 'rsapp' });
      expect(r.attrs?.hostname).toBeTruthy();
    }
    const full = got.get('rfc5424') as TailRecord;
    expect(full.attrs?.msgId).toBe('M2');
    // rsyslog adds its own timeQuality element (RFC 5424 section 7.1) beside the sender's.
    expect(full.attrs?.structuredData?.['ex@32473']).toEqual({ k: 'v w' });
    expect(full.attrs?.structuredData).toHaveProperty('timeQuality');
    // rsyslog's traditional format drops MSGID and SD; its tag has no colon when there was no PROCID.
    expect(got.get('rfc3164')?.attrs?.msgId).toBeUndefined();
  });

  it('a burst routed by app-name arrives whole, in order per framing, in the rule\'s stream', async () => {
    const records = await tail(d, 'bulk', 2 * bulk);
    expect(records.every((r) => r.stream === 'bulk' && r.class === 'info' && r.attrs?.appName === 'rsbulk')).toBe(true);
    for (const format of ['rfc5424', 'rfc3164']) {
      const lines = records.filter((r) => r.attrs?.format === format).map((r) => r.data.trim());
      expect(lines, format).toEqual(Array.from({ length: bulk }, (_, i) => `bulk ${i + 1}`));
    }
    // Nothing of the burst strayed into the default stream: it holds the four records of the
    // other tests and no fifth.
    const more = await logfsctl(['tail', 'syslog', '--json', '--from-beginning', '--count', '5', '--timeout', '3', '--data', d.dataDir]);
    expect(more.code).toBe(1);
    expect(more.stderr).toContain('only 4 of 5 records arrived');
  });
});
