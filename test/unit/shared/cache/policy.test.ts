import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ageValue,
  cacheDirectives,
  currentAge,
  freshness,
  noStoreReason,
  requestDirectives,
  reuse,
  usableOnError,
  varyFields,
  type Stored,
} from '../../../../shared/cache/policy.js';
import type { HeaderMap } from '../../../../shared/http/headers.js';

const options = { heuristicFraction: 0.1, heuristicMaxSec: 86_400 };
const now = Date.UTC(2026, 0, 1);

function facts(headers: HeaderMap, status = 200, requestHeaders: HeaderMap = {}) {
  return {
    method: 'GET',
    status,
    requestHeaders,
    responseHeaders: headers,
    requestTimeMs: now,
    responseTimeMs: now,
  };
}

function lifetimeOf(headers: HeaderMap, status = 200): number {
  const { directives, targeted } = cacheDirectives(headers);
  return freshness(facts(headers, status), directives, targeted, options).lifetimeSec;
}

test('freshness lifetime: s-maxage, then max-age, then Expires - Date, then heuristic', () => {
  const date = new Date(now).toUTCString();
  assert.equal(lifetimeOf({ 'cache-control': 'max-age=10, s-maxage=20' }), 20);
  assert.equal(
    lifetimeOf({ 'cache-control': 'max-age=10', expires: new Date(now + 99e3).toUTCString() }),
    10,
  );
  assert.equal(lifetimeOf({ date, expires: new Date(now + 30e3).toUTCString() }), 30);
  assert.equal(lifetimeOf({ date, expires: '0' }), 0);
  assert.equal(lifetimeOf({ date, 'last-modified': new Date(now - 1000e3).toUTCString() }), 100);
  // heuristic freshness only for statuses cacheable by default
  assert.equal(lifetimeOf({ date, 'last-modified': new Date(now - 1000e3).toUTCString() }, 302), 0);
  assert.equal(lifetimeOf({ 'cache-control': 'no-cache, max-age=60' }), 0);
});

test('CDN-Cache-Control overrides Cache-Control and Expires; an invalid one is ignored', () => {
  assert.equal(lifetimeOf({ 'cache-control': 'max-age=5', 'cdn-cache-control': 'max-age=500' }), 500);
  assert.equal(lifetimeOf({ 'cache-control': 'max-age=5', 'cdn-cache-control': 'Max-Age=500' }), 5);
  const { directives } = cacheDirectives({ 'cache-control': 'no-store', 'cdn-cache-control': 'max-age=1' });
  assert.equal(noStoreReason(facts({}), directives, false, false), undefined);
});

test('storability: method, status, no-store, private, Authorization, Vary: *, must-understand', () => {
  const cc = (v: string) => cacheDirectives({ 'cache-control': v }).directives;
  assert.equal(noStoreReason({ ...facts({}), method: 'POST' }, cc(''), false, false), 'method');
  assert.equal(noStoreReason(facts({}, 206), cc('max-age=5'), false, false), 'status');
  assert.equal(noStoreReason(facts({}), cc('no-store'), false, false), 'no-store');
  assert.equal(noStoreReason(facts({}), cc('private'), false, false), 'private');
  assert.equal(
    noStoreReason(facts({}, 200, { authorization: 'x' }), cc('max-age=5'), false, false),
    'authorization',
  );
  assert.equal(noStoreReason(facts({}, 200, { authorization: 'x' }), cc('public'), false, false), undefined);
  assert.equal(noStoreReason(facts({ vary: 'a, *' }), cc(''), false, false), 'vary-star');
  assert.equal(noStoreReason(facts({}), cc('must-understand, no-store'), false, false), undefined);
  assert.equal(noStoreReason(facts({}, 299), cc('must-understand, no-store'), false, false), 'status');
  assert.equal(noStoreReason(facts({}), cc(''), false, true), 'request-no-store');
});

test('RFC 9111 §5.1: a list-valued Age uses its first member; an invalid Age is ignored', () => {
  assert.equal(ageValue(undefined), 0);
  assert.equal(ageValue('30'), 30);
  assert.equal(ageValue('0, 7200'), 0);
  assert.equal(ageValue('7200, 0'), 7200);
  assert.equal(ageValue(['0', '7200']), 0);
  assert.equal(ageValue(['3600', '3600']), 3600);
  assert.equal(ageValue('2147483649'), 2 ** 31);
  for (const bad of ['1.5', '-1', 'abc', '7200.0', '7200;foo=bar', '']) assert.equal(ageValue(bad), 0);
});

