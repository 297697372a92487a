import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { authenticate, bootstrapAdminToken, findToken, hashToken } from '../../../control/auth.js';
import { FileProvisioningStore } from '../../../control/store.js';
import { resolveInside } from '../../../control/http/static-files.js';
import { Router, route } from '../../../control/http/router.js';

let dir: string;
let store: FileProvisioningStore;

beforeEach(async () => {
  dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'logfs-auth-'));
  store = await FileProvisioningStore.open(dir);
});
afterEach(async () => {
  await store.close();
  await fsp.rm(dir, { recursive: true, force: true });
});

describe('tokens', () => {
  it('bootstraps an admin token once, mode 0600, stored only as a hash', async () => {
    const first = await bootstrapAdminToken(store, dir);
    expect(first.created).toBe(true);
    const secret = (await fsp.readFile(first.file, 'utf8')).trim();
    expect(fs.statSync(first.file).mode & 0o777).toBe(0o600);
    const [token] = Object.values(store.snapshot().tokens);
    expect(token).toMatchObject({ name: 'admin', scope: 'admin', hash: hashToken(secret) });
    expect(JSON.stringify(store.snapshot())).not.toContain(secret);
    expect(await bootstrapAdminToken(store, dir)).toEqual({ file: first.file, created: false });
    expect(Object.keys(store.snapshot().tokens)).toHaveLength(1);
    // A token file the store does not know (a store reset) gets a new token.
    await fsp.writeFile(first.file, 'lfs_unknown\n');
    expect((await bootstrapAdminToken(store, dir)).created).toBe(true);
  });

  it('authenticates bearer tokens and the query token; refuses anything else', async () => {
    await bootstrapAdminToken(store, dir);
    const secret = (await fsp.readFile(path.join(dir, 'admin.token'), 'utf8')).trim();
    const state = store.snapshot();
    expect(authenticate(state, `Bearer ${secret}`)).toEqual({ scope: 'admin', name: 'admin' });
    expect(authenticate(state, undefined, secret).scope).toBe('admin');
    expect(findToken(state, secret + 'x')).toBeUndefined();
    for (const header of [undefined, 'Basic abc', 'Bearer nope']) expect(() => authenticate(state, header)).toThrow(/token|Bearer/);
  });
});

describe('http helpers', () => {
  it('keeps static paths inside the root', () => {
    expect(resolveInside('/srv/c', '/assets/a.js')).toBe('/srv/c/assets/a.js');
    expect(resolveInside('/srv/c', '/../../etc/passwd')).toBe('/srv/c/etc/passwd');
    expect(resolveInside('/srv/c', '/..%2F..%2Fetc')).toBe('/srv/c/etc');
    expect(resolveInside('/srv/c', '/a%00b')).toBeUndefined();
    expect(resolveInside('/srv/c', '/a%5C..%5Cb')).toBeUndefined();
    expect(resolveInside('/srv/c', '/%E0%A4%A')).toBeUndefined();
  });

  it('matches routes with percent-encoded stream names and reports the methods a path has', () => {
    const r = (method: 'GET' | 'DELETE', p: string) => route({ method, path: p, operationId: p, summary: '', tag: 't', auth: 'none', response: 'sse', handle: () => undefined });
    const router = new Router([r('GET', '/streams/{name}'), r('DELETE', '/streams/{name}'), r('GET', '/streams/{name}/tail')]);
    expect(router.match('GET', '/streams/a%2Fb')).toMatchObject({ params: { name: 'a/b' } });
    expect(router.match('GET', '/streams/a%2Fb/tail')).toMatchObject({ route: { path: '/streams/{name}/tail' }, params: { name: 'a/b' } });
    expect(router.match('POST', '/streams/x')).toEqual({ methods: ['GET', 'DELETE'] });
    expect(router.match('GET', '/streams/')).toBeUndefined();
    expect(router.match('GET', '/other')).toBeUndefined();
  });
});
