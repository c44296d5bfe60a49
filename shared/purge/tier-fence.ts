// TierFence: no edge re-caches, from a shield that is behind, what a purge removed. An edge's
// fill to a shield says which purges the edge has applied (Strata-Purged-Through: a log id);
// a shield that has not applied that one yet passes the request to the origin (neither its
// stored copy nor a store of the answer), so the edge gets, and stores, the origin's current
// answer. The shield catches up on its own within milliseconds. A shield cut off from Redis
// while its edges are not passes their misses to the origin until it is back: watch
// strata_purge_bus_up and strata_purge_tier_passes_total on shields.

import { Counter, type Registry } from 'prom-client';
import type { Decision, RequestFilter } from '../http/phases.js';
import { passBypass } from '../http/phases.js';
import type { RequestContext } from '../http/context.js';
import { compareIds, idPattern } from './message.js';

/** The request field carrying the sender's last applied purge id. */
export const purgedThroughField = 'strata-purged-through';

export class TierFence implements RequestFilter {
  readonly name = 'tier-fence';
  /** Requests passed to the origin because this node was behind the edge that sent them. */
  private readonly passed: Counter;

  /** `applied`: this node's last applied purge id; the counter goes in `registry`. */
  constructor(
    private readonly applied: () => string,
    registry: Registry,
  ) {
    this.passed = new Counter({
      name: 'strata_purge_tier_passes_total',
      help: 'Requests this shield passed to the origin because the edge asking had applied a purge this shield had not yet.',
      registers: [registry],
    });
  }

  onRequest(ctx: RequestContext): Decision | undefined {
    const sender = ctx.req.headers[purgedThroughField];
    if (typeof sender !== 'string' || !idPattern.test(sender)) return undefined;
    if (compareIds(sender, this.applied()) <= 0) return undefined;
    this.passed.inc();
    return passBypass;
  }
}
