// Router: finds the site for a request's host (exact, then *.wildcard by longest suffix,
// then the catch-all "*"). Ports and a trailing dot are ignored; matching is case-insensitive.

import type { SiteConfig } from '../config/config.js';
import { keyBuilder } from '../cache/key.js';
import { hostName } from './host.js';
import type { UpstreamSelector } from './select.js';

export interface Site {
  readonly config: SiteConfig;
  readonly index: number;
  readonly key: (scheme: string, host: string, target: string) => string;
  /** Where the site's requests go upstream (origins, or shields before them). */
  readonly upstream: UpstreamSelector;
}

export class Router {
  private readonly exact = new Map<string, Site>();
  private readonly wildcard = new Map<string, Site>();
  private catchAll: Site | undefined;
  readonly sites: Site[];

  constructor(sites: readonly SiteConfig[], selector: (site: SiteConfig) => UpstreamSelector) {
    this.sites = sites.map((config, index) => ({
      config,
      index,
      key: keyBuilder(config.cacheKey),
      upstream: selector(config),
    }));
    for (const site of this.sites) {
      for (const pattern of site.config.hosts) {
        const host = hostName(pattern);
        if (host === '*') this.catchAll = site;
        else if (host.startsWith('*.')) this.wildcard.set(host.slice(1), site);
        else this.exact.set(host, site);
      }
    }
  }

  /** The site serving a Host value (with or without port), or undefined. */
  route(hostHeader: string): Site | undefined {
    const host = hostName(hostHeader);
    const site = this.exact.get(host);
    if (site) return site;
    if (this.wildcard.size > 0) {
      // "*.example.test" matches "a.example.test" and "a.b.example.test", longest suffix first.
      for (let dot = host.indexOf('.'); dot !== -1; dot = host.indexOf('.', dot + 1)) {
        const match = this.wildcard.get(host.slice(dot));
        if (match) return match;
      }
    }
    return this.catchAll;
  }
}
