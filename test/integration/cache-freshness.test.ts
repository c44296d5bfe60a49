// RFC 9111 storage and freshness, each rule tested against a real origin through a real edge.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ok, startOrigin } from '../helpers/origin.js';
import { metric, startEdge } from '../helpers/edge.js';

test('a fresh max-age response is stored on a miss and served as a hit', async (t) => {
  const origin = await startOrigin(t, ok({ 'cache-control': 'max-age=60' }));
  const edge = await startEdge(t, origin.url);
  const first = await edge.get('/a');
  assert.equal(first.status, 200);
  assert.match(first.cacheStatus, /^edge-test; fwd=uri-miss; fwd-status=200; stored/);
  edge.clock.advance(10);
  const second = await edge.get('/a');
  assert.equal(second.body, first.body);
  assert.match(second.cacheStatus, /^edge-test; hit; ttl=50$/);
  assert.equal(second.headers.age, '10');
  assert.equal(origin.requests.length, 1);
  const m = await edge.metrics();
  assert.equal(metric(m, 'strata_requests_total{outcome="hit",status="200"}'), 1);
  assert.equal(metric(m, 'strata_requests_total{outcome="miss",status="200"}'), 1);
  assert.equal(metric(m, 'strata_cache_objects{tier="memory"}'), 1);
});

test('a response past its max-age is fetched again', async (t) => {
  const origin = await startOrigin(t, ok({ 'cache-control': 'max-age=5' }));
  const edge = await startEdge(t, origin.url);
  await edge.get('/a');
  edge.clock.advance(6);
  const res = await edge.get('/a');
  assert.match(res.cacheStatus, /fwd=stale; fwd-status=200; stored/);
  assert.equal(origin.requests.length, 2);
});

for (const [name, cc] of [
  ['no-store', 'max-age=60, no-store'],
  ['private', 'private, max-age=60'],
] as const) {
  test(`Cache-Control: ${name} is never stored`, async (t) => {
    const origin = await startOrigin(t, ok({ 'cache-control': cc }));
    const edge = await startEdge(t, origin.url);
    const first = await edge.get('/a');
    assert.match(first.cacheStatus, new RegExp(`fwd=uri-miss; fwd-status=200; detail=${name}`));
    const second = await edge.get('/a');
    assert.match(second.cacheStatus, /fwd=bypass; fwd-status=200; detail=hit-for-pass/);
    assert.equal(origin.requests.length, 2);
  });
}

test('a response to a request with Authorization is stored only when s-maxage or public allows it', async (t) => {
  const origin = await startOrigin(t, ok({ 'cache-control': 'max-age=60' }));
  const edge = await startEdge(t, origin.url);
  await edge.get('/private', { authorization: 'Bearer x' });
  await edge.get('/private', { authorization: 'Bearer x' });
  assert.equal(origin.requests.length, 2);
  origin.handle(ok({ 'cache-control': 's-maxage=60' }));
  await edge.get('/shared', { authorization: 'Bearer x' });
  const hit = await edge.get('/shared', { authorization: 'Bearer y' });
  assert.match(hit.cacheStatus, /hit/);
  assert.equal(origin.requests.length, 3);
});

test('s-maxage takes precedence over max-age in a shared cache', async (t) => {
  const origin = await startOrigin(t, ok({ 'cache-control': 'max-age=1, s-maxage=100' }));
  const edge = await startEdge(t, origin.url);
  await edge.get('/a');
  edge.clock.advance(50);
  assert.match((await edge.get('/a')).cacheStatus, /hit; ttl=50/);
});

test('Expires gives freshness relative to Date; an invalid Expires means stale', async (t) => {
  const origin = await startOrigin(t, (req, res) => {
    const now = Date.now();
    const headers: Record<string, string> = { date: new Date(now).toUTCString() };
    headers.expires = req.url === '/valid' ? new Date(now + 100_000).toUTCString() : '0';
    res.writeHead(200, { ...headers, 'last-modified': new Date(now - 1000).toUTCString() });
    res.end('x');
  });
  const edge = await startEdge(t, origin.url);
  await edge.get('/valid');
  assert.match((await edge.get('/valid')).cacheStatus, /hit; ttl=(99|100)/);
  await edge.get('/invalid');
  assert.match((await edge.get('/invalid')).cacheStatus, /fwd=stale/);
});

test('heuristic freshness from Last-Modified for a status cacheable by default', async (t) => {
  const origin = await startOrigin(t, (_req, res) => {
    const now = Date.now();
    res.writeHead(200, {
      date: new Date(now).toUTCString(),
      'last-modified': new Date(now - 1000_000).toUTCString(),
    });
    res.end('x');
  });
  const edge = await startEdge(t, origin.url);
  await edge.get('/a');
  edge.clock.advance(50);
  assert.match((await edge.get('/a')).cacheStatus, /hit; ttl=(49|50)/);
});

test('a response with neither freshness nor a validator is never reused', async (t) => {
  const origin = await startOrigin(t, ok());
  const edge = await startEdge(t, origin.url);
  await edge.get('/a');
  const second = await edge.get('/a');
  assert.match(second.cacheStatus, /detail=(hit-for-pass|no-freshness)/);
  assert.equal(origin.requests.length, 2);
});

test('RFC 9213 §2.1: CDN-Cache-Control governs Strata over Cache-Control; §3: it is passed downstream', async (t) => {
  const origin = await startOrigin(
    t,
    ok({
      'cache-control': 'no-store',
      'cdn-cache-control': 'max-age=100',
      'surrogate-key': 'a b',
      'cache-tag': 'c',
    }),
  );
  const edge = await startEdge(t, origin.url);
  const first = await edge.get('/a');
  assert.equal(first.headers['cdn-cache-control'], 'max-age=100');
  assert.equal(first.headers['surrogate-key'], undefined);
  assert.equal(first.headers['cache-tag'], undefined);
  assert.equal(first.headers['cache-control'], 'no-store');
  const second = await edge.get('/a');
  assert.match(second.cacheStatus, /hit; ttl=100/);
  assert.equal(second.headers['cdn-cache-control'], 'max-age=100');
  assert.equal(origin.requests.length, 1);
  const stored = edge.node.store.variants('http://127.0.0.1:' + edge.node.http.port + '/a');
  assert.ok(stored && !(stored instanceof Promise));
  assert.deepEqual(stored[0].meta.tags, ['a', 'b', 'c']);
});

test('Surrogate-Control applies when CDN-Cache-Control is absent', async (t) => {
  const origin = await startOrigin(
    t,
    ok({ 'cache-control': 'max-age=1', 'surrogate-control': 'max-age=300' }),
  );
  const edge = await startEdge(t, origin.url);
  await edge.get('/a');
  edge.clock.advance(100);
  const res = await edge.get('/a');
  assert.match(res.cacheStatus, /hit; ttl=200/);
  assert.equal(res.headers['surrogate-control'], undefined);
});

test('Age from upstream counts toward the age of the stored response', async (t) => {
  const origin = await startOrigin(t, ok({ 'cache-control': 'max-age=100', age: '30' }));
  const edge = await startEdge(t, origin.url);
  await edge.get('/a');
  const res = await edge.get('/a');
  assert.equal(res.headers.age, '30');
  assert.match(res.cacheStatus, /ttl=(69|70)/);
});
