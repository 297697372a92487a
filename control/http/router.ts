/**
 * A small route table over node:http (no framework): each route names its method and path
 * template, its zod schemas for the query string and body (strict: every problem reported), what
 * it answers, and a handler. The same table generates the OpenAPI document (openapi.ts), so what
 * is documented is what is parsed. Errors answer `{ error: { code, message, problems? } }` with the
 * status of their LOGFS_E_* code (docs/control-api.md, "Errors").
 */
import type http from 'node:http';
import { z } from 'zod';
import { errorMessage, isLogfsError, LogfsError, type ErrorCode } from '../../core/errors.js';
import type { Logger } from '../../core/logger.js';
import type { Problem } from '../api-schemas.js';
import type { Principal } from '../auth.js';
import { ProblemsError } from '../service/edits.js';

export const HTTP_DEFAULTS = {
  /** Largest request body (1 MiB): graph definitions and commits are far smaller. */
  bodyLimitBytes: 1024 * 1024,
  apiPrefix: '/api/v1',
} as const;

export type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export interface RouteContext<Q, B> {
  /** Undefined only on routes with `auth: 'none'`. */
  principal: Principal;
  params: Record<string, string>;
  query: Q;
  body: B;
  req: http.IncomingMessage;
  res: http.ServerResponse;
}

export interface Route<Q = unknown, B = unknown> {
  method: Method;
  /** Under the API prefix, with `{param}` segments: `/streams/{name}`. */
  path: string;
  operationId: string;
  summary: string;
  tag: string;
  /** `none`: no token needed. `token`: any valid token (the service checks scope). */
  auth: 'none' | 'token';
  /** Also take the token from `?token=` (EventSource cannot set headers). */
  queryToken?: boolean;
  /** Checks the path parameters (after percent-decoding) and describes them in the document; strings by default. */
  params?: z.ZodObject;
  query?: z.ZodType<Q>;
  body?: z.ZodType<B>;
  /** What a success answers (for the OpenAPI document); `sse` for an event stream. */
  response: z.ZodType | 'sse';
  /** Status of a success (200 by default). */
  status?: number;
  /** Returns the body to answer as JSON, or undefined when it answered itself (SSE). */
  handle(ctx: RouteContext<Q, B>): unknown;
}

/** Keeps the handler's types tied to its schemas. */
export function route<Q = Record<string, never>, B = undefined>(r: Route<Q, B>): Route<Q, B> {
  return r;
}

const STATUS: Partial<Record<ErrorCode, number>> = {
  LOGFS_E_CONFIG: 400,
  LOGFS_E_INVALID_NAME: 400,
  LOGFS_E_NAME_TOO_LONG: 400,
  LOGFS_E_INVALID_LABEL: 400,
  LOGFS_E_GRAPH_INVALID: 400,
  LOGFS_E_UNAUTHORIZED: 401,
  LOGFS_E_FORBIDDEN: 403,
  LOGFS_E_NOT_FOUND: 404,
  LOGFS_E_EXISTS: 409,
  LOGFS_E_CONFLICT: 409,
  LOGFS_E_TOO_LARGE: 413,
  LOGFS_E_UNAVAILABLE: 503,
  LOGFS_E_KAFKA: 503,
  LOGFS_E_SHUTTING_DOWN: 503,
};

export function statusOf(err: unknown): number {
  if (!isLogfsError(err)) return 500;
  return STATUS[err.code] ?? (err.retriable ? 503 : 500);
}

export function sendJson(res: http.ServerResponse, status: number, body: unknown, extraHeaders: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
    ...extraHeaders,
  });
  res.end(text);
}

/** The JSON answer of an error; 5xx hide internals behind a generic message (the log has them). */
export function errorBody(err: unknown): { status: number; body: { error: { code: string; message: string; problems?: Problem[]; job?: string } } } {
  const status = statusOf(err);
  if (!isLogfsError(err)) return { status, body: { error: { code: 'LOGFS_E_INTERNAL', message: 'internal error; see the control service log' } } };
  const problems = err instanceof ProblemsError ? err.problems : undefined;
  const job = typeof err.context.job === 'string' ? err.context.job : undefined;
  return {
    status,
    body: { error: { code: err.code, message: err.message, ...(problems ? { problems } : {}), ...(job ? { job } : {}) } },
  };
}

export function zodProblems(err: z.ZodError, where: 'body' | 'query' | 'path'): ProblemsError {
  const problems: Problem[] = err.issues.map((i) => {
    const p = i.path.map(String).join('.');
    return { code: 'invalid-input', path: p, message: `${where}${p ? ` ${p}` : ''}: ${i.message}` };
  });
  return new ProblemsError('LOGFS_E_CONFIG', problems.length === 1 ? problems[0]!.message : `${problems.length} problems in the ${where}:\n${problems.map((q) => q.message).join('\n')}`, problems);
}

