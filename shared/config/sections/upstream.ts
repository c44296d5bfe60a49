// Connections to upstream peers (origins, shields): timeouts, pools, attempts and health.

import { duration, int, obj, optional, str, withDefault } from '../schema.js';

export const upstreamSection = obj({
  connectTimeout: withDefault(duration(1), 5_000),
  /** How long a request may wait for a free connection to its origin (all `connections` busy). */
  queueTimeout: withDefault(duration(1), 10_000),
  headersTimeout: withDefault(duration(1), 30_000),
  bodyTimeout: withDefault(duration(1), 30_000),
  keepAliveTimeout: withDefault(duration(1), 4_000),
  connections: withDefault(int(1, 10_000), 128),
  /** PEM file of CA certificates trusted for https origins, in addition to the system's. */
  caFile: optional(str()),
  /** Most peers (shields, origins) one request tries when connecting fails. */
  attempts: withDefault(int(1, 10), 3),
  health: obj({
    /**
     * Consecutive failures (connect errors, timeouts, a shield's own 5xx) that take a peer
     * out; with openFor, nginx's max_fails=1 fail_timeout=10s.
     */
    failures: withDefault(int(1, 1000), 1),
    /** How long a peer stays out before requests try it again (half-open). */
    openFor: withDefault(duration(100), 10_000),
    /** How often shields (and origins with sites[].originProbe) are probed; 0 turns probes off. */
    probeInterval: withDefault(duration(), 2_000),
    /** A probe not answered within this counts as failed. */
    probeTimeout: withDefault(duration(10), 1_000),
  }),
});
