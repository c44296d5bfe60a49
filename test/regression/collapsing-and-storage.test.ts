// Regressions found in review: each test is named after the bug it pins.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'undici';
import { ok, startOrigin } from '../helpers/origin.js';
import { metric, startEdge } from '../helpers/edge.js';
import { gate, until } from '../helpers/wait.js';

test('Accept-Encoding variants never hold a coding the key does not stand for', async (t) => {
  // An origin that answers zstd whatever it is asked for.
  const origin = await startOrigin(t, (_req, res) => {
    res.writeHead(200, {
      'cache-control': 'max-age=60',
      vary: 'Accept-Encoding',
      'content-encoding': 'zstd',
      'content-length': '4',
    });
    res.end('zzzz');
  });
  const edge = await startEdge(t, origin.url);
  const chrome = await edge.get('/y', { 'accept-encoding': 'gzip, deflate, br, zstd' });
  assert.match(chrome.cacheStatus, /detail=content-encoding/);
  assert.equal(
    origin.requests[0].headers['accept-encoding'],
    'br, gzip',
    'the origin is asked for the key codings',
  );
  const brOnly = await edge.get('/y', { 'accept-encoding': 'br' });
  assert.doesNotMatch(brOnly.cacheStatus, /; hit/);
});

test('a client that leaves before the head of an uncacheable response stops the upstream read', async (t) => {
  let upstreamClosed = false;
  const origin = await startOrigin(t, (_req, res) => {
    res.on('close', () => (upstreamClosed = true));
    setTimeout(() => {
      res.writeHead(200, { 'cache-control': 'no-store' });
      const timer = setInterval(() => res.write(Buffer.alloc(16 * 1024)), 5);
      res.on('close', () => clearInterval(timer));
    }, 200);
  });
  const edge = await startEdge(t, origin.url);
  const controller = new AbortController();
  const pending = request(`${edge.url}/stream`, { signal: controller.signal });
  await until(() => origin.requests.length === 1);
  controller.abort();
  await assert.rejects(pending);
  await until(() => upstreamClosed, 5000);
});

test('an unsafe request that succeeds while a GET fill runs keeps that fill from being stored', async (t) => {
  const hold = gate();
  let version = 'old';
  const origin = await startOrigin(t, (req, res) => {
    if (req.method === 'POST') {
      version = 'new';
      res.writeHead(204);
      res.end();
      return;
    }
    const body = version;
    const send = () => {
      res.writeHead(200, { 'cache-control': 'max-age=600', 'content-length': body.length });
      res.end(body);
    };
    if (body === 'old') void hold.promise.then(send);
    else send();
  });
  const edge = await startEdge(t, origin.url);
  const first = edge.get('/doc');
  await until(() => origin.requests.length === 1);
  await edge.get('/doc', {}, 'POST');
  hold.open();
  assert.equal((await first).body, 'old');
  const after = await edge.get('/doc');
  assert.equal(after.body, 'new');
});

test('a 500 with only a validator is not stored (RFC 9111 §3 needs explicit freshness)', async (t) => {
  const origin = await startOrigin(t, (_req, res) => {
    res.writeHead(500, { etag: '"e"', 'content-length': '4' });
    res.end('oops');
  });
  const edge = await startEdge(t, origin.url);
  assert.match((await edge.get('/e')).cacheStatus, /fwd-status=500; detail=status/);
  assert.doesNotMatch((await edge.get('/e', { 'cache-control': 'max-stale' })).cacheStatus, /; hit/);
  assert.equal(origin.requests.length, 2);
});

test("one request's no-store does not switch collapsing off for the URL", async (t) => {
  const origin = await startOrigin(t, ok({ 'cache-control': 'max-age=60' }));
  const edge = await startEdge(t, origin.url);
  const first = await edge.get('/h', { 'cache-control': 'no-store' });
  assert.match(first.cacheStatus, /detail=request-no-store/);
  const second = await edge.get('/h');
  assert.doesNotMatch(second.cacheStatus, /hit-for-pass/);
  assert.match(second.cacheStatus, /fwd=uri-miss; fwd-status=200; stored/);
});

test('hit-for-pass bypasses are not counted again as responses not stored (issue 14)', async (t) => {
  const origin = await startOrigin(t, (_req, res) => {
    res.writeHead(200, { 'cache-control': 'no-store', 'content-length': '2' });
    res.end('ok');
  });
  const edge = await startEdge(t, origin.url);
  assert.match((await edge.get('/n')).cacheStatus, /fwd=uri-miss; fwd-status=200; detail=no-store$/);
  for (let i = 0; i < 3; i++)
    assert.match((await edge.get('/n')).cacheStatus, /fwd=bypass; fwd-status=200; detail=hit-for-pass$/);
  assert.equal(origin.requests.length, 4);
  const m = await edge.metrics();
  assert.equal(
    metric(m, 'strata_cache_not_stored_total{reason="no-store"}'),
    1,
    'one fill found it uncacheable',
  );
  assert.equal(metric(m, 'strata_cache_hit_for_pass_total'), 3);
  assert.equal(metric(m, 'strata_requests_total{outcome="pass",status="200"}'), 3);
  assert.equal(metric(m, 'strata_requests_total{outcome="miss",status="200"}'), 1);
});
