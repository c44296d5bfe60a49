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

/** Scrapers, probes and operators need a handful of connections; past this they are refused. */
const maxAdminConnections = 256;

export class AdminServer implements Service {
  readonly name = 'admin';
  readonly server: Server;
  port = 0;
  /** Set by the node once every service is up; cleared when draining starts. */
  ready = false;
  /**
   * Routes plugged in (the purge API): each says whether it handled the request, before the
   * listener's own. Set before start.
   */
  routes: ((req: IncomingMessage, res: ServerResponse) => boolean)[] = [];
  /** Lines added to /readyz's body ("purge: Redis unreachable ..."); they never change its status. */
  details: (() => string | undefined)[] = [];

  constructor(
    private readonly address: string,
    private readonly metrics: MetricsSource,
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
          res
            .writeHead(this.ready ? 200 : 503, { 'content-type': 'text/plain', 'cache-control': 'no-store' })
            .end((this.ready ? 'ready\n' : 'not ready\n') + this.detailLines());
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

  private detailLines(): string {
    let text = '';
    for (const detail of this.details) {
      const line = detail();
      if (line) text += `${line}\n`;
    }
    return text;
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
