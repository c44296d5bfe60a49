// EdgeNode: assembles an edge from a validated config: cache store, pipeline, listeners,
// admin; starts its services in order and drains them in reverse.

import type { StrataConfig } from '../shared/config/config.js';
import { createLogging, type Logger } from '../shared/log.js';
import { LineWriter } from '../shared/line-writer.js';
import { AccessLog } from '../shared/access-log.js';
import { Metrics } from '../shared/metrics.js';
import { ServiceGroup, type Service } from '../shared/service.js';
import { buildStore, openStore, tierStats } from '../shared/cache/build-store.js';
import type { CacheStore } from '../shared/cache/store.js';
import { Pipeline } from '../shared/http/pipeline.js';
import { Router } from '../shared/http/router.js';
import { upstreamOptions } from '../shared/http/upstream.js';
import { HttpListener } from './http-listener.js';
import { AdminServer } from './admin-server.js';

export interface EdgeNodeOptions {
  /** Logger to use; default: JSON lines on stdout at config.log.level. */
  log?: Logger;
  /** Injectable clock for tests. */
  clock?: () => number;
}

export class EdgeNode {
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

  constructor(config: StrataConfig, options: EdgeNodeOptions = {}) {
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
      'edge started',
    );
  }

  /** Graceful stop: not ready, stop accepting, drain in-flight requests until the deadline. */
  async stop(drainMs = this.config.shutdown.drainTimeout): Promise<void> {
    this.admin.ready = false;
    await this.services.stop(Date.now() + drainMs);
    this.accessLog?.flush();
    this.log.info('edge stopped');
    await this.writer?.close();
  }
}
