// The purge bus of a node with workers, in its primary: one agent, one heartbeat and one
// acknowledgement per purge for the whole node, the API on the primary's admin listener, and
// purges fanned out to the workers (purge-fanout.ts). Kept out of supervisor.ts.

import type { Registry } from 'prom-client';
import type { AdminServer } from '../admin-server.js';
import type { StrataConfig } from '../config/config.js';
import type { Logger } from '../log.js';
import type { RoleName } from '../node-role.js';
import { memoryPosition } from '../purge/agent.js';
import { PurgeBus } from '../purge/bus.js';
import { nodeAddresses } from '../purge/heartbeat.js';
import { authority, parseHostPort } from '../http/listen.js';
import { strataVersion } from '../version.js';
import type { PurgeFanout } from './purge-fanout.js';

/** What the primary knows of its node at heartbeat time. */
export interface PrimaryState {
  httpPort: number;
  adminPort: number;
  workers: number;
}

export function primaryPurgeBus(
  config: StrataConfig,
  role: RoleName,
  fanout: PurgeFanout,
  log: Logger,
  registry: Registry,
  admin: AdminServer,
  state: () => PrimaryState,
): PurgeBus {
  const startedMs = Date.now();
  const bound = (address: string, port: number) => authority(parseHostPort(address).host, port);
  return new PurgeBus({
    config,
    target: fanout,
    // Workers keep no disk tier (config.ts): a restarted node starts with empty caches.
    position: memoryPosition,
    describe: () => {
      const now = state();
      return {
        node: config.node.id,
        role,
        region: config.node.region,
        version: strataVersion(),
        http: bound(config.listen.http, now.httpPort),
        admin: bound(config.listen.admin, now.adminPort),
        addresses: nodeAddresses(config.node.addresses, [config.listen.http]),
        startedMs,
        workers: now.workers,
      };
    },
    logger: log,
    registry,
    admin,
  });
}
