// RelayBackends: a relay's backends in order of preference for a new connection or session,
// by the relay's balance (round-robin, least-connections, hash-client-ip), each with a circuit
// breaker (PeerHealth) fed by connect outcomes and active probes.

import { PeerHealth } from '../../shared/http/health.js';
import { hash32, rendezvousOrder } from '../../shared/http/select.js';
import { parseHostPort } from '../../shared/http/listen.js';
import type { BackendStats } from './relay.js';

export type Balance = 'round-robin' | 'least-connections' | 'hash-client-ip';

export interface RelayBackend {
  /** host:port as configured. */
  readonly address: string;
  readonly host: string;
  readonly port: number;
  readonly weight: number;
  readonly health: PeerHealth;
  /** Connections or sessions open to it now. */
  active: number;
}

export interface BackendHealthOptions {
  failures: number;
  openFor: number;
  /** Probe period in ms; 0: no active probes. */
  interval: number;
  timeout: number;
}

/** An active probe of one backend: resolves true when it answered as expected within timeoutMs. */
export type Probe = (backend: RelayBackend, timeoutMs: number) => Promise<boolean>;

export class RelayBackends {
  readonly list: readonly RelayBackend[];
  /** Rendezvous seeds: one per unit of weight, so a backend of weight 2 owns about twice the clients. */
  private readonly seeds: Uint32Array;
  private readonly seedOwner: number[];
  /** Smooth weighted round-robin state (nginx's): current weight per backend. */
  private readonly current: number[];
  private readonly totalWeight: number;
  private timer: NodeJS.Timeout | undefined;
  private probing = false;

  constructor(
    backends: readonly { address: string; weight: number }[],
    private readonly balance: Balance,
    private readonly health: BackendHealthOptions,
    private readonly now: () => number,
  ) {
    this.list = backends.map(({ address, weight }) => {
      const { host, port } = parseHostPort(address);
      return {
        address,
        host,
        port,
        weight,
        active: 0,
        health: new PeerHealth({ failures: health.failures, openMs: health.openFor }),
      };
    });
    const seeds: number[] = [];
    this.seedOwner = [];
    this.list.forEach((b, i) => {
      for (let w = 0; w < b.weight; w++) {
        seeds.push(hash32(w === 0 ? b.address : `${b.address}#${w}`));
        this.seedOwner.push(i);
      }
    });
    this.seeds = Uint32Array.from(seeds);
    this.current = this.list.map(() => 0);
    this.totalWeight = this.list.reduce((sum, b) => sum + b.weight, 0);
  }

  /**
   * The backends to try for a new connection or session from `clientIp`, most preferred
   * first: the usable ones in the balance's order, then the ones out of service (which may be
   * back). Runs once per new connection or session.
   */
  candidates(clientIp: string): RelayBackend[] {
    const order = this.order(clientIp);
    const nowMs = this.now();
    const usable: RelayBackend[] = [];
    const out: RelayBackend[] = [];
    for (const i of order) (this.list[i].health.usable(nowMs) ? usable : out).push(this.list[i]);
    return out.length === 0 ? usable : usable.concat(out);
  }

  private order(clientIp: string): number[] {
    const n = this.list.length;
    if (n === 1) return [0];
    if (this.balance === 'hash-client-ip') {
      const seen = new Set<number>();
      for (const s of rendezvousOrder(hash32(clientIp), this.seeds)) seen.add(this.seedOwner[s]);
      return [...seen];
    }
    if (this.balance === 'least-connections') {
      // Fewest open per unit of weight; ties go round-robin so equal backends share the load.
      const first = this.roundRobin();
      const rank = (i: number) => this.list[i].active / this.list[i].weight;
      return Array.from({ length: n }, (_, k) => (first + k) % n).sort((a, b) => rank(a) - rank(b));
    }
    const first = this.roundRobin();
    return Array.from({ length: n }, (_, k) => (first + k) % n);
  }

  /** Smooth weighted round-robin: each backend picked in proportion to its weight, interleaved. */
  private roundRobin(): number {
    let best = 0;
    for (let i = 0; i < this.list.length; i++) {
      this.current[i] += this.list[i].weight;
      if (this.current[i] > this.current[best]) best = i;
    }
    this.current[best] -= this.totalWeight;
    return best;
  }

  /** Starts probing every backend each interval with `probe` (no-op with interval 0). */
  startProbes(probe: Probe): void {
    if (this.health.interval === 0 || this.timer) return;
    const run = async () => {
      if (this.probing) return;
      this.probing = true;
      try {
        await Promise.all(
          this.list.map(async (b) => b.health.probed(await probe(b, this.health.timeout).catch(() => false))),
        );
      } finally {
        this.probing = false;
      }
    };
    void run();
    this.timer = setInterval(() => void run(), this.health.interval);
    this.timer.unref();
  }

  stopProbes(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  stats(): BackendStats[] {
    const nowMs = this.now();
    return this.list.map((b) => ({ address: b.address, usable: b.health.usable(nowMs), active: b.active }));
  }
}
