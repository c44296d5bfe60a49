// StrataNode: one assembly for every role (edge, shield): logs, metrics, cache store, router,
// pipeline, listeners and admin from a validated config; starts its services in order and
// drains them in reverse. What differs between roles is a NodeRole (edge/, shield/).

import type { StrataConfig } from './config/config.js';
import { createLogging, type Logger } from './log.js';
import { LineWriter } from './line-writer.js';
import { AccessLog } from './access-log.js';
import { Metrics } from './metrics.js';
import { ServiceGroup, type Service } from './service.js';
import { buildStore, openStore, tierStats } from './cache/build-store.js';
import type { CacheStore } from './cache/store.js';
import { Pipeline } from './http/pipeline.js';
import { Router } from './http/router.js';
import { upstreamOptions } from './http/upstream.js';
import { HttpListener } from './http/http-listener.js';
import { AdminServer } from './admin-server.js';

/** A node's place in the CDN: edges face clients, shields face edges and protect origins. */
export type RoleName = 'edge' | 'shield';

export interface NodeOptions {
  /** The node's role (default 'edge'); it names the node's log lines. */
  role?: RoleName;
  /** Logger to use; default: JSON lines on stdout at config.log.level. */
  log?: Logger;
  /** Injectable clock for tests. */
  clock?: () => number;
}

export class StrataNode {
  readonly role: RoleName;
  readonly config: StrataConfig;
  readonly log: Logger;
  /** Buffered writer behind the node's own logs and access log (absent when a test passes a logger and no access log). */
  private readonly writer: LineWriter | undefined;
  private readonly accessLog: AccessLog | undefined;
  readonly metrics: Metrics;
  readonly store: CacheStore;
  readonly router: Router;
  readonly pipeline: Pipeline;
  readonly http: HttpListener;
  readonly admin: AdminServer;
  private readonly services: ServiceGroup;

  constructor(config: StrataConfig, options: NodeOptions = {}) {
    this.role = options.role ?? 'edge';
    this.config = config;
    const logging = options.log
      ? undefined
      : createLogging({ level: config.log.level, node: config.node.id });
    this.log = options.log ?? logging!.log;
    this.writer = logging?.writer ?? (config.log.access ? new LineWriter(1) : undefined);
    this.accessLog =
      config.log.access && this.writer ? new AccessLog(this.writer, config.node.id) : undefined;
    this.metrics = new Metrics(() => tierStats(this.store));
    if (this.writer) {
      const writer = this.writer;
      this.metrics.countLogDrops(() => writer.dropped);
    }
    this.store = buildStore(config, this.log, this.metrics);
    this.router = new Router(config.sites, upstreamOptions(config.upstream));
    this.pipeline = new Pipeline({
      config,
      router: this.router,
      store: this.store,
      log: this.log,
      metrics: this.metrics,
      scheme: 'http',
      clock: options.clock,
      accessLog: this.accessLog,
    });
    this.http = new HttpListener(config.listen.http, config, this.pipeline.handle, this.log, this.metrics);
    this.admin = new AdminServer(config.listen.admin, this.metrics);
    const upstreams: Service = {
      name: 'upstreams',
      start: async () => {},
      stop: (deadlineMs) => this.router.close(deadlineMs),
    };
    const store: Service = {
      name: 'store',
      start: () => openStore(this.store),
      stop: () => this.store.close(),
    };
    this.services = new ServiceGroup([store, upstreams, this.admin, this.http]);
  }

  async start(): Promise<void> {
    await this.services.start();
    this.admin.ready = true;
    this.log.info(
      {
        http: this.config.listen.http,
        httpPort: this.http.port,
        admin: this.config.listen.admin,
        adminPort: this.admin.port,
      },
      `${this.role} started`,
    );
  }

  /** Graceful stop: not ready, stop accepting, drain in-flight requests until the deadline. */
  async stop(drainMs = this.config.shutdown.drainTimeout): Promise<void> {
    this.admin.ready = false;
    await this.services.stop(Date.now() + drainMs);
    this.accessLog?.flush();
    this.log.info(`${this.role} stopped`);
    await this.writer?.close();
  }
}