interface Compiled {
  route: Route<any, any>;
  segments: string[];
}

export interface Matched {
  route: Route<any, any>;
  params: Record<string, string>;
}

export class Router {
  private readonly compiled: Compiled[];

  constructor(readonly routes: readonly Route<any, any>[]) {
    this.compiled = routes.map((r) => ({ route: r, segments: r.path.split('/').slice(1) }));
  }

  /**
   * The route of a path under the API prefix; `methods` lists those the path has when the method
   * matched none. As in OpenAPI, a literal segment wins over a `{param}` one: `/graphs/validate` is
   * the validate resource (POST only), never the graph "validate" (a name the service reserves).
   */
  match(method: string, apiPath: string): Matched | { methods: string[] } | undefined {
    // Split before decoding: a stream name's "/" arrives as %2F and stays inside its segment.
    const parts = apiPath.split('/').slice(1);
    let best: { literals: number; matches: Matched[] } | undefined;
    for (const c of this.compiled) {
      if (c.segments.length !== parts.length) continue;
      const params: Record<string, string> = {};
      let ok = true;
      let literals = 0;
      for (let i = 0; i < parts.length && ok; i++) {
        const seg = c.segments[i]!;
        const part = parts[i]!;
        if (seg.startsWith('{') && seg.endsWith('}')) {
          let value: string;
          try {
            value = decodeURIComponent(part);
          } catch {
            ok = false;
            break;
          }
          if (value === '') ok = false;
          params[seg.slice(1, -1)] = value;
        } else if (seg !== part) ok = false;
        else literals++;
      }
      if (!ok) continue;
      if (!best || literals > best.literals) best = { literals, matches: [] };
      if (literals === best.literals) best.matches.push({ route: c.route, params });
    }
    if (!best) return undefined;
    const hit = best.matches.find((m) => m.route.method === method || (method === 'HEAD' && m.route.method === 'GET'));
    return hit ?? { methods: best.matches.map((m) => m.route.method) };
  }
}

/** The request body, parsed as JSON; LOGFS_E_TOO_LARGE beyond `limit` bytes. */
export async function readJsonBody(req: http.IncomingMessage, limit: number): Promise<unknown> {
  const declared = Number(req.headers['content-length'] ?? NaN);
  if (Number.isFinite(declared) && declared > limit) throw tooLarge(limit);
  // Events rather than for-await: leaving a for-await loop early destroys the socket, and the 413
  // answer with it. Past the limit the rest is read and dropped; the server then closes the connection.
  const chunks: Buffer[] = [];
  const size = await new Promise<number>((resolve, reject) => {
    let n = 0;
    const onData = (chunk: Buffer): void => {
      n += chunk.length;
      if (n > limit) {
        req.off('data', onData);
        req.off('end', onEnd);
        req.resume();
        reject(tooLarge(limit));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => resolve(n);
    req.on('data', onData);
    req.once('end', onEnd);
    req.once('error', reject);
  });
  if (size === 0) return undefined;
  const type = String(req.headers['content-type'] ?? '');
  if (!/^application\/(json|[\w.+-]+\+json)\b/i.test(type)) {
    throw new LogfsError('LOGFS_E_CONFIG', `send the body as JSON with "content-type: application/json" (got "${type || 'none'}")`);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch (err) {
    throw new LogfsError('LOGFS_E_CONFIG', `the body is not valid JSON: ${errorMessage(err)}`);
  }
}

function tooLarge(limit: number): LogfsError {
  return new LogfsError('LOGFS_E_TOO_LARGE', `the request body is larger than ${limit} bytes; split the change into several commits`);
}

/** The query string as an object of single values; a repeated key is a problem. */
export function queryObject(search: URLSearchParams): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of search) {
    if (Object.hasOwn(out, k)) throw new ProblemsError('LOGFS_E_CONFIG', `query parameter "${k}" is given more than once`, [{ code: 'invalid-input', path: k, message: `query parameter "${k}" is given more than once` }]);
    out[k] = v;
  }
  return out;
}

export function logRequestError(log: Logger, req: http.IncomingMessage, err: unknown): void {
  const status = statusOf(err);
  if (status >= 500) log.error({ err: errorMessage(err), stack: (err as Error)?.stack, method: req.method, url: req.url }, 'request failed');
  else log.debug({ code: isLogfsError(err) ? err.code : undefined, method: req.method, url: req.url }, 'request refused');
}
