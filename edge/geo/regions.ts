// Regions: which region a client belongs to (a CIDR override's region, else its country's,
// else its continent's, else the default region), the regions to fall back to in nearness
// order, and each region's edges (the candidates of GeoDNS answers).

import type { GeoConfig, RegionConfig } from '../../shared/config/config.js';
import type { GeoAnswer } from './geoip.js';

/** An edge as GeoDNS names it: its address, and the URL that says whether it serves. */
export interface EdgeSpec {
  readonly address: string;
  readonly region: string;
  readonly probe: string;
}

/** The proxy listener's health path (shared/http/upstreams.ts): what clients reach is what is probed. */
const defaultProbePath = '/.well-known/strata/health';

export class Regions {
  readonly names: readonly string[];
  readonly defaultRegion: string | undefined;
  private readonly byCountry = new Map<string, string>();
  private readonly byContinent = new Map<string, string>();
  private readonly order = new Map<string, readonly string[]>();
  private readonly edgesOf = new Map<string, readonly EdgeSpec[]>();

  constructor(geo: Pick<GeoConfig, 'regions' | 'defaultRegion'>) {
    const regions: Record<string, RegionConfig> = geo.regions;
    this.names = Object.keys(regions);
    this.defaultRegion = geo.defaultRegion;
    for (const [name, spec] of Object.entries(regions)) {
      for (const c of spec.countries) this.byCountry.set(c, name);
      for (const c of spec.continents) this.byContinent.set(c, name);
      // The region itself, its near list in order, then every other region in config order.
      const near = [name, ...spec.near];
      this.order.set(name, [...near, ...this.names.filter((n) => !near.includes(n))]);
      this.edgesOf.set(
        name,
        spec.edges.map((e) => {
          const address = typeof e === 'string' ? e : e.address;
          const probe = (typeof e === 'string' ? undefined : e.probe) ?? defaultProbe(address);
          return { address, region: name, probe };
        }),
      );
    }
  }

  /** The client's region; undefined only when no regions are configured. */
  regionOf(answer: GeoAnswer): string | undefined {
    if (answer.region !== undefined && this.order.has(answer.region)) return answer.region;
    return (
      (answer.country !== undefined ? this.byCountry.get(answer.country) : undefined) ??
      (answer.continent !== undefined ? this.byContinent.get(answer.continent) : undefined) ??
      this.defaultRegion
    );
  }

  /** `region` and then the others, nearest first; a region not configured: every region in config order. */
  nearness(region: string | undefined): readonly string[] {
    return (region !== undefined && this.order.get(region)) || this.names;
  }

  edges(region: string): readonly EdgeSpec[] {
    return this.edgesOf.get(region) ?? [];
  }

  /** Every region's edges, in config order. */
  allEdges(): EdgeSpec[] {
    return this.names.flatMap((n) => this.edges(n));
  }
}

function defaultProbe(address: string): string {
  return `http://${address.includes(':') ? `[${address}]` : address}${defaultProbePath}`;
}
