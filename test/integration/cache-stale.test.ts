// Serving stale: stale-while-revalidate and stale-if-error (RFC 5861), must-revalidate,
// and client request directives (RFC 9111 §5.2.1).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { ok, startOrigin } from '../helpers/origin.js';
import { startEdge } from '../helpers/edge.js';

test('stale-while-revalidate serves stale and revalidates once in the background', async (t) => {
  const origin = await startOrigin(t, ok({ 'cache-control': 'max-age=10, stale-while-revalidate=60' }, 'v1'));
  const edge = await startEdge(t, origin.url);
  await edge.get('/s');
  edge.clock.advance(20);
  origin.handle(ok({ 'cache-control': 'max-age=10, stale-while-revalidate=60' }, 'v2'));
  const [a, b] = await Promise.all([edge.get('/s'), edge.get('/s')]);
  assert.equal(a.body, 'v1');
  assert.equal(b.body, 'v1');
  assert.match(a.cacheStatus, /hit; ttl=-10; detail=stale-while-revalidate/);
  // the background fill lands; the next request sees the new body as a fresh hit
  while (origin.requests.length < 2 || edge.node.pipeline.fills.size > 0)
    await new Promise((r) => setImmediate(r));
  await new Promise((r) => setTimeout(r, 20));
  const after = await edge.get('/s');
  assert.equal(after.body, 'v2');
  assert.match(after.cacheStatus, /hit/);
  assert.equal(origin.requests.length, 2);
});

test('past the stale-while-revalidate window the request waits for the origin', async (t) => {
  const origin = await startOrigin(t, ok({ 'cache-control': 'max-age=10, stale-while-revalidate=5' }));
  const edge = await startEdge(t, origin.url);
  await edge.get('/w');
  edge.clock.advance(16);
  assert.match((await edge.get('/w')).cacheStatus, /fwd=stale/);
});

test("a site's staleWhileRevalidate serves stale while revalidating, but never what forbids stale", async (t) => {
  let version = 'v1';
  const origin = await startOrigin(t, (req, res) => {
    const cc = req.url === '/mr' ? 'max-age=10, must-revalidate' : 'max-age=10';
    res.writeHead(200, { 'cache-control': cc, 'content-length': '2' });
    res.end(version);
  });
  const edge = await startEdge(t, [], {
    sites: [{ hosts: ['*'], origins: [origin.url], staleWhileRevalidate: '1m' }],
  });
  await edge.get('/s');
  await edge.get('/mr');
  edge.clock.advance(20);
  version = 'v2';
  const stale = await edge.get('/s');
  assert.equal(stale.body, 'v1');
  assert.match(stale.cacheStatus, /hit; ttl=-10; detail=stale-while-revalidate/);
  while (origin.requests.length < 3 || edge.node.pipeline.fills.size > 0)
    await new Promise((r) => setImmediate(r));
  await new Promise((r) => setTimeout(r, 20));
  assert.match((await edge.get('/s')).cacheStatus, /hit; ttl=/);
  assert.equal((await edge.get('/s')).body, 'v2');
  // must-revalidate: the request waits for the origin.
  const mr = await edge.get('/mr');
  assert.equal(mr.body, 'v2');
  assert.match(mr.cacheStatus, /fwd=stale/);
  // Past the site's window (60 s after freshness ends) the request waits too.
  edge.clock.advance(100);
  assert.match((await edge.get('/s')).cacheStatus, /fwd=stale/);
});

test('stale-if-error serves stale when the origin answers 5xx or is unreachable', async (t) => {
  const origin = await startOrigin(t, ok({ 'cache-control': 'max-age=10, stale-if-error=60' }, 'good'));
  const edge = await startEdge(t, origin.url);
  await edge.get('/e');
  edge.clock.advance(20);
  origin.handle((_req, res) => {
    res.writeHead(503);
    res.end('down');
  });
  const on5xx = await edge.get('/e');
  assert.equal(on5xx.status, 200);
  assert.equal(on5xx.body, 'good');
  assert.match(on5xx.cacheStatus, /hit; fwd-status=503; ttl=-10; detail=stale-if-error/);
  await origin.close();
  const unreachable = await edge.get('/e');
  assert.equal(unreachable.body, 'good');
  assert.match(unreachable.cacheStatus, /detail=stale-if-error/);
  edge.clock.advance(60);
  const tooOld = await edge.get('/e');
  assert.equal(tooOld.status, 502);
});

test('without stale-if-error an origin error is passed on, never stale content', async (t) => {
  const origin = await startOrigin(t, ok({ 'cache-control': 'max-age=10' }, 'good'));
  const edge = await startEdge(t, origin.url);
  await edge.get('/n');
  edge.clock.advance(20);
  origin.handle((_req, res) => {
    res.writeHead(500, { 'content-length': '4' });
    res.end('oops');
  });
  const res = await edge.get('/n');
  assert.equal(res.status, 500);
  assert.equal(res.body, 'oops');
});

test("a site's staleIfError serves stale on origin errors for responses that did not say so", async (t) => {
  const origin = await startOrigin(t, ok({ 'cache-control': 'max-age=10' }, 'good'));
  const edge = await startEdge(t, [], {
    sites: [{ hosts: ['*'], origins: [origin.url], staleIfError: '1m' }],
  });
  await edge.get('/site');
  edge.clock.advance(20);
  origin.handle((_req, res) => {
    res.writeHead(503, { 'content-length': '4' });
    res.end('down');
  });
  const on5xx = await edge.get('/site');
  assert.equal(on5xx.status, 200);
  assert.equal(on5xx.body, 'good');
  assert.match(on5xx.cacheStatus, /hit; fwd-status=503; ttl=-10; detail=stale-if-error/);
  await origin.close();
  assert.equal((await edge.get('/site')).body, 'good', 'origin unreachable');
  // Past the site's window the error is passed on.
  edge.clock.advance(60);
  assert.equal((await edge.get('/site')).status, 502);
});

