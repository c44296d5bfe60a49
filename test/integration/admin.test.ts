// The admin listener: liveness, readiness through a graceful stop, and Prometheus metrics
// that reflect what the edge did.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'undici';
import { ok, startOrigin } from '../helpers/origin.js';
import { startEdge } from '../helpers/edge.js';
import { metricSum } from '../helpers/metrics.js';
import { rawConnect } from '../helpers/raw.js';
import { until } from '../helpers/wait.js';

/** An origin whose /slow response waits for release(); resolves `arrived` when /slow comes in. */
async function slowOrigin(t: Parameters<typeof startOrigin>[0]) {
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  let arrive!: () => void;
  const arrived = new Promise<void>((resolve) => (arrive = resolve));
  const origin = await startOrigin(t, (req, res, n, body) => {
    if (req.url !== '/slow') return ok({ 'cache-control': 'max-age=60' })(req, res, n, body);
    arrive();
    void released.then(() => {
      res.writeHead(200, { 'content-length': '4', 'cache-control': 'max-age=60' });
      res.end('slow');
    });
  });
  return { origin, release, arrived };
}

test('/healthz answers 200; HEAD too', async (t) => {
  const origin = await startOrigin(t);
  const edge = await startEdge(t, origin.url);
  const res = await request(`${edge.adminUrl}/healthz`);
  assert.equal(res.statusCode, 200);
  assert.equal(await res.body.text(), 'ok\n');
  assert.equal(res.headers['cache-control'], 'no-store');
  const head = await request(`${edge.adminUrl}/healthz`, { method: 'HEAD' });
  await head.body.text();
  assert.equal(head.statusCode, 200);
  assert.equal(origin.requests.length, 0);
});

test('/readyz is 200 once started and 503 as soon as a graceful stop begins', async (t) => {
  const { origin, release, arrived } = await slowOrigin(t);
  const edge = await startEdge(t, origin.url);
  assert.equal((await request(`${edge.adminUrl}/readyz`)).statusCode, 200);
  const inFlight = request(`${edge.url}/slow`);
  await arrived;
  const stopped = edge.node.stop(10_000);
  // Draining: not ready, but still alive and still finishing the request in flight.
  const ready = await request(`${edge.adminUrl}/readyz`);
  assert.equal(ready.statusCode, 503);
  // The first line says it; the lines after are details (the purge bus's state).
  assert.match(await ready.body.text(), /^not ready\npurge: in-process bus up; applied through \d+-\d+\n$/);
  assert.equal((await request(`${edge.adminUrl}/healthz`)).statusCode, 200);
  release();
  const res = await inFlight;
  assert.equal(res.statusCode, 200);
  assert.equal(await res.body.text(), 'slow');
  await stopped;
  assert.equal(origin.requests.length, 1);
});

test('a graceful stop closes an idle keep-alive connection once its in-flight response is done', async (t) => {
  // Regression: the drain used to wait for the client to close its keep-alive connection.
  const { origin, release, arrived } = await slowOrigin(t);
  const edge = await startEdge(t, origin.url);
  const conn = await rawConnect(edge.node.http.port);
  t.after(() => conn.close());
  const response = conn.send('GET /slow HTTP/1.1\r\nHost: a.test\r\n\r\n');
  await arrived;
  const stopped = edge.node.stop(60_000);
  release();
  const res = await response;
  assert.equal(res.status, 200);
  assert.equal(res.body, 'slow');
  // The response was already under way: the server closes the connection rather than keep it.
  await conn.closed;
  await stopped;
  assert.equal(origin.requests.length, 1);
});

