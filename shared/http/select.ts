// Upstream selection: for a request, the peers to try in order of preference ("if the first
// cannot be used, continue", as Pingora's backend iterators). Origin pools rotate over their
// origins; shield sets pick by rendezvous hashing, so one object lives on one shield.

import type { Peer } from './upstream.js';

export interface UpstreamSelector {
  /**
   * The peers to try for the request whose cache key is `key`, most preferred first. The
   * caller walks them while a failure is retryable. Empty: nothing may be tried (503).
   */
  candidates(key: string, nowMs: number): readonly Peer[];
}

/** The origins of one site: usable ones first, rotating for balance, then the ones out of service. */
export class OriginPool implements UpstreamSelector {
  private next = 0;

  constructor(readonly origins: readonly Peer[]) {}

  candidates(_key: string, nowMs: number): Peer[] {
    const n = this.origins.length;
    const start = this.next++ % n;
    const usable: Peer[] = [];
    const out: Peer[] = [];
    for (let i = 0; i < n; i++) {
      const o = this.origins[(start + i) % n];
      (o.health.usable(nowMs) ? usable : out).push(o);
    }
    // An origin out of service is still worth a try when no other is left: it may be back.
    return out.length === 0 ? usable : usable.concat(out);
  }
}

/**
 * Shields for a cache key in rendezvous (highest-random-weight) order: each shield scores
 * the key, the highest score owns it, and adding or removing a shield moves only the keys
 * it wins or owned. Usable shields come nearest region first (`nearness`: the edge's region,
 * then the regions nearest it; shields of other regions or of none last), in rendezvous order
 * within a region, then `fallback` (the origins) when given; shields out of service are skipped.
 */
export class ShieldSelector implements UpstreamSelector {
  private readonly seeds: Uint32Array;
  /** Per shield: its place in `nearness` (nearness.length when not in it). */
  private readonly ranks: Uint16Array;
  private readonly rankCount: number;

  constructor(
    readonly shields: readonly Peer[],
    nearness: string | readonly string[],
    private readonly fallback: UpstreamSelector | undefined,
  ) {
    const order = typeof nearness === 'string' ? [nearness] : nearness;
    this.seeds = Uint32Array.from(shields, (s) => hash32(s.url));
    this.ranks = Uint16Array.from(shields, (s) => {
      const rank = s.region === undefined ? -1 : order.indexOf(s.region);
      return rank === -1 ? order.length : rank;
    });
    this.rankCount = order.length + 1;
  }

  candidates(key: string, nowMs: number): readonly Peer[] {
    const order = rendezvousOrder(hash32(key), this.seeds);
    const byRank: Peer[][] = Array.from({ length: this.rankCount }, () => []);
    for (const i of order) {
      const shield = this.shields[i];
      if (!shield.health.usable(nowMs)) continue;
      byRank[this.ranks[i]].push(shield);
    }
    const shields = byRank.length === 1 ? byRank[0] : byRank.flat();
    if (!this.fallback) return shields;
    const origins = this.fallback.candidates(key, nowMs);
    return shields.length === 0 ? origins : shields.concat(origins);
  }
}

/** Indexes of `seeds` by descending rendezvous score for a key hash (ties: lower index first). */
export function rendezvousOrder(keyHash: number, seeds: Uint32Array): number[] {
  const scores = Array.from(seeds, (seed) => mix32(keyHash ^ seed));
  const order = Array.from(seeds, (_, i) => i);
  return order.sort((a, b) => scores[b] - scores[a] || a - b);
}

/** The index of `seeds` with the highest rendezvous score for a key hash: rendezvousOrder's first, without allocating. */
export function rendezvousOwner(keyHash: number, seeds: Uint32Array): number {
  let best = 0;
  let bestScore = -1;
  for (let i = 0; i < seeds.length; i++) {
    const score = mix32(keyHash ^ seeds[i]);
    if (score > bestScore) {
      best = i;
      bestScore = score;
    }
  }
  return best;
}

/** FNV-1a over the string's UTF-16 code units: a fast, well-spread 32-bit hash of a key. */
export function hash32(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** MurmurHash3's finalizer: every input bit affects every output bit, so key ^ seed scores are independent. */
function mix32(x: number): number {
  x ^= x >>> 16;
  x = Math.imul(x, 0x85ebca6b);
  x ^= x >>> 13;
  x = Math.imul(x, 0xc2b2ae35);
  x ^= x >>> 16;
  return x >>> 0;
}
