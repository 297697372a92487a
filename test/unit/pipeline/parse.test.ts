import { describe, expect, it } from 'vitest';
import { numberedGroups, parse } from '../../../pipeline/agents/parse.js';
import { FLAGS } from '../../../pipeline/record.js';
import { build, checkAgentCompliance, makeRecord, run } from './agent-harness.js';

const NGINX =
  '^(?<remote_addr>\\S+) \\S+ (?<remote_user>\\S+) \\[(?<time_local>[^\\]]+)\\] "(?<method>\\S+) (?<path>\\S+) (?<protocol>[^"]+)" ' +
  '(?<status>\\d{3}) (?<bytes>\\d+|-) "(?<referer>[^"]*)" "(?<user_agent>[^"]*)"(?: (?<request_time>[\\d.]+))?$';
const LINE =
  '192.168.1.10 - - [10/Oct/2023:13:55:36 +0000] "GET /api/v1/users/12345 HTTP/1.1" 200 5123 "https://example.com/" "Mozilla/5.0 (X11)"';

function issuePaths(config: unknown): string[] {
  const res = parse.configSchema.safeParse(config);
  expect(res.success, 'config should be rejected').toBe(false);
  return res.error!.issues.map((i) => i.path.join('.'));
}

function issueText(config: unknown): string {
  const res = parse.configSchema.safeParse(config);
  expect(res.success).toBe(false);
  return res.error!.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('\n');
}

