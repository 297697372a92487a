/**
 * Tokens of the control API (docs/control-api.md, "Authentication and scope"). The store keeps only
 * the SHA-256 of each secret; a presented token is hashed and compared with every stored hash in
 * constant time, so neither the answer's timing nor an early exit tells how close a guess was.
 */
import crypto from 'node:crypto';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { LogfsError } from '../core/errors.js';
import type { ProvisioningState, ProvisioningStore, TokenScope, TokenSpec } from './store.js';

/** Who is calling: an admin, or a provider's token. `name` is the token's name (commit author). */
export type Principal = { scope: 'admin'; name: string } | { scope: { provider: string }; name: string };

export const AUTH_DEFAULTS = {
  adminTokenFile: 'admin.token',
  adminTokenName: 'admin',
  /** Secrets are `lfs_` and 32 random bytes in base64url: 256 bits, nothing to brute-force. */
  secretBytes: 32,
} as const;

export function hashToken(secret: string): string {
  return crypto.createHash('sha256').update(secret, 'utf8').digest('hex');
}

export function newTokenSecret(): string {
  return `lfs_${crypto.randomBytes(AUTH_DEFAULTS.secretBytes).toString('base64url')}`;
}

export function newTokenId(): string {
  return `tok_${crypto.randomBytes(6).toString('hex')}`;
}

export function principalOf(token: Pick<TokenSpec, 'name' | 'scope'>): Principal {
  return token.scope === 'admin' ? { scope: 'admin', name: token.name } : { scope: { provider: token.scope.provider }, name: token.name };
}

export function isAdmin(p: Principal): p is { scope: 'admin'; name: string } {
  return p.scope === 'admin';
}

/** The provider a principal is limited to; undefined for an admin. */
export function providerOf(p: Principal): string | undefined {
  return p.scope === 'admin' ? undefined : p.scope.provider;
}

/** The token of `secret` among the state's tokens, compared in constant time; undefined when none matches. */
export function findToken(state: Pick<ProvisioningState, 'tokens'>, secret: string): TokenSpec | undefined {
  const presented = Buffer.from(hashToken(secret), 'hex');
  let found: TokenSpec | undefined;
  for (const t of Object.values(state.tokens)) {
    const stored = Buffer.from(t.hash, 'hex');
    // Every stored hash is compared, whether or not one matched already.
    if (stored.length === presented.length && crypto.timingSafeEqual(stored, presented) && !found) found = t;
  }
  return found;
}

/** The principal of an `Authorization: Bearer <token>` header (or a bare token); throws LOGFS_E_UNAUTHORIZED. */
export function authenticate(state: Pick<ProvisioningState, 'tokens'>, authorization: string | undefined, queryToken?: string): Principal {
  let secret: string | undefined;
  if (authorization !== undefined) {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
    if (!m) throw new LogfsError('LOGFS_E_UNAUTHORIZED', 'the Authorization header must be "Bearer <token>"');
    secret = m[1];
  } else secret = queryToken;
  if (!secret) throw new LogfsError('LOGFS_E_UNAUTHORIZED', 'this request needs a token: send "Authorization: Bearer <token>" (the admin token is in <data>/admin.token)');
  const token = findToken(state, secret);
  if (!token) throw new LogfsError('LOGFS_E_UNAUTHORIZED', 'unknown or revoked token');
  return principalOf(token);
}

export interface BootstrapResult {
  file: string;
  /** True when a new admin token was made (and written to `file`). */
  created: boolean;
}

/**
 * Makes sure an admin can log in: if `<dataDir>/admin.token` holds a token the store knows, it is
 * reused; otherwise a new admin token is committed and its secret written there (mode 0600). On a
 * cluster where another control service made one, a new one is added: every service has its own.
 */
export async function bootstrapAdminToken(store: ProvisioningStore, dataDir: string): Promise<BootstrapResult> {
  const file = path.join(dataDir, AUTH_DEFAULTS.adminTokenFile);
  const existing = (await fsp.readFile(file, 'utf8').catch(() => '')).trim();
  if (existing) {
    const token = findToken(store.snapshot(), existing);
    if (token && token.scope === 'admin') return { file, created: false };
  }
  const secret = newTokenSecret();
  const spec: TokenSpec = { id: newTokenId(), name: AUTH_DEFAULTS.adminTokenName, scope: 'admin' as TokenScope, hash: hashToken(secret), createdAt: new Date().toISOString() };
  await store.update(
    (draft) => {
      draft.tokens[spec.id] = spec;
    },
    { author: 'control', message: 'admin token created at first start', changes: [`token ${spec.name} (${spec.id}) created`] },
  );
  await fsp.mkdir(dataDir, { recursive: true });
  // Written to a temp file with the final mode, then renamed: the secret is never readable by others.
  const tmp = `${file}.${process.pid}.tmp`;
  await fsp.writeFile(tmp, secret + '\n', { mode: 0o600 });
  await fsp.chmod(tmp, 0o600);
  await fsp.rename(tmp, file);
  return { file, created: true };
}
