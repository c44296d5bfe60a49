// HopTrust: which previous hops (load balancers, the edges in front of a shield) are trusted
// to say who the client is: their X-Forwarded-* / Forwarded fields and X-Request-Id are kept.

import { BlockList, isIPv6 } from 'node:net';
import type { StrataConfig } from '../config/config.js';

export class HopTrust {
  private readonly all: boolean;
  private readonly list: BlockList | undefined;
  /** Whether any hop can be trusted at all (false: nothing to check per request). */
  readonly any: boolean;

  constructor(proxy: StrataConfig['proxy']) {
    this.all = proxy.trustForwarded;
    if (proxy.trustedProxies.length > 0) {
      const list = new BlockList();
      for (const entry of proxy.trustedProxies) {
        const [address, bits] = entry.split('/');
        const type = isIPv6(address) ? 'ipv6' : 'ipv4';
        if (bits === undefined) list.addAddress(address, type);
        else list.addSubnet(address, Number(bits), type);
      }
      this.list = list;
    }
    this.any = this.all || this.list !== undefined;
  }

  /** Whether the hop at `address` (a socket's remote address) is trusted. */
  trusts(address: string | undefined): boolean {
    if (this.all) return true;
    if (!this.list || !address) return false;
    // An IPv4 client on a dual-stack socket shows as ::ffff:a.b.c.d: match it against IPv4 rules.
    const v4 = address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : undefined;
    return v4 ? this.list.check(v4, 'ipv4') : this.list.check(address, isIPv6(address) ? 'ipv6' : 'ipv4');
  }
}
