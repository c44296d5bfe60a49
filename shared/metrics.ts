// Prometheus metrics of a node, served as text on the admin listener.

import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { StoreStats } from './cache/store.js';

export class Metrics {
  readonly registry = new Registry();
  readonly requests = new Counter({
    name: 'strata_requests_total',
    help: 'Client requests by cache outcome and status code.',
    labelNames: ['outcome', 'status'] as const,
    registers: [this.registry],
  });
  readonly responseBytes = new Counter({
    name: 'strata_response_bytes_total',
    help: 'Body bytes sent to clients, by cache outcome.',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });
  readonly upstreamSeconds = new Histogram({
    name: 'strata_upstream_duration_seconds',
    help: 'Time to the upstream response headers.',
    labelNames: ['status_class'] as const,
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });
  readonly upstreamErrors = new Counter({
    name: 'strata_upstream_errors_total',
    help: 'Upstream failures by error code.',
    labelNames: ['code'] as const,
    registers: [this.registry],
  });
  readonly collapsed = new Counter({
    name: 'strata_collapsed_requests_total',
    help: "Requests served by joining another request's upstream fetch.",
    registers: [this.registry],
  });
  readonly notStored = new Counter({
    name: 'strata_cache_not_stored_total',
    help: 'Upstream responses not stored, by reason.',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly invalidations = new Counter({
    name: 'strata_cache_invalidations_total',
    help: 'Objects invalidated by unsafe methods (RFC 9111 §4.4).',
    registers: [this.registry],
  });
  readonly clientErrors = new Counter({
    name: 'strata_client_errors_total',
    help: 'Requests rejected before routing (malformed, too large).',
    labelNames: ['code'] as const,
    registers: [this.registry],
  });
  readonly diskWritesSkipped = new Counter({
    name: 'strata_disk_writes_skipped_total',
    help: 'Disk tier writes not made, by reason (queue-full, disabled after a write error, too-large).',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly diskCorruptObjects = new Counter({
    name: 'strata_disk_corrupt_objects_total',
    help: 'Disk tier objects that failed their checksums (or whose record was unreadable) and were deleted.',
    registers: [this.registry],
  });
  readonly diskWriteErrors = new Counter({
    name: 'strata_disk_write_errors_total',
    help: 'Disk tier write failures; each turns disk writes off for cache.disk.writeRetry.',
    registers: [this.registry],
  });

  /** Label-bound counters per outcome and status, so counting a request hashes no labels. */
  private readonly requestCounters = new Map<
    string,
    { requests: Counter.Internal; bytes: Counter.Internal }
  >();

  /** Counts one finished client request; runs once per request. */
  countRequest(outcome: string, status: number, bytes: number): void {
    const key = outcome + status;
    let c = this.requestCounters.get(key);
    if (!c) {
      c = {
        requests: this.requests.labels(outcome, String(status)),
        bytes: this.responseBytes.labels(outcome),
      };
      this.requestCounters.set(key, c);
    }
    c.requests.inc();
    if (bytes > 0) c.bytes.inc(bytes);
  }

  constructor(tiers: () => Record<string, StoreStats>) {
    const objects = new Gauge({
      name: 'strata_cache_objects',
      help: 'Objects stored, per tier.',
      labelNames: ['tier'] as const,
      registers: [this.registry],
      collect() {
        for (const [tier, s] of Object.entries(tiers())) this.set({ tier }, s.objects);
      },
    });
    new Gauge({
      name: 'strata_cache_bytes',
      help: 'Bytes stored (headers and bodies), per tier.',
      labelNames: ['tier'] as const,
      registers: [this.registry],
      collect() {
        for (const [tier, s] of Object.entries(tiers())) this.set({ tier }, s.bytes);
      },
    });
    void objects;
    collectDefaultMetrics({ register: this.registry });
  }
}
