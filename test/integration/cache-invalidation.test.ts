// Invalidation on unsafe methods (RFC 9111 §4.4).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ok, startOrigin } from '../helpers/origin.js';
import { metric, startEdge } from '../helpers/edge.js';

test('a successful POST invalidates the target URI and same-origin Location / Content-Location', async (t) => {
  const origin = await startOrigin(t, (req, res, n) => {
    if (req.method === 'POST') {
      res.writeHead(201, {
        location: '/items/2',
        'content-location': 'http://other.test/x',
        'content-length': '0',
      });
      res.end();
    } else ok({ 'cache-control': 'max-age=60' })(req, res, n, '');
  });
  const edge = await startEdge(t, origin.url);
  for (const p of ['/items', '/items/2', '/x']) await edge.get(p);
  const post = await edge.get('/items', { 'content-type': 'text/plain' }, 'POST');
  assert.equal(post.status, 201);
  assert.match(post.cacheStatus, /fwd=method; fwd-status=201/);
  assert.match((await edge.get('/items')).cacheStatus, /fwd=uri-miss/);
  assert.match((await edge.get('/items/2')).cacheStatus, /fwd=uri-miss/);
  // Content-Location on another origin is not invalidated
  assert.match((await edge.get('/x')).cacheStatus, /hit/);
  assert.equal(metric(await edge.metrics(), 'strata_cache_invalidations_total'), 2);
});

for (const method of ['PUT', 'DELETE', 'PATCH']) {
  test(`a successful ${method} invalidates every variant of the target`, async (t) => {
    const origin = await startOrigin(t, (req, res, n) => {
      if (req.method !== 'GET') {
        res.writeHead(204);
        res.end();
      } else ok({ 'cache-control': 'max-age=60', vary: 'x-v' })(req, res, n, '');
    });
    const edge = await startEdge(t, origin.url);
    await edge.get('/t', { 'x-v': '1' });
    await edge.get('/t', { 'x-v': '2' });
    await edge.get('/t', {}, method);
    assert.doesNotMatch((await edge.get('/t', { 'x-v': '1' })).cacheStatus, /; hit/);
    assert.doesNotMatch((await edge.get('/t', { 'x-v': '2' })).cacheStatus, /; hit/);
  });
}

test('an unsafe method answered with an error does not invalidate', async (t) => {
  const origin = await startOrigin(t, (req, res, n) => {
    if (req.method === 'POST') {
      res.writeHead(500, { 'content-length': '0' });
      res.end();
    } else ok({ 'cache-control': 'max-age=60' })(req, res, n, '');
  });
  const edge = await startEdge(t, origin.url);
  await edge.get('/e');
  await edge.get('/e', {}, 'POST');
  assert.match((await edge.get('/e')).cacheStatus, /hit/);
});

test('POST bodies reach the origin and are never served from cache', async (t) => {
  const origin = await startOrigin(t, (_req, res, n, body) => {
    res.writeHead(200, { 'cache-control': 'max-age=60', 'content-length': String(body.length + 2) });
    res.end(`${n}:${body}`);
  });
  const edge = await startEdge(t, origin.url);
  const { request } = await import('undici');
  const a = await request(`${edge.url}/p`, { method: 'POST', body: 'hello' });
  assert.equal(await a.body.text(), '1:hello');
  const b = await request(`${edge.url}/p`, { method: 'POST', body: 'again' });
  assert.equal(await b.body.text(), '2:again');
});
