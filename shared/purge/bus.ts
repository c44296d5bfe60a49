// PurgeBus: a node's part in fleet-wide purges, assembled from the config: the log (Redis, or
// in-process without purge.redis), the agent that applies purges to `target`, and the API on the
// admin listener. One per node: in the StrataNode, or in the primary when there are workers.

import type { Registry } from 'prom-client';
import type { AdminServer } from '../admin-server.js';
import { readToken } from '../bearer-token.js';
import type { StrataConfig } from '../config/config.js';
import { StrataError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Service } from '../service.js';
import { PurgeAgent, type PositionStore, type PurgeTarget } from './agent.js';
import { PurgeApi } from './api.js';
import type { PurgeLog } from './log.js';
import { MemoryLog } from './memory-log.js';
import type { Heartbeat, PurgeMessage } from './message.js';
import { PurgeMetrics } from './metrics.js';
import { redisLogFor } from './redis-log.js';

export interface PurgeBusOptions {
  config: StrataConfig;
  target: PurgeTarget;
  /** Where the last applied purge is kept (with the disk tier, or in memory); read at start. */
  position: () => PositionStore;
  describe(): Omit<Heartbeat, 'v' | 'atMs' | 'intervalMs' | 'appliedId'>;
  logger: Logger;
  registry: Registry;
  admin: AdminServer;
  clock?: () => number;
  /** A log shared by the nodes of one process (the demo); default: purge.redis's, or one of its own. */
  log?: PurgeLog;
}

export class PurgeBus implements Service {
  readonly name = 'purge';
  readonly log: PurgeLog;
  readonly metrics: PurgeMetrics;
  agent: PurgeAgent | undefined;

  constructor(private readonly options: PurgeBusOptions) {
    const { config, logger } = options;
    const purge = config.purge;
    this.metrics = new PurgeMetrics(options.registry);
    this.log = options.log ?? (purge.redis ? redisLogFor(purge, logger) : new MemoryLog(purge.stream.maxAge));
  }

  /** Reads the token, catches up with the log (when it is reachable) and plugs the API in. */
  async start(): Promise<void> {
    const { config, logger, admin } = this.options;
    const token = await readToken(config);
    if (token === undefined)
      logger.debug(
        'purge API is off: set purge.token or purge.tokenFile to accept purges (docs/configuration.md)',
      );
    this.agent = new PurgeAgent({
      node: config.node.id,
      log: this.log,
      target: this.options.target,
      position: this.options.position(),
      heartbeatMs: config.purge.heartbeat,
      describe: this.options.describe,
      logger,
      metrics: this.metrics,
      clock: this.options.clock,
    });
    await this.agent.start();
    const api = new PurgeApi({
      log: this.log,
      token,
      maxBodyBytes: config.purge.api.maxBodyBytes,
      ratePerSec: config.purge.api.ratePerSec,
      burst: config.purge.api.burst,
      maxWaitMs: config.purge.api.maxWait,
      logger,
      metrics: this.metrics,
      clock: this.options.clock,
    });
    admin.routes.push((req, res) => api.handle(req, res));
    // A line on /readyz; it never makes the node unready (it serves without the bus).
    admin.checks.push(() => {
      const detail = this.detail();
      return detail ? [{ ready: true, detail }] : [];
    });
  }

  /** Runs once the node serves: its heartbeats start (it counts as live from then on). */
  announce(): void {
    this.agent?.announce();
  }

  /** Runs when the node begins to drain: its heartbeat leaves the bus (agent.ts withdraw()). */
  async withdraw(): Promise<void> {
    await this.agent?.withdraw();
  }

  async stop(): Promise<void> {
    await this.agent?.stop();
  }

  /** A purge from this node (the PURGE method): appended to the log like the API's. */
  publish(urls: string[]): Promise<PurgeMessage> {
    if (this.log.state !== 'up')
      return Promise.reject(
        new StrataError('PURGE_UNAVAILABLE', `the purge bus is unreachable (${this.log.reason ?? 'down'})`),
      );
    const spec = { urls, prefixes: [], hosts: [], tags: [], all: false, soft: false };
    return this.log.append(spec, (this.options.clock ?? Date.now)());
  }

  /** The /readyz line: the bus's state and this node's position in the log. */
  private detail(): string {
    const where = this.log.kind === 'redis' ? 'Redis' : 'in-process bus';
    const applied = this.agent?.applied ?? '0-0';
    if (this.log.state !== 'up')
      return `purge: ${where} unreachable (${this.log.reason ?? 'down'}); serving, will catch up from ${applied}`;
    return `purge: ${where} up; applied through ${applied}${this.agent?.caughtUp ? '' : ' (catching up)'}`;
  }
}
