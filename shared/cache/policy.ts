// Shared-cache policy (RFC 9111, RFC 5861, RFC 9213): whether a response may be stored,
// how long it is fresh, and whether a stored response may be reused for a request.
// Every clause is preceded by the sentence it implements. Time is passed in (ms), never read.

import { deltaSeconds, parseDirectives, parseTargetedField, type Directives } from './directives.js';
import { firstValue, joined, type HeaderMap } from '../http/headers.js';
import { parseHttpDate } from '../http/dates.js';

/** Why a response was not stored; reported in Cache-Status `detail` and metrics. */
export type NoCacheReason =
  | 'method'
  | 'status'
  | 'no-store'
  | 'private'
  | 'authorization'
  | 'vary-star'
  | 'no-freshness'
  | 'request-no-store'
  | 'too-large'
  | 'fill-budget'
  | 'aborted'
  | 'content-encoding';

export interface PolicyOptions {
  /** Fraction of (Date - Last-Modified) used as heuristic lifetime. */
  heuristicFraction: number;
  heuristicMaxSec: number;
  /**
   * The lowercase name of Strata's own targeted field (cache.targetedField), obeyed before
   * CDN-Cache-Control; undefined when the operator named none.
   */
  targetedField?: string;
}

/** RFC 9110 §15.1: status codes that are heuristically cacheable (cacheable by default). */
const cacheableByDefault: ReadonlySet<number> = new Set([
  200, 203, 204, 206, 300, 301, 308, 404, 405, 410, 414, 501,
]);

/** Status codes whose semantics Strata understands (for must-understand, RFC 9111 §5.2.2.3). */
const understood: ReadonlySet<number> = new Set([
  200, 203, 204, 300, 301, 302, 303, 307, 308, 400, 403, 404, 405, 410, 414, 451, 500, 501, 502, 503, 504,
]);

export interface ResponseFacts {
  method: string;
  status: number;
  requestHeaders: HeaderMap;
  responseHeaders: HeaderMap;
  requestTimeMs: number;
  responseTimeMs: number;
}

export interface Freshness {
  initialAgeSec: number;
  lifetimeSec: number;
  staleWhileRevalidateSec: number;
  staleIfErrorSec: number;
  mustRevalidate: boolean;
}

/**
 * The directives that govern Strata: RFC 9213 targeted fields take precedence over Cache-Control.
 * `ownField` is the operator's Strata-only field (lowercase), the most specific of them.
 */
export function cacheDirectives(
  headers: HeaderMap,
  ownField?: string,
): { directives: Directives; targeted: boolean } {
  // RFC 9213 §2.2: a cache keeps a list of the targeted fields it implements, most specific
  // first, and uses the first one that is present and valid (one that fails to parse is
  // ignored, as if absent); then it MUST ignore Cache-Control and Expires.
  const own = ownField === undefined ? undefined : parseTargetedField(headers[ownField]);
  if (own) return { directives: own, targeted: true };
  const cdn = parseTargetedField(headers['cdn-cache-control']);
  if (cdn) return { directives: cdn, targeted: true };
  const surrogate = headers['surrogate-control'];
  if (surrogate !== undefined) return { directives: surrogateDirectives(surrogate), targeted: true };
  return { directives: parseDirectives(headers['cache-control']), targeted: false };
}

/** The device token Strata announces in Surrogate-Capability and answers to in Surrogate-Control. */
export const surrogateDevice = 'strata';

/**
 * Edge Architecture 1.0: each Surrogate-Control directive may end in ";device" to target one
 * surrogate; untargeted directives apply to all, targeted ones only to Strata's device token.
 */
function surrogateDirectives(value: string | string[]): Directives {
  const mine: string[] = [];
  for (const member of (Array.isArray(value) ? value.join(',') : value).split(',')) {
    const semi = member.lastIndexOf(';');
    if (semi === -1) mine.push(member);
    else if (
      member
        .slice(semi + 1)
        .trim()
        .toLowerCase() === surrogateDevice
    )
      mine.push(member.slice(0, semi));
  }
  return parseDirectives(mine.join(','));
}

