// One GeoIp per process and database: the edge's geo filter and a GeoDNS server in the same
// process (a node with workers: 1) share it, so the file is read and watched once and its
// metrics registered once. Each user starts and stops its handle; the first start loads the
// database, the last stop closes it.

import type { Registry } from 'prom-client';
import type { GeoConfig } from '../../shared/config/config.js';
import type { Logger } from '../../shared/log.js';
import type { Service } from '../../shared/service.js';
import { GeoIp } from './geoip.js';
import { GeoMetrics } from './geo-metrics.js';

interface Shared {
  geo: GeoIp;
  users: number;
  started: Promise<void> | undefined;
}

/** Per metrics registry (one per process), per database and overrides. */
const shared = new WeakMap<Registry, Map<string, Shared>>();

/** The process's GeoIp for `geo`, and a service handle for one user of it. */
export function sharedGeoIp(
  geo: GeoConfig,
  log: Logger,
  registry: Registry,
): { geo: GeoIp; service: Service } {
  let byKey = shared.get(registry);
  if (!byKey) shared.set(registry, (byKey = new Map()));
  const key = JSON.stringify([geo.database ?? null, geo.overrides]);
  let entry = byKey.get(key);
  if (!entry) {
    const metrics = byKey.size === 0 ? new GeoMetrics(registry) : undefined;
    entry = {
      geo: new GeoIp({ database: geo.database, overrides: geo.overrides, log, metrics }),
      users: 0,
      started: undefined,
    };
    byKey.set(key, entry);
  }
  const it = entry;
  let mine = false;
  const service: Service = {
    name: 'geoip',
    async start() {
      mine = true;
      it.users++;
      it.started ??= it.geo.start().catch((err: unknown) => {
        // A failed start is retried by the next user's start, not remembered.
        it.started = undefined;
        throw err;
      });
      await it.started;
    },
    async stop() {
      if (!mine) return;
      mine = false;
      if (--it.users > 0) return;
      it.started = undefined;
      await it.geo.stop();
    },
  };
  return { geo: it.geo, service };
}
