// WebSocket proxying: the node's limits on tunnels (websocket) and each site's choice
// (sites[].websocket: off, direct to the origins, or through the shield).

import { duration, int, obj, oneOf, withDefault } from '../schema.js';

export const websocketSection = obj({
  /** Most open WebSocket tunnels on this node; more get 503. */
  maxConnections: withDefault(int(1, 1_000_000), 10_000),
  /** Most open tunnels per client IP address; more get 429. */
  maxPerClient: withDefault(int(1, 1_000_000), 100),
  /** A tunnel with no bytes in either direction for this long is closed. */
  idleTimeout: withDefault(duration(1000), 300_000),
});

/**
 * Whether a site's clients may open WebSockets: `off` (403), `direct` to the site's origins, or
 * `shield`: on an edge through the shield that owns the URL (then the origins, as misses go); a
 * shield itself connects to the origins.
 */
export const siteWebsocket = withDefault(oneOf('off', 'direct', 'shield'), 'off');
