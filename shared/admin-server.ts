// AdminServer: the operator listener: /healthz (alive), /readyz (ready to serve), /metrics (Prometheus),
// and the routes of what plugs in (the purge API, purge/api.ts).

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Service } from './service.js';
import { listen } from './http/listen.js';

/** Where /metrics comes from: a node's registry, or a primary's sum over its workers. */
export interface MetricsSource {
  metrics(): Promise<string>;
  readonly contentType: string;
}

/** One line of /readyz under "ready" or "not ready"; a check that is not ready makes the node not ready. */
export interface ReadinessCheck {
  ready: boolean;
  detail: string;
}

/** Scrapers, probes and operators need a handful of connections; past this they are refused. */
const maxAdminConnections = 256;

export class AdminServer implements Service {
  readonly name = 'admin';
  readonly server: Server;
  port = 0;
  /** Set by the node once every service is up; cleared when draining starts. */
  ready = false;
  /** Checks of services that report more than started or not (relays); read on each /readyz. */
  readonly checks: (() => ReadinessCheck[])[] = [];
  /**
   * Routes plugged in (the purge API): each says whether it handled the request, before the
   * listener's own. Set before start.
   */
  routes: ((req: IncomingMessage, res: ServerResponse) => boolean)[] = [];

  /** `serving`: whether what the node runs can serve now besides `ready` (a primary: any worker). */
  constructor(
    private readonly address: string,
    private readonly metrics: MetricsSource,
    private readonly serving: () => boolean = () => true,
  ) {
    this.server = createServer(
      { requestTimeout: 10_000, headersTimeout: 5_000, connectionsCheckingInterval: 1000 },
      (req, res) => {
        const path = (req.url ?? '/').split('?')[0];
        for (const route of this.routes) if (route(req, res)) return;
        if (req.method !== 'GET' && req.method !== 'HEAD') {
          res
            .writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' })
            .end('method not allowed\n');
          return;
        }
        if (path === '/healthz') {
          res.writeHead(200, { 'content-type': 'text/plain', 'cache-control': 'no-store' }).end('ok\n');
        } else if (path === '/readyz') {
          const { ready, body } = this.readiness();
          res
            .writeHead(ready ? 200 : 503, { 'content-type': 'text/plain', 'cache-control': 'no-store' })
            .end(body);
        } else if (path === '/metrics') {
          this.metrics.metrics().then(
            (text) => res.writeHead(200, { 'content-type': this.metrics.contentType }).end(text),
            (err: Error) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`${err.message}\n`),
          );
        } else {
          res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
        }
      },
    );
    this.server.maxConnections = maxAdminConnections;
  }

  /** "ready" or "not ready" on the first line, then one line per check. */
  private readiness(): { ready: boolean; body: string } {
    const checks = this.checks.flatMap((check) => check());
    const ready = this.ready && this.serving() && checks.every((c) => c.ready);
    const lines = checks.map((c) => `${c.detail}\n`).join('');
    return { ready, body: `${ready ? 'ready' : 'not ready'}\n${lines}` };
  }

  async start(): Promise<void> {
    this.port = await listen(this.server, this.address);
  }

  async stop(): Promise<void> {
    this.ready = false;
    if (!this.server.listening) return;
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }
}

/** A JSON answer of an admin API (purge, reload); a 401 names the scheme it wants. */
export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent) return;
  const text = JSON.stringify(body) + '\n';
  res
    .writeHead(status, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(text),
      'cache-control': 'no-store',
      ...(status === 401 ? { 'www-authenticate': 'Bearer realm="strata"' } : {}),
    })
    .end(text);
}
