// GeoDns: the GeoDNS server as a node service (NodeRole.nodeServices): run once per node, by
// the node itself with workers: 1 or by its primary with more (every worker binding port 53
// would split the queries and the health probes). Its GeoIP database, the edges' health and
// the DNS listener start in that order and stop in reverse; /readyz says whether it listens.

import type { ReadinessCheck } from '../../shared/admin-server.js';
import type { RoleService } from '../../shared/node-role.js';
import { ServiceGroup } from '../../shared/service.js';
import { geoParts, type GeoParts, type GeoTools } from './geo-parts.js';
import type { DnsConfig, GeoConfig } from '../../shared/config/config.js';

export class GeoDns implements RoleService {
  readonly name = 'geodns';
  readonly parts: GeoParts;
  private readonly group: ServiceGroup;
  private listening = false;

  constructor(
    geo: GeoConfig,
    private readonly dns: DnsConfig,
    tools: GeoTools,
  ) {
    this.parts = geoParts(geo, dns, tools);
    this.group = new ServiceGroup(this.parts.services);
  }

  /** The port the DNS server bound (UDP and TCP). */
  get port(): number {
    return this.parts.dns!.port;
  }

  async start(): Promise<void> {
    await this.group.start();
    this.listening = true;
  }

  async stop(deadlineMs: number): Promise<void> {
    this.listening = false;
    await this.group.stop(deadlineMs);
  }

  /** Ready while it listens. Edges all down keeps it ready: it still answers (the client's region's edges). */
  readiness(): ReadinessCheck[] {
    return [
      {
        ready: this.listening,
        detail: `dns ${this.dns.zone} :${this.listening ? this.port : '-'}: ${this.listening ? 'listening' : 'not listening'}`,
      },
    ];
  }
}
