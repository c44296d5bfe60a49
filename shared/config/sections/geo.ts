// Geo: the GeoIP database, the regions clients are steered to (by continent and country, with
// CIDR overrides and a nearness order for fallback), the geo fields edges send to origins, and
// the GeoDNS server (dns) that answers with the healthy edges of the client's region.

import type { Problem } from '../schema.js';
import {
  int,
  list,
  mapOf,
  obj,
  oneOf,
  optional,
  refine,
  str,
  stringOr,
  withDefault,
  duration,
  type Infer,
} from '../schema.js';
import { cidr, hostPort, ipAddress, name } from '../fields.js';

/** ISO 3166-1 alpha-2, as GeoIP databases spell countries ("XX" is Strata's "unknown"). */
export const countryCode = str({ pattern: /^[A-Z]{2}$/, hint: 'an ISO 3166-1 country code such as DE' });
/** The seven continent codes GeoIP databases use. */
export const continentCode = oneOf('AF', 'AN', 'AS', 'EU', 'NA', 'OC', 'SA');
/** A DNS host name (letters, digits, hyphens; dots between labels; no trailing dot needed). */
export const dnsName = str({
  pattern: /^([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.?$/,
  hint: 'a host name such as www.cdn.example',
  valid: (v) => (v.replace(/\.$/, '').length > 253 ? 'longer than 253 characters' : undefined),
});
const probeUrl = str({
  pattern: /^https?:\/\/[^/?#\s]+\/\S*$/,
  hint: 'a URL such as http://192.0.2.10:9090/readyz',
});

/** An edge as DNS answers name it, and the URL that tells whether it is healthy. */
const edgeEntry = stringOr(
  ipAddress,
  obj({
    address: ipAddress,
    /** Default: http://ADDRESS/.well-known/strata/health (the edge's proxy listener, port 80). */
    probe: optional(probeUrl),
  }),
);

export const region = obj({
  /** Clients on these continents belong to the region (unless a country rule says otherwise). */
  continents: withDefault(list(continentCode), []),
  /** Clients in these countries belong to the region, before any continent rule. */
  countries: withDefault(list(countryCode), []),
  /** The region's edges: the candidates of DNS answers. */
  edges: withDefault(list(edgeEntry), []),
  /** The regions to fall back to, nearest first, when none of this region's edges is healthy. */
  near: withDefault(list(name), []),
});

export type RegionConfig = Infer<typeof region>;

/** A CIDR block whose clients are given a country or a region, whatever the database says. */
const override = refine(
  obj({ cidr, country: optional(countryCode), region: optional(name) }),
  (o, path, problems) => {
    if ((o.country === undefined) === (o.region === undefined))
      problems.push({ path, message: 'give either country or region' });
    return o;
  },
);

const fieldName = str({ pattern: /^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/, hint: 'a header field name' });

export const geoSection = refine(
  obj({
    /** A GeoLite2/GeoIP2 Country or City file; default: the CC0 country database shipped as a dependency. */
    database: optional(str({ hint: 'a path to an MMDB file' })),
    regions: withDefault(mapOf(name, region), {}),
    /** The region of clients no rule places (an unknown country, a continent no region lists). */
    defaultRegion: optional(name),
    overrides: withDefault(list(override), []),
    /** The request fields an edge sends origins (any client-sent copy is removed first). */
    fields: obj({
      country: withDefault(fieldName, 'Strata-Geo-Country'),
      continent: withDefault(fieldName, 'Strata-Geo-Continent'),
      region: withDefault(fieldName, 'Strata-Geo-Region'),
    }),
  }),
  (geo, path, problems) => {
    const regions = geo.regions ?? {};
    const known = Object.keys(regions);
    const unknown = (where: string, r: string | undefined) => {
      if (r !== undefined && !Object.hasOwn(regions, r))
        problems.push({ path: where, message: `no region "${r}" (regions: ${known.join(', ') || 'none'})` });
    };
    unknown(`${path}.defaultRegion`, geo.defaultRegion);
    geo.overrides?.forEach((o, i) => unknown(`${path}.overrides[${i}].region`, o?.region));
    for (const [r, spec] of Object.entries(regions)) {
      spec?.near?.forEach((n, i) => {
        unknown(`${path}.regions.${r}.near[${i}]`, n);
        if (n === r)
          problems.push({ path: `${path}.regions.${r}.near[${i}]`, message: 'a region is not near itself' });
      });
    }
    if (known.length > 0 && geo.defaultRegion === undefined)
      problems.push({ path: `${path}.defaultRegion`, message: 'is required when regions are given' });
    claimedOnce(regions, 'countries', path, problems);
    claimedOnce(regions, 'continents', path, problems);
    return geo;
  },
);

/** A country (or continent) in two regions would make the answer depend on the order of keys. */
function claimedOnce(
  regions: Record<string, RegionConfig>,
  key: 'countries' | 'continents',
  path: string,
  problems: Problem[],
): void {
  const owner = new Map<string, string>();
  for (const [r, spec] of Object.entries(regions)) {
    spec?.[key]?.forEach((code, i) => {
      const before = owner.get(code);
      if (before !== undefined && before !== r)
        problems.push({
          path: `${path}.regions.${r}.${key}[${i}]`,
          message: `${code} is already in region ${before}`,
        });
      else owner.set(code, r);
    });
  }
}

export type GeoConfig = Infer<typeof geoSection>;

/** Per-site geo rules at the edge: who may be served, and where far clients are sent. */
export const siteGeo = refine(
  obj({
    /** Only clients in these countries are served (403 for the others); absent: every country. */
    allow: optional(list(countryCode, { min: 1 })),
    /** Clients in these countries get a 403. */
    deny: withDefault(list(countryCode), []),
    /** Region name to that region's hostname: a client of another region than this edge's gets a 302 there. */
    steer: withDefault(mapOf(name, dnsName), {}),
  }),
  (g, path, problems) => {
    if (g.allow && g.deny?.length) problems.push({ path, message: 'give allow or deny, not both' });
    return g;
  },
);

const nameserver = obj({
  name: dnsName,
  /** Addresses answered for the name when it is inside the zone (glue); default none. */
  addresses: withDefault(list(ipAddress), []),
});

/** The GeoDNS server (strata dns, or any node with this section). */
export const dnsSection = refine(
  obj({
    listen: withDefault(hostPort, '0.0.0.0:53'),
    zone: dnsName,
    /** The names answered with edges (A and AAAA); each inside the zone. */
    names: list(dnsName, { min: 1 }),
    /** TTL of answers, in seconds (also the SOA minimum, the TTL of negative answers). */
    ttl: withDefault(int(0, 86_400), 30),
    /** The zone's name servers (NS); empty (the default): ns1.<zone> with no addresses. */
    nameservers: withDefault(list(nameserver), []),
    /** Most edges in one answer, rotated between queries. */
    maxAnswers: withDefault(int(1, 64), 8),
    /** The largest UDP answer to an EDNS query (RFC 9715's advice: 1232); without EDNS, 512. */
    maxUdpPayload: withDefault(int(512, 4096), 1232),
    /** Health probes of the edges (when no heartbeats tell). */
    probe: obj({
      interval: withDefault(duration(100), 5000),
      timeout: withDefault(duration(10), 2000),
    }),
  }),
  (dns, path, problems) => {
    const zone = dns.zone?.toLowerCase().replace(/\.$/, '');
    if (zone === undefined) return dns;
    dns.names?.forEach((n, i) => {
      if (typeof n === 'string' && !inZone(n, zone))
        problems.push({ path: `${path}.names[${i}]`, message: `"${n}" is not inside the zone ${dns.zone}` });
    });
    return dns;
  },
);

export type DnsConfig = Infer<typeof dnsSection>;

/** Whether `host` is `zone` or below it (both lowercase or not; a trailing dot is ignored). */
export function inZone(host: string, zone: string): boolean {
  const h = host.toLowerCase().replace(/\.$/, '');
  const z = zone.toLowerCase().replace(/\.$/, '');
  return h === z || h.endsWith(`.${z}`);
}
