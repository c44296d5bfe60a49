// HEAD from a cached GET, and Range requests (RFC 9110 §14) from cached full objects.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ok, startOrigin } from '../helpers/origin.js';
import { startEdge } from '../helpers/edge.js';

const body = '0123456789abcdefghij';

test('HEAD is served from a cached GET with the same headers and no body', async (t) => {
  const origin = await startOrigin(t, ok({ 'cache-control': 'max-age=60', 'x-a': '1' }, body));
  const edge = await startEdge(t, origin.url);
  await edge.get('/h');
  const head = await edge.get('/h', {}, 'HEAD');
  assert.equal(head.status, 200);
  assert.equal(head.body, '');
  assert.equal(head.headers['content-length'], '20');
  assert.equal(head.headers['x-a'], '1');
  assert.match(head.cacheStatus, /hit/);
  assert.equal(origin.requests.length, 1);
});

test('a HEAD miss fills the cache with a GET', async (t) => {
  const origin = await startOrigin(t, ok({ 'cache-control': 'max-age=60' }, body));
  const edge = await startEdge(t, origin.url);
  const head = await edge.get('/hm', {}, 'HEAD');
  assert.equal(head.body, '');
  assert.equal(origin.requests[0].method, 'GET');
  const get = await edge.get('/hm');
  assert.equal(get.body, body);
  assert.match(get.cacheStatus, /hit/);
});

test('a single byte range is served as 206 from a cached object', async (t) => {
  const origin = await startOrigin(t, ok({ 'cache-control': 'max-age=60', etag: '"e"' }, body));
  const edge = await startEdge(t, origin.url);
  await edge.get('/r');
  const cases: [string, string, string][] = [
    ['bytes=0-3', '0123', 'bytes 0-3/20'],
    ['bytes=10-', 'abcdefghij', 'bytes 10-19/20'],
    ['bytes=-5', 'fghij', 'bytes 15-19/20'],
    ['bytes=18-100', 'ij', 'bytes 18-19/20'],
  ];
  for (const [range, expected, contentRange] of cases) {
    const res = await edge.get('/r', { range });
    assert.equal(res.status, 206, range);
    assert.equal(res.body, expected, range);
    assert.equal(res.headers['content-range'], contentRange);
    assert.equal(res.headers['content-length'], String(expected.length));
  }
  assert.equal(origin.requests.length, 1);
});

test('an unsatisfiable range gets 416; an invalid or multiple range gets the full 200', async (t) => {
  const origin = await startOrigin(t, ok({ 'cache-control': 'max-age=60' }, body));
  const edge = await startEdge(t, origin.url);
  await edge.get('/u');
  const unsat = await edge.get('/u', { range: 'bytes=50-60' });
  assert.equal(unsat.status, 416);
  assert.equal(unsat.headers['content-range'], 'bytes */20');
  assert.equal((await edge.get('/u', { range: 'bytes=0-1,5-6' })).status, 200);
  assert.equal((await edge.get('/u', { range: 'items=0-1' })).status, 200);
  assert.equal((await edge.get('/u', { range: 'bytes=5-2' })).status, 200);
});

test('If-Range: a matching strong ETag gives 206, anything else the full body', async (t) => {
  const origin = await startOrigin(t, ok({ 'cache-control': 'max-age=60', etag: '"e1"' }, body));
  const edge = await startEdge(t, origin.url);
  await edge.get('/ir');
  assert.equal((await edge.get('/ir', { range: 'bytes=0-1', 'if-range': '"e1"' })).status, 206);
  assert.equal((await edge.get('/ir', { range: 'bytes=0-1', 'if-range': '"e2"' })).status, 200);
});

test('a range for an object not cached is passed upstream and its 206 is not stored', async (t) => {
  const origin = await startOrigin(t, (req, res) => {
    if (req.headers.range) {
      res.writeHead(206, {
        'content-range': 'bytes 0-1/20',
        'cache-control': 'max-age=60',
        'content-length': '2',
      });
      res.end('01');
    } else ok({ 'cache-control': 'max-age=60' }, body)(req, res, 0, '');
  });
  const edge = await startEdge(t, origin.url);
  const partial = await edge.get('/p', { range: 'bytes=0-1' });
  assert.equal(partial.status, 206);
  assert.equal(origin.requests[0].headers.range, 'bytes=0-1');
  const full = await edge.get('/p');
  assert.equal(full.status, 200);
  assert.equal(full.body, body);
  assert.equal(origin.requests.length, 2);
});
