// The edge role: clients' misses go to the origin shields (the site's own list, else the
// top-level one) chosen per cache key, and to the origins when no shield can take them
// (shieldFallback: direct) or nowhere (fail: 503). Its node also runs the TCP and UDP relays.
// With a geo section, requests carry the client's geo fields and meet the sites' geo rules;
// with a dns section, the node serves GeoDNS.

import type { NodeRole } from '../shared/node-role.js';
import { ShieldSelector } from '../shared/http/select.js';
import { Relays } from './relays/relays.js';
import { Regions } from './geo/regions.js';
import { geoDnsServices, geoFilterParts } from './geo/role-parts.js';

export const edgeRole: NodeRole = {
  name: 'edge',
  servesStrata: false,
  problems: () => [],
  selector(site, config, upstreams) {
    const origins = upstreams.originPool(site);
    const shields = site.shields ?? config.shields;
    if (shields.length === 0) return origins;
    // Shields of the edge's region first, then of the regions nearest it (geo.regions' near).
    const nearness = config.geo ? new Regions(config.geo).nearness(config.node.region) : [];
    return new ShieldSelector(
      shields.map((s) => upstreams.shield(s)),
      nearness.includes(config.node.region) ? nearness : [config.node.region, ...nearness],
      config.shieldFallback === 'direct' ? origins : undefined,
    );
  },
  parts: (config, tools) => geoFilterParts(config, tools),
  nodeServices(config, context) {
    return [
      ...(Relays.wanted(config.relays) ? [new Relays(config.relays, context)] : []),
      ...geoDnsServices(config, context),
    ];
  },
};
