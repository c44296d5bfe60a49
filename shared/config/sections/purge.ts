// The purge bus: where purges travel (Redis, or in-process without it), who may send them, and
// how long the log keeps them. docs/configuration.md, "purge".

import {
  duration,
  int,
  list,
  obj,
  optional,
  refine,
  size,
  str,
  stringOr,
  withDefault,
  type Infer,
} from '../schema.js';
import { cidr, hostPort } from '../fields.js';

const redisUrl = str({
  pattern: /^rediss?:\/\/[^\s]+$/,
  hint: 'a Redis URL such as redis://127.0.0.1:6379 (rediss:// for TLS)',
  valid: (v) => {
    try {
      new URL(v);
      return undefined;
    } catch {
      return 'not a URL';
    }
  },
});

/** A Sentinel set: ioredis asks the sentinels which server is the primary named `name`. */
const sentinelSet = obj({
  sentinels: list(hostPort, { min: 1, what: 'sentinel addresses (host:port)' }),
  name: str({ hint: 'the name of the primary in the sentinel config (e.g. mymaster)' }),
  password: optional(str()),
});

export const purgeSection = refine(
  obj({
    /** Redis (URL or Sentinel set); absent: an in-process bus, for one node (the demo). */
    redis: optional(stringOr(redisUrl, sentinelSet)),
    /** The bearer token of POST /purge; absent (and no tokenFile): the API refuses purges. */
    token: optional(str()),
    /** A file holding the token (its first line), read at start: keeps it out of the config. */
    tokenFile: optional(str()),
    stream: obj({
      /** Purges older than this leave the log; a node down longer drops its whole cache. */
      maxAge: withDefault(duration(60_000), 24 * 3600_000),
    }),
    /** Replicas that must confirm a purge (Redis WAIT) before the API accepts it; 0: the primary's word. */
    replicas: withDefault(int(0, 16), 0),
    /** How long the API waits for those replicas. */
    replicaTimeout: withDefault(duration(1), 1000),
    /** How often each node writes its heartbeat (it counts as live for three of these). */
    heartbeat: withDefault(duration(100), 1000),
    api: obj({
      maxBodyBytes: withDefault(size(256), 64 * 1024),
      /** Purge requests per second this node's API accepts (a token bucket), and the burst above it. */
      ratePerSec: withDefault(int(1, 100_000), 100),
      burst: withDefault(int(1, 100_000), 200),
      /** The longest ?wait= a purge may ask for. */
      maxWait: withDefault(duration(), 60_000),
    }),
    /**
     * Addresses (CIDR or single IPs) whose `PURGE <url>` requests on the proxy listener purge
     * that URL fleet-wide, as Varnish's do. Empty (the default): PURGE is refused (405).
     */
    methodFrom: withDefault(list(cidr), []),
  }),
  (purge, path, problems) => {
    if (purge.token !== undefined && purge.tokenFile !== undefined)
      problems.push({ path: `${path}.tokenFile`, message: 'give token or tokenFile, not both' });
    if (purge.token !== undefined && purge.token.length < 16)
      problems.push({ path: `${path}.token`, message: 'must be at least 16 characters' });
    return purge;
  },
);

export type PurgeConfig = Infer<typeof purgeSection>;
