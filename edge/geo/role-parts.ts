// The geo parts of a node's roles: in every process that serves requests, the edge's geo filter
// (fields to origins, per-site rules) and the GeoIP database it reads; once per node, on any
// role with a dns section, the GeoDNS server (sharing that database in a single process).

import type { RoleParts, RoleService, RoleServiceContext, RoleTools } from '../../shared/node-role.js';
import type { StrataConfig } from '../../shared/config/config.js';
import { GeoDns } from './geo-dns.js';
import { GeoFilter } from './geo-filter.js';
import { geoParts } from './geo-parts.js';

/** The edge's geo filter and its database, with a geo section; nothing without one. */
export function geoFilterParts(config: StrataConfig, tools: RoleTools): RoleParts {
  if (!config.geo) return { filters: [], services: [] };
  const parts = geoParts(config.geo, undefined, { log: tools.log, registry: tools.metrics.registry });
  return {
    filters: [new GeoFilter(config, parts.geo, parts.regions, tools.trust)],
    services: parts.services,
  };
}

/** The GeoDNS server, with a dns section (which the config allows only with geo regions). */
export function geoDnsServices(config: StrataConfig, context: RoleServiceContext): RoleService[] {
  if (!config.dns || !config.geo) return [];
  return [
    new GeoDns(config.geo, config.dns, {
      log: context.log,
      registry: context.registry,
      purge: config.purge,
    }),
  ];
}
