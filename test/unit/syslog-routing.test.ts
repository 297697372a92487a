import { describe, expect, it } from 'vitest';
import { InputsConfigSchema, parseListen, SyslogConfigSchema, tcpListen, type SyslogRule } from '../../inputs/config.js';
import { SyslogRouter, type RoutableMessage } from '../../inputs/syslog/syslog-routing.js';

function msg(over: Partial<RoutableMessage> = {}): RoutableMessage {
  return { facility: 1, severity: 6, hostname: 'web-1', appName: 'nginx', msg: Buffer.from('GET / 200'), ...over };
}

function router(rules: SyslogRule[], provisioned: string[] = ['syslog', 'web', 'auth', 'db', 'errors'], classFrom: 'severity' | 'none' = 'severity'): SyslogRouter {
  const set = new Set(provisioned);
  return new SyslogRouter({ rules, defaultStream: 'syslog', classFrom }, (s) => set.has(s));
}

function rules(input: unknown[]): SyslogRule[] {
  return SyslogConfigSchema.parse({ rules: input }).rules;
}

describe('syslog routing', () => {
  it('sends unmatched messages to the default stream, classed by severity name', () => {
    const r = router([]);
    expect(r.route(msg({ severity: 3 }))).toEqual({ stream: 'syslog', label: 'err', rule: -1 });
    expect(r.route(msg({ severity: 2 }))).toEqual({ stream: 'syslog', label: 'crit', rule: -1 });
    expect(r.route(msg({ severity: null }))).toEqual({ stream: 'syslog', label: null, rule: -1 });
  });

  it('with classFrom none leaves the class empty unless the rule names one', () => {
    const r = router(rules([{ stream: 'auth', class: 'security', match: { facility: 'authpriv' } }]), undefined, 'none');
    expect(r.route(msg({ severity: 3 })).label).toBeNull();
    expect(r.route(msg({ facility: 10, severity: 3 }))).toEqual({ stream: 'auth', label: 'security', rule: 0 });
  });

  it('takes the first matching rule, in order', () => {
    const r = router(rules([
      { stream: 'errors', match: { severity: ['emerg', 'alert', 'crit', 'err'] } },
      { stream: 'web', match: { appName: 'nginx' } },
    ]));
    expect(r.route(msg({ severity: 3 }))).toEqual({ stream: 'errors', label: 'err', rule: 0 });
    expect(r.route(msg({ severity: 4 }))).toEqual({ stream: 'web', label: 'warning', rule: 1 });
    expect(r.route(msg({ appName: 'sshd', severity: 6 })).stream).toBe('syslog');
  });

  it('needs every condition of a rule to hold', () => {
    const r = router(rules([{ stream: 'db', match: { appName: 'postgres', hostname: 'db-*', facility: ['local0', 17] } }]));
    expect(r.route(msg({ appName: 'postgres', hostname: 'db-3', facility: 16 })).stream).toBe('db');
    expect(r.route(msg({ appName: 'postgres', hostname: 'db-3', facility: 17 })).stream).toBe('db');
    expect(r.route(msg({ appName: 'postgres', hostname: 'db-3', facility: 18 })).stream).toBe('syslog');
    expect(r.route(msg({ appName: 'postgres', hostname: 'web-1', facility: 16 })).stream).toBe('syslog');
    expect(r.route(msg({ appName: 'postgres', hostname: null, facility: 16 })).stream).toBe('syslog');
    expect(r.route(msg({ appName: null, hostname: 'db-3', facility: 16 })).stream).toBe('syslog');
  });

  it('matches globs whole and treats other regex characters literally', () => {
    const r = router(rules([{ stream: 'web', match: { appName: ['nginx*', 'a.b'] } }]));
    expect(r.route(msg({ appName: 'nginx-worker' })).stream).toBe('web');
    expect(r.route(msg({ appName: 'my-nginx' })).stream).toBe('syslog');
    expect(r.route(msg({ appName: 'a.b' })).stream).toBe('web');
    expect(r.route(msg({ appName: 'axb' })).stream).toBe('syslog');
  });

  it('searches a pattern in the message text, even when it is not valid UTF-8', () => {
    const r = router(rules([{ stream: 'errors', class: 'oom', match: { pattern: 'Out of memory: Kill(ed)? process \\d+' } }]));
    expect(r.route(msg({ msg: Buffer.from('kernel: Out of memory: Killed process 4242 (java)') }))).toEqual({ stream: 'errors', label: 'oom', rule: 0 });
    expect(r.route(msg({ msg: Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(' Out of memory: Kill process 7')]) })).stream).toBe('errors');
    expect(r.route(msg({ msg: Buffer.from('all fine') })).stream).toBe('syslog');
  });

  it('sends messages of a rule whose stream is not provisioned to the default stream and says so', () => {
    const r = router(rules([{ stream: 'missing', match: { appName: 'nginx' } }]));
    expect(r.unprovisionedRules()).toEqual([{ rule: 0, stream: 'missing' }]);
    expect(r.route(msg())).toEqual({ stream: 'syslog', label: 'info', rule: 0, unprovisioned: 'missing' });
  });

  it('follows provisioning changes', () => {
    const set = new Set(['syslog']);
    const r = new SyslogRouter({ rules: rules([{ stream: 'web', match: {} }]), defaultStream: 'syslog', classFrom: 'severity' }, (s) => set.has(s));
    expect(r.route(msg()).unprovisioned).toBe('web');
    set.add('web');
    expect(r.route(msg())).toEqual({ stream: 'web', label: 'info', rule: 0 });
    expect(r.unprovisionedRules()).toEqual([]);
  });
});

