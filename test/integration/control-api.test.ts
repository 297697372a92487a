/**
 * The control API over real HTTP (port 0) beside a real logfsd (embedded mode, FUSE mount):
 * tokens and scope, errors, the OpenAPI document, streams and graphs through the API, the live
 * tail as Server-Sent Events of a line written into the mount, the body limit and the console files.
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openFleet, type Fleet } from '../../control/fleet/index.js';
import { startControl, type RunningControl } from '../../control/index.js';
import { FileProvisioningStore } from '../../control/store.js';
import { Daemon, tempDir, waitFor } from './harness.js';

let daemon: Daemon;
let store: FileProvisioningStore;
let fleet: Fleet;
let control: RunningControl;
let admin: string;
let consoleDir: string;

async function api(method: string, p: string, opts: { token?: string | null; body?: unknown; raw?: string; headers?: Record<string, string> } = {}): Promise<{ status: number; body: any }> {
  const token = opts.token === undefined ? admin : opts.token;
  const res = await fetch(`${control.url}/api/v1${p}`, {
    method,
    headers: {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(opts.body !== undefined || opts.raw !== undefined ? { 'content-type': 'application/json' } : {}),
      ...opts.headers,
    },
    ...(opts.raw !== undefined ? { body: opts.raw } : opts.body !== undefined ? { body: JSON.stringify(opts.body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

beforeAll(async () => {
  daemon = await Daemon.start();
  consoleDir = await tempDir('logfs-console-');
  await fsp.mkdir(path.join(consoleDir, 'assets'));
  await fsp.writeFile(path.join(consoleDir, 'index.html'), '<!doctype html><title>logFS</title>');
  await fsp.writeFile(path.join(consoleDir, 'assets', 'app-1234.js'), 'console.log(1)');
  store = await FileProvisioningStore.open(daemon.dataDir);
  fleet = await openFleet({ kind: 'file', dataDir: daemon.dataDir });
  control = await startControl({
    store,
    fleet,
    dataDir: daemon.dataDir,
    host: '127.0.0.1',
    port: 0,
    brokers: [],
    topicPrefix: 'logfs',
    journalDir: (await daemon.runtime()).journalDir,
    consoleDir,
    log: pino({ level: 'silent' }),
  });
  admin = (await fsp.readFile(control.adminTokenFile, 'utf8')).trim();
});

afterAll(async () => {
  await control?.stop();
  await fleet?.close();
  await store?.close();
  await daemon?.cleanup();
  if (consoleDir) await fsp.rm(consoleDir, { recursive: true, force: true });
});

describe('control API', () => {
  it('needs a token except for health and the OpenAPI document; errors have one shape', async () => {
    expect(await api('GET', '/health', { token: null })).toMatchObject({ status: 200, body: { ok: true } });
    const none = await api('GET', '/streams', { token: null });
    expect(none).toMatchObject({ status: 401, body: { error: { code: 'LOGFS_E_UNAUTHORIZED', message: expect.any(String) } } });
    expect((await api('GET', '/streams', { token: 'lfs_wrong' })).status).toBe(401);
    expect(fs.statSync(control.adminTokenFile).mode & 0o777).toBe(0o600);
    expect(await api('GET', '/whoami')).toMatchObject({ status: 200, body: { scope: 'admin', name: 'admin' } });
    expect(await api('GET', '/nope')).toMatchObject({ status: 404, body: { error: { code: 'LOGFS_E_NOT_FOUND' } } });
    expect((await api('DELETE', '/streams')).status).toBe(405);
    const strict = await api('POST', '/streams', { body: { name: 'x', bogus: 1, partitions: 0 } });
    expect(strict.status).toBe(400);
    expect(strict.body.error.code).toBe('LOGFS_E_CONFIG');
    expect(strict.body.error.problems.map((p: { path: string }) => p.path).sort()).toEqual(['', 'partitions']);
    expect(JSON.stringify(strict.body.error.problems)).toContain('bogus');
    expect((await api('POST', '/streams', { raw: '{"name":' })).body.error.message).toContain('not valid JSON');
  });

  it('refuses a body over 1 MiB with 413', async () => {
    const big = { message: 'x'.repeat(2 * 1024 * 1024), edits: [] };
    expect(await api('POST', '/commits', { body: big })).toMatchObject({ status: 413, body: { error: { code: 'LOGFS_E_TOO_LARGE' } } });
    expect((await api('GET', '/health', { token: null })).status).toBe(200);
  });

  it('serves an OpenAPI 3.1 document with every route and resolvable schemas', async () => {
    const { status, body: doc } = await api('GET', '/openapi.json', { token: null });
    expect(status).toBe(200);
    expect(doc.openapi).toBe('3.1.0');
    const expected = [
      'get /health', 'get /whoami', 'get /providers', 'post /providers', 'delete /providers/{name}', 'get /tokens', 'post /tokens', 'delete /tokens/{id}',
      'get /streams', 'post /streams', 'get /streams/{name}', 'patch /streams/{name}', 'delete /streams/{name}', 'get /streams/{name}/tail',
      'get /graphs', 'post /graphs', 'post /graphs/validate', 'get /graphs/{name}', 'delete /graphs/{name}', 'put /graphs/{name}/streams', 'get /agents',
      'post /commits', 'get /history', 'get /history/{version}', 'post /rollback', 'get /jobs', 'get /jobs/{id}', 'get /fleet',
      'get /archive', 'get /archive/tree', 'get /metrics', 'get /alarms',
    ];
    for (const op of expected) {
      const [method, p] = op.split(' ') as [string, string];
      expect(doc.paths[`/api/v1${p}`]?.[method], op).toBeDefined();
    }
    const refs = [...JSON.stringify(doc).matchAll(/"\$ref":"#\/components\/(schemas|responses)\/([^"]+)"/g)];
    expect(refs.length).toBeGreaterThan(50);
    for (const [, kind, name] of refs) expect(doc.components[kind!][name!], `${kind}/${name}`).toBeDefined();
    expect(doc.components.schemas.StreamInput.additionalProperties).toBe(false);
    expect(doc.paths['/api/v1/streams'].post.requestBody.content['application/json'].schema).toEqual({ $ref: '#/components/schemas/StreamInput' });
    expect(doc.paths['/api/v1/health'].get.security).toEqual([]);
  });

  it('scopes a provider token: its streams only, admin resources forbidden', async () => {
    const created = await api('POST', '/tokens', { body: { name: 'team', scope: { provider: daemon.provider } } });
    expect(created.status).toBe(201);
    const provider = created.body.secret as string;
    expect(JSON.stringify((await api('GET', '/tokens')).body)).not.toContain(provider);
    expect((await api('GET', '/tokens', { token: provider })).body.error.code).toBe('LOGFS_E_FORBIDDEN');
    expect((await api('GET', '/history', { token: provider })).status).toBe(403);
    const other = await api('POST', '/streams', { body: { name: 'other/one', provider: 'someone-else' } });
    expect(other.status).toBe(202);
    expect((await api('GET', `/streams/${encodeURIComponent('other/one')}`, { token: provider })).status).toBe(404);
    expect((await api('GET', '/streams', { token: provider })).body).toEqual([]);
    expect((await api('GET', '/whoami', { token: provider })).body.scope).toEqual({ provider: daemon.provider });
    const revoked = await api('DELETE', `/tokens/${created.body.token.id}`);
    expect(revoked).toMatchObject({ status: 200, body: { ok: true } });
    expect((await api('GET', '/streams', { token: provider })).status).toBe(401);
  });

  it('creates a stream and a graph through HTTP; the stream appears in the mount; the tail delivers a record written there', async () => {
    const job = await api('POST', '/streams', { body: { name: 'app/log', provider: daemon.provider, rate: 10 } });
    expect(job).toMatchObject({ status: 202, body: { kind: 'commit', state: expect.stringMatching(/propagating|active/) } });
    const done = await api('GET', `/jobs/${job.body.id}?wait=active`);
    expect(done.body.state).toBe('active');
    // The daemon and its embedded worker are fleet members: the job waited for both.
    expect(done.body.propagation.members.map((m: { kind: string }) => m.kind).sort()).toEqual(['daemon', 'worker']);
    expect(done.body.propagation.delayMs).toEqual(expect.any(Number));
    expect(done.body.transitions.map((t: { state: string }) => t.state)).toEqual(expect.arrayContaining(['pending', 'validating', 'committing', 'active']));
    const stream = await api('GET', `/streams/${encodeURIComponent('app/log')}`);
    expect(stream.body).toMatchObject({ name: 'app/log', provider: daemon.provider, partitions: 1, encrypt: false, keyId: null, rate: 10, graphs: ['default'], topic: daemon.topic('app/log') });
    await waitFor('app/log in the mount', () => fs.existsSync(daemon.path('app/log')), 10_000);

    const bad = await api('POST', '/graphs', { body: { definition: { name: 'web', streams: ['app/log', 'ghost'], nodes: [{ id: 'p', type: 'parse', inputs: ['source'], config: { format: 'nope' } }] } } });
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe('LOGFS_E_GRAPH_INVALID');
    expect(bad.body.error.problems).toEqual(expect.arrayContaining([expect.objectContaining({ code: 'unknown-stream', path: 'streams.1' }), expect.objectContaining({ code: 'invalid-config', node: 'p' })]));
    const validated = await api('POST', '/graphs/validate', { body: { definition: { name: 'web', streams: ['ghost'], nodes: [] } } });
    expect(validated).toMatchObject({ status: 200, body: { ok: false } });
    const good = await api('POST', '/graphs', { body: { definition: { name: 'web', streams: ['app/log'], nodes: [{ id: 'store', type: 'archive', inputs: ['source'] }] } } });
    expect(good.status).toBe(202);
    await api('GET', `/jobs/${good.body.id}?wait=active`);
    const g = await api('GET', '/graphs/web');
    expect(g.body).toMatchObject({ name: 'web', provider: daemon.provider, version: 1, streams: ['app/log'], nodes: [{ id: 'store', type: 'archive', inputs: ['source'], phase: 'main' }] });
    expect((await api('GET', '/agents')).body.find((a: { type: string }) => a.type === 'parse').configSchema.type).toBe('object');

    // The live tail, with the token in the query as EventSource sends it.
    const abort = new AbortController();
    const res = await fetch(`${control.url}/api/v1/streams/${encodeURIComponent('app/log')}/tail?token=${encodeURIComponent(admin)}`, { signal: abort.signal });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    const reader = res.body!.getReader();
    let text = '';
    const readUntil = async (what: RegExp): Promise<RegExpMatchArray> => {
      const deadline = Date.now() + 15_000;
      for (;;) {
        const m = text.match(what);
        if (m) return m;
        if (Date.now() > deadline) throw new Error(`no ${what} in ${text}`);
        const { value, done: ended } = await reader.read();
        if (ended) throw new Error(`stream ended: ${text}`);
        text += Buffer.from(value).toString('utf8');
      }
    };
    await readUntil(/event: ready/);
    await fsp.appendFile(daemon.path('app/log'), 'hello through the tail\n');
    const m = await readUntil(/event: record\nid: [^\n]+\ndata: ([^\n]+)\n\n/);
    const record = JSON.parse(m[1]!);
    expect(record).toMatchObject({ stream: 'app/log', data: 'hello through the tail', dataEncoding: 'utf8', instance: daemon.instance, class: null });
    expect(record.id).toBe(`${record.instance}:${record.seq}`);
    abort.abort();
    await reader.cancel().catch(() => undefined);
  });

  it('serves the console: files with their types, the app for other paths, nothing outside its folder', async () => {
    const index = await fetch(`${control.url}/`);
    expect(index.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(await index.text()).toContain('<title>logFS</title>');
    const js = await fetch(`${control.url}/assets/app-1234.js`);
    expect(js.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(js.headers.get('cache-control')).toContain('immutable');
    expect(await (await fetch(`${control.url}/streams/app/log`)).text()).toContain('<title>logFS</title>');
    expect((await fetch(`${control.url}/assets/missing.js`)).status).toBe(404);
    for (const p of ['/..%2F..%2F..%2Fetc%2Fpasswd', '/%2e%2e/%2e%2e/etc/passwd', '/assets/..%2F..%2F..%2Fetc%2Fpasswd']) {
      expect(await (await fetch(`${control.url}${p}`)).text(), p).not.toContain('root:');
    }
  });

  // Found by fuzzing the API with schemathesis (docs/control-api.md, "Fuzzing the API").
  describe('robustness (schemathesis findings)', () => {
    it('answers 400, not 500, for times out of the range of a Date', async () => {
      for (const q of ['from=99999999999999999999&to=now', 'to=-9999999999999999999d', 'from=-999999999999d']) {
        for (const p of ['/metrics', '/archive']) {
          const r = await api('GET', `${p}?${q}`);
          expect(r.status, `${p}?${q}`).toBe(400);
          expect(r.body.error.code).toBe('LOGFS_E_CONFIG');
        }
      }
      expect((await api('GET', '/metrics?from=-15m&to=now')).status).toBe(200);
      expect((await api('GET', `/archive?from=${Date.now() - 60_000}&to=2999-01-01T00:00:00Z`)).status).toBe(200);
    });

    it('takes a number in a query string as decimal digits only', async () => {
      for (const v of ['1e3', '0x10', '%20', '', '1.5', '-1']) {
        const r = await api('GET', `/jobs?limit=${v}`);
        expect(r.status, v).toBe(400);
        expect(r.body.error.problems).toEqual([expect.objectContaining({ code: 'invalid-input', path: 'limit' })]);
      }
      expect((await api('GET', '/jobs?limit=5')).status).toBe(200);
      const history = await api('GET', '/history/abc');
      expect(history).toMatchObject({ status: 400, body: { error: { code: 'LOGFS_E_CONFIG', problems: [{ code: 'invalid-input', path: 'version' }] } } });
    });

    it('refuses bad names at the boundary with the field path, as the document says', async () => {
      const cases: [string, string, unknown, string][] = [
        ['POST', '/providers', { name: '' }, 'name'],
        ['POST', '/streams', { name: '', provider: '' }, 'name'],
        ['POST', '/tokens', { name: 'x', scope: { provider: '' } }, 'scope.provider'],
        ['POST', '/graphs', { definition: {}, provider: 'Not A Provider' }, 'provider'],
        ['POST', '/streams', { name: 'a/b', key: 'not-base64' }, 'key'],
        ['PUT', '/graphs/x/streams', { streams: [''] }, 'streams.0'],
      ];
      for (const [method, p, body, path] of cases) {
        const r = await api(method, p, { body });
        expect(r.status, `${method} ${p}`).toBe(400);
        expect(r.body.error.problems.map((q: { path: string }) => q.path), `${method} ${p}`).toContain(path);
      }
      expect((await api('GET', '/archive/tree?archive=')).body.error.problems[0]).toMatchObject({ code: 'invalid-input', path: 'archive' });
      const { body: doc } = await api('GET', '/openapi.json', { token: null });
      expect(doc.components.schemas.ProviderInput.properties.name.pattern).toBeDefined();
      expect(doc.paths['/api/v1/history/{version}'].get.parameters[0].schema.type).toBe('integer');
      expect(doc.paths['/api/v1/jobs'].get.parameters[0].schema).toMatchObject({ type: 'integer', minimum: 1, maximum: 1000 });
    });

    it('needs the request body the document marks required', async () => {
      const r = await api('PATCH', '/streams/app%2Fnone');
      expect(r).toMatchObject({ status: 400, body: { error: { code: 'LOGFS_E_CONFIG', message: expect.stringContaining('needs a JSON body') } } });
    });

    it('routes /graphs/validate as OpenAPI does: the literal path wins, and "validate" is no graph name', async () => {
      const get = await fetch(`${control.url}/api/v1/graphs/validate`, { method: 'OPTIONS', headers: { authorization: `Bearer ${admin}` } });
      expect(get.status).toBe(405);
      expect(get.headers.get('allow')).toBe('POST');
      const v = await api('POST', '/graphs/validate', { body: { definition: { name: 'validate', nodes: [] } } });
      expect(v.status).toBe(200);
      expect(v.body.problems).toEqual(expect.arrayContaining([expect.objectContaining({ code: 'invalid-name', path: 'name' })]));
    });

    it('answers 403 for the built-in graph and 409 for changes the current state refuses', async () => {
      expect((await api('DELETE', '/graphs/default')).body.error.code).toBe('LOGFS_E_FORBIDDEN');
      expect((await api('PUT', '/graphs/default/streams', { body: { streams: [] } })).status).toBe(403);
      expect((await api('POST', '/streams', { body: { name: 'fz/parts', provider: daemon.provider, partitions: 3 } })).status).toBe(202);
      const shrink = await api('PATCH', '/streams/fz%2Fparts', { body: { partitions: 2 } });
      expect(shrink).toMatchObject({ status: 409, body: { error: { code: 'LOGFS_E_CONFLICT' } } });
      const current = (await api('GET', '/health')).body.version as number;
      expect((await api('POST', '/rollback', { body: { version: current } })).body.error.code).toBe('LOGFS_E_CONFLICT');
    });

    it('keeps the last admin token: revoking it answers 409', async () => {
      const tokens = (await api('GET', '/tokens')).body as { id: string; scope: unknown }[];
      const admins = tokens.filter((t) => t.scope === 'admin');
      expect(admins).toHaveLength(1);
      const r = await api('DELETE', `/tokens/${admins[0]!.id}`);
      expect(r).toMatchObject({ status: 409, body: { error: { code: 'LOGFS_E_CONFLICT' } } });
      expect((await api('GET', '/whoami')).status).toBe(200);
      const second = await api('POST', '/tokens', { body: { name: 'second-admin', scope: 'admin' } });
      expect((await api('DELETE', `/tokens/${second.body.token.id}`)).status).toBe(200);
    });

    it('describes tail events as SSE events, with the TailRecord as the data of a record event', async () => {
      const { body: doc } = await api('GET', '/openapi.json', { token: null });
      const item = doc.paths['/api/v1/streams/{name}/tail'].get.responses['200'].content['text/event-stream'].itemSchema;
      expect(item.properties.event.enum).toEqual(['ready', 'record', 'dropped', 'error']);
      expect(item.then.properties.data.contentSchema).toEqual({ $ref: '#/components/schemas/TailRecord' });
    });
  });
});
