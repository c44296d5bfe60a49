// DemoOrigin: a small origin for the demo with one route per caching behaviour.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createHash } from 'node:crypto';
import { listen } from '../http/listen.js';

type Route = (req: IncomingMessage, res: ServerResponse) => void;

const large = Buffer.alloc(5 * 1024 * 1024, 'strata ');
const largeTag = `"${createHash('sha1').update(large).digest('hex').slice(0, 16)}"`;

export const demoRoutes: Record<string, { about: string; handle: Route }> = {
  '/cacheable': {
    about: 'fresh for 60s, with an ETag',
    handle: (_req, res) =>
      send(res, 200, { 'cache-control': 'public, max-age=60', etag: '"v1"' }, `cacheable at ${stamp()}\n`),
  },
  '/uncacheable': {
    about: 'Cache-Control: no-store, never cached',
    handle: (_req, res) => send(res, 200, { 'cache-control': 'no-store' }, `uncacheable at ${stamp()}\n`),
  },
  '/slow': {
    about: 'answers after 1s, fresh for 30s (try concurrent requests: they collapse)',
    handle: (_req, res) => {
      setTimeout(() => send(res, 200, { 'cache-control': 'max-age=30' }, `slow at ${stamp()}\n`), 1000);
    },
  },
  '/large': {
    about: '5 MiB, fresh for 5 minutes (try a Range request)',
    handle: (_req, res) =>
      send(
        res,
        200,
        { 'cache-control': 'max-age=300', etag: largeTag, 'content-type': 'application/octet-stream' },
        large,
      ),
  },
  '/vary': {
    about: 'Vary: Accept-Language, one variant per language',
    handle: (req, res) =>
      send(
        res,
        200,
        { 'cache-control': 'max-age=120', vary: 'Accept-Language' },
        `language: ${req.headers['accept-language'] ?? '(none)'} at ${stamp()}\n`,
      ),
  },
  '/tagged': {
    about: 'CDN-Cache-Control: max-age=600 for Strata, max-age=10 for browsers, Surrogate-Key tags',
    handle: (_req, res) =>
      send(
        res,
        200,
        {
          'cache-control': 'max-age=10',
          'cdn-cache-control': 'max-age=600',
          'surrogate-key': 'demo product-42',
        },
        `tagged at ${stamp()}\n`,
      ),
  },
  '/swr': {
    about: 'fresh for 5s, then served stale for 30s while revalidating in the background',
    handle: (_req, res) =>
      send(res, 200, { 'cache-control': 'max-age=5, stale-while-revalidate=30' }, `swr at ${stamp()}\n`),
  },
};

function stamp(): string {
  return new Date().toISOString();
}

function send(
  res: ServerResponse,
  status: number,
  headers: Record<string, string>,
  body: string | Buffer,
): void {
  res.writeHead(status, {
    'content-type': 'text/plain; charset=utf-8',
    ...headers,
    'content-length': Buffer.byteLength(body),
  });
  res.end(body);
}

export class DemoOrigin {
  readonly server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const route = demoRoutes[path];
    if (route) return route.handle(req, res);
    if (path === '/') {
      const lines = Object.entries(demoRoutes).map(([p, r]) => `${p.padEnd(14)} ${r.about}`);
      return send(res, 200, { 'cache-control': 'max-age=10' }, `Strata demo origin\n\n${lines.join('\n')}\n`);
    }
    send(res, 404, { 'cache-control': 'max-age=5' }, 'not found\n');
  });
  port = 0;

  async start(address: string): Promise<number> {
    this.port = await listen(this.server, address);
    return this.port;
  }

  stop(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }
}
