// The edge role: clients' misses go to the origin shields (the site's own list, else the
// top-level one) chosen per cache key, and to the origins when no shield can take them
// (shieldFallback: direct) or nowhere (fail: 503). Its node also runs the TCP and UDP relays.

import type { NodeRole } from '../shared/node-role.js';
import { ShieldSelector } from '../shared/http/select.js';
import { Relays } from './relays/relays.js';

export const edgeRole: NodeRole = {
  name: 'edge',
  servesStrata: false,
  problems: () => [],
  selector(site, config, upstreams) {
    const origins = upstreams.originPool(site);
    const shields = site.shields ?? config.shields;
    if (shields.length === 0) return origins;
    return new ShieldSelector(
      shields.map((s) => upstreams.shield(s)),
      config.node.region,
      config.shieldFallback === 'direct' ? origins : undefined,
    );
  },
  nodeServices(config, context) {
    if (!Relays.wanted(config.relays)) return [];
    return [new Relays(config.relays, context)];
  },
};