test('/metrics exposes requests by outcome and status, bytes, upstream latency, cache size and collapsing', async (t) => {
  const { origin, release, arrived } = await slowOrigin(t);
  const edge = await startEdge(t, origin.url);
  await edge.get('/a'); // miss, stored
  await edge.get('/a'); // hit
  await edge.get('/b', {}, 'POST'); // pass
  await edge.get('/nothing', { host: '' }).catch(() => undefined);
  // Three concurrent misses for /slow: one upstream request, two collapsed onto it.
  const slow = [edge.get('/slow')];
  await arrived;
  slow.push(edge.get('/slow'), edge.get('/slow'));
  while ((await edge.node.metrics.collapsed.get()).values[0]?.value !== 2)
    await new Promise((resolve) => setImmediate(resolve));
  release();
  for (const res of await Promise.all(slow)) assert.equal(res.body, 'slow');
  assert.equal(origin.requests.length, 3, '/a, /b and one /slow');

  const res = await request(`${edge.adminUrl}/metrics`);
  assert.equal(res.statusCode, 200);
  assert.match(String(res.headers['content-type']), /^text\/plain; version=0\.0\.4/);
  const m = await res.body.text();
  assert.match(m, /^# HELP strata_requests_total /m);
  assert.equal(metricSum(m, 'strata_requests_total', { outcome: 'hit', status: '200' }), 1);
  assert.equal(metricSum(m, 'strata_requests_total', { outcome: 'miss', status: '200' }), 4);
  assert.equal(metricSum(m, 'strata_requests_total', { outcome: 'pass', status: '200' }), 1);
  assert.equal(metricSum(m, 'strata_response_bytes_total', { outcome: 'hit' }), 'body 1 for /a'.length);
  assert.equal(
    metricSum(m, 'strata_response_bytes_total', { outcome: 'miss' }),
    'body 1 for /a'.length + 3 * 'slow'.length,
  );
  assert.equal(metricSum(m, 'strata_upstream_duration_seconds_count', { status_class: '2xx' }), 3);
  assert.equal(
    metricSum(m, 'strata_upstream_duration_seconds_bucket', { status_class: '2xx', le: '+Inf' }),
    3,
  );
  // The sum is not checked: the pipeline times upstream requests with the injected (manual) clock.
  assert.match(m, /^strata_upstream_duration_seconds_sum\{status_class="2xx"\} /m);
  assert.equal(metricSum(m, 'strata_cache_objects', { tier: 'memory' }), 2);
  assert.ok(metricSum(m, 'strata_cache_bytes', { tier: 'memory' }) > 'body 1 for /a'.length + 'slow'.length);
  assert.equal(metricSum(m, 'strata_collapsed_requests_total'), 2);
  assert.match(m, /^# TYPE strata_upstream_errors_total counter/m);
  assert.match(m, /^process_cpu_seconds_total /m);
});

test('an unknown admin path is 404 and a method other than GET or HEAD is 405', async (t) => {
  const origin = await startOrigin(t);
  const edge = await startEdge(t, origin.url);
  const missing = await request(`${edge.adminUrl}/nope`);
  assert.equal(missing.statusCode, 404);
  assert.equal(await missing.body.text(), 'not found\n');
  for (const path of ['/metrics', '/healthz', '/readyz', '/nope']) {
    const post = await request(`${edge.adminUrl}${path}`, { method: 'POST', body: 'x' });
    assert.equal(post.statusCode, 405, path);
    assert.equal(post.headers.allow, 'GET, HEAD');
    await post.body.text();
  }
  const m = await edge.metrics();
  assert.equal(metricSum(m, 'strata_requests_total'), 0, 'admin requests are not edge requests');
  assert.equal(origin.requests.length, 0);
});

test('the admin listener keeps at most 256 connections open and still answers', async (t) => {
  const origin = await startOrigin(t);
  const edge = await startEdge(t, origin.url);
  const port = Number(new URL(edge.adminUrl).port);
  const held = await Promise.all(Array.from({ length: 256 }, () => rawConnect(port)));
  t.after(() => held.forEach((c) => c.socket.destroy()));
  const extra = await rawConnect(port);
  await extra.closed;
  held.pop()?.socket.destroy();
  await until(async () => {
    try {
      return (await request(`${edge.adminUrl}/healthz`)).statusCode === 200;
    } catch {
      return false;
    }
  });
});
