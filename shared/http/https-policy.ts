// HttpsPolicy: each site's https options as a request filter (phases.ts). Over HTTP, a site with
// `https.redirect` answers 308 to the same URL on https:// (except ACME http-01 challenges, which
// must be answered over HTTP); over HTTPS, a site with `https.hsts` adds Strict-Transport-Security
// to every response. Only in the node's filters when some site uses either.

import type { StrataConfig } from '../config/config.js';
import type { RequestContext } from './context.js';
import type { Decision, RequestFilter } from './phases.js';
import { hostName } from './host.js';

/** RFC 8555 §8.3: the CA fetches http://<domain>/.well-known/acme-challenge/<token> over HTTP. */
const acmeChallenge = '/.well-known/acme-challenge/';

type SiteHttps = StrataConfig['sites'][number]['https'];

/**
 * The Strict-Transport-Security value of a site, or undefined. RFC 6797 §6.1: max-age in
 * seconds, then the optional directives.
 */
export function hstsValue(https: SiteHttps): string | undefined {
  const h = https.hsts;
  if (!h) return undefined;
  let value = `max-age=${Math.floor(h.maxAge / 1000)}`;
  if (h.includeSubDomains) value += '; includeSubDomains';
  if (h.preload) value += '; preload';
  return value;
}

export class HttpsPolicy implements RequestFilter {
  readonly name = 'https';
  /** Per site index: the fields HTTPS responses add (HSTS), built once. */
  private readonly fields: (readonly string[] | undefined)[];

  constructor(sites: StrataConfig['sites']) {
    this.fields = sites.map((site) => {
      const value = hstsValue(site.https);
      return value === undefined ? undefined : ['strict-transport-security', value];
    });
  }

  /** Whether any site needs the filter; without one the node has no https filter at all. */
  static needed(sites: StrataConfig['sites']): boolean {
    return sites.some((s) => s.https.redirect || s.https.hsts !== undefined);
  }

  onRequest(ctx: RequestContext): Decision | undefined {
    if (ctx.scheme === 'https') {
      // RFC 6797 §7.2: an HSTS host MUST NOT include the field over non-secure transport.
      ctx.addFields = this.fields[ctx.site.index];
      return undefined;
    }
    const https = ctx.site.config.https;
    if (!https.redirect || ctx.target.startsWith(acmeChallenge)) return undefined;
    const host = hostName(ctx.host);
    const location = `https://${host}${https.port === 443 ? '' : `:${https.port}`}${ctx.target}`;
    // RFC 9110 §15.4.9: 308 keeps the method and body, unlike 301.
    return {
      action: 'synth',
      status: 308,
      body: `308 Permanent Redirect: ${location}\n`,
      fields: { location },
    };
  }
}
