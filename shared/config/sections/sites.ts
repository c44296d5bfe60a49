// Sites: which hosts a node serves, their origins, cache keys and stale options.

import type { Problem } from '../schema.js';
import {
  bool,
  duration,
  list,
  obj,
  oneOf,
  optional,
  refine,
  str,
  withDefault,
  type Infer,
} from '../schema.js';
import { hostPattern, originEntry, probePath } from '../fields.js';
import { hostName } from '../../http/host.js';
import { siteHttps } from './https.js';
import { shieldList } from './shields.js';
import { siteWebsocket } from './websocket.js';
import { siteGeo } from './geo.js';

export const site = obj({
  hosts: list(hostPattern, { min: 1 }),
  /** Origin URLs, or `{ url, tls: { insecure } }` for an https origin with its own TLS options. */
  origins: list(originEntry, { min: 1, what: 'origin URLs' }),
  /** GET this path on each origin every upstream.health.probeInterval; absent: passive health only. */
  originProbe: optional(probePath),
  /** The shields of this site's misses instead of the top-level shields ([]: straight to the origins). */
  shields: optional(shieldList),
  /** Host header sent upstream; default: the one the client sent. */
  originHost: optional(str()),
  cacheKey: obj({
    query: withDefault(oneOf('keep', 'sort', 'ignore'), 'keep'),
    dropParams: withDefault(list(str()), []),
    /** keep: http:// and https:// requests are separate objects; ignore: they share one. */
    scheme: withDefault(oneOf('keep', 'ignore'), 'keep'),
  }),
  /** Treat client Cache-Control: no-cache / max-age=0 / Pragma as absent (common on CDNs). */
  ignoreClientNoCache: withDefault(bool(), false),
  /**
   * When the origin fails, serve a stored response this long past its freshness, as if it said
   * stale-if-error (RFC 5861); never one that forbids stale (must-revalidate, s-maxage, ...).
   */
  staleIfError: withDefault(duration(), 0),
  /**
   * Serve a stored response this long past its freshness while one background request
   * revalidates it, as if it said stale-while-revalidate (RFC 5861); same exceptions.
   */
  staleWhileRevalidate: withDefault(duration(), 0),
  /**
   * The one request field that rewrites the URL or method (X-Original-URL, X-HTTP-Method-Override,
   * ...) this site's origin may see; its value then selects the stored variant. Default: all removed.
   */
  allowOverrideField: optional(
    oneOf('X-Original-URL', 'X-Rewrite-URL', 'X-HTTP-Method-Override', 'X-HTTP-Method', 'X-Method-Override'),
  ),
  /** Redirect from HTTP to HTTPS, and HSTS. */
  https: siteHttps,
  /** WebSocket upgrades: off, direct to the origins, or through the shield. */
  websocket: siteWebsocket,
  /** Geo access rules and steering redirects (needs the top-level geo section). */
  geo: optional(siteGeo),
});

export type SiteConfig = Infer<typeof site>;

/** The sites; a host (after lowercasing and dropping a trailing dot) may be served by one only. */
export const sitesSection = refine(
  list(site, { min: 1, what: 'sites, each with hosts and origins' }),
  (sites, path, problems: Problem[]) => {
    const seen = new Map<string, number>();
    sites.forEach((s, i) => {
      s?.hosts?.forEach((host, j) => {
        if (typeof host !== 'string') return;
        const h = hostName(host);
        const before = seen.get(h);
        if (before !== undefined)
          problems.push({
            path: `${path}[${i}].hosts[${j}]`,
            message:
              before === i
                ? `host "${host}" is listed twice in this site`
                : `host "${host}" is already served by sites[${before}]`,
          });
        else seen.set(h, i);
      });
    });
    return sites;
  },
);
