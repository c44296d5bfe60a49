// The GeoIP database's metrics: reloads by result, and when the database in service was built.

import { Counter, Gauge, type Registry } from 'prom-client';

export class GeoMetrics {
  private readonly reloads: Counter<'result'>;
  private readonly built: Gauge;

  constructor(registry: Registry) {
    this.reloads = new Counter({
      name: 'strata_geo_reloads_total',
      help: 'GeoIP database reloads after its file changed, by result (ok, failed: the old one stays).',
      labelNames: ['result'] as const,
      registers: [registry],
    });
    this.built = new Gauge({
      name: 'strata_geo_database_build_seconds',
      help: 'When the GeoIP database in service was built (seconds since the epoch, from its metadata).',
      registers: [registry],
    });
  }

  loaded(built: Date): void {
    this.built.set(built.getTime() / 1000);
  }

  reloaded(result: 'ok' | 'failed', built?: Date): void {
    this.reloads.inc({ result });
    if (built) this.loaded(built);
  }
}
