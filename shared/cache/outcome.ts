// Cache-Status (RFC 9211): one list member per cache, naming the node and what it did.

import type { NoCacheReason } from './policy.js';

/** RFC 9211 §2.2 fwd values Strata emits. */
export type Forward = 'uri-miss' | 'vary-miss' | 'stale' | 'request' | 'bypass' | 'method';

export interface CacheOutcome {
  hit: boolean;
  fwd?: Forward;
  fwdStatus?: number;
  /** Remaining freshness in seconds (negative when stale). */
  ttlSec?: number;
  stored?: boolean;
  collapsed?: boolean;
  detail?: NoCacheReason | 'hit-for-pass' | 'stale-while-revalidate' | 'stale-if-error' | 'revalidated';
}

/** The short name used in access logs and metric labels. */
export function outcomeLabel(o: CacheOutcome): string {
  if (o.hit) return o.detail === 'stale-while-revalidate' || o.detail === 'stale-if-error' ? 'stale' : 'hit';
  if (o.detail === 'revalidated') return 'revalidated';
  if (o.fwd === 'bypass' || o.fwd === 'method') return 'pass';
  return 'miss';
}

/** Formats this node's member, e.g. `edge-1; fwd=uri-miss; fwd-status=200; stored`. */
export function cacheStatus(name: string, o: CacheOutcome): string {
  let s = o.hit ? `${name}; hit` : `${name}; fwd=${o.fwd ?? 'uri-miss'}`;
  if (o.fwdStatus !== undefined) s += `; fwd-status=${o.fwdStatus}`;
  if (o.ttlSec !== undefined) s += `; ttl=${Math.floor(o.ttlSec)}`;
  if (o.stored) s += '; stored';
  if (o.collapsed) s += '; collapsed';
  if (o.detail) s += `; detail=${o.detail}`;
  return s;
}

/**
 * cacheStatus() for one node, with the member of a plain hit (`name; hit; ttl=N`) kept per
 * TTL second: hits on an object within one second send one string, built once, instead of a
 * new one each (and a flat string, which node:http validates without copying it first).
 */
export class CacheStatusFormatter {
  private readonly plainHits = new Map<number, string>();

  constructor(private readonly name: string) {}

  format(o: CacheOutcome): string {
    const plain =
      o.hit &&
      o.ttlSec !== undefined &&
      o.fwd === undefined &&
      o.fwdStatus === undefined &&
      !o.stored &&
      !o.collapsed &&
      !o.detail;
    if (!plain) return cacheStatus(this.name, o);
    const ttl = Math.floor(o.ttlSec as number);
    let s = this.plainHits.get(ttl);
    if (s === undefined) {
      // Bounded: TTLs of the objects being hit right now, not every TTL ever seen.
      if (this.plainHits.size >= 4096) this.plainHits.clear();
      s = cacheStatus(this.name, o);
      this.plainHits.set(ttl, s);
    }
    return s;
  }
}
