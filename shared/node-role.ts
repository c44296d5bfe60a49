// NodeRole: what differs between the roles a Strata node can have. The node assembly
// (node.ts) is the same for every role; a role checks the config for what only it allows or
// needs, and says where each site's requests go upstream.

import type { Registry } from 'prom-client';
import type { ReadinessCheck } from './admin-server.js';
import type { SiteConfig, StrataConfig } from './config/config.js';
import type { Problem } from './config/schema.js';
import type { RequestFilter } from './http/phases.js';
import type { UpstreamSelector } from './http/select.js';
import type { Upstreams } from './http/upstreams.js';
import type { HopTrust } from './http/trust.js';
import type { Logger } from './log.js';
import type { Metrics } from './metrics.js';
import type { Service } from './service.js';

/** What a role's per-process parts may use of the node being assembled. */
export interface RoleTools {
  log: Logger;
  metrics: Metrics;
  trust: HopTrust;
}

/** A role's own per-process filters and services (the geo filter and its GeoIP database). */
export interface RoleParts {
  /** Run after the role's `filters`. */
  filters: RequestFilter[];
  /** Started after the upstreams and before the listeners, in order; stopped in reverse. */
  services: Service[];
}

/** A node's place in the CDN: edges face clients, shields face edges and protect origins. */
export type RoleName = 'edge' | 'shield';

export interface NodeRole {
  readonly name: RoleName;
  /**
   * Whether this role answers only Strata nodes (a shield answers edges), which obey Strata's
   * own targeted field (cache.targetedField) too: then the field is passed on, not removed.
   */
  readonly servesStrata: boolean;
  /** Problems with a valid config that this role cannot run (key paths as config problems have). */
  problems(config: StrataConfig): Problem[];
  /** Where a site's requests go: the peers to try, in order, for each request. Runs once per site at start. */
  selector(site: SiteConfig, config: StrataConfig, upstreams: Upstreams): UpstreamSelector;
  /** The role's request filters (auth, rate limits, geo rules), run in order after routing. */
  filters?(config: StrataConfig): RequestFilter[];
  /**
   * Filters and the services they need, built together in every process that serves requests
   * (each worker, or the single process): the geo filter and its GeoIP database. Runs once.
   */
  parts?(config: StrataConfig, tools: RoleTools): RoleParts;
  /**
   * The role's services that run once per node, not once per worker (the edge's relays): the
   * StrataNode runs them with workers: 1, the primary process with more. Runs once at start;
   * none when absent.
   */
  nodeServices?(config: StrataConfig, context: RoleServiceContext): RoleService[];
}

/** What a role's node services get from the process that runs them. */
export interface RoleServiceContext {
  log: Logger;
  /** Where one line per relayed connection goes; absent when log.access is off. */
  accessLog: Logger | undefined;
  /** The registry served on /metrics (the node's, or the primary's own beside the workers' sum). */
  registry: Registry;
  now: () => number;
}

/** A node service that also says how it is doing on /readyz. */
export interface RoleService extends Service {
  readiness(): ReadinessCheck[];
}
