// StrataNode: one assembly for every role (edge, shield): logs, metrics, cache store, router,
// pipeline, listeners and admin from a validated config; starts its services in order and
// drains them in reverse. What differs between roles is a NodeRole (edge/, shield/).

import { configError, type StrataConfig } from './config/config.js';
import { createLogging, type Logger } from './log.js';
import { LineWriter } from './line-writer.js';
import { AccessLog } from './access-log.js';
import { Metrics } from './metrics.js';
import { ServiceGroup, type Service } from './service.js';
import type { NodeRole, RoleParts, RoleService } from './node-role.js';
import { buildStore, memoryTier, openStore, tierStats } from './cache/build-store.js';
import { HeapWatch, heapProblem } from './heap.js';
import type { CacheStore } from './cache/store.js';
import { Pipeline } from './http/pipeline.js';
import { Router } from './http/router.js';
import { HopTrust } from './http/trust.js';
import { UpstreamClient } from './http/upstream-client.js';
import { Upstreams } from './http/upstreams.js';
import { HttpListener } from './http/http-listener.js';
import { HttpsListener } from './http/https-listener.js';
import { WebSocketProxy } from './http/websocket.js';
import { HttpsPolicy } from './http/https-policy.js';
import { authority, parseHostPort } from './http/listen.js';
import { AdminServer } from './admin-server.js';
import { SiblingListener, Siblings, type WorkerPlace } from './cluster/siblings.js';
import { TieredStore } from './cache/tiered-store.js';
import { memoryPosition, type PositionStore } from './purge/agent.js';
import { PurgeBus } from './purge/bus.js';
import type { PurgeLog } from './purge/log.js';
import { nodeAddresses } from './purge/heartbeat.js';
import { PurgeMethod } from './purge/purge-method.js';
import { Purger } from './purge/purger.js';
import { TierFence } from './purge/tier-fence.js';
import { strataVersion } from './version.js';

export interface NodeOptions {
  /** The node's role: edgeRole (edge/edge-role.ts) or shieldRole (shield/shield-role.ts). */
  role: NodeRole;
  /** Logger to use; default: JSON lines on stdout at config.log.level. */
  log?: Logger;
  /** Injectable clock for tests. */
  clock?: () => number;
  /**
   * Set in a worker process (shared/cluster/): its place among the node's workers (its index is
   * in every log line). A worker serves no admin listener (its primary does), shares stdout with
   * the other workers, and shares one cache with them (siblings.ts).
   */
  worker?: WorkerPlace;
  /** A purge log shared by the nodes of one process (the demo: purges reach all of them). */
  purgeLog?: PurgeLog;
  /** In a worker: how a PURGE request's URL reaches the node's purge bus (its primary's). */
  publishPurge?: (url: string) => Promise<{ id: string }>;
}

export class StrataNode {
  readonly role: NodeRole;
  readonly config: StrataConfig;
  readonly log: Logger;
  /** Where the node says it listens: its own logger at level info at least, or the injected one as is. */
  private readonly announce: Logger;
  private readonly worker: WorkerPlace | undefined;
  /** Buffered writer behind the node's own logs and access log (absent when a test passes a logger and no access log). */
  private readonly writer: LineWriter | undefined;
  private readonly accessLog: AccessLog | undefined;
  readonly metrics: Metrics;
  readonly store: CacheStore;
  readonly upstreams: Upstreams;
  readonly router: Router;
  readonly pipeline: Pipeline;
  readonly http: HttpListener;
  /** The TLS listener (listen.https), if configured. */
  readonly https: HttpsListener | undefined;
  readonly websocket: WebSocketProxy;
  readonly admin: AdminServer;
  /** The role's per-process filters and services (the geo filter and its GeoIP database). */
  readonly roleParts: RoleParts;
  /** The role's once-per-node services (the edge's relays); none in a worker (its primary runs them). */
  readonly nodeServices: readonly RoleService[];
  /** What serves the node's clients, started last and stopped first... */
  private readonly clients: ServiceGroup;
  /** ...and what they need: store, upstream pools, admin and the other workers' fills. */
  private readonly core: ServiceGroup;
  private readonly siblingListener: SiblingListener | undefined;
  private readonly siblings: Siblings | undefined;
  /** The one entry point of purges on this node: store, fills in flight and fences. */
  readonly purger: Purger;
  /** The node's part in fleet-wide purges; absent in a worker (its primary has it). */
  readonly purge: PurgeBus | undefined;
  private readonly startedMs = Date.now();

