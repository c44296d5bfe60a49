// PurgeAgent: a node's one member of the purge bus (in the node, or in its primary with
// workers). It applies every purge in log order exactly once per position, acknowledges each,
// remembers the last one applied (persisted with the disk tier when there is one), catches up
// after a start or reconnect, and writes the node's heartbeat. Announcements only ring the
// bell: what is applied is always read from the log after the node's position, so a purge
// missed while away, or announced out of order, is never skipped.

import type { Logger } from '../log.js';
import type { Service } from '../service.js';
import type { LogState, PurgeLog } from './log.js';
import { compareIds, type Heartbeat, type PurgeAck, type PurgeMessage, type PurgeSpec } from './message.js';
import type { PurgeMetrics } from './metrics.js';

/** Where purges are applied: a node's Purger, or a primary's fan-out to its workers. */
export interface PurgeTarget {
  /** Applies a purge; `missing` lists workers that did not apply it in time (with workers). */
  apply(spec: PurgeSpec): Promise<{ objects: number; missing?: number[] }>;
}

/** Where the last applied purge id is kept between runs. */
export interface PositionStore {
  load(): Promise<string | undefined>;
  save(id: string): Promise<void>;
}

/** A position kept in memory only: a node without a disk tier starts with an empty cache anyway. */
export function memoryPosition(): PositionStore {
  let id: string | undefined;
  return {
    load: async () => id,
    save: async (next) => {
      id = next;
    },
  };
}

export interface PurgeAgentOptions {
  node: string;
  log: PurgeLog;
  target: PurgeTarget;
  position: PositionStore;
  heartbeatMs: number;
  /** The heartbeat's fields that describe the node (addresses, role); read at each heartbeat. */
  describe(): Omit<Heartbeat, 'v' | 'atMs' | 'intervalMs' | 'appliedId'>;
  logger: Logger;
  metrics: PurgeMetrics;
  clock?: () => number;
}

/** Purges read from the log per round trip while catching up. */
const batch = 200;

/** Acknowledgements kept for re-sending while the bus is away; past this, later ones are not kept. */
const maxUnacked = 10_000;

export class PurgeAgent implements Service {
  /** Acknowledgements not sent because the bus was away (re-sent by the next drain). */
  private readonly unacked: PurgeAck[] = [];
  readonly name = 'purge-agent';
  /** The last purge applied ('0-0': none). */
  applied = '0-0';
  /** Whether the node has read the log up to its end at least once since it started. */
  caughtUp = false;
  private positioned = false;
  /** Set by a start or reconnect: the next drain first checks that the log still reaches back. */
  private catchUp: 'start' | 'reconnect' | undefined;
  private draining: Promise<void> | undefined;
  private again = false;
  private timer: NodeJS.Timeout | undefined;
  private unsubscribe: (() => void) | undefined;
  private stopped = false;
  /** Set when the node begins to drain: no heartbeats from then on. */
  private withdrawn = false;
  private readonly clock: () => number;

  constructor(private readonly options: PurgeAgentOptions) {
    this.clock = options.clock ?? Date.now;
  }

  /** Connects, reads its position and catches up before the node reports ready (if the bus is up). */
  async start(): Promise<void> {
    const { log, metrics } = this.options;
    // The position first: no read of the log may start from anywhere else.
    const saved = await this.options.position.load();
    if (saved) {
      this.applied = saved;
      this.positioned = true;
    }
    this.catchUp = 'start';
    this.unsubscribe = log.subscribe({
      announce: () => void this.drain(),
      state: (state) => this.changed(state),
    });
    await log.start();
    metrics.connected.set(log.state === 'up' ? 1 : 0);
    if (log.state === 'up') await this.drain();
  }

  /** Starts the heartbeat; runs once the node serves (its addresses are known). */
  announce(): void {
    if (this.timer || this.stopped) return;
    void this.beat();
    this.timer = setInterval(() => {
      void this.beat();
      // A safety net under the announcements: a lost one costs at most a heartbeat interval.
      void this.drain();
    }, this.options.heartbeatMs);
    this.timer.unref();
  }

  /**
   * Runs when the node begins to drain: its heartbeat is removed and no more are written, so
   * GeoDNS drops it from its answers (and purges stop waiting for it) while it drains. Purges
   * still apply until stop().
   */
  async withdraw(): Promise<void> {
    this.withdrawn = true;
    if (this.options.log.state === 'up')
      await this.options.log.leave(this.options.node).catch(() => undefined);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    this.unsubscribe?.();
    await this.draining?.catch(() => undefined);
    if (this.options.log.state === 'up')
      await this.options.log.leave(this.options.node).catch(() => undefined);
    await this.options.log.stop();
  }

  /** Reads and applies everything after the position; one drain at a time, repeated if rung meanwhile. */
  drain(): Promise<void> {
    if (this.draining) {
      this.again = true;
      return this.draining;
    }
    this.draining = this.drainLoop().finally(() => (this.draining = undefined));
    return this.draining;
  }