/** Decides storability; returns the reason when the response must not be stored. */
export function noStoreReason(
  facts: ResponseFacts,
  cc: Directives,
  targeted: boolean,
  requestNoStore: boolean,
): NoCacheReason | undefined {
  // RFC 9111 §3: the request method is understood by the cache (only GET is stored here).
  if (facts.method !== 'GET') return 'method';
  // RFC 9111 §3: the response status code is final; 206 and 304 need the cache to
  // understand them, and Strata stores only complete responses.
  if (facts.status < 200 || facts.status === 206 || facts.status === 304) return 'status';
  // RFC 9111 §5.2.1.5: no-store in a request: a cache MUST NOT store any part of it.
  if (requestNoStore) return 'request-no-store';
  // RFC 9111 §5.2.2.3: must-understand: store only if the status code is understood, and
  // then no-store is ignored.
  if (cc.has('must-understand')) {
    if (!understood.has(facts.status)) return 'status';
  } else if (cc.has('no-store')) return 'no-store';
  // RFC 9111 §5.2.2.7: a shared cache MUST NOT store a response with private. The qualified
  // form only keeps the listed fields out of the store (see unstoredFields).
  if (cc.get('private') === true) return 'private';
  // RFC 9111 §3.5: a shared cache MUST NOT use a response to a request with Authorization
  // unless public, must-revalidate or s-maxage allows it.
  if (
    facts.requestHeaders.authorization !== undefined &&
    !cc.has('public') &&
    !cc.has('must-revalidate') &&
    !cc.has('s-maxage')
  )
    return 'authorization';
  // RFC 9110 §12.5.5: a Vary value of "*" always fails to match.
  const vary = varyFields(facts.responseHeaders.vary);
  if (vary === '*') return 'vary-star';
  // RFC 9111 §3: a response is stored only if it has explicit freshness (Expires, max-age,
  // s-maxage), is marked public, or has a status code that is heuristically cacheable. A
  // validator alone does not qualify (a 500 with an ETag must not be stored).
  if (
    !cacheableByDefault.has(facts.status) &&
    !cc.has('public') &&
    !cc.has('max-age') &&
    !cc.has('s-maxage') &&
    (targeted || facts.responseHeaders.expires === undefined)
  )
    return 'status';
  return undefined;
}

/**
 * The lowercase names of the fields a shared cache keeps out of a stored response, or undefined.
 * RFC 9111 §5.2.2.7: with a qualified private, "a shared cache MUST NOT store the listed header
 * fields if they are present in the original response but MAY store the remainder of the
 * response message without those header fields". RFC 9111 §5.2.2.4: with a qualified no-cache,
 * "a cache MAY use the response to satisfy a subsequent request, subject to any other
 * restrictions on caching, if the listed header fields are excluded from the subsequent
 * response": Strata stores it without them, so every reuse excludes them.
 */
export function unstoredFields(cc: Directives): ReadonlySet<string> | undefined {
  let names: Set<string> | undefined;
  for (const directive of ['private', 'no-cache']) {
    const value = cc.get(directive);
    if (typeof value !== 'string') continue;
    for (const part of value.split(',')) {
      const name = part.trim().toLowerCase();
      if (name) (names ??= new Set()).add(name);
    }
  }
  return names;
}

/** Lowercased Vary field names, '*' for a wildcard, [] for none (empty members ignored). */
export function varyFields(value: string | string[] | undefined): string[] | '*' {
  if (value === undefined) return [];
  const names: string[] = [];
  for (const part of joined(value)!.split(',')) {
    const name = part.trim().toLowerCase();
    if (name === '*') return '*';
    if (name && !names.includes(name)) names.push(name);
  }
  return names;
}

