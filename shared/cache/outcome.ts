// Cache-Status (RFC 9211): one list member per cache, naming the node and what it did.

import type { NoCacheReason } from './policy.js';

/** RFC 9211 §2.2 fwd values Strata emits. */
export type Forward = 'uri-miss' | 'vary-miss' | 'stale' | 'request' | 'bypass' | 'method';

/** RFC 9211 detail values: why something was not stored, or how a stored object was used. */
export type Detail =
  | NoCacheReason
  | 'heap-pressure'
  | 'hit-for-pass'
  | 'stale-while-revalidate'
  | 'stale-if-error'
  | 'revalidated';

/** What a node did with a request, as the access log and the request metrics name it. */
export type OutcomeLabel = 'hit' | 'stale' | 'revalidated' | 'miss' | 'pass';

/** The Cache-Status fields of one outcome (what cacheStatus() reads). */
export interface CacheOutcome {
  readonly hit: boolean;
  readonly fwd?: Forward;
  readonly fwdStatus?: number;
  /** Remaining freshness in seconds (negative when stale). */
  readonly ttlSec?: number;
  readonly stored?: boolean;
  readonly collapsed?: boolean;
  readonly detail?: Detail;
}

/**
 * The outcome of one request: a small state machine that the phases drive with events, and
 * that Cache-Status (RFC 9211), the access log and the request metrics read.
 *
 *   received --hitFresh()-----------------> hit --refetch()--> miss (a damaged stored body)
 *            --staleWhileRevalidate()-----> stale
 *            --forward(fwd)---------------> miss --settled('revalidated')-----> revalidated
 *            --pass(fwd) / madeHere()-----> pass      --settled('stale-if-error')--> stale
 *   miss     --pass('bypass', 'hit-for-pass')-> pass
 *   In miss and pass, answered() records the upstream answer; collapse() and ownFetch() say
 *   whether the request waits on another request's fill.
 *   miss     --fromSibling(hit member)---> hit or stale (the worker owning the key had it)
 */
export class Outcome implements CacheOutcome {
  state: 'received' | OutcomeLabel = 'received';
  fwd: Forward | undefined = undefined;
  fwdStatus: number | undefined = undefined;
  ttlSec: number | undefined = undefined;
  stored = false;
  collapsed = false;
  detail: Detail | undefined = undefined;

  get hit(): boolean {
    return this.state === 'hit' || this.state === 'stale';
  }

  /** The access-log and metric label; a request answered before lookup counts as a pass. */
  get label(): OutcomeLabel {
    return this.state === 'received' ? 'pass' : this.state;
  }

  /** Served fresh from the cache. */
  hitFresh(): void {
    this.state = 'hit';
  }

  /** Served stale while one background request refreshes it (RFC 5861 §3). */
  staleWhileRevalidate(): void {
    this.state = 'stale';
    this.detail = 'stale-while-revalidate';
  }

  /** Goes upstream for a fill: nothing stored (uri-miss, vary-miss), stale, or the request said so. */
  forward(fwd: Forward): void {
    this.state = 'miss';
    this.fwd = fwd;
  }

  /** Goes upstream as it is, never stored: a method, a body, or a URL known to be uncacheable. */
  pass(fwd: Forward, detail?: 'hit-for-pass'): void {
    this.state = 'pass';
    this.fwd = fwd;
    this.detail = detail;
  }

  /** Waits for another request's fill of the same key. */
  collapse(): void {
    this.collapsed = true;
  }

  /** The fill could not answer for this request after all: it goes upstream on its own. */
  ownFetch(): void {
    this.collapsed = false;
  }

  /** The upstream answer: its status, whether it is being stored, and if not, why. */
  answered(status: number, stored: boolean, reason?: Detail): void {
    this.fwdStatus = status;
    this.stored = stored;
    if (reason) this.detail ??= reason;
  }

  /** Answered with a stored object after going upstream: refreshed by a 304, or stale on error. */
  settled(how: 'revalidated' | 'stale-if-error', upstreamStatus: number): void {
    this.state = how === 'revalidated' ? 'revalidated' : 'stale';
    this.detail = how;
    this.fwdStatus = upstreamStatus || undefined;
  }

  /**
   * The fill was answered by the worker of this node that owns the key (shared/cluster/
   * siblings.ts), whose Cache-Status member speaks for the node: a hit there is the node's hit.
   */
  fromSibling(member: string): void {
    if (!member.includes('; hit')) return;
    this.state = member.includes('detail=stale') ? 'stale' : 'hit';
    this.fwd = this.fwdStatus = undefined;
  }

  /** A stored body was found damaged before anything was sent: start again as a plain miss. */
  refetch(): void {
    this.state = 'miss';
    this.fwd = 'uri-miss';
    this.fwdStatus = this.ttlSec = this.detail = undefined;
    this.stored = this.collapsed = false;
  }

  /** Answered by this node itself (an error, the health path): nothing stored to speak of. */
  madeHere(): void {
    if (this.state === 'received') this.state = 'pass';
    this.fwd ??= 'bypass';
    this.detail = undefined;
  }
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