test('RFC 9111 §5.1: an invalid Age leaves the response fresh for its max-age', () => {
  for (const age of ['abc', '-7200', '7200.0'])
    assert.equal(lifetimeOf({ 'cache-control': 'max-age=3600', age }), 3600);
  const headers = { 'cache-control': 'max-age=3600', age: '0, 7200' };
  const f = freshness(facts(headers), cacheDirectives(headers).directives, false, options);
  assert.equal(f.initialAgeSec, 0);
});

test('initial age is the larger of apparent age and Age plus response delay', () => {
  const headers = { date: new Date(now - 50_000).toUTCString(), age: '10', 'cache-control': 'max-age=100' };
  const f = freshness(
    { ...facts(headers), requestTimeMs: now - 2000, responseTimeMs: now },
    cacheDirectives(headers).directives,
    false,
    options,
  );
  assert.equal(f.initialAgeSec, 50);
});

function stored(over: Partial<Stored> = {}): Stored {
  return {
    initialAgeSec: 0,
    lifetimeSec: 10,
    staleWhileRevalidateSec: 0,
    staleIfErrorSec: 0,
    mustRevalidate: false,
    responseTimeMs: now,
    invalidated: false,
    ...over,
  };
}

test('reuse: fresh, stale-while-revalidate, max-stale, and what forces revalidation', () => {
  const none = requestDirectives({});
  assert.equal(reuse(stored(), none, currentAge(stored(), now + 5000)), 'fresh');
  assert.equal(reuse(stored(), none, 11), 'revalidate');
  assert.equal(reuse(stored({ staleWhileRevalidateSec: 5 }), none, 12), 'stale-while-revalidate');
  assert.equal(reuse(stored(), requestDirectives({ 'cache-control': 'max-stale=5' }), 12), 'stale');
  assert.equal(
    reuse(stored({ mustRevalidate: true }), requestDirectives({ 'cache-control': 'max-stale' }), 12),
    'revalidate',
  );
  assert.equal(reuse(stored(), requestDirectives({ pragma: 'no-cache' }), 1), 'revalidate');
  assert.equal(reuse(stored(), requestDirectives({ 'cache-control': 'min-fresh=5' }), 6), 'revalidate');
  assert.equal(reuse(stored({ invalidated: true }), none, 1), 'revalidate');
});

test('usableOnError: within stale-if-error from the response or the request, never with must-revalidate', () => {
  const none = requestDirectives({});
  assert.equal(usableOnError(stored({ staleIfErrorSec: 30 }), none, 20), true);
  assert.equal(usableOnError(stored({ staleIfErrorSec: 30 }), none, 50), false);
  assert.equal(
    usableOnError(stored(), requestDirectives({ 'cache-control': 'stale-if-error=30' }), 20),
    true,
  );
  assert.equal(usableOnError(stored({ staleIfErrorSec: 30, mustRevalidate: true }), none, 20), false);
});

test('varyFields: lowercased, deduplicated, empty members dropped, * wins', () => {
  assert.deepEqual(varyFields(' Accept-Encoding ,, accept-encoding, X-A'), ['accept-encoding', 'x-a']);
  assert.equal(varyFields(['a', '*']), '*');
  assert.deepEqual(varyFields(''), []);
});

test('RFC 9111 §5.3: an Expires that is not a valid HTTP-date means already expired', () => {
  const date = new Date(now).toUTCString();
  for (const expires of [
    'Thu, 18 Aug 2050 02:01:18 UTC',
    'Thu 18 Aug 2050 02:01:18 GMT',
    'Thu, 18  Aug  2050 02:01:18 GMT',
    'Thu, 18-Aug-2050 02:01:18 GMT',
    'Thu, 18 Aug 2050 2:01:18 GMT',
    ['Thu, 18 Aug 2050 02:01:18 GMT', 'Thu, 18 Aug 2050 02:01:19 GMT'],
  ])
    assert.equal(lifetimeOf({ date, expires }), 0, String(expires));
  assert.ok(lifetimeOf({ date, expires: 'Thursday, 18-Aug-50 02:01:18 GMT' }) > 0);
  assert.ok(lifetimeOf({ date, expires: 'Thu Aug 18 02:01:18 2050' }) > 0);
});