  private async drainLoop(): Promise<void> {
    const { log, logger, metrics } = this.options;
    try {
      do {
        this.again = false;
        if (!this.positioned) {
          // First contact and nothing saved: the cache holds nothing older than now.
          this.applied = await log.lastId();
          this.positioned = true;
          this.catchUp = undefined;
          await this.options.position.save(this.applied);
        } else if (this.catchUp) {
          const reason = this.catchUp;
          this.catchUp = undefined;
          // Checked again at the next drain if Redis goes away before it answers.
          const lost = await log.lostAfter(this.applied).catch((err: unknown) => {
            this.catchUp = reason;
            throw err;
          });
          metrics.catchUps.inc({ reason });
          if (lost) await this.lost();
        }
        await this.sendUnacked();
        for (;;) {
          const purges = await log.readAfter(this.applied, batch);
          for (const purge of purges) await this.applyOne(purge);
          if (purges.length > 0) await this.options.position.save(this.applied);
          if (purges.length < batch) break;
        }
      } while (this.again && !this.stopped);
      this.caughtUp = true;
    } catch (err) {
      // The bus went away mid-way: the position is where it stopped; the reconnect catches up.
      logger.warn({ err: (err as Error).message, applied: this.applied }, 'purge log read failed');
    }
  }

  private async applyOne(purge: PurgeMessage): Promise<void> {
    if (compareIds(purge.id, this.applied) <= 0) return;
    const { metrics, logger } = this.options;
    const started = performance.now();
    const { objects, missing } = await this.options.target.apply(purge);
    const appliedMs = this.clock();
    this.applied = purge.id;
    metrics.applied.inc({ mode: purge.soft ? 'soft' : 'hard' });
    metrics.objects.inc(objects);
    const lagMs = Math.max(0, appliedMs - purge.atMs);
    metrics.lag.observe(lagMs / 1000);
    logger.debug({ id: purge.id, objects, ms: performance.now() - started }, 'purge applied');
    const ack: PurgeAck = {
      v: 1,
      id: purge.id,
      node: this.options.node,
      appliedMs,
      lagMs,
      objects,
      ...(missing?.length ? { missing } : {}),
    };
    await this.options.log.ack(ack).catch((err: unknown) => {
      // Applied all the same: the acknowledgement goes when the bus is back (sendUnacked).
      logger.warn({ err: (err as Error).message, id: purge.id }, 'purge ack not sent yet');
      if (this.unacked.length < maxUnacked) this.unacked.push(ack);
    });
  }

  /** Sends the acknowledgements that failed while the bus was away, oldest first. */
  private async sendUnacked(): Promise<void> {
    while (this.unacked.length > 0) {
      await this.options.log.ack(this.unacked[0]);
      this.unacked.shift();
    }
  }

  /**
   * The log no longer reaches back to this node's position: it cannot know what it missed, and
   * a missed hard purge must not be served (stale-if-error would serve a soft-purged object), so
   * it drops its whole cache.
   */
  private async lost(): Promise<void> {
    const { log, logger, metrics } = this.options;
    const last = await log.lastId();
    logger.warn(
      { applied: this.applied, logStartsAfter: last },
      'purge log was trimmed past this node: dropping the whole cache (it cannot know what it missed)',
    );
    metrics.catchUps.inc({ reason: 'lost' });
    const { objects } = await this.options.target.apply({
      urls: [],
      prefixes: [],
      hosts: [],
      tags: [],
      all: true,
      soft: false,
    });
    metrics.objects.inc(objects);
    // Purges still in the log are applied on top; those before it are covered by the drop.
    const [first] = await log.readAfter('0-0', 1);
    this.applied = first ? previousId(first.id) : last;
    await this.options.position.save(this.applied);
  }

  private changed(state: LogState): void {
    this.options.metrics.connected.set(state === 'up' ? 1 : 0);
    if (state !== 'up') return;
    // Back (or up for the first time while starting): check the log reaches back, catch up, say so.
    this.catchUp ??= 'reconnect';
    void this.drain();
    if (this.timer) void this.beat();
  }

  private async beat(): Promise<void> {
    if (this.withdrawn || this.options.log.state !== 'up') return;
    const beat: Heartbeat = {
      v: 1,
      ...this.options.describe(),
      atMs: this.clock(),
      intervalMs: this.options.heartbeatMs,
      appliedId: this.applied,
    };
    await this.options.log.heartbeat(beat).catch((err: unknown) => {
      this.options.logger.debug({ err: (err as Error).message }, 'heartbeat not written');
    });
  }
}

/** The id just before `id` in the log's order (so that readAfter returns `id` itself). */
function previousId(id: string): string {
  const [ms, seq] = id.split('-').map(Number);
  return seq > 0 ? `${ms}-${seq - 1}` : `${ms - 1}-${Number.MAX_SAFE_INTEGER}`;
}
