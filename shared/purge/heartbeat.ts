// What a heartbeat says about where a node serves: node.addresses when given (the addresses
// clients reach it at, behind NAT say), else the IP addresses of its proxy listeners, with an
// unspecified bind address (0.0.0.0, ::) expanded to the host's interface addresses, so that
// GeoDNS can match them to the edges of its regions.

import { networkInterfaces } from 'node:os';
import { parseHostPort } from '../http/listen.js';

/** `advertised` if any, else the addresses the listeners (`host:port` each; undefined ones skipped) serve on. */
export function nodeAddresses(
  advertised: readonly string[],
  listeners: readonly (string | undefined)[],
): string[] {
  if (advertised.length > 0) return [...advertised];
  const out = new Set<string>();
  for (const listener of listeners) {
    if (listener === undefined) continue;
    const host = parseHostPort(listener).host.replace(/^\[|\]$/g, '');
    if (host === '0.0.0.0' || host === '::') {
      for (const list of Object.values(networkInterfaces()))
        for (const i of list ?? [])
          if (!i.internal && (host === '::' || i.family === 'IPv4')) out.add(i.address);
    } else out.add(host);
  }
  return [...out];
}