describe('syslog configuration', () => {
  it('has no listener on by default and documented defaults', () => {
    const c = InputsConfigSchema.parse({});
    expect(c.syslog).toMatchObject({ defaultStream: 'syslog', classFrom: 'severity', maxMessageBytes: 65536, oversize: 'split', rules: [] });
    expect(c.syslog.unix).toBeUndefined();
    expect(c.syslog.udp).toBeUndefined();
    expect(c.syslog.tcp).toBeUndefined();
  });

  it('fills listener defaults: unprivileged ports, loopback, 6514 with TLS', () => {
    const c = SyslogConfigSchema.parse({ udp: {}, tcp: {}, unix: { path: '/tmp/x.sock' } });
    expect(c.udp?.listen).toBe('127.0.0.1:5514');
    expect(tcpListen(c.tcp!)).toEqual({ host: '127.0.0.1', port: 5514 });
    expect(c.tcp).toMatchObject({ maxConnections: 1000, idleTimeoutMs: 30_000 });
    expect(c.unix).toEqual({ path: '/tmp/x.sock', takeOver: false, mode: '0666' });
    const tls = SyslogConfigSchema.parse({ tcp: { tls: { cert: 'c.pem', key: 'k.pem' } } });
    expect(tcpListen(tls.tcp!)).toEqual({ host: '127.0.0.1', port: 6514 });
    expect(tcpListen(SyslogConfigSchema.parse({ tcp: { listen: '0.0.0.0:514' } }).tcp!)).toEqual({ host: '0.0.0.0', port: 514 });
  });

  it('parses listen addresses with missing parts and IPv6', () => {
    expect(parseListen('10.0.0.1', 5514)).toEqual({ host: '10.0.0.1', port: 5514 });
    expect(parseListen(':514', 5514)).toEqual({ host: '127.0.0.1', port: 514 });
    expect(parseListen('', 5514)).toEqual({ host: '127.0.0.1', port: 5514 });
    expect(parseListen('[::1]:6514', 5514)).toEqual({ host: '::1', port: 6514 });
    expect(() => parseListen('a:b:c', 5514)).toThrow();
    expect(() => parseListen('h:70000', 5514)).toThrow(/above 65535/);
  });

  it('reports every bad field at once, with its path', () => {
    const r = SyslogConfigSchema.safeParse({
      udp: { listen: 'x:y' },
      defaultStream: 'bad.name',
      rules: [
        { stream: 'ok', match: { facility: 'nosuch', severity: 'fatal', pattern: '(' } },
        { stream: 'ok', class: 'a@b' },
        { stream: 'ok', match: { colour: 'red' } },
      ],
    });
    expect(r.success).toBe(false);
    const paths = r.error!.issues.map((i) => i.path.join('.'));
    expect(paths).toEqual(expect.arrayContaining([
      'udp.listen',
      'defaultStream',
      'rules.0.match.facility',
      'rules.0.match.severity',
      'rules.0.match.pattern',
      'rules.1.class',
      'rules.2.match',
    ]));
  });
});
