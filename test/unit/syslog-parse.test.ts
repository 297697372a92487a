import { describe, expect, it } from 'vitest';
import { prng } from './seeded-random.js';
import {
  FACILITY_NAMES,
  SEVERITY_NAMES,
  syslogAttrs,
  type SyslogMessage,
} from '../../inputs/syslog/syslog-message.js';
import { parseSyslog } from '../../inputs/syslog/syslog-parse.js';

const BOM = '\xef\xbb\xbf';

/** Bytes of a test message: written in latin1 so that '\xff' is the byte 0xff, not UTF-8. */
function bytes(s: string): Buffer {
  return Buffer.from(s, 'latin1');
}

function parse(s: string | Buffer, now?: number): SyslogMessage {
  return parseSyslog(typeof s === 'string' ? bytes(s) : s, now === undefined ? {} : { now });
}

/** Everything but the body, which tests compare as bytes. */
function header(m: SyslogMessage): Omit<SyslogMessage, 'msg'> {
  const { msg: _msg, ...rest } = m;
  return rest;
}

function local(y: number, mo: number, d: number, h = 0, mi = 0, s = 0, ms = 0): number {
  return new Date(y, mo - 1, d, h, mi, s, ms).getTime();
}


describe('names', () => {
  it('has the RFC 5424 section 6.2.1 severities and facilities in code order', () => {
    expect(SEVERITY_NAMES).toHaveLength(8);
    expect(SEVERITY_NAMES[3]).toBe('err');
    expect(FACILITY_NAMES).toHaveLength(24);
    expect(FACILITY_NAMES[4]).toBe('auth');
    expect(FACILITY_NAMES[10]).toBe('authpriv');
    expect(FACILITY_NAMES[15]).toBe('solaris-cron');
    expect(FACILITY_NAMES[16]).toBe('local0');
    expect(FACILITY_NAMES[23]).toBe('local7');
  });
});

describe('parseSyslog: RFC 5424 section 6.5 examples', () => {
  it('example 1: no STRUCTURED-DATA, BOM before MSG', () => {
    const m = parse(`<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - ${BOM}'su root' failed for lonvick on /dev/pts/8`);
    expect(header(m)).toEqual({
      format: 'rfc5424',
      pri: 34,
      facility: 4,
      severity: 2,
      timestamp: '2003-10-11T22:14:15.003Z',
      timestampMs: Date.UTC(2003, 9, 11, 22, 14, 15, 3),
      hostname: 'mymachine.example.com',
      appName: 'su',
      procId: null,
      msgId: 'ID47',
      structuredData: null,
    });
    expect(m.msg.toString('latin1')).toBe("'su root' failed for lonvick on /dev/pts/8");
  });

  it('example 2: microseconds and a negative offset, no BOM', () => {
    const m = parse('<165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - - %% It\'s time to make the do-nuts.');
    expect(header(m)).toMatchObject({
      format: 'rfc5424',
      facility: 20,
      severity: 5,
      timestampMs: Date.UTC(2003, 7, 24, 12, 14, 15, 0),
      hostname: '192.0.2.1',
      appName: 'myproc',
      procId: '8710',
      msgId: null,
      structuredData: null,
    });
    expect(m.msg.toString()).toBe("%% It's time to make the do-nuts.");
  });

  it('example 3: one SD-ELEMENT and a BOM message', () => {
    const m = parse(
      `<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"] ${BOM}An application event log entry...`,
    );
    expect(m.format).toBe('rfc5424');
    expect(m.appName).toBe('evntslog');
    expect(m.structuredData).toEqual({
      'exampleSDID@32473': { iut: '3', eventSource: 'Application', eventID: '1011' },
    });
    expect(m.msg.toString()).toBe('An application event log entry...');
  });

  it('example 4: two SD-ELEMENTs and no MSG', () => {
    const m = parse(
      '<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"][examplePriority@32473 class="high"]',
    );
    expect(m.format).toBe('rfc5424');
    expect(m.structuredData).toEqual({
      'exampleSDID@32473': { iut: '3', eventSource: 'Application', eventID: '1011' },
      'examplePriority@32473': { class: 'high' },
    });
    expect(m.msg).toHaveLength(0);
  });
});

