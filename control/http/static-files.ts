/**
 * The console's static files (a Vite build, dist/console): a path that names no file gets
 * index.html, so the single-page app's own routes work on reload. Paths are resolved inside the
 * root and anything that would leave it (.., encoded or not, absolute paths, NUL) is refused.
 * Vite's hashed assets are cached for a year; index.html never, so a new build is picked up.
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import type http from 'node:http';
import path from 'node:path';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.ico': 'image/x-icon',
  '.woff': 'font/woff',
  '.woff2': 'font/woff2',
  '.ttf': 'font/ttf',
  '.txt': 'text/plain; charset=utf-8',
  '.wasm': 'application/wasm',
};

export function contentType(file: string): string {
  return TYPES[path.extname(file).toLowerCase()] ?? 'application/octet-stream';
}

/** The file under `root` a URL path names, or undefined when it would be outside the root. */
export function resolveInside(root: string, urlPath: string): string | undefined {
  let decoded: string;
  try {
    decoded = decodeURIComponent(urlPath);
  } catch {
    return undefined;
  }
  if (decoded.includes('\0') || decoded.includes('\\')) return undefined;
  const rel = path.posix.normalize('/' + decoded).slice(1);
  if (rel.split('/').includes('..')) return undefined;
  const full = path.resolve(root, rel);
  const base = path.resolve(root);
  return full === base || full.startsWith(base + path.sep) ? full : undefined;
}

async function fileAt(p: string): Promise<fs.Stats | undefined> {
  const st = await fsp.stat(p).catch(() => undefined);
  return st?.isFile() ? st : undefined;
}

/** Answers a GET or HEAD for the console; false when there is no console to serve (not built). */
export async function serveStatic(root: string, req: http.IncomingMessage, res: http.ServerResponse, urlPath: string): Promise<boolean> {
  const index = path.join(root, 'index.html');
  if (!(await fileAt(index))) return false;
  let file = resolveInside(root, urlPath);
  if (file === undefined) {
    res.writeHead(400, { 'content-type': 'text/plain; charset=utf-8' });
    res.end('bad path\n');
    return true;
  }
  let st = await fileAt(file);
  if (!st) {
    const dir = await fsp.stat(file).catch(() => undefined);
    // A missing asset is a 404; any other path is a route of the app.
    if (!dir?.isDirectory() && /\.[A-Za-z0-9]{1,8}$/.test(urlPath) && urlPath.includes('/assets/')) {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' });
      res.end('not found\n');
      return true;
    }
    file = index;
    st = (await fileAt(index))!;
  }
  const immutable = file !== index && /\/assets\//.test(file);
  res.writeHead(200, {
    'content-type': contentType(file),
    'content-length': st.size,
    'cache-control': immutable ? 'public, max-age=31536000, immutable' : 'no-cache',
    'x-content-type-options': 'nosniff',
    ...(file === index ? { 'x-frame-options': 'DENY', 'referrer-policy': 'no-referrer' } : {}),
  });
  if (req.method === 'HEAD') {
    res.end();
    return true;
  }
  await new Promise<void>((resolve) => {
    const stream = fs.createReadStream(file);
    stream.on('error', () => {
      res.destroy();
      resolve();
    });
    stream.on('end', () => resolve());
    stream.pipe(res);
  });
  return true;
}
