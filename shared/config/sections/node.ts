// The node's own sections: its name and region, its listeners, its logs and its shutdown.

import { bool, duration, obj, oneOf, refine, withDefault } from '../schema.js';
import { hostPort, name } from '../fields.js';

export const nodeSection = obj({
  id: withDefault(name, 'strata'),
  region: withDefault(name, 'local'),
});

export const listenSection = refine(
  obj({
    http: withDefault(hostPort, '127.0.0.1:8080'),
    admin: withDefault(hostPort, '127.0.0.1:9090'),
  }),
  (listen, path, problems) => {
    const { http, admin } = listen;
    if (http !== undefined && http === admin && !http.endsWith(':0'))
      problems.push({ path: `${path}.admin`, message: `must differ from listen.http (${http})` });
    return listen;
  },
);

export const logSection = obj({
  level: withDefault(oneOf('fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'), 'info'),
  access: withDefault(bool(), true),
});

export const shutdownSection = obj({
  drainTimeout: withDefault(duration(), 10_000),
});
