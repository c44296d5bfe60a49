// The node's own sections: its name and region, its listeners, its logs and its shutdown.

import { bool, duration, list, obj, oneOf, optional, refine, withDefault, type Problem } from '../schema.js';
import { hostPort, ipAddress, name } from '../fields.js';
import { httpsListener } from './https.js';

export const nodeSection = refine(
  obj({
    id: withDefault(name, 'strata'),
    region: withDefault(name, 'local'),
    /**
     * The addresses clients reach this node at, as geo.regions.*.edges name it: its heartbeats
     * advertise them, and GeoDNS matches them to its edges. Empty (the default): the proxy
     * listeners' bind addresses, 0.0.0.0 and :: expanded to the host's interface addresses.
     * Set it when the node is reached through NAT or a load balancer's address.
     */
    addresses: withDefault(list(ipAddress), []),
  }),
  (node, path, problems) => {
    node.addresses?.forEach((a, i) => {
      if (a === '0.0.0.0' || /^[0:]+$/.test(a))
        problems.push({ path: `${path}.addresses[${i}]`, message: 'an unspecified address names no node' });
      else if (node.addresses!.indexOf(a) !== i)
        problems.push({ path: `${path}.addresses[${i}]`, message: `${a} is listed twice` });
    });
    return node;
  },
);

export const listenSection = refine(
  obj({
    http: withDefault(hostPort, '127.0.0.1:8080'),
    admin: withDefault(hostPort, '127.0.0.1:9090'),
    /** The TLS listener (HTTPS, HTTP/2 by ALPN); absent: none. */
    https: optional(httpsListener),
  }),
  (listen, path, problems) => {
    const { http, admin } = listen;
    if (http !== undefined && http === admin && !http.endsWith(':0'))
      problems.push({ path: `${path}.admin`, message: `must differ from listen.http (${http})` });
    const https = listen.https?.address;
    if (https !== undefined) {
      sameAddress(problems, `${path}.https.address`, https, http, 'listen.http');
      sameAddress(problems, `${path}.https.address`, https, admin, 'listen.admin');
    }
    return listen;
  },
);

function sameAddress(
  problems: Problem[],
  path: string,
  a: string,
  b: string | undefined,
  other: string,
): void {
  if (a === b && !a.endsWith(':0')) problems.push({ path, message: `must differ from ${other} (${a})` });
}

export const logSection = obj({
  level: withDefault(oneOf('fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'), 'info'),
  access: withDefault(bool(), true),
});

export const shutdownSection = obj({
  drainTimeout: withDefault(duration(), 10_000),
});