describe('parseSyslog: RFC 5424 fields', () => {
  it('reads nil values as null, with and without MSG', () => {
    for (const [text, body] of [
      ['<13>1 - - - - - -', ''],
      ['<13>1 - - - - - - hello', 'hello'],
      ['<13>1 - - - - - - ', ''],
    ] as const) {
      const m = parse(text);
      expect(header(m)).toEqual({
        format: 'rfc5424',
        pri: 13,
        facility: 1,
        severity: 5,
        timestamp: null,
        timestampMs: null,
        hostname: null,
        appName: null,
        procId: null,
        msgId: null,
        structuredData: null,
      });
      expect(m.msg.toString()).toBe(body);
    }
  });

  it('resolves the three escapes of PARAM-VALUE and keeps other backslashes (section 6.3.3)', () => {
    const m = parse('<13>1 - h a - - [x@1 q="a\\"b" b="c\\\\d" r="e\\]f" o="g\\nh" t="\\\\\\"" u="ünï"] body');
    expect(m.structuredData).toEqual({
      'x@1': { q: 'a"b', b: 'c\\d', r: 'e]f', o: 'g\\nh', t: '\\"', u: Buffer.from('ünï', 'latin1').toString('utf8') },
    });
    expect(m.msg.toString()).toBe('body');
  });

  it('decodes PARAM-VALUE as UTF-8 and allows "]" and spaces inside the quotes', () => {
    const m = parseSyslog(Buffer.from('<13>1 - h a - - [x@1 v="ä ] ß"]', 'utf8'));
    expect(m.structuredData).toEqual({ 'x@1': { v: 'ä ] ß' } });
  });

  it('keeps repeated PARAM-NAMEs and SD-IDs under numbered keys, and __proto__ as a plain key', () => {
    const m = parse('<13>1 - h a - - [origin ip="192.0.2.1" ip="192.0.2.2"][x __proto__="p"][origin ip="3"]');
    expect(m.structuredData).toEqual({
      origin: { ip: '192.0.2.1', 'ip#2': '192.0.2.2' },
      x: Object.fromEntries([['__proto__', 'p']]),
      'origin#2': { ip: '3' },
    });
    expect(Object.keys(m.structuredData?.x ?? {})).toEqual(['__proto__']);
    expect(Object.getPrototypeOf(m.structuredData?.x)).toBe(Object.prototype);
  });

  it('an element with no params is an empty object', () => {
    expect(parse('<13>1 - h a - - [timeQuality] x').structuredData).toEqual({ timeQuality: {} });
  });

  it('strips the BOM only at the start of MSG', () => {
    expect(parse(`<13>1 - - - - - - ${BOM}`).msg).toHaveLength(0);
    expect(parse(`<13>1 - - - - - - a${BOM}`).msg.toString('latin1')).toBe(`a${BOM}`);
    // A lone BOM prefix that is not a whole BOM is content.
    expect(parse('<13>1 - - - - - - \xef\xbbx').msg.toString('latin1')).toBe('\xef\xbbx');
  });

  it('keeps invalid UTF-8 in MSG byte for byte, as a view of the input', () => {
    const input = Buffer.concat([bytes('<13>1 - - - - - - '), Buffer.from([0xff, 0xfe, 0x00, 0x80, 0xc3])]);
    const m = parseSyslog(input);
    expect(m.format).toBe('rfc5424');
    expect([...m.msg]).toEqual([0xff, 0xfe, 0x00, 0x80, 0xc3]);
    expect(m.msg.buffer).toBe(input.buffer);
  });

  it('reads fractional seconds and offsets', () => {
    const cases: [string, number][] = [
      ['1985-04-12T23:20:50.52Z', Date.UTC(1985, 3, 12, 23, 20, 50, 520)],
      ['1985-04-12T19:20:50.52-04:00', Date.UTC(1985, 3, 12, 23, 20, 50, 520)],
      ['2003-10-11T22:14:15.003-07:00', Date.UTC(2003, 9, 12, 5, 14, 15, 3)],
      ['2003-10-11T22:14:15.5+05:30', Date.UTC(2003, 9, 11, 16, 44, 15, 500)],
      ['2003-10-11T22:14:15.999999+00:00', Date.UTC(2003, 9, 11, 22, 14, 15, 999)],
      ['2003-10-11T22:14:15Z', Date.UTC(2003, 9, 11, 22, 14, 15)],
      ['2004-02-29T00:00:00Z', Date.UTC(2004, 1, 29)],
      ['2000-02-29T00:00:00Z', Date.UTC(2000, 1, 29)],
      ['2003-12-31T23:59:59-23:59', Date.UTC(2004, 0, 1, 23, 58, 59)],
    ];
    for (const [ts, ms] of cases) {
      const m = parse(`<13>1 ${ts} h a - - - x`);
      expect(m.format, ts).toBe('rfc5424');
      expect(m.timestamp).toBe(ts);
      expect(m.timestampMs, ts).toBe(ms);
    }
  });

  it('dates years before 100 literally', () => {
    const m = parse('<13>1 0099-01-01T00:00:00Z h a - - -');
    expect(new Date(m.timestampMs ?? NaN).getUTCFullYear()).toBe(99);
  });

  it('refuses timestamps RFC 5424 section 6.2.3 does not allow, naming the field', () => {
    for (const ts of [
      '2003-10-11T22:14:15',
      '2003-10-11t22:14:15Z',
      '2003-10-11T22:14:15z',
      '2003-10-11 22:14:15Z',
      '2003-10-11T22:14:15.1234567Z',
      '2003-10-11T22:14:15.Z',
      '2003-13-11T22:14:15Z',
      '2003-02-29T22:14:15Z',
      '1900-02-29T22:14:15Z',
      '2003-04-31T22:14:15Z',
      '2003-10-11T24:00:00Z',
      '2003-10-11T23:59:60Z',
      '2003-10-11T22:14:15+24:00',
      '2003-10-11T22:14:15+0700',
      '2003-10-11T22:14:15Zjunk',
      'yesterday',
    ]) {
      const m = parse(`<13>1 ${ts} h a - - - x`);
      expect(m.format, ts).toBe('raw');
      expect(m.problem, ts).toMatch(/TIMESTAMP/);
      // PRI was fine: severity still known, for routing.
      expect(m.severity).toBe(5);
    }
  });

  it('passes malformed RFC 5424 headers raw with the reason', () => {
    const cases: [string, RegExp][] = [
      ['<13>1 ', /ends after VERSION/],
      ['<13>1 - host app', /ends before STRUCTURED-DATA/],
      ['<13>1 -  host app - - - x', /HOSTNAME is empty/],
      ['<13>1 - host  app - - - x', /APP-NAME is empty/],
      ['<13>1 - host app - - hello world', /STRUCTURED-DATA is neither/],
      ['<13>1 - host app - - -x', /not followed by SP/],
      ['<13>1 - host app - - [x@1 a="b"', /not closed/],
      ['<13>1 - host app - - [x@1 a="b]', /PARAM-VALUE .* not closed/],
      ['<13>1 - host app - - [x@1 a=b]', /expected ="value"/],
      ['<13>1 - host app - - [x@1 ="b"]', /PARAM-NAME .* empty/],
      ['<13>1 - host app - - [ a="b"]', /SD-ID is empty/],
      ['<13>1 - host app - - [x@1  a="b"]', /PARAM-NAME .* empty/],
      ['<13>1 - host app - - [x@1 a="b"]x', /not followed by SP/],
      [`<13>1 - host app - - [${'i'.repeat(33)}]`, /SD-ID longer than 32/],
      [`<13>1 - ${'h'.repeat(256)} app - - -`, /HOSTNAME longer than 255/],
      [`<13>1 - host ${'a'.repeat(49)} - - -`, /APP-NAME longer than 48/],
      [`<13>1 - host app ${'p'.repeat(129)} - -`, /PROCID longer than 128/],
      [`<13>1 - host app - ${'m'.repeat(33)} -`, /MSGID longer than 32/],
      ['<13>1 - h\xe9st app - - -', /HOSTNAME has a byte outside/],
    ];
    for (const [text, problem] of cases) {
      const m = parse(text);
      expect(m.format, text).toBe('raw');
      expect(m.problem, text).toMatch(problem);
      expect(m.msg.toString('latin1'), text).toBe(text);
      expect(m.pri).toBe(13);
    }
  });

  it('accepts fields at their maximum lengths', () => {
    const m = parse(`<13>1 - ${'h'.repeat(255)} ${'a'.repeat(48)} ${'p'.repeat(128)} ${'m'.repeat(32)} [${'i'.repeat(32)} ${'n'.repeat(32)}="v"] x`);
    expect(m.format).toBe('rfc5424');
    expect(m.hostname).toHaveLength(255);
    expect(m.msgId).toHaveLength(32);
  });
});

