// Which previous hops are trusted to say who the client is.

import { bool, list, obj, withDefault } from '../schema.js';
import { cidr } from '../fields.js';

export const proxySection = obj({
  /** Keep incoming X-Forwarded-* / Forwarded values (only behind a trusted load balancer). */
  trustForwarded: withDefault(bool(), false),
  /**
   * Addresses (CIDR or single IPs) of the hops whose forwarding fields and X-Request-Id are
   * kept, such as the edges in front of a shield; trustForwarded trusts every address.
   */
  trustedProxies: withDefault(list(cidr), []),
});
