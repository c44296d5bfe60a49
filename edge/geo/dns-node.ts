// DnsNode: what strata dns runs: the GeoDNS node service (its GeoIP database, the edges' health,
// the DNS server) and an admin listener (/healthz, /readyz with the service's check, /metrics),
// started in that order and stopped in reverse.

import { Registry, collectDefaultMetrics } from 'prom-client';
import type { DnsServerConfig } from '../../shared/config/config.js';
import type { Logger } from '../../shared/log.js';
import { AdminServer } from '../../shared/admin-server.js';
import { ServiceGroup } from '../../shared/service.js';
import { GeoDns } from './geo-dns.js';

export class DnsNode {
  readonly registry = new Registry();
  readonly geoDns: GeoDns;
  readonly admin: AdminServer;
  private readonly services: ServiceGroup;

  /** `config` has a dns section (validateDnsConfig checks), and so geo regions. */
  constructor(config: DnsServerConfig, log: Logger) {
    collectDefaultMetrics({ register: this.registry });
    this.geoDns = new GeoDns(config.geo!, config.dns!, { log, registry: this.registry, purge: config.purge });
    this.admin = new AdminServer(config.listen.admin, this.registry);
    this.admin.checks.push(() => this.geoDns.readiness());
    this.services = new ServiceGroup([this.geoDns, this.admin]);
  }

  get dnsPort(): number {
    return this.geoDns.port;
  }

  get adminPort(): number {
    return this.admin.port;
  }

  async start(): Promise<void> {
    await this.services.start();
    this.admin.ready = true;
  }

  async stop(): Promise<void> {
    this.admin.ready = false;
    await this.services.stop(Date.now() + 1000);
  }
}
