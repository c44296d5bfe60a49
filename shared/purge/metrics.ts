// The purge bus's metrics, registered in the node's registry (or its primary's with workers).

import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

export class PurgeMetrics {
  readonly applied: Counter<'mode'>;
  readonly objects: Counter;
  readonly lag: Histogram;
  readonly catchUps: Counter<'reason'>;
  readonly connected: Gauge;
  readonly accepted: Counter;
  readonly refused: Counter<'code'>;

  constructor(registry: Registry) {
    const registers = [registry];
    this.applied = new Counter({
      name: 'strata_purges_applied_total',
      help: 'Purges this node applied, by mode (hard deletes, soft marks stale).',
      labelNames: ['mode'] as const,
      registers,
    });
    this.objects = new Counter({
      name: 'strata_purge_objects_total',
      help: 'Stored objects deleted or marked stale by purges.',
      registers,
    });
    this.lag = new Histogram({
      name: 'strata_purge_apply_lag_seconds',
      help: 'From the API accepting a purge to this node having applied it.',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5, 30, 300],
      registers,
    });
    this.catchUps = new Counter({
      name: 'strata_purge_catchups_total',
      help: 'Reads of the purge log after a start or reconnect, by reason; "lost" dropped the whole cache because the log no longer reached back to this node.',
      labelNames: ['reason'] as const,
      registers,
    });
    this.connected = new Gauge({
      name: 'strata_purge_bus_up',
      help: '1 while the purge bus (Redis, or the in-process bus) is reachable, else 0.',
      registers,
    });
    this.accepted = new Counter({
      name: 'strata_purge_api_accepted_total',
      help: 'Purges accepted by the admin API of this node.',
      registers,
    });
    this.refused = new Counter({
      name: 'strata_purge_api_refused_total',
      help: 'Purge API requests refused, by error code.',
      labelNames: ['code'] as const,
      registers,
    });
  }
}
