// The GeoDNS server's metrics: queries answered by transport and rcode, packets dropped, answers
// truncated, which region answered for which, answers given with no healthy edge anywhere, and
// (with heartbeats as the edges' health) whether the heartbeats could be read.

import { Counter, Gauge, type Registry } from 'prom-client';
import type { Rcode, Transport } from './dns-responder.js';

export type DropReason = 'malformed' | 'response' | 'tcp-framing';

export class DnsMetrics {
  private readonly queries: Counter<'transport' | 'rcode'>;
  private readonly drops: Counter<'transport' | 'reason'>;
  private readonly truncations: Counter<'transport'>;
  private readonly steers: Counter<'client_region' | 'answer_region'>;
  private readonly blind: Counter;
  readonly edgeUp: Gauge<'region' | 'edge'>;

  constructor(registry: Registry) {
    this.queries = new Counter({
      name: 'strata_dns_queries_total',
      help: 'DNS queries answered, by transport and response code.',
      labelNames: ['transport', 'rcode'] as const,
      registers: [registry],
    });
    this.drops = new Counter({
      name: 'strata_dns_dropped_total',
      help: 'DNS packets dropped unanswered, by reason (malformed, response, tcp-framing).',
      labelNames: ['transport', 'reason'] as const,
      registers: [registry],
    });
    this.truncations = new Counter({
      name: 'strata_dns_truncated_total',
      help: 'DNS answers too large for the query, sent empty with TC set (the client retries over TCP).',
      labelNames: ['transport'] as const,
      registers: [registry],
    });
    this.steers = new Counter({
      name: 'strata_dns_answers_total',
      help: "Edge answers by the client's region and the region whose edges answered (they differ on fallback).",
      labelNames: ['client_region', 'answer_region'] as const,
      registers: [registry],
    });
    this.blind = new Counter({
      name: 'strata_dns_no_healthy_edge_total',
      help: "Edge answers given with no healthy edge in any region (the client's region's edges, untested).",
      registers: [registry],
    });
    this.edgeUp = new Gauge({
      name: 'strata_dns_edge_up',
      help: 'Whether an edge is named in answers (1) or not (0), by region and address.',
      labelNames: ['region', 'edge'] as const,
      registers: [registry],
    });
  }

  /** Counter children by "transport rcode", bound once: a query then only adds to a number. */
  private readonly answeredChildren = new Map<string, Counter.Internal>();

  /** Runs once per answered query. */
  answered(transport: Transport, rcode: Rcode): void {
    const key = `${transport} ${rcode}`;
    let child = this.answeredChildren.get(key);
    if (!child) {
      child = this.queries.labels({ transport, rcode });
      this.answeredChildren.set(key, child);
    }
    child.inc();
  }

  dropped(transport: Transport, reason: DropReason): void {
    this.drops.inc({ transport, reason });
  }

  truncated(transport: Transport): void {
    this.truncations.inc({ transport });
  }

  private readonly steeredChildren = new Map<string, Counter.Internal>();

  /** Runs once per edge answer sent. */
  steered(client: string, answered: string): void {
    const key = `${client} ${answered}`;
    let child = this.steeredChildren.get(key);
    if (!child) {
      child = this.steers.labels({ client_region: client, answer_region: answered });
      this.steeredChildren.set(key, child);
    }
    child.inc();
  }

  allDown(): void {
    this.blind.inc();
  }
}

/** With heartbeats as the edges' health (purge.redis): whether the DNS server can read them. */
export class HeartbeatMetrics {
  readonly readable: Gauge;
  readonly readFailures: Counter;

  constructor(registry: Registry) {
    this.readable = new Gauge({
      name: 'strata_dns_heartbeats_readable',
      help: "Whether the last read of the edges' heartbeats from Redis succeeded (1) or failed (0: edge health stays as last read).",
      registers: [registry],
    });
    this.readFailures = new Counter({
      name: 'strata_dns_heartbeat_read_failures_total',
      help: "Reads of the edges' heartbeats from Redis that failed (Redis unreachable or erroring).",
      registers: [registry],
    });
  }
}
