// HeartbeatHealth: GeoDNS edge health from the nodes' heartbeats on the purge bus (purge.redis).
// An edge of the regions is healthy while a fresh heartbeat of a node with role edge advertises
// its address (node.addresses, else its listeners' addresses). Freshness is judged here, against
// one heartbeat interval plus a grace, not the bus's three-interval liveness, so that a killed
// edge leaves the answers within about one interval; a node that stops cleanly removes its
// heartbeat and leaves at the next read. docs/architecture.md, "Geo".

import type { Logger } from '../../shared/log.js';
import type { PurgeLog } from '../../shared/purge/log.js';
import { maxReconnectDelayMs } from '../../shared/purge/redis-log.js';
import type { Heartbeat } from '../../shared/purge/message.js';
import type { HeartbeatMetrics } from './dns-metrics.js';
import { EdgeStates, Rounds, type EdgeHealth } from './edge-health.js';
import type { EdgeSpec } from './regions.js';

export interface HeartbeatHealthOptions {
  /** The purge bus's log, only read (liveNodes); started and stopped with this source. */
  log: PurgeLog;
  /** This server's purge.heartbeat: the heartbeats are read four times per interval. */
  intervalMs: number;
  logger: Logger;
  metrics: HeartbeatMetrics;
  /** Default Date.now. */
  clock?: () => number;
}

/**
 * How long past its interval a heartbeat still counts: the writer's timer and Redis round trip
 * under load. A quarter interval, at least 100 ms; with the reads every quarter interval, a
 * killed edge leaves at most 1.5 intervals after its last heartbeat (1.5 s with the default).
 */
export function heartbeatGraceMs(intervalMs: number): number {
  return Math.max(intervalMs / 4, 100);
}

/** A node's last heartbeat as read, and since when this server knows it (its own clock). */
interface Seen {
  atMs: number;
  /** The start of the read before the one that first saw it: the heartbeat was written after. */
  sinceMs: number;
}

export class HeartbeatHealth implements EdgeHealth {
  readonly name = 'edge-heartbeats';
  private readonly states: EdgeStates;
  private readonly clock: () => number;
  private seen = new Map<string, Seen>();
  /** When the last successful read started; undefined before the first. */
  private lastReadMs: number | undefined;
  private reachable: boolean | undefined;
  /** After Redis was unreachable, until when reads only add edges (the nodes write again first). */
  private settleUntilMs = 0;
  private readonly rounds: Rounds;

  constructor(
    private readonly edges: readonly EdgeSpec[],
    private readonly options: HeartbeatHealthOptions,
  ) {
    this.states = new EdgeStates(options.logger);
    this.clock = options.clock ?? Date.now;
    this.rounds = new Rounds(() => this.read(), options.intervalMs / 4);
  }

  healthy(address: string): boolean {
    return this.states.healthy(address);
  }

  onChange(listener: (edge: EdgeSpec, healthy: boolean) => void): void {
    this.states.onChange(listener);
  }

  /** Connects and reads once, so the first answers know which edges serve (none, if Redis is away). */
  async start(): Promise<void> {
    await this.options.log.start();
    await this.read();
    this.rounds.schedule();
  }

  async stop(): Promise<void> {
    await this.rounds.stop();
    await this.options.log.stop();
  }

  /** One read of the live heartbeats. A failed read changes nothing: the edges keep their state. */
  private async read(): Promise<void> {
    const nowMs = this.clock();
    let beats: Heartbeat[];
    try {
      beats = await this.options.log.liveNodes(nowMs);
    } catch (err) {
      this.readFailed(err as Error);
      return;
    }
    if (this.reachable === false) this.settleUntilMs = nowMs + this.settleMs();
    this.readable(true);
    const advertised = this.advertised(beats, nowMs);
    this.lastReadMs = nowMs;
    const settling = nowMs < this.settleUntilMs;
    for (const edge of this.edges) {
      const up = advertised.has(edge.address);
      if (up || !settling) this.states.set(edge, up, { source: 'heartbeats' });
    }
  }

  /**
   * How long after Redis is readable again a missing or old heartbeat does not take an edge out:
   * the nodes could not write while it was away (or it came back empty), and write again within
   * their reconnect backoff and one interval. Without this, every edge would flap down at once.
   */
  private settleMs(): number {
    return maxReconnectDelayMs + this.options.intervalMs + heartbeatGraceMs(this.options.intervalMs);
  }

  /**
   * The addresses the edges with a fresh heartbeat advertise. A heartbeat is fresh until its
   * interval and the grace have passed since it was written: by its atMs, or, when the writer's
   * clock is behind this server's, since the read before the one that first saw it.
   */
  private advertised(beats: readonly Heartbeat[], nowMs: number): Set<string> {
    const out = new Set<string>();
    const seen = new Map<string, Seen>();
    for (const beat of beats) {
      if (beat.role !== 'edge') continue;
      const before = this.seen.get(beat.node);
      const sinceMs = before?.atMs === beat.atMs ? before.sinceMs : (this.lastReadMs ?? -Infinity);
      seen.set(beat.node, { atMs: beat.atMs, sinceMs });
      const freshUntilMs = Math.max(beat.atMs, sinceMs) + beat.intervalMs + heartbeatGraceMs(beat.intervalMs);
      if (nowMs <= freshUntilMs) for (const address of beat.addresses) out.add(address);
    }
    this.seen = seen;
    return out;
  }

  private readFailed(err: Error): void {
    this.options.metrics.readFailures.inc();
    if (this.reachable === false) return;
    this.readable(false);
    this.options.logger.warn(
      { err: err.message },
      'edge heartbeats unreadable (Redis): keeping the edges as last read, retrying',
    );
  }

  private readable(ok: boolean): void {
    if (ok && this.reachable === false) this.options.logger.info('edge heartbeats readable again');
    this.reachable = ok;
    this.options.metrics.readable.set(ok ? 1 : 0);
  }
}
