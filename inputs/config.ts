/**
 * Configuration of the socket inputs (`inputs:` in the logfsd config): the syslog listeners with
 * their routing rules, and the plain socket input. Strict schemas, every field described, defaults
 * in the schema; docs/configuration.md and docs/syslog.md list them.
 */
import { z } from 'zod';
import { validateLabel, validateStreamName } from '../control/stream-name.js';
import { SocketInputConfigSchema } from './socket/index.js';
import { FACILITY_NAMES, SEVERITY_NAMES } from './syslog/syslog-message.js';

export const SYSLOG_DEFAULTS = {
  /** Unprivileged defaults: 514 (UDP by RFC 5426, TCP by custom) needs root or CAP_NET_BIND_SERVICE. */
  udpPort: 5514,
  tcpPort: 5514,
  /** RFC 5425 section 4.1 assigns 6514 to syslog over TLS; it is unprivileged already. */
  tlsPort: 6514,
  /** Listen on loopback unless told otherwise: a syslog port open to the network is a choice. */
  host: '127.0.0.1',
  defaultStream: 'syslog',
  classFrom: 'severity' as 'severity' | 'none',
  maxMessageBytes: 64 * 1024,
  oversize: 'split' as 'split' | 'truncate',
  maxConnections: 1000,
  idleTimeoutMs: 30_000,
  unixMode: '0666',
  receiveBufferBytes: 4 * 1024 * 1024,
} as const;

/** `HOST:PORT`, `HOST`, `:PORT` or `[v6]:PORT`; a missing part takes the listener's default. */
export interface ListenAddress {
  host: string;
  port: number;
}

const LISTEN = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:\s[\]]*))(?::(\d{1,5}))?$/;

export function parseListen(text: string, defaultPort: number, defaultHost: string = SYSLOG_DEFAULTS.host): ListenAddress {
  const m = LISTEN.exec(text.trim());
  if (!m) throw new RangeError(`"${text}" is not HOST:PORT`);
  const host = m[1] ?? (m[2] || defaultHost);
  const port = m[3] === undefined ? defaultPort : Number(m[3]);
  if (port > 65535) throw new RangeError(`port ${port} of "${text}" is above 65535`);
  return { host, port };
}

function listenField(defaultPort: number, what: string): z.ZodType<string> {
  return z
    .string()
    .refine((s) => {
      try {
        parseListen(s, defaultPort);
        return true;
      } catch {
        return false;
      }
    }, 'expected HOST:PORT, HOST or :PORT (port 0 = any free port)')
    .describe(`${what}: HOST:PORT; a missing host is ${SYSLOG_DEFAULTS.host}, a missing port ${defaultPort} (514 only when asked)`);
}

/** Refines with one of our validators, turning its LogfsError into the issue message. */
function validated(fn: (s: string) => unknown): (s: string, ctx: z.RefinementCtx) => void {
  return (s, ctx) => {
    try {
      fn(s);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: (err as Error).message });
    }
  };
}

const StreamName = z.string().superRefine(validated(validateStreamName));
const ClassLabel = z.string().superRefine(validated(validateLabel));

const OneOrMany = <T extends z.ZodType>(t: T) => z.union([t, z.array(t).min(1)]);

export const RuleMatchSchema = z.strictObject({
  appName: OneOrMany(z.string().min(1)).optional()
    .describe('APP-NAME (RFC 5424) or TAG (RFC 3164); "*" matches any run of characters; a list matches any of them'),
  facility: OneOrMany(z.union([z.enum(FACILITY_NAMES), z.number().int().min(0).max(FACILITY_NAMES.length - 1)])).optional()
    .describe('Facility names (kern, user, mail, daemon, auth, …, local0-local7) or numbers 0-23'),
  hostname: OneOrMany(z.string().min(1)).optional().describe('HOSTNAME of the message; "*" matches any run of characters'),
  severity: OneOrMany(z.union([z.enum(SEVERITY_NAMES), z.number().int().min(0).max(SEVERITY_NAMES.length - 1)])).optional()
    .describe('Severity names (emerg, alert, crit, err, warning, notice, info, debug) or numbers 0-7'),
  pattern: z.string().min(1).superRefine(validated((s) => new RegExp(s, 'u'))).optional()
    .describe('Regular expression (JavaScript, unicode) searched in the message text (MSG)'),
});

export const RouteRuleSchema = z.strictObject({
  stream: StreamName.describe('Stream the matching messages go to'),
  class: ClassLabel.optional().describe('Class label of the matching messages; default per classFrom (the severity name)'),
  match: RuleMatchSchema.prefault({}).describe('All given conditions must hold; none given matches every message'),
});

