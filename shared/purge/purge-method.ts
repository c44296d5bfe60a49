// PurgeMethod: Varnish's `PURGE <url>` on the proxy listener, as a request filter. Only from
// the addresses in purge.methodFrom (none by default: PURGE is refused); the URL purged is the
// request's own (scheme, Host and target), fleet-wide through the purge bus like the API's.

import { BlockList, isIPv6 } from 'node:net';
import { StrataError } from '../errors.js';
import type { Decision, RequestFilter } from '../http/phases.js';
import type { RequestContext } from '../http/context.js';

export class PurgeMethod implements RequestFilter {
  readonly name = 'purge-method';
  private readonly allowed: BlockList | undefined;

  /** `from`: CIDR blocks or addresses (purge.methodFrom); empty refuses every PURGE. */
  constructor(from: readonly string[]) {
    if (from.length === 0) return;
    const list = new BlockList();
    for (const entry of from) {
      const [address, bits] = entry.split('/');
      const type = isIPv6(address) ? 'ipv6' : 'ipv4';
      if (bits === undefined) list.addAddress(address, type);
      else list.addSubnet(address, Number(bits), type);
    }
    this.allowed = list;
  }

  onRequest(ctx: RequestContext): Decision | undefined {
    if (ctx.method !== 'PURGE') return undefined;
    if (!this.allows(ctx.req.socket.remoteAddress))
      return { action: 'respond', error: new StrataError('PURGE_METHOD_REFUSED') };
    return { action: 'purge', url: `${ctx.scheme}://${ctx.host}${ctx.target}` };
  }

  private allows(address: string | undefined): boolean {
    if (!this.allowed || !address) return false;
    const v4 = address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : undefined;
    return v4
      ? this.allowed.check(v4, 'ipv4')
      : this.allowed.check(address, isIPv6(address) ? 'ipv6' : 'ipv4');
  }
}
