// One small client for the control API: the token from the session, JSON in and out, and the
// service's error body ({ error: { code, message, problems? } }) turned into an ApiError.
import type { ApiProblem, GraphProblem } from './types';

const TOKEN_KEY = 'logfs.token';
export const API_BASE = new URL('api/v1/', new URL('./', window.location.href)).pathname;

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly problems: GraphProblem[] = [],
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export function getToken(): string | null {
  return localStorage.getItem(TOKEN_KEY);
}

export function setToken(token: string | null): void {
  if (token) localStorage.setItem(TOKEN_KEY, token);
  else localStorage.removeItem(TOKEN_KEY);
}

/** Called when the service says the token is not (or no longer) valid. */
let onUnauthorized: () => void = () => {};
export function handleUnauthorized(fn: () => void): void {
  onUnauthorized = fn;
}

export function apiUrl(path: string, query?: Record<string, string | number | undefined | null>): string {
  const url = new URL(API_BASE + path.replace(/^\//, ''), window.location.origin);
  for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined && v !== null && v !== '') url.searchParams.set(k, String(v));
  return url.pathname + url.search;
}

/** Percent-encodes a stream name for a path segment: `myapp/error` → `myapp%2Ferror`. */
export function seg(name: string): string {
  return encodeURIComponent(name);
}

export async function api<T>(method: string, path: string, body?: unknown, query?: Record<string, string | number | undefined | null>): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  const token = getToken();
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  let res: Response;
  try {
    res = await fetch(apiUrl(path, query), { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (err) {
    throw new ApiError(0, 'LOGFS_E_UNREACHABLE', `The control service does not answer (${String(err)}). Is \`logfsctl up\` running?`);
  }
  const text = await res.text();
  let json: unknown = undefined;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    // Not JSON: reported below with the status.
  }
  if (!res.ok) {
    const e = (json as { error?: ApiProblem } | undefined)?.error;
    if (res.status === 401) onUnauthorized();
    throw new ApiError(res.status, e?.code ?? `HTTP_${res.status}`, e?.message ?? (text.slice(0, 200) || res.statusText), e?.problems ?? []);
  }
  return json as T;
}

export const get = <T>(path: string, query?: Record<string, string | number | undefined | null>) => api<T>('GET', path, undefined, query);
export const post = <T>(path: string, body?: unknown) => api<T>('POST', path, body ?? {});
export const patch = <T>(path: string, body: unknown) => api<T>('PATCH', path, body);
export const put = <T>(path: string, body: unknown) => api<T>('PUT', path, body);
export const del = <T>(path: string) => api<T>('DELETE', path);