  /** Throws CONFIG_INVALID when the config has what the role cannot run. */
  constructor(config: StrataConfig, options: NodeOptions) {
    this.role = options.role;
    const problems = this.role.problems(config);
    const tooSmall = heapProblem(config);
    if (tooSmall) problems.push(tooSmall);
    if (problems.length > 0) throw configError(`the ${this.role.name} config`, problems);
    this.config = config;
    const logging = options.log
      ? undefined
      : createLogging({ level: config.log.level, node: config.node.id, worker: options.worker?.index });
    this.log = options.log ?? logging!.log;
    this.worker = options.worker;
    this.announce = logging ? atAnyLevel(this.log) : this.log;
    this.writer = logging?.writer ?? (config.log.access ? new LineWriter(1) : undefined);
    this.accessLog =
      config.log.access && this.writer
        ? new AccessLog(this.writer, config.node.id, options.worker?.index)
        : undefined;
    this.metrics = new Metrics(() => tierStats(this.store));
    if (this.writer) {
      const writer = this.writer;
      this.metrics.countLogDrops(() => writer.dropped);
    }
    const place = options.worker;
    const siblings = place && place.count > 1 ? new Siblings(place, config) : undefined;
    this.siblings = siblings;
    this.store = buildStore(
      config,
      this.log,
      this.metrics,
      siblings && { index: siblings.place.index, owns: siblings.owns },
    );
    // Near the heap limit: evict 2% of the memory tier per check, and store no new fills.
    const memory = memoryTier(this.store);
    const heap = new HeapWatch(() => this.metrics.heapShed.inc(memory.shed(0.02)));
    const upstreams = new Upstreams(config, this.log, this.metrics);
    this.upstreams = upstreams;
    this.router = new Router(config.sites, (site) => this.role.selector(site, config, upstreams));
    const clock = options.clock ?? Date.now;
    const trust = new HopTrust(config.proxy);
    this.admin = new AdminServer(config.listen.admin, this.metrics.registry);
    const upstream = new UpstreamClient({
      nodeId: config.node.id,
      via: `1.1 ${config.node.id} (strata)`,
      trust,
      attempts: config.upstream.attempts,
      metrics: this.metrics,
      retried: (kind) => upstreams.retries.inc({ kind }),
      log: this.log,
      siblings,
    });
    const parts = this.role.parts?.(config, { log: this.log, metrics: this.metrics, trust }) ?? {
      filters: [],
      services: [],
    };
    this.roleParts = parts;
    this.websocket = new WebSocketProxy({
      config,
      upstream,
      origins: (site) => upstreams.originPool(site.config),
      log: this.log,
      metrics: this.metrics,
    });
    this.pipeline = new Pipeline({
      config,
      router: this.router,
      store: this.store,
      log: this.log,
      metrics: this.metrics,
      upstream,
      trust,
      websocket: this.websocket,
      ready: () => this.admin.ready,
      // Redirects to HTTPS come before the role's checks (auth, rate limits).
      filters: [
        ...(HttpsPolicy.needed(config.sites) ? [new HttpsPolicy(config.sites)] : []),
        // PURGE is Strata's own word on every node: refused unless purge.methodFrom allows it.
        new PurgeMethod(config.purge.methodFrom),
        // A shield answers an edge that has applied a purge this shield has not from the origin.
        ...(this.role.servesStrata
          ? [new TierFence(() => this.purger.appliedId, this.metrics.registry)]
          : []),
        ...(this.role.filters?.(config) ?? []),
        ...parts.filters,
      ],
      purge: options.worker === undefined ? (url) => this.purge!.publish([url]) : options.publishPurge,
      purgedThrough: () => this.purger.appliedId,
      clock,
      heapTight: () => heap.tight,
      accessLog: this.accessLog,
      hiddenFields:
        config.cache.targetedField && !this.role.servesStrata
          ? [config.cache.targetedField.toLowerCase()]
          : [],
      // A shield answers edges, which index tags for purges: they get the surrogate fields.
      surrogateFields: this.role.servesStrata ? 'pass' : 'remove',
    });
    this.websocket.handle = this.pipeline.handle;
    const upgrade = this.websocket.accept;
    this.http = new HttpListener(
      config.listen.http,
      config,
      this.pipeline.handle,
      this.log,
      this.metrics,
      upgrade,
    );
    this.https = config.listen.https
      ? new HttpsListener(config.listen.https, config, this.pipeline.handle, this.log, this.metrics, upgrade)
      : undefined;
    this.nodeServices =
      options.worker === undefined
        ? (this.role.nodeServices?.(config, {
            log: this.log,
            // Like the HTTP access log: written whatever log.level says, unless log.access is off.
            accessLog: config.log.access ? (logging ? atAnyLevel(this.log) : this.log) : undefined,
            registry: this.metrics.registry,
            now: clock,
          }) ?? [])
        : [];
    for (const service of this.nodeServices) this.admin.checks.push(() => service.readiness());
    this.purger = new Purger({
      store: this.store,
      fills: this.pipeline.fills,
      router: this.router,
      fences: this.pipeline.fences,
    });
    this.purge =
      options.worker === undefined
        ? new PurgeBus({
            config,
            target: { apply: async (spec) => ({ objects: await this.purger.apply(spec) }) },
            position: () => this.purgePosition(),
            describe: () => this.describe(),
            logger: this.log,
            registry: this.metrics.registry,
            admin: this.admin,
            log: options.purgeLog,
            // Liveness and purge lag run on wall-clock time, not the cache's clock (which tests move by hand).
          })
        : undefined;
    const store: Service = {
      name: 'store',
      start: () => openStore(this.store),
      stop: () => this.store.close(),
    };
    this.siblingListener =
      siblings && new SiblingListener(siblings.place, config, siblings, this.pipeline.handle);
    this.core = new ServiceGroup([
      store,
      heap,
      // After the store (its position is kept with the disk tier), before the listeners: a
      // restarted node has applied what it missed before it serves.
      ...(this.purge ? [this.purge] : []),
      this.upstreams,
      // The GeoIP database loads before the listeners take a request that needs it.
      ...parts.services,
      ...this.nodeServices,
      // A worker serves no admin listener: its primary does (shared/cluster/).
      ...(options.worker === undefined ? [this.admin] : []),
      // Stops after the client listeners: the other workers' fills go on while this one drains.
      ...(this.siblingListener ? [this.siblingListener] : []),
    ]);
    this.clients = new ServiceGroup([
      this.http,
      ...(this.https ? [this.https] : []),
      // Last, so it stops first: tunnels close in WebSocket terms while the listeners still
      // run (they wait for every connection, upgraded ones included, before they stop).
      this.websocket,
    ]);
  }