describe('parseSyslog: PRI', () => {
  it('reads the edges of the range', () => {
    const zero = parse('<0>1 - - - - - - x');
    expect([zero.facility, zero.severity]).toEqual([0, 0]);
    const top = parse('<191>1 - - - - - - x');
    expect([top.pri, top.facility, top.severity]).toEqual([191, 23, 7]);
    expect(parse('<013>Oct 11 22:14:15 host tag: x').pri).toBe(13);
  });

  it('passes an unusable PRI raw with the reason (RFC 5424 section 6.2.1)', () => {
    const cases: [string, RegExp][] = [
      ['<192>1 - - - - - - x', /PRI 192 out of range 0\.\.191/],
      ['<999>Oct 11 22:14:15 host tag: x', /PRI 999 out of range/],
      ['<>Oct 11 22:14:15 host tag: x', /empty PRI/],
      ['<1234>Oct 11 22:14:15 host tag: x', /1 to 3 digits/],
      ['<12', /1 to 3 digits/],
      ['<', /1 to 3 digits/],
      ['<a>1 - - - - - - x', /1 to 3 digits/],
      ['<-1>x', /1 to 3 digits/],
    ];
    for (const [text, problem] of cases) {
      const m = parse(text);
      expect(header(m), text).toMatchObject({ format: 'raw', pri: null, facility: null, severity: null });
      expect(m.problem, text).toMatch(problem);
      expect(m.msg.toString('latin1')).toBe(text);
    }
  });

  it('takes a missing PRI as user.notice when an RFC 3164 header follows (RFC 3164 section 4.3.3)', () => {
    const m = parse('Oct 11 22:14:15 mymachine su: hello', local(2003, 10, 12));
    expect(header(m)).toMatchObject({ format: 'rfc3164', pri: 13, facility: 1, severity: 5, hostname: 'mymachine', appName: 'su' });
    expect(m.problem).toMatch(/no PRI/);
    expect(m.msg.toString()).toBe('hello');
  });

  it('does not mistake other digits after PRI for an RFC 5424 VERSION', () => {
    const m = parse('<14>12 things happened');
    expect(m.format).toBe('rfc3164');
    expect(m.msg.toString()).toBe('12 things happened');
  });
});