describe('parse agent', () => {
  it('meets the agent contract', async () => {
    await checkAgentCompliance(parse, { format: 'regex', pattern: NGINX, types: { status: 'int' } }, [makeRecord(LINE), makeRecord('not an access line')]);
    await checkAgentCompliance(parse, { format: 'json', target: 'body' }, [makeRecord('{"a":1}'), makeRecord('nope')]);
    await checkAgentCompliance(parse, { format: 'kv', pairSeparator: ',', keyValueSeparator: ':' }, [makeRecord('a:1,b:2')]);
  });

  describe('regex', () => {
    it('extracts named groups from an nginx access line and converts typed fields', async () => {
      const { runtime } = await build(parse, { format: 'regex', pattern: NGINX, types: { status: 'int', bytes: 'int', request_time: 'float' } });
      const out = await run(runtime, [makeRecord(`${LINE} 0.023`)]);
      const [r] = out.on('out');
      expect(r!.flags).toEqual([]);
      expect(r!.fields).toEqual({
        remote_addr: '192.168.1.10',
        remote_user: '-',
        time_local: '10/Oct/2023:13:55:36 +0000',
        method: 'GET',
        path: '/api/v1/users/12345',
        protocol: 'HTTP/1.1',
        status: 200,
        bytes: 5123,
        referer: 'https://example.com/',
        user_agent: 'Mozilla/5.0 (X11)',
        request_time: 0.023,
      });
    });

    it('leaves out groups that did not take part in the match', async () => {
      const { runtime } = await build(parse, { format: 'regex', pattern: NGINX });
      const [r] = (await run(runtime, [makeRecord(LINE)])).on('out');
      expect(r!.fields).not.toHaveProperty('request_time');
      expect(r!.fields.status).toBe('200');
    });

    it('flags a line that does not match and passes it on', async () => {
      const { runtime } = await build(parse, { format: 'regex', pattern: NGINX });
      const out = await run(runtime, [makeRecord('kernel: oops'), makeRecord(LINE)]);
      expect(out.on('out')).toHaveLength(2);
      const [bad, good] = out.on('out');
      expect(bad!.flags).toEqual([FLAGS.parseFailed]);
      expect(bad!.fields._parse_error).toMatch(/^regex: .*does not match/);
      expect(good!.flags).toEqual([]);
      expect(good!.fields._parse_error).toBeUndefined();
    });

    it('puts the fields under target when asked, keeping existing fields', async () => {
      const { runtime } = await build(parse, { format: 'regex', pattern: '^(?<method>[A-Z]+) (?<path>\\S+)', target: 'http' });
      const [r] = (await run(runtime, [makeRecord('GET /x', { fields: { keep: 1 } })])).on('out');
      expect(r!.fields).toEqual({ keep: 1, http: { method: 'GET', path: '/x' } });
    });

    it('flags a failed conversion, names the field, and still converts the others', async () => {
      const { runtime } = await build(parse, { format: 'regex', pattern: NGINX, types: { bytes: 'int', status: 'int' } });
      const [r] = (await run(runtime, [makeRecord(LINE.replace(' 5123 ', ' - '))])).on('out');
      expect(r!.flags).toContain(FLAGS.parseFailed);
      expect(r!.fields._parse_error).toBe('types: bytes is "-", not an int');
      expect(r!.fields.bytes).toBe('-');
      expect(r!.fields.status).toBe(200);
    });

    it('converts ints and floats in every form the types accept, and flags the rest', async () => {
      const { runtime } = await build(parse, { format: 'regex', pattern: '^(?<i>\\S+) (?<f>\\S+)$', types: { i: 'int', f: 'float' } });
      const cases: [string, string, unknown, unknown, boolean][] = [
        ['007', '1.5', 7, 1.5, false],
        ['+7', '5.', 7, 5, false],
        ['-3', '.5', -3, 0.5, false],
        ['123456789012345', '-0.25', 123456789012345, -0.25, false],
        ['9007199254740993', '1e3', '9007199254740993', 1000, true], // beyond 2^53: not an int
        ['12x', '1.2.3', '12x', '1.2.3', true],
        ['٣', '+2.5E-1', '٣', 0.25, true], // only ASCII digits are digits
      ];
      const out = await run(runtime, cases.map(([i, f]) => makeRecord(`${i} ${f}`)));
      out.on('out').forEach((r, k) => {
        const [, , i, f, flagged] = cases[k]!;
        expect([r.fields.i, r.fields.f, r.flags.includes(FLAGS.parseFailed)], cases[k]!.join(' ')).toEqual([i, f, flagged]);
      });
    });

    it('adds the fields in the order of the groups, after fields set earlier, whose places stay', async () => {
      const { runtime } = await build(parse, { format: 'regex', pattern: NGINX });
      const out = await run(runtime, [makeRecord(`${LINE} 0.023`), makeRecord(LINE), makeRecord(LINE, { fields: { status: 'x', keep: 1 } })]);
      const [full, partial, merged] = out.on('out');
      const order = ['remote_addr', 'remote_user', 'time_local', 'method', 'path', 'protocol', 'status', 'bytes', 'referer', 'user_agent', 'request_time'];
      expect(Object.keys(full!.fields)).toEqual(order);
      expect(Object.keys(partial!.fields)).toEqual(order.slice(0, -1));
      expect(Object.keys(merged!.fields)).toEqual(['status', 'keep', ...order.filter((k) => k !== 'status' && k !== 'request_time')]);
      expect(merged!.fields.status).toBe('200');
    });

    it('reads the same fields through numbered groups as through named ones', async () => {
      const patterns = [
        NGINX,
        '^(?<a>\\w+)(?:-(?<b>\\d+))?\\((?<c>[^)]*)\\)$',
        '^(\\w)(?<x>[(?<y>]+)(?<z>\\k<x>)?',
        '(?<=:)(?<v>\\d+)(?!\\d)|(?<w>-)',
        '^(?<d>\\d)\\k<d>1(?<e>\\\\)',
      ];
      const texts = [LINE, `${LINE} 0.5`, 'ab-12(x)', 'ab(x)', 'q((((<y>((', ':123', 'x-y', '221\\', 'nothing'];
      for (const pattern of patterns) {
        const numbered = numberedGroups(pattern);
        expect(numbered, pattern).toBeDefined();
        const named = new RegExp(pattern);
        const plain = new RegExp(numbered!.source);
        for (const text of texts) {
          const want = named.exec(text);
          const got = plain.exec(text);
          expect(got?.[0], `${pattern} on ${text}`).toEqual(want?.[0]);
          for (const [name, n] of numbered!.numbers) expect(got?.[n], `${name} of ${pattern} on ${text}`).toEqual(want?.groups?.[name]);
        }
      }
    });

    it('does not flag a record twice', async () => {
      const { runtime } = await build(parse, { format: 'regex', pattern: '^(?<a>x)' });
      const [r] = (await run(runtime, [makeRecord('y', { flags: [FLAGS.parseFailed] })])).on('out');
      expect(r!.flags).toEqual([FLAGS.parseFailed]);
    });
  });

  describe('json', () => {
    it('merges a top-level object into fields', async () => {
      const { runtime } = await build(parse, { format: 'json' });
      const [r] = (await run(runtime, [makeRecord('{"level":"warn","req":{"path":"/a"},"n":3}')])).on('out');
      expect(r!.fields).toEqual({ level: 'warn', req: { path: '/a' }, n: 3 });
      expect(r!.flags).toEqual([]);
    });

    it('flags a line that is not JSON, and JSON that is not an object', async () => {
      const { runtime } = await build(parse, { format: 'json' });
      const out = await run(runtime, [makeRecord('hello world'), makeRecord('[1,2]'), makeRecord('42'), makeRecord('null'), makeRecord(Buffer.from([0xff, 0xfe, 0x00]))]);
      const rs = out.on('out');
      expect(rs).toHaveLength(5);
      for (const r of rs) expect(r.flags).toEqual([FLAGS.parseFailed]);
      expect(rs[0]!.fields._parse_error).toMatch(/^json: /);
      expect(rs[1]!.fields._parse_error).toBe('json: the text is an array, not an object');
      expect(rs[2]!.fields._parse_error).toBe('json: the text is a number, not an object');
      expect(rs[3]!.fields._parse_error).toBe('json: the text is null, not an object');
    });

    it('keeps _parse_error short for a long bad line', async () => {
      const { runtime } = await build(parse, { format: 'json' });
      const [r] = (await run(runtime, [makeRecord(`{"a": ${'x'.repeat(10_000)}}`)])).on('out');
      expect((r!.fields._parse_error as string).length).toBeLessThanOrEqual(200);
    });

    it('does not let a "__proto__" key replace the prototype of fields', async () => {
      const { runtime } = await build(parse, { format: 'json' });
      const [r] = (await run(runtime, [makeRecord('{"__proto__":{"polluted":true},"a":1}')])).on('out');
      expect(r!.fields.a).toBe(1);
      expect(Object.getPrototypeOf(r!.fields)).toBe(Object.prototype);
      expect((r!.fields as { polluted?: unknown }).polluted).toBeUndefined();
    });

    it('parses a text field given as source', async () => {
      const { runtime } = await build(parse, { format: 'json', source: 'fields.message', target: 'body' });
      const out = await run(runtime, [makeRecord('x', { fields: { message: '{"a":1}' } }), makeRecord('y'), makeRecord('z', { fields: { message: 5 } })]);
      const [ok, missing, notText] = out.on('out');
      expect(ok!.fields.body).toEqual({ a: 1 });
      expect(missing!.fields._parse_error).toBe('fields.message is missing');
      expect(notText!.fields._parse_error).toBe('fields.message is a number, not text');
    });
  });

  describe('logfmt', () => {
    it('reads bare, quoted and escaped values and bare keys', async () => {
      const { runtime } = await build(parse, { format: 'logfmt', types: { dur: 'float', ok: 'bool' } });
      const [r] = (await run(runtime, [makeRecord('level=info msg="hello \\"big\\" world" ok=true cached dur=1.5 empty=')])).on('out');
      expect(r!.flags).toEqual([]);
      expect(r!.fields).toEqual({ level: 'info', msg: 'hello "big" world', ok: true, cached: true, dur: 1.5, empty: '' });
    });

    it('flags plain text, an unterminated quote and a missing key', async () => {
      const { runtime } = await build(parse, { format: 'logfmt' });
      const rs = (await run(runtime, [makeRecord('just some words'), makeRecord('a=1 msg="oops'), makeRecord('=x a=1')])).on('out');
      expect(rs.map((r) => r.fields._parse_error)).toEqual([
        'logfmt: no key=value pairs',
        'logfmt: unterminated quoted value of "msg"',
        "logfmt: unexpected '=' at position 0, expected a key",
      ]);
      expect(rs.every((r) => r.flags.includes(FLAGS.parseFailed))).toBe(true);
      // A failed line leaves no half-extracted fields behind.
      expect(rs[1]!.fields.a).toBeUndefined();
    });
  });

  describe('kv', () => {
    it('picks key=value pairs out of free text, with quoted values', async () => {
      const { runtime } = await build(parse, { format: 'kv', types: { status: 'int' } });
      const [r] = (await run(runtime, [makeRecord('GET /x status=200 user="a b" ratio=a=b')])).on('out');
      expect(r!.flags).toEqual([]);
      expect(r!.fields).toEqual({ status: 200, user: 'a b', ratio: 'a=b' });
    });

    it('uses the configured separators and trims around them', async () => {
      const { runtime } = await build(parse, { format: 'kv', pairSeparator: ';', keyValueSeparator: ':' });
      const [r] = (await run(runtime, [makeRecord('host: web-1; path: /a b;;code:7')])).on('out');
      expect(r!.fields).toEqual({ host: 'web-1', path: '/a b', code: '7' });
    });

    it('flags a line without pairs', async () => {
      const { runtime } = await build(parse, { format: 'kv' });
      const [r] = (await run(runtime, [makeRecord('nothing to see')])).on('out');
      expect(r!.flags).toEqual([FLAGS.parseFailed]);
      expect(r!.fields._parse_error).toBe('kv: no pairs with "="');
    });
  });

  it('converts bools and strings, and flags what does not convert', async () => {
    const { runtime } = await build(parse, { format: 'json', types: { a: 'bool', b: 'bool', c: 'string', d: 'int', e: 'float' } });
    const rs = (await run(runtime, [makeRecord('{"a":"YES","b":0,"c":12,"d":"-7","e":"1e3"}'), makeRecord('{"a":"maybe"}'), makeRecord('{"d":1.5}'), makeRecord('{"c":{}}')])).on('out');
    expect(rs[0]!.fields).toEqual({ a: true, b: false, c: '12', d: -7, e: 1000 });
    expect(rs[0]!.flags).toEqual([]);
    expect(rs[1]!.fields._parse_error).toBe('types: a is "maybe", not a bool');
    expect(rs[2]!.fields._parse_error).toBe('types: d is a number, not an int');
    expect(rs[3]!.fields._parse_error).toBe('types: c is an object, not a string');
  });

  describe('config', () => {
    it('requires a pattern with a named group for format regex', () => {
      expect(issuePaths({ format: 'regex' })).toContain('pattern');
      expect(issueText({ format: 'regex', pattern: '^(\\d+) (.*)$' })).toMatch(/pattern: .*no named group/);
      expect(issuePaths({ format: 'regex', pattern: '(?<a>[' })).toContain('pattern');
    });

    it('rejects options that do not apply to the format', () => {
      expect(issuePaths({ format: 'json', pattern: '(?<a>x)' })).toContain('pattern');
      expect(issuePaths({ format: 'logfmt', pairSeparator: ',' })).toContain('pairSeparator');
      expect(issuePaths({ format: 'json', keyValueSeparator: ':' })).toContain('keyValueSeparator');
      expect(issuePaths({ format: 'kv', pairSeparator: '=', keyValueSeparator: '=' })).toContain('pairSeparator');
    });

    it('names the offending field of an ill-typed config', () => {
      expect(issuePaths({ format: 'xml' })).toContain('format');
      expect(issuePaths({ format: 'json', types: { status: 'integer' } })).toContain('types.status');
      expect(issuePaths({ format: 'regex', pattern: '(?<a>x)', types: { b: 'int' } })).toContain('types.b');
      expect(issuePaths({ format: 'json', source: 'message' })).toContain('source');
      expect(issuePaths({ format: 'json', target: 'a.b' })).toContain('target');
      expect(issuePaths({ format: 'json', target: '__proto__' })).toContain('target');
    });

    it('fills defaults', () => {
      expect(parse.configSchema.parse({ format: 'kv' })).toEqual({ format: 'kv', source: 'data', keyValueSeparator: '=', types: {} });
    });
  });
});
