// Prometheus metrics of a node, served as text on the admin listener.

import type { OutcomeLabel } from './cache/outcome.js';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { StoreStats } from './cache/store.js';

/** One tally per (outcome, status): plain numbers on the request path, copied out on scrape. */
interface RequestTally {
  outcome: string;
  status: string;
  requests: number;
  bytes: number;
  reportedRequests: number;
  reportedBytes: number;
}

/** One tally slot per outcome label (Outcome.label). */
const outcomeSlots: Record<OutcomeLabel, number> = { hit: 0, stale: 1, miss: 2, revalidated: 3, pass: 4 };

export class Metrics {
  readonly registry = new Registry();
  private readonly tallies = new Map<number, RequestTally>();
  readonly requests = new Counter({
    name: 'strata_requests_total',
    help: 'Client requests by cache outcome and status code.',
    labelNames: ['outcome', 'status'] as const,
    registers: [this.registry],
    collect: () => this.report(),
  });
  readonly responseBytes = new Counter({
    name: 'strata_response_bytes_total',
    help: 'Body bytes sent to clients, by cache outcome.',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
    collect: () => this.report(),
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
    help: 'Cache fills whose upstream response was not stored, by reason (hit-for-pass bypasses are not fills).',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly heapShed = new Counter({
    name: 'strata_memory_heap_shed_objects_total',
    help: 'Objects evicted from the memory tier because the JavaScript heap was near its limit.',
    registers: [this.registry],
  });
  readonly siblingFills = new Counter({
    name: 'strata_worker_sibling_fills_total',
    help: 'Fills asked of this worker by the other workers of its node for keys it owns, by what it did (not client requests).',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });
  readonly hitForPass = new Counter({
    name: 'strata_cache_hit_for_pass_total',
    help: 'Requests sent upstream uncollapsed because their URL was found uncacheable (cache.hitForPass).',
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
  readonly diskHits = new Counter({
    name: 'strata_disk_hits_total',
    help: 'Lookups that the memory tier missed and the disk tier answered.',
    registers: [this.registry],
  });

  /** Histogram children per status class (1xx..5xx), bound once instead of per observation. */
  private readonly upstreamByClass = new Map<number, Histogram.Internal<'status_class'>>();

  /** Records one upstream response's time to headers; runs once per upstream request. */
  observeUpstream(status: number, seconds: number): void {
    const statusClass = Math.floor(status / 100);
    let child = this.upstreamByClass.get(statusClass);
    if (!child) {
      child = this.upstreamSeconds.labels(`${statusClass}xx`);
      this.upstreamByClass.set(statusClass, child);
    }
    child.observe(seconds);
  }

  /** Counts one finished client request; runs once per request, so it only adds numbers. */
  countRequest(outcome: OutcomeLabel, status: number, bytes: number): void {
    const slot = status * 8 + outcomeSlots[outcome];
    let t = this.tallies.get(slot);
    if (!t) {
      t = { outcome, status: String(status), requests: 0, bytes: 0, reportedRequests: 0, reportedBytes: 0 };
      this.tallies.set(slot, t);
    }
    t.requests++;
    t.bytes += bytes;
  }

  /** Moves the tallies into the Prometheus counters; runs when /metrics is read. */
  private report(): void {
    for (const t of this.tallies.values()) {
      if (t.requests > t.reportedRequests) {
        this.requests.inc({ outcome: t.outcome, status: t.status }, t.requests - t.reportedRequests);
        t.reportedRequests = t.requests;
      }
      if (t.bytes > t.reportedBytes) {
        this.responseBytes.inc({ outcome: t.outcome }, t.bytes - t.reportedBytes);
        t.reportedBytes = t.bytes;
      }
    }
  }

  private droppedLogLines: () => number = () => 0;
  private reportedLogLines = 0;
  readonly logLinesDropped = new Counter({
    name: 'strata_log_lines_dropped_total',
    help: 'Log lines dropped because the log destination could not keep up (16 MiB waiting).',
    registers: [this.registry],
    collect: () => {
      const dropped = this.droppedLogLines();
      if (dropped > this.reportedLogLines) this.logLinesDropped.inc(dropped - this.reportedLogLines);
      this.reportedLogLines = dropped;
    },
  });

  /** Where strata_log_lines_dropped_total reads its count from (the node's LineWriter). */
  countLogDrops(dropped: () => number): void {
    this.droppedLogLines = dropped;
  }

  private heldByFills: () => number = () => 0;
  readonly fillBytes: Gauge = new Gauge({
    name: 'strata_fill_bytes',
    help: 'Body bytes held by responses being received and stored (at most cache.maxFillBytes).',
    registers: [this.registry],
    collect: (): void => this.fillBytes.set(this.heldByFills()),
  });

  /** Where strata_fill_bytes reads its figure from (the pipeline's fills). */
  countFillBytes(held: () => number): void {
    this.heldByFills = held;
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