  /** Starts the services in order; then says on stdout where the node listens. */
  async start(): Promise<void> {
    await this.core.start();
    try {
      await this.clients.start();
    } catch (err) {
      await this.core.stop(Date.now() + 1000);
      throw err;
    }
    this.admin.ready = true;
    this.purge?.announce();
    const https = this.https && {
      https: authority(parseHostPort(this.config.listen.https!.address).host, this.https.port),
      httpsPort: this.https.port,
    };
    // A worker has no admin listener, and its primary says where the node listens.
    if (this.worker !== undefined) this.log.debug({ httpPort: this.http.port }, 'worker started');
    else
      this.announce.info(
        { ...listening(this.config, this.http.port, this.admin.port), ...https },
        `${this.role.name} started`,
      );
  }

  /** Where the last applied purge is kept: with the disk tier when there is one, else in memory. */
  private purgePosition(): PositionStore {
    const store = this.store;
    if (!(store instanceof TieredStore)) return memoryPosition();
    return {
      load: async () => (await store.disk.getSetting('purge-position'))?.replace(/^v1:/, ''),
      save: (id) => store.disk.putSetting('purge-position', `v1:${id}`),
    };
  }

  /** The heartbeat's description of this node (docs/admin-api.md, "Node heartbeats"). */
  private describe() {
    const http = listening(this.config, this.http.port, this.admin.port);
    const https =
      this.https && authority(parseHostPort(this.config.listen.https!.address).host, this.https.port);
    return {
      node: this.config.node.id,
      role: this.role.name,
      region: this.config.node.region,
      version: strataVersion(),
      http: http.http,
      ...(https ? { https } : {}),
      admin: http.admin,
      addresses: nodeAddresses(this.config.node.addresses, [
        this.config.listen.http,
        this.config.listen.https?.address,
      ]),
      startedMs: this.startedMs,
      workers: 1,
    };
  }