/** RFC 9111 §4.2.1 freshness lifetime, §4.2.3 initial age, RFC 5861 windows. */
export function freshness(
  facts: ResponseFacts,
  cc: Directives,
  targeted: boolean,
  options: PolicyOptions,
): Freshness {
  const headers = facts.responseHeaders;
  const nowMs = facts.responseTimeMs;
  const dateMs = parseHttpDate(firstValue(headers.date), nowMs) ?? facts.responseTimeMs;
  // RFC 9111 §5.2.2.4 no-cache: the response MUST NOT be used without successful validation.
  // The qualified form allows reuse without the listed fields (see unstoredFields).
  const noCache = cc.get('no-cache') === true;
  let lifetimeSec: number;
  const sMaxAge = cc.get('s-maxage');
  const maxAge = cc.get('max-age');
  if (noCache) lifetimeSec = 0;
  // RFC 9111 §4.2.1: if the cache is shared and the s-maxage directive is present, use its value;
  else if (sMaxAge !== undefined) lifetimeSec = deltaSeconds(sMaxAge) ?? 0;
  // or, if the max-age response directive is present, use its value
  // (an invalid value makes the response stale: §4.2.1 "consider the response stale");
  else if (maxAge !== undefined) lifetimeSec = deltaSeconds(maxAge) ?? 0;
  // or, if the Expires response header field is present, use its value minus Date
  // (RFC 9111 §5.3: an invalid date, such as "0", means already expired).
  else if (!targeted && headers.expires !== undefined) {
    const expires = Array.isArray(headers.expires) ? undefined : parseHttpDate(headers.expires, nowMs);
    lifetimeSec = expires === undefined ? 0 : Math.max(0, (expires - dateMs) / 1000);
  }
  // otherwise no explicit expiration: §4.2.2 a heuristic lifetime is allowed for status codes
  // defined as heuristically cacheable, or when the response is marked public.
  else if (cacheableByDefault.has(facts.status) || cc.has('public')) {
    const lm = parseHttpDate(firstValue(headers['last-modified']), nowMs);
    lifetimeSec =
      lm !== undefined && lm < dateMs
        ? Math.min(((dateMs - lm) / 1000) * options.heuristicFraction, options.heuristicMaxSec)
        : 0;
  } else lifetimeSec = 0;

  // RFC 9111 §4.2.3: apparent_age = max(0, response_time - date_value);
  // corrected_age_value = age_value + response_delay;
  // corrected_initial_age = max(apparent_age, corrected_age_value).
  // Date has one-second resolution, so the response time is compared at the same resolution.
  const apparentAge = Math.max(0, Math.floor(facts.responseTimeMs / 1000) - Math.floor(dateMs / 1000));
  const responseDelay = Math.max(0, (facts.responseTimeMs - facts.requestTimeMs) / 1000);
  const age = ageValue(headers.age);
  const correctedAge = age + responseDelay;
  return {
    initialAgeSec: Math.max(apparentAge, correctedAge),
    lifetimeSec,
    staleWhileRevalidateSec: deltaSeconds(cc.get('stale-while-revalidate')) ?? 0,
    staleIfErrorSec: deltaSeconds(cc.get('stale-if-error')) ?? 0,
    // RFC 9111 §5.2.2.2/§5.2.2.8/§5.2.2.10: must-revalidate, proxy-revalidate and (in a shared
    // cache) s-maxage forbid serving the response stale; so does no-cache (§5.2.2.4).
    mustRevalidate: noCache || cc.has('must-revalidate') || cc.has('proxy-revalidate') || cc.has('s-maxage'),
  };
}

/**
 * The age_value of RFC 9111 §4.2.3 from an Age field, in seconds; 0 when absent or ignored.
 * RFC 9111 §5.1: "a cache encountering a message with a list-based Age field value SHOULD use
 * the first member of the field value, discarding subsequent ones. If the field value (after
 * discarding additional members, as per above) is invalid (e.g., it contains something other
 * than a non-negative integer), a cache SHOULD ignore the field." Several field lines are one
 * list (RFC 9110 §5.3), so the first line's first member counts. Huge values saturate at 2^31.
 */
export function ageValue(value: string | string[] | undefined): number {
  const first = firstValue(value);
  if (first === undefined) return 0;
  const comma = first.indexOf(',');
  return deltaSeconds((comma === -1 ? first : first.slice(0, comma)).trim()) ?? 0;
}

/** A client's Cache-Control request directives (RFC 9111 §5.2.1), or Pragma: no-cache (§5.4). */
export interface RequestDirectives {
  noCache: boolean;
  noStore: boolean;
  onlyIfCached: boolean;
  maxAgeSec?: number;
  minFreshSec?: number;
  /** true: any staleness accepted; number: at most that many seconds. */
  maxStale?: number | true;
  staleIfErrorSec?: number;
}

