// The geo parts of a node or of strata dns, assembled from the config: the GeoIP database, the
// regions, and (with a dns section) the edges' health and the DNS server, as services in the
// order they start: the database first, so that the first query and request find it loaded.
// The edges' health is read from their heartbeats when purge.redis is set, else probed.

import type { Registry } from 'prom-client';
import type { DnsConfig, GeoConfig, PurgeConfig } from '../../shared/config/config.js';
import type { Logger } from '../../shared/log.js';
import type { Service } from '../../shared/service.js';
import { redisLogFor } from '../../shared/purge/redis-log.js';
import { DnsMetrics, HeartbeatMetrics } from './dns-metrics.js';
import { DnsResponder } from './dns-responder.js';
import { DnsServer } from './dns-server.js';
import { ProbeHealth, type EdgeHealth } from './edge-health.js';
import type { GeoIp } from './geoip.js';
import { HeartbeatHealth } from './heartbeat-health.js';
import { Regions } from './regions.js';
import { sharedGeoIp } from './shared-geoip.js';

export interface GeoParts {
  geo: GeoIp;
  regions: Regions;
  /** The DNS server, with a dns section. */
  dns: DnsServer | undefined;
  health: EdgeHealth | undefined;
  /** In start order. */
  services: Service[];
}

export interface GeoTools {
  log: Logger;
  registry: Registry;
  /** The node's purge section: with purge.redis, the edges' health comes from their heartbeats. */
  purge?: PurgeConfig;
}

/**
 * The parts for `geo` (and `dns`); they register their metrics in `registry`. The GeoIP database
 * is the process's shared one (shared-geoip.ts): `services` holds this user's handle on it.
 */
export function geoParts(geoConfig: GeoConfig, dnsConfig: DnsConfig | undefined, tools: GeoTools): GeoParts {
  const { geo, service } = sharedGeoIp(geoConfig, tools.log.child({ part: 'geo' }), tools.registry);
  const regions = new Regions(geoConfig);
  if (!dnsConfig) return { geo, regions, dns: undefined, health: undefined, services: [service] };
  const metrics = new DnsMetrics(tools.registry);
  const dnsLog = tools.log.child({ part: 'dns' });
  const health = edgeHealth(regions, dnsConfig, tools, dnsLog);
  health.onChange((edge, up) => metrics.edgeUp.set({ region: edge.region, edge: edge.address }, up ? 1 : 0));
  const responder = new DnsResponder({ config: dnsConfig, regions, geo, health, metrics, log: dnsLog });
  const dns = new DnsServer(dnsConfig.listen, responder, metrics, dnsLog);
  return { geo, regions, dns, health, services: [service, health, dns] };
}

/** Heartbeats in Redis with purge.redis (the DNS server reads them), else the server's own probes. */
function edgeHealth(regions: Regions, dnsConfig: DnsConfig, tools: GeoTools, log: Logger): EdgeHealth {
  const purge = tools.purge;
  if (purge?.redis === undefined)
    return new ProbeHealth(regions.allEdges(), {
      intervalMs: dnsConfig.probe.interval,
      timeoutMs: dnsConfig.probe.timeout,
      log,
    });
  // The reader logs its failed reads itself, once per outage; the log's connection lines would repeat them.
  const quiet = log.child({}, { level: 'silent' });
  return new HeartbeatHealth(regions.allEdges(), {
    log: redisLogFor(purge, quiet, true),
    intervalMs: purge.heartbeat,
    logger: log,
    metrics: new HeartbeatMetrics(tools.registry),
  });
}
