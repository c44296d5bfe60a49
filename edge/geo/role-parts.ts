// The geo parts of a node's role: with a geo section, the edge's geo filter (fields to origins,
// per-site rules) and the GeoIP database it reads; with a dns section, on any role, the GeoDNS
// server too, sharing that database.

import type { RoleParts, RoleTools } from '../../shared/node-role.js';
import type { StrataConfig } from '../../shared/config/config.js';
import type { Problem } from '../../shared/config/schema.js';
import { workerCount } from '../../shared/cluster/worker-config.js';
import { GeoFilter } from './geo-filter.js';
import { geoParts } from './geo-parts.js';

export function geoRoleParts(config: StrataConfig, tools: RoleTools, filter: boolean): RoleParts {
  if (!config.geo) return { filters: [], services: [] };
  const parts = geoParts(config.geo, config.dns, { log: tools.log, registry: tools.metrics.registry });
  return {
    filters: filter ? [new GeoFilter(config, parts.geo, parts.regions, tools.trust)] : [],
    services: parts.services,
  };
}

/** What a node with a dns section cannot do yet. */
export function dnsProblems(config: StrataConfig): Problem[] {
  if (config.dns && workerCount(config) > 1)
    return [
      {
        path: 'dns',
        message: 'a node with workers above 1 cannot serve DNS (every worker would bind it): run strata dns',
      },
    ];
  return [];
}
