// Conditional requests: 304 from fresh entries, revalidation of stale ones, and 304 updates
// of stored headers (RFC 9111 §4.3).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ok, startOrigin } from '../helpers/origin.js';
import { startEdge } from '../helpers/edge.js';

test('If-None-Match and If-Modified-Since are answered with 304 from a fresh entry', async (t) => {
  const lm = 'Tue, 01 Jan 2030 00:00:00 GMT';
  const origin = await startOrigin(
    t,
    ok({ 'cache-control': 'max-age=60', etag: '"abc"', 'last-modified': lm }),
  );
  const edge = await startEdge(t, origin.url);
  await edge.get('/c');
  const inm = await edge.get('/c', { 'if-none-match': 'W/"abc", "zzz"' });
  assert.equal(inm.status, 304);
  assert.equal(inm.body, '');
  assert.equal(inm.headers.etag, '"abc"');
  assert.match(inm.cacheStatus, /hit/);
  assert.equal((await edge.get('/c', { 'if-none-match': '"other"' })).status, 200);
  assert.equal((await edge.get('/c', { 'if-modified-since': lm })).status, 304);
  assert.equal((await edge.get('/c', { 'if-modified-since': 'Mon, 01 Jan 2029 00:00:00 GMT' })).status, 200);
  // If-None-Match takes precedence over If-Modified-Since (RFC 9110 §13.2.2)
  assert.equal((await edge.get('/c', { 'if-none-match': '"other"', 'if-modified-since': lm })).status, 200);
  assert.equal(origin.requests.length, 1);
});

test('a client conditional on a miss is not forwarded; the full response is stored and the client gets 304', async (t) => {
  const origin = await startOrigin(t, ok({ 'cache-control': 'max-age=60', etag: '"abc"' }));
  const edge = await startEdge(t, origin.url);
  const first = await edge.get('/m', { 'if-none-match': '"abc"' });
  assert.equal(first.status, 304);
  assert.equal(origin.requests[0].headers['if-none-match'], undefined);
  const second = await edge.get('/m');
  assert.equal(second.status, 200);
  assert.match(second.cacheStatus, /hit/);
});

test('a stale entry is revalidated with its validators; a 304 refreshes headers and freshness', async (t) => {
  const origin = await startOrigin(
    t,
    ok({ 'cache-control': 'max-age=10', etag: '"v1"', 'x-version': 'one' }, 'payload'),
  );
  const edge = await startEdge(t, origin.url);
  await edge.get('/r');
  edge.clock.advance(11);
  origin.handle((_req, res) => {
    // Date follows the edge's manual clock, as a real origin's would follow real time.
    const date = new Date(edge.clock.nowMs).toUTCString();
    res.writeHead(304, { 'cache-control': 'max-age=100', etag: '"v1"', 'x-version': 'two', date });
    res.end();
  });
  const revalidated = await edge.get('/r');
  assert.equal(revalidated.status, 200);
  assert.equal(revalidated.body, 'payload');
  assert.equal(revalidated.headers['x-version'], 'two');
  assert.equal(revalidated.headers['content-length'], '7');
  assert.match(revalidated.cacheStatus, /fwd=stale; fwd-status=304/);
  assert.equal(origin.requests[1].headers['if-none-match'], '"v1"');
  edge.clock.advance(50);
  const hit = await edge.get('/r');
  assert.match(hit.cacheStatus, /hit; ttl=50/);
  assert.equal(hit.headers['x-version'], 'two');
  assert.equal(origin.requests.length, 2);
});

test('Last-Modified is sent as If-Modified-Since when there is no ETag', async (t) => {
  const lm = 'Tue, 01 Jan 2019 00:00:00 GMT';
  const origin = await startOrigin(t, ok({ 'cache-control': 'max-age=1', 'last-modified': lm }));
  const edge = await startEdge(t, origin.url);
  await edge.get('/lm');
  edge.clock.advance(2);
  await edge.get('/lm');
  assert.equal(origin.requests[1].headers['if-modified-since'], lm);
});

test('a stale entry replaced by a 200 on revalidation serves the new body', async (t) => {
  const origin = await startOrigin(t, ok({ 'cache-control': 'max-age=1', etag: '"v1"' }, 'old'));
  const edge = await startEdge(t, origin.url);
  await edge.get('/x');
  edge.clock.advance(2);
  origin.handle(ok({ 'cache-control': 'max-age=60', etag: '"v2"' }, 'new'));
  assert.equal((await edge.get('/x')).body, 'new');
  assert.equal((await edge.get('/x')).body, 'new');
  assert.equal(origin.requests.length, 2);
});

test('no-cache responses are stored but revalidated on every use', async (t) => {
  const origin = await startOrigin(t, ok({ 'cache-control': 'no-cache', etag: '"n"' }, 'body'));
  const edge = await startEdge(t, origin.url);
  await edge.get('/nc');
  origin.handle((_req, res) => {
    res.writeHead(304, { etag: '"n"', 'cache-control': 'no-cache' });
    res.end();
  });
  const second = await edge.get('/nc');
  assert.equal(second.body, 'body');
  assert.equal(origin.requests.length, 2);
  assert.equal(origin.requests[1].headers['if-none-match'], '"n"');
});
