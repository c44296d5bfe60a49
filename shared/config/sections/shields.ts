// The shields an edge fetches its misses from, and what it does when none can be used.

import type { Problem } from '../schema.js';
import { list, obj, oneOf, optional, refine, str, withDefault, type Infer } from '../schema.js';
import { name, originUrl, tlsNeedsHttps, upstreamTls } from '../fields.js';

/** An origin shield an edge fetches its misses from. */
export const shield = refine(
  obj({
    url: originUrl,
    /** The shield's region; shields in the edge's own region (node.region) are preferred. */
    region: optional(name),
    /** URL of the shield's active health probe; default: the shield's /.well-known/strata/health. */
    probe: optional(
      str({ pattern: /^https?:\/\/[^/?#\s]+\/\S*$/, hint: 'a URL such as http://10.0.0.7:9090/readyz' }),
    ),
    /** TLS to an https:// shield (verification on unless tls.insecure). */
    tls: upstreamTls,
  }),
  (s, path, problems) => {
    tlsNeedsHttps(s, path, problems);
    return s;
  },
);

export type ShieldConfig = Infer<typeof shield>;

/** A list of shields, each URL once: a second entry would only skew the rendezvous hash towards it. */
export const shieldList = refine(list(shield), (shields, path, problems: Problem[]) => {
  const seen = new Set<string>();
  shields.forEach((s, i) => {
    const url = typeof s?.url === 'string' ? s.url.replace(/\/$/, '').toLowerCase() : undefined;
    if (url === undefined) return;
    if (seen.has(url))
      problems.push({ path: `${path}[${i}].url`, message: `shield ${s.url} is listed twice` });
    seen.add(url);
  });
  return shields;
});

/** With no healthy shield: go to the origins (direct) or answer 503 (fail). */
export const shieldFallback = withDefault(oneOf('direct', 'fail'), 'direct');
