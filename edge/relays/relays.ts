// Relays: a node's TCP and UDP relays (config `relays`) as one service, run once per node: by
// the StrataNode with workers: 1, by the primary (shared/cluster/supervisor.ts) with more.
// Starts them in config order (TCP, then UDP), stops them in reverse with the node's drain
// deadline, registers their metrics and says how each is doing for /readyz.

import type { Registry } from 'prom-client';
import type { RelaysConfig } from '../../shared/config/config.js';
import type { ReadinessCheck } from '../../shared/admin-server.js';
import { ServiceGroup } from '../../shared/service.js';
import type { RoleService } from '../../shared/node-role.js';
import type { Relay } from './relay.js';
import type { RelayContext } from './relay-context.js';
import { registerRelayMetrics } from './relay-metrics.js';
import { TcpRelay } from './tcp-relay.js';
import { UdpRelay } from './udp-relay.js';

export class Relays implements RoleService {
  readonly name = 'relays';
  readonly list: readonly Relay[];
  private readonly group: ServiceGroup;

  constructor(config: RelaysConfig, context: RelayContext & { registry: Registry }) {
    this.list = [
      ...config.tcp.map((c) => new TcpRelay(c, context)),
      ...config.udp.map((c) => new UdpRelay(c, context)),
    ];
    this.group = new ServiceGroup(this.list);
    registerRelayMetrics(context.registry, this.list);
  }

  /** Whether the config has any relay (none: no service is needed). */
  static wanted(config: RelaysConfig): boolean {
    return config.tcp.length + config.udp.length > 0;
  }

  start(): Promise<void> {
    return this.group.start();
  }

  stop(deadlineMs: number): Promise<void> {
    return this.group.stop(deadlineMs);
  }

  /** The relay called `name` of `protocol` (tests and the bench look up bound ports). */
  get(protocol: Relay['protocol'], name: string): Relay | undefined {
    return this.list.find((r) => r.protocol === protocol && r.relayName === name);
  }

  /**
   * One check per relay: ready while it listens. A relay whose backends are all out of service
   * stays ready (its detail says so): every edge shares those backends, and taking the edge out
   * of its load balancer would not bring them back, only stop its HTTP traffic too.
   */
  readiness(): ReadinessCheck[] {
    return this.list.map((r) => {
      const s = r.stats();
      const usable = s.backends.filter((b) => b.usable).length;
      const backends = usable === 0 ? 'no usable backend' : `${usable}/${s.backends.length} backends usable`;
      return {
        ready: s.listening,
        detail: `relay ${r.protocol}/${r.relayName} :${r.port}: ${s.listening ? 'listening' : 'not listening'}, ${backends}, ${s.active} active`,
      };
    });
  }
}
