// GeoFilter: the edge's geo request filter (shared/http/phases.ts). It finds the client's
// country, continent and region, puts them in the request as the configured fields (removing
// any copy the client sent, so origins and Vary see only the edge's word), then applies the
// site's rules: a country not allowed gets a 403 (GEO_DENIED), and a client of another region
// than this edge's gets a 302 to its region's hostname when the site steers.

import type { IncomingMessage } from 'node:http';
import type { StrataConfig } from '../../shared/config/config.js';
import { StrataError } from '../../shared/errors.js';
import type { RequestContext } from '../../shared/http/context.js';
import type { Decision, RequestFilter } from '../../shared/http/phases.js';
import type { HopTrust } from '../../shared/http/trust.js';
import { hostName } from '../../shared/http/host.js';
import type { GeoLookup } from './geoip.js';
import type { Regions } from './regions.js';

/** Cloudflare's word for a country nobody knows, which origins already expect. */
export const unknownCountry = 'XX';

interface SiteRules {
  allow: ReadonlySet<string> | undefined;
  deny: ReadonlySet<string>;
  steer: Readonly<Record<string, string>>;
}

export class GeoFilter implements RequestFilter {
  readonly name = 'geo';
  /** The three field names, lowercase: country, continent, region. */
  private readonly fields: readonly [string, string, string];
  private readonly names: ReadonlySet<string>;
  /** Per site index: its rules, or undefined when it has none. */
  private readonly rules: (SiteRules | undefined)[];
  /** This edge's region (node.region): its clients are never steered away. */
  private readonly home: string;

  constructor(
    config: StrataConfig,
    private readonly geo: GeoLookup,
    private readonly regions: Regions,
    private readonly trust: HopTrust,
  ) {
    const f = config.geo!.fields;
    this.fields = [f.country.toLowerCase(), f.continent.toLowerCase(), f.region.toLowerCase()];
    this.names = new Set(this.fields);
    this.rules = config.sites.map((site) =>
      site.geo
        ? {
            allow: site.geo.allow && new Set(site.geo.allow),
            deny: new Set(site.geo.deny),
            steer: site.geo.steer,
          }
        : undefined,
    );
    this.home = config.node.region;
  }

  onRequest(ctx: RequestContext): Decision | undefined {
    const { req } = ctx;
    const where = this.geo.lookup(this.clientAddress(req));
    const country = where.country ?? unknownCountry;
    const region = this.regions.regionOf(where);
    this.setFields(req, country, where.continent ?? unknownCountry, region);
    const rules = this.rules[ctx.site.index];
    if (!rules) return undefined;
    if ((rules.allow && !rules.allow.has(country)) || rules.deny.has(country)) {
      return {
        action: 'respond',
        error: new StrataError(
          'GEO_DENIED',
          `this site is not available in your country (${country}); the site's owner chose so`,
          { country },
        ),
      };
    }
    if (region === undefined || region === this.home) return undefined;
    const target = rules.steer[region];
    // Only reads are moved: a 302 turns a POST into a GET in browsers.
    if (!target || (ctx.method !== 'GET' && ctx.method !== 'HEAD')) return undefined;
    // One host normalisation (case, trailing dot) for both sides.
    if (hostName(ctx.host) === hostName(target)) return undefined;
    const location = `${ctx.scheme}://${target.replace(/\.$/, '')}${ctx.target}`;
    return { action: 'synth', status: 302, body: `302 Found: ${location}\n`, fields: { location } };
  }

  /**
   * The client: the socket's peer, or behind trusted hops (proxy.trustForwarded,
   * proxy.trustedProxies) the last X-Forwarded-For entry that is not itself a trusted hop.
   */
  private clientAddress(req: IncomingMessage): string {
    let address = req.socket.remoteAddress ?? '';
    if (!this.trust.any || !this.trust.trusts(address)) return address;
    const xff = req.headers['x-forwarded-for'];
    if (xff === undefined) return address;
    const hops = (Array.isArray(xff) ? xff.join(',') : xff).split(',');
    for (let i = hops.length - 1; i >= 0; i--) {
      address = hops[i].trim();
      if (!this.trust.trusts(address)) break;
    }
    return address;
  }

  /** Replaces the request's geo fields, in both its field map and its raw list (what goes upstream). */
  private setFields(
    req: IncomingMessage,
    country: string,
    continent: string,
    region: string | undefined,
  ): void {
    const raw = req.rawHeaders;
    const headers = req.headers;
    for (let i = raw.length - 2; i >= 0; i -= 2) {
      if (this.names.has(raw[i].toLowerCase())) raw.splice(i, 2);
    }
    const values = [country, continent, region];
    for (let i = 0; i < 3; i++) {
      const name = this.fields[i];
      const value = values[i];
      delete headers[name];
      if (value === undefined) continue;
      headers[name] = value;
      raw.push(name, value);
    }
  }
}
