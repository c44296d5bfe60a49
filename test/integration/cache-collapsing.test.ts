// Request collapsing, hit-for-pass, streaming of misses while they are stored, and the fill budget.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'undici';
import { startOrigin } from '../helpers/origin.js';
import { metric, startEdge } from '../helpers/edge.js';
import { gate, until } from '../helpers/wait.js';
import { metricSum } from '../helpers/metrics.js';

async function collapsedCount(edge: Awaited<ReturnType<typeof startEdge>>): Promise<number> {
  return metric(await edge.metrics(), 'strata_collapsed_requests_total');
}

test('concurrent misses for one object make one upstream request and all get the body', async (t) => {
  const release = gate();
  const origin = await startOrigin(t, (_req, res) => {
    void release.promise.then(() => {
      res.writeHead(200, { 'cache-control': 'max-age=60', 'content-length': '4' });
      res.end('once');
    });
  });
  const edge = await startEdge(t, origin.url);
  const first = edge.get('/c');
  await until(() => origin.requests.length === 1);
  const others = Array.from({ length: 9 }, () => edge.get('/c'));
  await until(async () => (await collapsedCount(edge)) === 9);
  release.open();
  const all = await Promise.all([first, ...others]);
  assert.equal(origin.requests.length, 1);
  for (const r of all) assert.equal(r.body, 'once');
  assert.equal(all.filter((r) => /collapsed/.test(r.cacheStatus)).length, 9);
  assert.match(all[0].cacheStatus, /fwd=uri-miss; fwd-status=200; stored$/);
});

test('waiters on an uncacheable response go upstream themselves, then the URL is hit-for-pass', async (t) => {
  const release = gate();
  const origin = await startOrigin(t, (_req, res, n) => {
    void release.promise.then(() => {
      res.writeHead(200, { 'cache-control': 'private', 'content-length': String(String(n).length) });
      res.end(String(n));
    });
  });
  const edge = await startEdge(t, origin.url);
  const first = edge.get('/p');
  await until(() => origin.requests.length === 1);
  const waiters = [edge.get('/p'), edge.get('/p')];
  await until(async () => (await collapsedCount(edge)) === 2);
  release.open();
  const bodies = (await Promise.all([first, ...waiters])).map((r) => r.body).sort();
  assert.deepEqual(bodies, ['1', '2', '3']);
  // now known uncacheable: concurrent requests no longer wait on each other
  const [a, b] = await Promise.all([edge.get('/p'), edge.get('/p')]);
  assert.match(a.cacheStatus, /fwd=bypass; fwd-status=200; detail=hit-for-pass/);
  assert.match(b.cacheStatus, /detail=hit-for-pass/);
  assert.equal(await collapsedCount(edge), 2);
});

test('a miss streams to the client as bytes arrive, and a late waiter gets the whole body', async (t) => {
  const release = gate();
  const origin = await startOrigin(t, (_req, res) => {
    res.writeHead(200, { 'cache-control': 'max-age=60', 'content-length': '10' });
    res.write('first');
    void release.promise.then(() => res.end('-last'));
  });
  const edge = await startEdge(t, origin.url);
  const res = await request(`${edge.url}/s`);
  const reader = res.body[Symbol.asyncIterator]();
  const firstChunk = await reader.next();
  assert.equal(String(firstChunk.value), 'first');
  // a second client joins mid-stream: it is replayed what arrived, then follows live
  const late = edge.get('/s');
  await until(async () => (await collapsedCount(edge)) === 1);
  release.open();
  let rest = '';
  for (let r = await reader.next(); !r.done; r = await reader.next()) rest += String(r.value);
  assert.equal(rest, '-last');
  assert.equal((await late).body, 'first-last');
  assert.match((await edge.get('/s')).cacheStatus, /hit/);
  assert.equal(origin.requests.length, 1);
});

test('an object larger than maxObjectBytes passes through uncached (with and without Content-Length)', async (t) => {
  const big = 'x'.repeat(5000);
  const origin = await startOrigin(t, (req, res) => {
    const headers: Record<string, string> = { 'cache-control': 'max-age=60' };
    if (req.url === '/with-length') headers['content-length'] = String(big.length);
    res.writeHead(200, headers);
    res.write(big.slice(0, 2500));
    res.end(big.slice(2500));
  });
  const edge = await startEdge(t, origin.url, {
    cache: { memory: { maxBytes: '1MiB', maxObjectBytes: 4096 } },
  });
  for (const path of ['/with-length', '/chunked']) {
    const first = await edge.get(path);
    assert.equal(first.body, big);
    const second = await edge.get(path);
    assert.equal(second.body, big);
    assert.doesNotMatch(second.cacheStatus, /; hit/);
  }
  assert.equal(origin.requests.length, 4);
  const m = await edge.metrics();
  // Each path's first fill found it too large; its second request was a hit-for-pass bypass.
  assert.equal(metric(m, 'strata_cache_not_stored_total{reason="too-large"}'), 2);
  assert.equal(metric(m, 'strata_cache_hit_for_pass_total'), 2);
});