const TlsSchema = z.strictObject({
  cert: z.string().min(1).describe('PEM certificate (chain) file of the listener'),
  key: z.string().min(1).describe('PEM private key file of the certificate'),
  ca: z.string().min(1).optional().describe('PEM CA file to verify client certificates against (RFC 5425 section 4.2.1, certificate-based authentication)'),
  requireClientCert: z.boolean().default(false).describe('Refuse clients without a certificate signed by ca (mutual authentication)'),
}).refine((t) => !t.requireClientCert || t.ca !== undefined, { path: ['ca'], message: 'requireClientCert needs ca: the CA that client certificates must be signed by' });

const UnixSchema = z.strictObject({
  path: z.string().min(1).describe('Path of the unix datagram socket (/dev/log for the system logger)'),
  takeOver: z.boolean().default(false)
    .describe('If a live socket is at path (journald, rsyslog), move it aside to PATH.logfs-saved and put it back on stop; without this, logfsd refuses to start'),
  mode: z.string().regex(/^0?[0-7]{3}$/, 'octal permission bits, like 0666').default(SYSLOG_DEFAULTS.unixMode)
    .describe('Permission bits of the socket file (every local program must be able to log)'),
});

const UdpSchema = z.strictObject({
  listen: listenField(SYSLOG_DEFAULTS.udpPort, 'UDP address (RFC 5426)').default(`${SYSLOG_DEFAULTS.host}:${SYSLOG_DEFAULTS.udpPort}`),
  receiveBufferBytes: z.number().int().min(0).default(SYSLOG_DEFAULTS.receiveBufferBytes)
    .describe('SO_RCVBUF asked for (the kernel may cap it at net.core.rmem_max); 0 keeps the system default'),
});

const TcpSchema = z.strictObject({
  listen: listenField(SYSLOG_DEFAULTS.tcpPort, 'TCP address (RFC 6587)').optional()
    .describe(`TCP address (RFC 6587): HOST:PORT; a missing host is ${SYSLOG_DEFAULTS.host}, a missing port ${SYSLOG_DEFAULTS.tcpPort} (${SYSLOG_DEFAULTS.tlsPort} with tls)`),
  tls: TlsSchema.optional().describe('Serve TLS on this listener (RFC 5425) instead of plain TCP'),
  maxConnections: z.number().int().min(1).default(SYSLOG_DEFAULTS.maxConnections)
    .describe('Connections served at once; more are closed at once, logged and counted'),
  idleTimeoutMs: z.number().int().min(10).default(SYSLOG_DEFAULTS.idleTimeoutMs)
    .describe('A connection silent this long in the middle of a frame (slowloris) has the partial frame ingested flagged truncated and is closed; an idle connection between frames is closed too'),
});

export const SyslogConfigSchema = z.strictObject({
  unix: UnixSchema.optional().describe('Unix datagram listener (syslog(3), logger -u)'),
  udp: UdpSchema.optional().describe('UDP listener'),
  tcp: TcpSchema.optional().describe('TCP listener, octet-counting and newline framing, optional TLS'),
  defaultStream: StreamName.default(SYSLOG_DEFAULTS.defaultStream)
    .describe('Stream of messages no rule matches; provisioned at start when missing'),
  classFrom: z.enum(['severity', 'none']).default(SYSLOG_DEFAULTS.classFrom)
    .describe('Class label of a message whose rule names none: its severity name (err, crit, …) or no class'),
  rules: z.array(RouteRuleSchema).default([]).describe('Routing rules, tried in order; the first match chooses the stream'),
  maxMessageBytes: z.number().int().min(64).max(16 * 1024 * 1024).default(SYSLOG_DEFAULTS.maxMessageBytes)
    .describe('Longest message kept whole; longer ones are split or truncated (flagged) per oversize'),
  oversize: z.enum(['split', 'truncate']).default(SYSLOG_DEFAULTS.oversize)
    .describe('A message over maxMessageBytes: split into parts (flag "split") or cut (flag "truncated")'),
});

export const InputsConfigSchema = z.strictObject({
  syslog: SyslogConfigSchema.prefault({}).describe('Syslog listeners and routing (docs/syslog.md)'),
  socket: SocketInputConfigSchema.optional().describe('Plain socket input (docs/socket-protocol.md); absent = off'),
});

export type SyslogConfig = z.infer<typeof SyslogConfigSchema>;
export type SyslogRule = z.infer<typeof RouteRuleSchema>;
export type InputsConfig = z.infer<typeof InputsConfigSchema>;
export type InputsConfigInput = z.input<typeof InputsConfigSchema>;

/** The listen address of the TCP listener, with the default port of plain TCP or TLS. */
export function tcpListen(c: NonNullable<SyslogConfig['tcp']>): ListenAddress {
  return parseListen(c.listen ?? '', c.tls ? SYSLOG_DEFAULTS.tlsPort : SYSLOG_DEFAULTS.tcpPort);
}
