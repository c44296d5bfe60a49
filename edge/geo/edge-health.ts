// Edge health for GeoDNS: which edges may be named in answers now. A source says which are
// healthy and tells when that changes. ProbeHealth (here) probes each edge itself;
// HeartbeatHealth (heartbeat-health.ts) reads the nodes' heartbeats from the purge bus's Redis
// (purge.redis), so that a dead edge leaves the answers within about one heartbeat interval
// (docs/architecture.md). Both keep their findings in EdgeStates.

import { Agent, request } from 'undici';
import type { Logger } from '../../shared/log.js';
import type { Service } from '../../shared/service.js';
import type { EdgeSpec } from './regions.js';

export interface EdgeHealth extends Service {
  /** Whether the edge at `address` may be named in answers now. */
  healthy(address: string): boolean;
  /** Calls `listener` whenever an edge goes up or down. */
  onChange(listener: (edge: EdgeSpec, healthy: boolean) => void): void;
}

/** The edges' states as a source last found them, and who to tell when one changes. */
export class EdgeStates {
  private readonly up = new Map<string, boolean>();
  private readonly listeners: ((edge: EdgeSpec, healthy: boolean) => void)[] = [];

  constructor(private readonly log: Logger) {}

  healthy(address: string): boolean {
    return this.up.get(address) === true;
  }

  onChange(listener: (edge: EdgeSpec, healthy: boolean) => void): void {
    this.listeners.push(listener);
  }

  /**
   * Records what the source found for `edge`; on a change (or an edge first found down) logs
   * `edge up` / `edge down` with `detail` and tells the listeners.
   */
  set(edge: EdgeSpec, healthy: boolean, detail: Record<string, unknown>): void {
    const before = this.up.get(edge.address);
    this.up.set(edge.address, healthy);
    if (before === healthy) return;
    if (before !== undefined || !healthy)
      this.log[healthy ? 'info' : 'warn'](
        { edge: edge.address, region: edge.region, ...detail },
        healthy ? 'edge up' : 'edge down',
      );
    for (const listener of this.listeners) listener(edge, healthy);
  }
}

/** Runs `round` every `intervalMs` after the previous one ended (rounds never overlap), until stop(). */
export class Rounds {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;

  constructor(
    private readonly round: () => Promise<void>,
    private readonly intervalMs: number,
  ) {}

  /** Schedules the next round (the caller has run the first). */
  schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.running = this.round().finally(() => this.schedule());
    }, this.intervalMs);
  }

  /** No more rounds; resolves once the one running, if any, has ended. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }
}

export interface ProbeOptions {
  intervalMs: number;
  timeoutMs: number;
  log: Logger;
}

/**
 * Probes every edge's health URL each interval (a GET, once per URL; any 2xx is healthy, anything else or no
 * answer within the timeout is not). start() resolves after the first round, so the first
 * answers already know which edges serve. Rounds never overlap.
 */
export class ProbeHealth implements EdgeHealth {
  readonly name = 'edge-probes';
  private readonly states: EdgeStates;
  private readonly agent: Agent;
  private readonly rounds: Rounds;
  /** The edges by probe URL. */
  private readonly byUrl = new Map<string, EdgeSpec[]>();

  constructor(
    edges: readonly EdgeSpec[],
    private readonly options: ProbeOptions,
  ) {
    for (const edge of edges) {
      const group = this.byUrl.get(edge.probe);
      if (group) group.push(edge);
      else this.byUrl.set(edge.probe, [edge]);
    }
    this.states = new EdgeStates(options.log);
    this.rounds = new Rounds(() => this.probeAll(), options.intervalMs);
    this.agent = new Agent({
      connectTimeout: options.timeoutMs,
      headersTimeout: options.timeoutMs,
      bodyTimeout: options.timeoutMs,
      // A probe connection is not worth keeping between rounds of several seconds.
      keepAliveTimeout: 1,
    });
  }

  healthy(address: string): boolean {
    return this.states.healthy(address);
  }

  onChange(listener: (edge: EdgeSpec, healthy: boolean) => void): void {
    this.states.onChange(listener);
  }

  async start(): Promise<void> {
    await this.probeAll();
    this.rounds.schedule();
  }

  async stop(): Promise<void> {
    await this.rounds.stop();
    await this.agent.close();
  }

  /** One GET per probe URL: edges that share one (behind one load balancer, say) share its answer. */
  private async probeAll(): Promise<void> {
    await Promise.all(
      [...this.byUrl].map(async ([url, edges]) => {
        const healthy = await this.probe(url);
        for (const edge of edges) this.states.set(edge, healthy, { probe: url });
      }),
    );
  }

  private async probe(url: string): Promise<boolean> {
    try {
      const res = await request(url, {
        dispatcher: this.agent,
        signal: AbortSignal.timeout(this.options.timeoutMs),
        headers: { 'user-agent': 'strata-dns-probe' },
      });
      await res.body.dump();
      return res.statusCode >= 200 && res.statusCode < 300;
    } catch {
      // No answer (refused, timed out, reset) is the answer: the edge is down.
      return false;
    }
  }
}
