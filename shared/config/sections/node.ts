// The node's own sections: its name and region, its listeners, its logs and its shutdown.

import { bool, duration, obj, oneOf, optional, refine, withDefault, type Problem } from '../schema.js';
import { hostPort, name } from '../fields.js';
import { httpsListener } from './https.js';

export const nodeSection = obj({
  id: withDefault(name, 'strata'),
  region: withDefault(name, 'local'),
});

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