test("a site's staleIfError never serves what forbids stale (must-revalidate, s-maxage, no-cache)", async (t) => {
  const origin = await startOrigin(t, (req, res) => {
    const cc = { '/mr': 'max-age=10, must-revalidate', '/sm': 's-maxage=10', '/nc': 'no-cache' }[
      req.url ?? ''
    ];
    res.writeHead(200, { 'cache-control': cc ?? 'max-age=10', etag: '"v1"', 'content-length': '4' });
    res.end('good');
  });
  const edge = await startEdge(t, [], {
    sites: [{ hosts: ['*'], origins: [origin.url], staleIfError: '1h' }],
  });
  for (const path of ['/mr', '/sm', '/nc']) await edge.get(path);
  edge.clock.advance(20);
  await origin.close();
  for (const path of ['/mr', '/sm', '/nc']) assert.equal((await edge.get(path)).status, 502, path);
});

test('a client stale-if-error request directive allows stale on error', async (t) => {
  const origin = await startOrigin(t, ok({ 'cache-control': 'max-age=10' }, 'good'));
  const edge = await startEdge(t, origin.url);
  await edge.get('/c');
  edge.clock.advance(20);
  await origin.close();
  const res = await edge.get('/c', { 'cache-control': 'stale-if-error=60' });
  assert.equal(res.body, 'good');
});

test('must-revalidate forbids stale: max-stale and stale-if-error are ignored', async (t) => {
  const origin = await startOrigin(
    t,
    ok({ 'cache-control': 'max-age=10, must-revalidate, stale-if-error=60' }),
  );
  const edge = await startEdge(t, origin.url);
  await edge.get('/m');
  edge.clock.advance(20);
  await origin.close();
  assert.equal((await edge.get('/m', { 'cache-control': 'max-stale' })).status, 502);
});

test('must-revalidate does not force revalidation of a fresh response', async (t) => {
  const origin = await startOrigin(t, ok({ 'cache-control': 'max-age=60, must-revalidate' }));
  const edge = await startEdge(t, origin.url);
  await edge.get('/f');
  assert.match((await edge.get('/f')).cacheStatus, /hit/);
});

test('client max-stale accepts a stale response without going upstream', async (t) => {
  const origin = await startOrigin(t, ok({ 'cache-control': 'max-age=10' }));
  const edge = await startEdge(t, origin.url);
  await edge.get('/ms');
  edge.clock.advance(15);
  assert.match((await edge.get('/ms', { 'cache-control': 'max-stale=10' })).cacheStatus, /hit; ttl=-5/);
  assert.match(
    (await edge.get('/ms', { 'cache-control': 'max-stale=2' })).cacheStatus,
    /fwd=request|fwd=stale/,
  );
});

test('client no-cache, max-age=0 and Pragma: no-cache go upstream; min-fresh too', async (t) => {
  const origin = await startOrigin(t, ok({ 'cache-control': 'max-age=60' }));
  const edge = await startEdge(t, origin.url);
  await edge.get('/r');
  edge.clock.advance(5);
  assert.match((await edge.get('/r', { 'cache-control': 'no-cache' })).cacheStatus, /fwd=request/);
  assert.match((await edge.get('/r', { 'cache-control': 'max-age=0' })).cacheStatus, /fwd=request/);
  assert.match((await edge.get('/r', { pragma: 'no-cache' })).cacheStatus, /fwd=request/);
  edge.clock.advance(1);
  assert.match((await edge.get('/r', { 'cache-control': 'min-fresh=100' })).cacheStatus, /fwd=request/);
  assert.match((await edge.get('/r', { 'cache-control': 'max-age=30' })).cacheStatus, /hit/);
  assert.equal(origin.requests.length, 5);
});

test('a site may ignore client no-cache, as CDNs commonly do', async (t) => {
  const origin = await startOrigin(t, ok({ 'cache-control': 'max-age=60' }));
  const edge = await startEdge(t, origin.url, {
    sites: [{ hosts: ['*'], origins: [origin.url], ignoreClientNoCache: true }],
  });
  await edge.get('/i');
  assert.match((await edge.get('/i', { 'cache-control': 'no-cache' })).cacheStatus, /hit/);
  assert.match((await edge.get('/i', { pragma: 'no-cache' })).cacheStatus, /hit/);
  assert.equal(origin.requests.length, 1);
});

test('only-if-cached answers 504 when nothing usable is stored, and a hit otherwise', async (t) => {
  const origin = await startOrigin(t, ok({ 'cache-control': 'max-age=60' }));
  const edge = await startEdge(t, origin.url);
  assert.equal((await edge.get('/o', { 'cache-control': 'only-if-cached' })).status, 504);
  assert.equal(origin.requests.length, 0);
  await edge.get('/o');
  assert.equal((await edge.get('/o', { 'cache-control': 'only-if-cached' })).status, 200);
});

test('client no-store: the response is not stored', async (t) => {
  const origin = await startOrigin(t, ok({ 'cache-control': 'max-age=60' }));
  const edge = await startEdge(t, origin.url);
  await edge.get('/ns', { 'cache-control': 'no-store' });
  await edge.get('/ns');
  assert.equal(origin.requests.length, 2);
  void once;
});
