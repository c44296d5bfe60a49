// The shield role: one tier above the edges, fetching from the origins only. A shield in
// front of shields would hide from edges which node holds an object, so shields are refused.
// Relays face clients, so they are an edge's: a shield refuses them too.

import type { NodeRole } from '../shared/node-role.js';
import type { Problem } from '../shared/config/schema.js';
import { geoDnsServices } from '../edge/geo/role-parts.js';

const why = 'a shield fetches from the origins: shields are for edges (run this config with strata edge)';

export const shieldRole: NodeRole = {
  name: 'shield',
  servesStrata: true,
  problems(config) {
    const problems: Problem[] = [];
    if (config.shields.length > 0) problems.push({ path: 'shields', message: why });
    config.sites.forEach((site, i) => {
      if (site.shields?.length) problems.push({ path: `sites[${i}].shields`, message: why });
    });
    for (const protocol of ['tcp', 'udp'] as const)
      if (config.relays[protocol].length > 0)
        problems.push({
          path: `relays.${protocol}`,
          message: 'relays face clients: run them on an edge (strata edge), not on a shield',
        });
    return problems;
  },
  selector: (site, _config, upstreams) => upstreams.originPool(site),
  // Any node may serve GeoDNS; the geo fields come from the edges (a shield passes them on).
  nodeServices: (config, context) => geoDnsServices(config, context),
};