  /**
   * Reloads the HTTPS listener's certificates from disk (SIGHUP): new handshakes get the new
   * ones, open connections keep theirs; a bad certificate is refused and logged. Resolves with
   * whether new certificates are in service (false, too, without an HTTPS listener).
   */
  reloadCertificates(): Promise<boolean> {
    if (!this.https) {
      this.log.info('no HTTPS listener: no certificates to reload');
      return Promise.resolve(false);
    }
    return this.https.certificates.reload('signal');
  }

  /**
   * A worker being replaced on reload (shared/cluster/): stops serving clients (draining them),
   * and keeps answering its successor's fills from its memory tier for `handoffMs`, so the hot
   * objects move to the new worker instead of being fetched again. stop() ends it.
   */
  async retire(handoffMs: number): Promise<void> {
    this.admin.ready = false;
    await this.clients.stop(Date.now() + this.config.shutdown.drainTimeout);
    await new Promise((resolve) => setTimeout(resolve, handoffMs));
  }

  /** Another worker of this node has (re)started (shared/cluster/). */
  siblingReady(index: number): void {
    this.siblings?.siblingReady(index);
  }

  /** The worker this one replaced has exited: fills of its own keys go upstream from now on. */
  predecessorGone(): void {
    this.siblings?.forgetPredecessor();
  }

  /** Listens where the worker that replaces this one finds it (siblings.ts). */
  handOver(): Promise<void> {
    return this.siblingListener?.retire() ?? Promise.resolve();
  }

  /** Graceful stop: not ready, stop accepting, drain in-flight requests until the deadline. */
  async stop(drainMs = this.config.shutdown.drainTimeout): Promise<void> {
    this.admin.ready = false;
    const deadline = Date.now() + drainMs;
    // First, so that GeoDNS stops naming the node while it drains.
    await this.purge?.withdraw();
    try {
      await this.clients.stop(deadline);
    } finally {
      await this.core.stop(deadline);
    }
    this.accessLog?.flush();
    this.log.info(`${this.role.name} stopped`);
    await this.writer?.close();
  }
}

/**
 * The logger for a node's started line: written whatever log.level says, as the access log is,
 * since with port 0 it is the only place the bound ports appear.
 */
export function atAnyLevel(log: Logger): Logger {
  return log.child({}, { level: 'info' });
}

/** The started line's fields: the addresses bound (with the ports chosen for port 0), and the ports. */
export function listening(
  config: StrataConfig,
  httpPort: number,
  adminPort: number,
): { http: string; httpPort: number; admin: string; adminPort: number } {
  const bound = (address: string, port: number) => authority(parseHostPort(address).host, port);
  return {
    http: bound(config.listen.http, httpPort),
    httpPort,
    admin: bound(config.listen.admin, adminPort),
    adminPort,
  };
}