describe('parseSyslog: RFC 3164 section 5.4 examples', () => {
  const now = local(2003, 10, 12, 12);

  it('example 1', () => {
    const m = parse("<34>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick on /dev/pts/8", now);
    expect(header(m)).toEqual({
      format: 'rfc3164',
      pri: 34,
      facility: 4,
      severity: 2,
      timestamp: 'Oct 11 22:14:15',
      timestampMs: local(2003, 10, 11, 22, 14, 15),
      hostname: 'mymachine',
      appName: 'su',
      procId: null,
      msgId: null,
      structuredData: null,
    });
    expect(m.msg.toString()).toBe("'su root' failed for lonvick on /dev/pts/8");
  });

  it('example 2: a message with no header at all passes raw; in its relayed form the word after HOSTNAME is the TAG', () => {
    const bare = parse('Use the BFG!', now);
    expect(bare.format).toBe('raw');
    expect(bare.problem).toMatch(/no PRI and no timestamp/);
    expect(bare.msg.toString()).toBe('Use the BFG!');

    const relayed = parse('<13>Feb  5 17:32:18 10.0.0.99 Use the BFG!', local(2004, 2, 1));
    expect(header(relayed)).toMatchObject({
      format: 'rfc3164',
      pri: 13,
      timestamp: 'Feb  5 17:32:18',
      timestampMs: local(2004, 2, 5, 17, 32, 18),
      hostname: '10.0.0.99',
      // Section 4.1.3: any non-alphanumeric character ends the TAG (rsyslog reads it so too).
      appName: 'Use',
    });
    expect(relayed.msg.toString()).toBe('the BFG!');
  });

  it('example 3: "CST" where the HOSTNAME belongs is read as the HOSTNAME, as the RFC explains', () => {
    const text =
      "<165>Aug 24 05:34:00 CST 1987 mymachine myproc[10]: %% It's time to make the do-nuts.  %%  Ingredients: Mix=OK, Jelly=OK # Devices: Mixer=OK, Jelly_Injector=OK, Frier=OK # Transport: Conveyer1=OK, Conveyer2=OK # %%";
    const m = parse(text, local(2003, 9, 1));
    expect(header(m)).toMatchObject({
      format: 'rfc3164',
      facility: 20,
      severity: 5,
      timestampMs: local(2003, 8, 24, 5, 34),
      hostname: 'CST',
      appName: null,
    });
    expect(m.msg.toString()).toMatch(/^1987 mymachine myproc\[10\]: %% It's time/);
  });

  it('example 4: no valid TIMESTAMP after PRI, so all of it is MSG (section 4.3.2); and its relayed form', () => {
    const tail = "1990 Oct 22 10:52:01 TZ-6 scapegoat.dmz.example.org 10.1.2.3 sched[0]: That's All Folks!";
    const m = parse(`<0>${tail}`, now);
    expect(header(m)).toMatchObject({ format: 'rfc3164', pri: 0, timestamp: null, timestampMs: null, hostname: null, appName: null });
    expect(m.msg.toString()).toBe(tail);

    const relayed = parse(`<0>Oct 22 10:52:12 scapegoat ${tail}`, local(1990, 10, 23));
    expect(header(relayed)).toMatchObject({ format: 'rfc3164', timestampMs: local(1990, 10, 22, 10, 52, 12), hostname: 'scapegoat', appName: null });
    expect(relayed.msg.toString()).toBe(tail);
  });
});

describe('parseSyslog: RFC 3164 variants', () => {
  const now = local(2024, 6, 15, 12);

  it('TAG[PID]: and TAG: with and without HOSTNAME', () => {
    const cases: [string, string | null, string | null, string | null, string][] = [
      ['<13>Jun 14 10:00:00 host sshd[42]: hello', 'host', 'sshd', '42', 'hello'],
      ['<13>Jun 14 10:00:00 host cron: hello', 'host', 'cron', null, 'hello'],
      ['<13>Jun 14 10:00:00 sshd[42]: hello', null, 'sshd', '42', 'hello'],
      ['<13>Jun 14 10:00:00 user: hello', null, 'user', null, 'hello'],
      ['<13>Jun 14 10:00:00 host postfix/smtpd[7]: a: b', 'host', 'postfix/smtpd', '7', 'a: b'],
      ['<13>Jun 14 10:00:00 host systemd-logind[1] no colon', 'host', 'systemd-logind', '1', 'no colon'],
      ['<13>Jun 14 10:00:00 host tag:', 'host', 'tag', null, ''],
      ['<13>Jun 14 10:00:00 host', 'host', null, null, ''],
      ['<13>Jun 14 10:00:00', null, null, null, ''],
      ['<13>Jun 14 10:00:00 host just words', 'host', 'just', null, 'words'],
      ['<13>Jun 14 10:00:00 host 42 words', 'host', null, null, '42 words'],
      ['<13>Jun 14 10:00:00 host [bracketed]: x', 'host', null, null, '[bracketed]: x'],
      ['<13>Jun 14 10:00:00 host a[]: x', 'host', null, null, 'a[]: x'],
      ['<13>Jun 14 10:00:00 host : x', 'host', null, null, ': x'],
      [`<13>Jun 14 10:00:00 host ${'t'.repeat(49)}: x`, 'host', null, null, `${'t'.repeat(49)}: x`],
      [`<13>Jun 14 10:00:00 ${'h'.repeat(256)} x`, null, null, null, `${'h'.repeat(256)} x`],
    ];
    for (const [text, hostname, appName, procId, body] of cases) {
      const m = parse(text, now);
      expect(m.format, text).toBe('rfc3164');
      expect([m.hostname, m.appName, m.procId], text).toEqual([hostname, appName, procId]);
      expect(m.msg.toString(), text).toBe(body);
      expect(m.timestampMs, text).toBe(local(2024, 6, 14, 10));
    }
  });

  it('reads the day space-padded, zero-padded or bare, and a year or fraction when sent', () => {
    for (const ts of ['Feb  5 17:32:18', 'Feb 05 17:32:18', 'Feb 5 17:32:18']) {
      const m = parse(`<13>${ts} host tag: x`, local(2024, 2, 1));
      expect(m.timestamp, ts).toBe(ts);
      expect(m.timestampMs, ts).toBe(local(2024, 2, 5, 17, 32, 18));
    }
    const withYear = parse('<13>Oct 11 2019 22:14:15 host tag: x', now);
    expect(withYear.timestampMs).toBe(local(2019, 10, 11, 22, 14, 15));
    expect(withYear.hostname).toBe('host');
    const withFraction = parse('<13>Jun 14 10:00:00.250 host tag: x', now);
    expect(withFraction.timestampMs).toBe(local(2024, 6, 14, 10, 0, 0, 250));
  });

  it('takes an RFC 3339 timestamp in place of the BSD one', () => {
    const a = parse('<13>2003-08-24T05:14:15Z localhost snarf?');
    expect(header(a)).toMatchObject({ format: 'rfc3164', timestamp: '2003-08-24T05:14:15Z', timestampMs: Date.UTC(2003, 7, 24, 5, 14, 15), hostname: 'localhost', appName: null });
    expect(a.msg.toString()).toBe('snarf?');
    const b = parse('<13>2012-08-16T14:34:03.123456-08:00 127.0.0.1 test: shnap!');
    expect(header(b)).toMatchObject({ timestampMs: Date.UTC(2012, 7, 16, 22, 34, 3, 123), hostname: '127.0.0.1', appName: 'test' });
    expect(b.msg.toString()).toBe('shnap!');
    // Without an offset it is local time, as a BSD timestamp is.
    expect(parse('<13>2012-08-16T14:34:03 h t: x').timestampMs).toBe(local(2012, 8, 16, 14, 34, 3));
  });

  it('picks the year that puts the timestamp nearest to now (RFC 3164 gives none)', () => {
    expect(parse('<13>Dec 31 23:59:00 h t: x', local(2024, 1, 1, 0, 5)).timestampMs).toBe(local(2023, 12, 31, 23, 59));
    expect(parse('<13>Jan  1 00:01:00 h t: x', local(2023, 12, 31, 23, 55)).timestampMs).toBe(local(2024, 1, 1, 0, 1));
    expect(parse('<13>Jun 14 10:00:00 h t: x', local(2024, 6, 15)).timestampMs).toBe(local(2024, 6, 14, 10));
    expect(parse('<13>Jul  1 00:00:00 h t: x', local(2024, 1, 2)).timestampMs).toBe(local(2024, 7, 1));
    expect(parse('<13>Aug  1 00:00:00 h t: x', local(2024, 1, 2)).timestampMs).toBe(local(2023, 8, 1));
    expect(parse('<13>Feb 29 12:00:00 h t: x', local(2025, 1, 10)).timestampMs).toBe(local(2024, 2, 29, 12));
  });

  it('a date that exists in no nearby year is no timestamp: with PRI, all of it is MSG', () => {
    // 2025, 2026 and 2027 are common years.
    const m = parse('<13>Feb 29 12:00:00 h t: x', local(2026, 3, 1));
    expect(header(m)).toMatchObject({ format: 'rfc3164', timestamp: null, hostname: null });
    expect(m.msg.toString()).toBe('Feb 29 12:00:00 h t: x');
    expect(parse('<13>Apr 31 12:00:00 h t: x', now).timestamp).toBeNull();
    expect(parse('<13>Jun 14 24:00:00 h t: x', now).timestamp).toBeNull();
    expect(parse('<13>jun 14 10:00:00 h t: x', now).timestamp).toBeNull();
    expect(parse('<13>Jun 14 10:00:00x h t: x', now).timestamp).toBeNull();
  });

  it('a PRI with no timestamp (Python SysLogHandler) may still carry a TAG', () => {
    const m = parse('<14>myapp: hello world\x00');
    expect(header(m)).toMatchObject({ format: 'rfc3164', pri: 14, severity: 6, timestamp: null, hostname: null, appName: 'myapp' });
    expect(m.msg.toString('latin1')).toBe('hello world\x00');
    const bare = parse('<14>hello');
    expect([bare.format, bare.appName, bare.msg.toString()]).toEqual(['rfc3164', null, 'hello']);
    expect(parse('<14>').msg).toHaveLength(0);
  });

  it('keeps invalid UTF-8 in MSG byte for byte', () => {
    const input = Buffer.concat([bytes('<13>Jun 14 10:00:00 host tag: '), Buffer.from([0xff, 0xc0, 0x0a, 0x00])]);
    const m = parseSyslog(input, { now });
    expect([...m.msg]).toEqual([0xff, 0xc0, 0x0a, 0x00]);
  });
});

describe('parseSyslog: garbage and size', () => {
  it('passes what parses as neither raw, whole, with a problem', () => {
    const cases: Buffer[] = [
      Buffer.alloc(0),
      bytes('hello world'),
      bytes('\x00\x01\x02\xff'),
      bytes(' <13>Oct 11 22:14:15 host tag: leading space'),
      bytes('<html><body>'),
      Buffer.from('日本語のログ', 'utf8'),
    ];
    for (const input of cases) {
      const m = parseSyslog(input);
      expect(m.format, input.toString('hex')).toBe('raw');
      expect(m.problem, input.toString('hex')).toBeTruthy();
      expect(m.msg.equals(input)).toBe(true);
    }
    expect(parse('').problem).toBe('empty message');
  });

  it('never throws, and a raw message is always the whole input (seeded fuzz of valid messages)', () => {
    const seeds = [
      '<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="Application"][x a="\\"\\]"] \xef\xbb\xbfAn entry',
      '<34>Oct 11 22:14:15 mymachine su[12]: hello',
      '<13>2003-08-24T05:14:15.5+01:00 localhost tag: x',
    ].map(bytes);
    const rnd = prng(42);
    const alphabet = bytes('<>[]"\\= -:0123456789TZ.\xef\xbb\xbf\x00\n');
    for (let n = 0; n < 10_000; n++) {
      const base = seeds[n % seeds.length] as Buffer;
      const b = Buffer.from(base);
      const edits = 1 + Math.floor(rnd() * 4);
      let input = b;
      for (let e = 0; e < edits; e++) {
        const at = Math.floor(rnd() * input.length);
        const r = rnd();
        if (r < 0.4) input[at] = alphabet[Math.floor(rnd() * alphabet.length)] as number;
        else if (r < 0.7) input = Buffer.concat([input.subarray(0, at), input.subarray(at + 1)]);
        else input = input.subarray(0, at);
      }
      const m = parseSyslog(input, { now: 1_700_000_000_000 });
      if (m.format === 'raw') expect(m.msg.equals(input)).toBe(true);
      else expect(input.subarray(input.length - m.msg.length).equals(m.msg)).toBe(true);
      expect(m.problem === undefined || m.problem.length > 0).toBe(true);
    }
  });

  it('parses very long messages and keeps every byte', () => {
    const body = Buffer.alloc(4 * 1024 * 1024, 0x61);
    const a = parseSyslog(Buffer.concat([bytes('<13>1 - h a - - - '), body]));
    expect(a.format).toBe('rfc5424');
    expect(a.msg.equals(body)).toBe(true);
    const b = parseSyslog(Buffer.concat([bytes('<13>Jun 14 10:00:00 host tag: '), body]));
    expect(b.format).toBe('rfc3164');
    expect(b.msg.equals(body)).toBe(true);
    // A huge header-less message is still raw and whole (and the SP-free scan stays linear).
    const c = parseSyslog(body);
    expect(c.format).toBe('raw');
    expect(c.msg).toHaveLength(body.length);
  });
});

describe('syslogAttrs', () => {
  it('names and numbers facility and severity, dates the message, omits what is absent', () => {
    const m = parse('<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [ex@1 a="b"] x');
    const attrs: Record<string, unknown> = syslogAttrs(m);
    expect(attrs).toEqual({
      format: 'rfc5424',
      facility: 'local4',
      facilityCode: 20,
      severity: 'notice',
      severityCode: 5,
      timestamp: '2003-10-11T22:14:15.003Z',
      hostname: 'mymachine.example.com',
      appName: 'evntslog',
      msgId: 'ID47',
      structuredData: { 'ex@1': { a: 'b' } },
    });
    expect(Object.values(attrs)).not.toContain(null);
  });

  it('for a raw message: the format, the problem, and the PRI when it was readable', () => {
    expect(syslogAttrs(parse('garbage'))).toEqual({ format: 'raw', problem: 'neither RFC 5424 nor RFC 3164: no PRI and no timestamp' });
    expect(syslogAttrs(parse('<11>1 bad - - - - -'))).toMatchObject({ format: 'raw', facility: 'user', facilityCode: 1, severity: 'err', severityCode: 3 });
  });

  it('carries the assumed-PRI note of an RFC 3164 message without PRI', () => {
    const a = syslogAttrs(parse('Jun 14 10:00:00 host tag: x', local(2024, 6, 15)));
    expect(a).toMatchObject({ format: 'rfc3164', facility: 'user', severity: 'notice', hostname: 'host', appName: 'tag' });
    expect(a.timestamp).toBe(new Date(local(2024, 6, 14, 10)).toISOString());
    expect(a.problem).toMatch(/no PRI/);
  });

  it('writes the timestamp exactly as toISOString, whatever came before (it keeps the last second)', () => {
    const stamp = (timestampMs: number): string | undefined => syslogAttrs({ ...parse('<13>1 - - - - - - x'), timestampMs }).timestamp;
    const MAX = 8.64e15; // the Date range
    const rnd = prng(0x150);
    const values: number[] = [0, -0, 1, -1, 999, 1000, -999, -1000, -1001, 0.5, -0.5, 1999.9, -1000.5, MAX, -MAX, MAX - 1, -MAX + 1];
    // Years 0, -1, 9999 and 10000 (the parser's extremes after an offset), and either side of them.
    for (const y of [-1, 0, 1, 99, 100, 1969, 1970, 2038, 9999, 10000, -271821, 275759]) {
      const start = new Date(0).setUTCFullYear(y, 0, 1);
      values.push(start - 1001, start - 1000, start - 999, start - 1, start, start + 1, start + 999, start + 1000);
    }
    for (let i = 0; i < 20_000; i++) {
      const base = Math.floor((rnd() * 2 - 1) * MAX);
      values.push(base);
      // Runs within one second and across its ends, as bursts of messages are.
      for (let j = 0, t = base; j < 1 + Math.floor(rnd() * 5); j++) values.push((t += Math.floor(rnd() * 700)));
    }
    // Outside the Date range both throw; the values above reach past its ends.
    const outcome = (f: () => string | undefined): string | undefined => {
      try {
        return f();
      } catch (e) {
        return (e as Error).name;
      }
    };
    values.push(NaN, Infinity, -Infinity, MAX + 1, MAX, MAX + 1, -MAX - 1);
    for (const ms of values) expect(outcome(() => stamp(ms)), String(ms)).toBe(outcome(() => new Date(ms).toISOString()));
    expect(values.filter((ms) => outcome(() => stamp(ms)) === 'RangeError').length).toBeGreaterThan(5);
  });
});
