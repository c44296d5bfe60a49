// ClientRules: which client addresses a relay accepts (deny first, then a non-empty allow).
// Addresses are CIDR lists now; countries (issue 12, GeoIP) will join as one more rule here,
// since every relay asks only `accepts(address)`.

import { BlockList, isIPv6 } from 'node:net';

export class AddressList {
  private readonly list = new BlockList();
  readonly empty: boolean;

  /** `entries`: IP addresses and CIDR blocks, already validated by the config schema. */
  constructor(entries: readonly string[]) {
    for (const entry of entries) {
      const [address, bits] = entry.split('/');
      const type = isIPv6(address) ? 'ipv6' : 'ipv4';
      if (bits === undefined) this.list.addAddress(address, type);
      else this.list.addSubnet(address, Number(bits), type);
    }
    this.empty = entries.length === 0;
  }

  has(address: string): boolean {
    if (this.empty) return false;
    // An IPv4 client on a dual-stack socket shows as ::ffff:a.b.c.d: match it against IPv4 rules.
    const v4 = address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : undefined;
    return v4 ? this.list.check(v4, 'ipv4') : this.list.check(address, isIPv6(address) ? 'ipv6' : 'ipv4');
  }
}

export class ClientRules {
  private readonly allow: AddressList;
  private readonly deny: AddressList;

  constructor(rules: { allow: readonly string[]; deny: readonly string[] }) {
    this.allow = new AddressList(rules.allow);
    this.deny = new AddressList(rules.deny);
  }

  /** Whether a client at `address` may use the relay: not denied, and allowed when allow is set. */
  accepts(address: string): boolean {
    if (this.deny.has(address)) return false;
    return this.allow.empty || this.allow.has(address);
  }
}