test('an upstream body that breaks off is never stored and the client sees a cut connection', async (t) => {
  const origin = await startOrigin(t, (_req, res, n) => {
    if (n === 1) {
      res.writeHead(200, { 'cache-control': 'max-age=60', 'content-length': '100' });
      res.write('partial');
      setImmediate(() => res.socket?.destroy());
    } else {
      res.writeHead(200, { 'cache-control': 'max-age=60', 'content-length': '4' });
      res.end('full');
    }
  });
  const edge = await startEdge(t, origin.url);
  await assert.rejects(edge.get('/a'));
  const second = await edge.get('/a');
  assert.equal(second.body, 'full');
  assert.match(second.cacheStatus, /fwd=uri-miss/);
  assert.equal(origin.requests.length, 2);
});

test('regression: a request joining a revalidation of another variant gets its own variant', async (t) => {
  const release = gate();
  const origin = await startOrigin(t, (req, res, n) => {
    const send = () => {
      const body = `v=${String(req.headers['x-v'])} n=${n}`;
      res.writeHead(200, {
        'cache-control': 'max-age=10',
        vary: 'x-v',
        etag: '"e"',
        'content-length': body.length,
      });
      res.end(body);
    };
    // the revalidation of variant 1 is answered 304, once the test releases it
    const notModified = () => {
      res.writeHead(304, { 'cache-control': 'max-age=10', vary: 'x-v', etag: '"e"' });
      res.end();
    };
    if (n === 2) void release.promise.then(notModified);
    else send();
  });
  const edge = await startEdge(t, origin.url);
  await edge.get('/v', { 'x-v': '1' });
  edge.clock.advance(20);
  const revalidating = edge.get('/v', { 'x-v': '1' });
  await until(() => origin.requests.length === 2);
  const other = edge.get('/v', { 'x-v': '2' });
  await until(async () => (await collapsedCount(edge)) === 1);
  release.open();
  assert.match((await revalidating).body, /^v=1 /);
  assert.match((await other).body, /^v=2 /);
});

test('fills share cache.maxFillBytes: a response that does not fit streams without being stored', async (t) => {
  const size = 768 * 1024;
  const body = Buffer.alloc(size, 'f');
  const held = 700 * 1024;
  const finishA = gate();
  const origin = await startOrigin(t, (req, res) => {
    const headers: Record<string, string> = { 'cache-control': 'max-age=60' };
    // /c has no Content-Length (chunked): it can only find out mid-way that it does not fit.
    if (req.url !== '/c') headers['content-length'] = String(size);
    res.writeHead(200, headers);
    if (req.url !== '/a') return void res.end(body);
    res.write(body.subarray(0, held));
    void finishA.promise.then(() => res.end(body.subarray(held)));
  });
  const edge = await startEdge(t, origin.url, {
    cache: { maxFillBytes: '1MiB', memory: { maxBytes: '64MiB', maxObjectBytes: '1MiB' } },
  });
  const a = edge.get('/a');
  await until(async () => metric(await edge.metrics(), 'strata_fill_bytes') >= held);
  // 700 KiB of the 1 MiB budget are held by /a: /b (768 KiB announced) is not stored, and says so.
  const b = await edge.get('/b');
  assert.equal(b.body.length, size);
  assert.match(b.cacheStatus, /fwd=uri-miss; fwd-status=200; detail=fill-budget$/);
  // /c finds out when its chunks pass the budget: its client still gets every byte.
  const c = await edge.get('/c');
  assert.equal(c.body, body.toString());
  finishA.open();
  assert.match((await a).cacheStatus, /stored$/);
  const m = await edge.metrics();
  assert.equal(metric(m, 'strata_fill_bytes'), 0);
  assert.equal(metricSum(m, 'strata_cache_not_stored_total', { reason: 'fill-budget' }), 2);
  // The budget is free again, and the URLs were not made hit-for-pass.
  assert.match((await edge.get('/b')).cacheStatus, /fwd=uri-miss; fwd-status=200; stored$/);
  assert.match((await edge.get('/c')).cacheStatus, /fwd=uri-miss; fwd-status=200; stored$/);
  assert.match((await edge.get('/b')).cacheStatus, /; hit; /);
  assert.equal((await edge.get('/a')).body.length, size);
});
