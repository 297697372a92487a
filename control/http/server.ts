/**
 * The control service's HTTP server (node:http): `/api/v1/…` through the route table, the
 * OpenAPI document at `/api/v1/openapi.json`, the console's static files everywhere else.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { errorMessage, LogfsError } from '../../core/errors.js';
import type { Logger } from '../../core/logger.js';
import { authenticate, type Principal } from '../auth.js';
import type { ProvisioningStore } from '../store.js';
import type { ControlService } from '../service/index.js';
import { openApiDocument } from './openapi.js';
import { errorBody, HTTP_DEFAULTS, logRequestError, queryObject, readJsonBody, Router, sendJson, zodProblems } from './router.js';
import { apiRoutes } from './routes.js';
import { serveStatic } from './static-files.js';

export interface ControlServerOptions {
  service: ControlService;
  store: ProvisioningStore;
  host: string;
  port: number;
  brokers: string[];
  journalDir: string;
  consoleDir: string;
  version: string;
  log: Logger;
  bodyLimitBytes?: number;
}

export interface ControlServer {
  url: string;
  close(): Promise<void>;
}

export async function startControlServer(opts: ControlServerOptions): Promise<ControlServer> {
  const tails = new Set<() => void>();
  const routes = apiRoutes(opts.service, { brokers: opts.brokers, journalDir: opts.journalDir, log: opts.log, open: tails });
  const router = new Router(routes);
  const openapi = JSON.stringify(openApiDocument(routes, opts.version));
  const limit = opts.bodyLimitBytes ?? HTTP_DEFAULTS.bodyLimitBytes;

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://control');
    const method = req.method ?? 'GET';
    const prefix = HTTP_DEFAULTS.apiPrefix;
    if (url.pathname !== prefix && !url.pathname.startsWith(prefix + '/')) {
      if (method !== 'GET' && method !== 'HEAD') return sendJson(res, 405, errorBody(new LogfsError('LOGFS_E_CONFIG', 'the console is read with GET')).body, { allow: 'GET, HEAD' });
      if (await serveStatic(opts.consoleDir, req, res, url.pathname)) return;
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' });
      res.end(`The web console is not built (no ${opts.consoleDir}/index.html). The API is at ${prefix}, described by ${prefix}/openapi.json.\n`);
      return;
    }
    const apiPath = url.pathname.slice(prefix.length) || '/';
    if (apiPath === '/openapi.json' && (method === 'GET' || method === 'HEAD')) {
      res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-cache', 'content-length': Buffer.byteLength(openapi) });
      res.end(method === 'HEAD' ? undefined : openapi);
      return;
    }
    const matched = router.match(method, apiPath);
    if (!matched) throw new LogfsError('LOGFS_E_NOT_FOUND', `no API resource ${apiPath}; see ${prefix}/openapi.json`);
    if ('methods' in matched) {
      const allow = [...new Set(matched.methods)].join(', ');
      return sendJson(res, 405, { error: { code: 'LOGFS_E_CONFIG', message: `${method} is not allowed on ${apiPath}; use ${allow}` } }, { allow });
    }
    const { route, params } = matched;
    const rawQuery = queryObject(url.searchParams);
    let principal: Principal | undefined;
    if (route.auth === 'token') {
      principal = authenticate(opts.store.snapshot(), req.headers.authorization, route.queryToken ? rawQuery.token : undefined);
    }
    if (route.params) {
      const pp = route.params.safeParse(params);
      if (!pp.success) throw zodProblems(pp.error, 'path');
    }
    const q = route.query ? route.query.safeParse(rawQuery) : { success: true as const, data: rawQuery };
    if (!q.success) throw zodProblems(q.error, 'query');
    let body: unknown;
    if (route.body) {
      const raw = await readJsonBody(req, limit);
      // The document marks every request body required: an empty one is refused, not read as {}.
      if (raw === undefined) throw new LogfsError('LOGFS_E_CONFIG', `${method} ${apiPath} needs a JSON body (content-type: application/json); send {} for no fields`);
      const b = route.body.safeParse(raw);
      if (!b.success) throw zodProblems(b.error, 'body');
      body = b.data;
    } else if (method !== 'GET' && method !== 'HEAD' && method !== 'DELETE') {
      await readJsonBody(req, limit); // drained, and still bounded
    }
    const result = await route.handle({ principal: principal as Principal, params, query: q.data, body, req, res });
    if (result === undefined && res.headersSent) return;
    sendJson(res, route.status ?? 200, result ?? null);
  };

  const server = http.createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      logRequestError(opts.log, req, err);
      if (res.headersSent) {
        res.destroy();
        return;
      }
      const { status, body } = errorBody(err);
      // After a refused oversized body the rest of it is not read: close the connection.
      sendJson(res, status, body, status === 413 ? { connection: 'close' } : {});
      if (status === 413) {
        // The rest of an oversized body is discarded, for a while: long enough for the client to read the answer.
        req.resume();
        setTimeout(() => req.destroy(), 5_000).unref();
      }
    });
  });
  server.on('clientError', (err, socket) => {
    opts.log.debug({ err: errorMessage(err) }, 'bad HTTP request');
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\r\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address() as AddressInfo;
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  return {
    url: `http://${host}:${addr.port}`,
    async close() {
      for (const end of [...tails]) end();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      // Long polls and tails hold connections open: give them a moment, then cut them.
      const timer = setTimeout(() => server.closeAllConnections(), 1000);
      await closed;
      clearTimeout(timer);
    },
  };
}