export const noRequestDirectives: RequestDirectives = Object.freeze({
  noCache: false,
  noStore: false,
  onlyIfCached: false,
});

export function requestDirectives(headers: HeaderMap): RequestDirectives {
  const value = headers['cache-control'];
  if (value === undefined) {
    // RFC 9111 §5.4: when Cache-Control is absent, Pragma: no-cache is treated as no-cache.
    const pragma = joined(headers.pragma);
    return pragma !== undefined && /(^|,)\s*no-cache\s*(,|$)/i.test(pragma)
      ? { ...noRequestDirectives, noCache: true }
      : noRequestDirectives;
  }
  const cc = parseDirectives(value);
  const maxStale = cc.get('max-stale');
  return {
    noCache: cc.has('no-cache'),
    noStore: cc.has('no-store'),
    onlyIfCached: cc.has('only-if-cached'),
    maxAgeSec: cc.has('max-age') ? (deltaSeconds(cc.get('max-age')) ?? 0) : undefined,
    minFreshSec: cc.has('min-fresh') ? deltaSeconds(cc.get('min-fresh')) : undefined,
    maxStale: maxStale === true ? true : deltaSeconds(maxStale),
    staleIfErrorSec: deltaSeconds(cc.get('stale-if-error')),
  };
}

/** How a stored response may be used for a request. */
export type Reuse = 'fresh' | 'stale' | 'stale-while-revalidate' | 'revalidate';

export interface Stored extends Freshness {
  responseTimeMs: number;
  invalidated: boolean;
}

/** RFC 9111 §4.2.3 current_age = corrected_initial_age + resident_time, in seconds. */
export function currentAge(stored: Stored, nowMs: number): number {
  return stored.initialAgeSec + Math.max(0, nowMs - stored.responseTimeMs) / 1000;
}

/** RFC 9111 §4: may this stored response be reused for this request, and how. */
export function reuse(stored: Stored, req: RequestDirectives, ageSec: number, siteSwrSec = 0): Reuse {
  // RFC 9111 §5.2.1.4: no-cache: a cache MUST NOT use a stored response without validation.
  if (req.noCache) return 'revalidate';
  // §5.2.1.1 max-age: the client does not want a response whose age exceeds the value.
  if (req.maxAgeSec !== undefined && ageSec > req.maxAgeSec) return 'revalidate';
  const remaining = stored.lifetimeSec - ageSec;
  // §5.2.1.3 min-fresh: the response must stay fresh for at least that many seconds.
  if (req.minFreshSec !== undefined && remaining < req.minFreshSec) return 'revalidate';
  // §4.2: a response is fresh when its age has not yet exceeded its freshness lifetime.
  // A soft purge makes it stale at once.
  if (remaining > 0 && !stored.invalidated) return 'fresh';
  // §4.2.4: a cache MUST NOT generate a stale response unless it is disconnected or doing so is
  // explicitly permitted by the client or origin; must-revalidate etc. forbid it outright.
  if (stored.mustRevalidate) return 'revalidate';
  // §5.2.1.2 max-stale: the client accepts a stale response (up to the given staleness).
  if (req.maxStale === true || (req.maxStale !== undefined && -remaining <= req.maxStale)) return 'stale';
  // RFC 5861 §3: stale-while-revalidate: serve stale while revalidating in the background, for
  // the longer of the response's window and the site's (the operator speaking for the origin).
  const swr = Math.max(stored.staleWhileRevalidateSec, siteSwrSec);
  if (swr > 0 && -remaining < swr) return 'stale-while-revalidate';
  return 'revalidate';
}

/**
 * RFC 5861 §4: may a stale response be served because revalidation failed with an error? The
 * window is the longest of the response's and the request's stale-if-error and the site's own
 * (`siteSec`: the operator, speaking for the origin, allows it for every response).
 */
export function usableOnError(stored: Stored, req: RequestDirectives, ageSec: number, siteSec = 0): boolean {
  if (stored.mustRevalidate) return false;
  const staleness = ageSec - stored.lifetimeSec;
  const window = Math.max(stored.staleIfErrorSec, req.staleIfErrorSec ?? 0, siteSec);
  return staleness < window || (stored.invalidated && window > 0);
}
