// CIDR overrides: blocks whose clients get a country or a region whatever the database says
// (private networks, tests, a partner's resolvers). The longest matching prefix wins.

import { BlockList, isIPv4, isIPv6 } from 'node:net';

export interface Override {
  cidr: string;
  country?: string;
  region?: string;
}

interface Rule {
  list: BlockList;
  family: 'ipv4' | 'ipv6';
  prefixLength: number;
  override: Override;
}

export class CidrOverrides {
  /** Longest prefix first, so the first match is the most specific. */
  private readonly rules: Rule[];

  constructor(overrides: readonly Override[]) {
    this.rules = overrides
      .map((override) => {
        const [address, bits] = override.cidr.split('/');
        const family = isIPv6(address) ? 'ipv6' : 'ipv4';
        const prefixLength = bits === undefined ? (family === 'ipv4' ? 32 : 128) : Number(bits);
        const list = new BlockList();
        list.addSubnet(address, prefixLength, family);
        return { list, family, prefixLength, override } satisfies Rule;
      })
      .sort((a, b) => b.prefixLength - a.prefixLength);
  }

  get size(): number {
    return this.rules.length;
  }

  /** The most specific override holding `ip` (IPv4, IPv6, or IPv4-mapped IPv6), or undefined. */
  match(ip: string): { override: Override; prefixLength: number } | undefined {
    if (this.rules.length === 0) return undefined;
    const address = unmapped(ip);
    const family = isIPv4(address) ? 'ipv4' : 'ipv6';
    for (const rule of this.rules) {
      if (rule.family === family && rule.list.check(address, family))
        return { override: rule.override, prefixLength: rule.prefixLength };
    }
    return undefined;
  }
}

/** An IPv4 client on a dual-stack socket shows as ::ffff:a.b.c.d: it is the IPv4 address. */
export function unmapped(ip: string): string {
  return ip.startsWith('::ffff:') && ip.includes('.') ? ip.slice(7) : ip;
}
