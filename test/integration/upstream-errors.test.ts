// Upstream faults: refused connections, silent origins, bodies cut short, and the one retry
// on another origin; each mapped to a status with the request id, counted in the metrics.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { createServer as createTcpServer, type AddressInfo, type Socket } from 'node:net';
import type { TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { request } from 'undici';
import { ok, startOrigin } from '../helpers/origin.js';
import { startEdge } from '../helpers/edge.js';
import { metricSum } from '../helpers/metrics.js';

/** A loopback URL on which nothing listens (a port that was just bound and released). */
async function refusedUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}

/** An origin that accepts connections and requests but never answers; counts requests seen. */
async function silentOrigin(t: TestContext): Promise<{ url: string; seen: () => number }> {
  let seen = 0;
  const server: Server = createServer(() => seen++);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(
    () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  );
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen: () => seen };
}

/** An origin speaking raw TCP (whatever `onSocket` writes); its connections end with the test. */
async function rawOrigin(t: TestContext, onSocket: (socket: Socket) => void): Promise<string> {
  const sockets = new Set<Socket>();
  const server = createTcpServer((socket: Socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    onSocket(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => {
    for (const socket of sockets) socket.destroy();
    server.close();
  });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

test('a refused origin connection gives 502 with the request id, Cache-Status and a counted error', async (t) => {
  const edge = await startEdge(t, await refusedUrl());
  const res = await edge.get('/a');
  assert.equal(res.status, 502);
  assert.match(res.body, /^502 could not connect to the origin/);
  assert.ok(res.body.includes(`request id: ${String(res.headers['x-request-id'])}`), res.body);
  assert.match(res.cacheStatus, /^edge-test; fwd=uri-miss/);
  assert.equal(res.headers['cache-control'], 'no-store');
  const post = await edge.get('/a', {}, 'POST');
  assert.equal(post.status, 502);
  assert.match(post.cacheStatus, /^edge-test; fwd=method/);
  const m = await edge.metrics();
  assert.equal(metricSum(m, 'strata_upstream_errors_total', { code: 'UPSTREAM_CONNECT_FAILED' }), 2);
  assert.equal(metricSum(m, 'strata_requests_total', { status: '502' }), 2);
  assert.equal(metricSum(m, 'strata_cache_objects', { tier: 'memory' }), 0);
});

test('with every upstream connection busy, a request waits upstream.queueTimeout, then gets 503 and is never sent', async (t) => {
  const origin = await silentOrigin(t);
  const edge = await startEdge(t, origin.url, {
    upstream: { connections: 1, queueTimeout: '300ms', headersTimeout: '1500ms' },
  });
  const holding = edge.get('/holds-the-only-connection');
  const res = await edge.get('/queued');
  assert.equal(res.status, 503);
  assert.match(res.body, /^503 no connection to the origin was free in time/);
  assert.ok(res.body.includes(`request id: ${String(res.headers['x-request-id'])}`), res.body);
  assert.match(res.cacheStatus, /^edge-test; fwd=uri-miss/);
  assert.equal(origin.seen(), 1);
  const m = await edge.metrics();
  assert.equal(metricSum(m, 'strata_upstream_errors_total', { code: 'UPSTREAM_BUSY' }), 1);
  // The connection frees when the first request times out: the abandoned one must not go out.
  assert.equal((await holding).status, 504);
  await sleep(200);
  assert.equal(origin.seen(), 1);
});

test('an origin that does not answer within upstream.headersTimeout gives 504', async (t) => {
  const origin = await silentOrigin(t);
  const edge = await startEdge(t, origin.url, { upstream: { headersTimeout: '200ms' } });
  const res = await edge.get('/a');
  assert.equal(res.status, 504);
  assert.match(res.body, /the origin did not answer in time/);
  assert.match(res.body, /request id: /);
  assert.match(res.cacheStatus, /^edge-test; fwd=uri-miss/);
  assert.equal(origin.seen(), 1, 'a headers timeout is not retried: the request was sent');
  const m = await edge.metrics();
  assert.equal(metricSum(m, 'strata_upstream_errors_total', { code: 'UPSTREAM_HEADERS_TIMEOUT' }), 1);
  assert.equal(metricSum(m, 'strata_requests_total', { status: '504' }), 1);
});

test('an origin sending interim 1xx responses but never a final one gives 504, and collapsed requests too', async (t) => {
  // undici restarts its headers timeout at each 1xx: without a bound of Strata's own this hung.
  const url = await rawOrigin(t, (socket) => {
    const timer = setInterval(
      () => socket.write('HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n'),
      50,
    );
    socket.on('close', () => clearInterval(timer));
  });
  const edge = await startEdge(t, url, { upstream: { headersTimeout: '300ms' } });
  const started = performance.now();
  const [first, second] = await Promise.all([edge.get('/hints'), edge.get('/hints')]);
  const ms = performance.now() - started;
  assert.equal(first.status, 504);
  assert.equal(second.status, 504);
  assert.ok(ms < 3000, `answered after ${ms.toFixed(0)} ms`);
  const m = await edge.metrics();
  assert.equal(metricSum(m, 'strata_upstream_errors_total', { code: 'UPSTREAM_HEADERS_TIMEOUT' }), 1);
});

test('an origin trickling its response head byte by byte gets 504 at upstream.headersTimeout', async (t) => {
  const head = `HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Padding: ${'a'.repeat(200)}\r\n\r\nok`;
  const url = await rawOrigin(t, (socket) => {
    socket.once('data', () => {
      let i = 0;
      const timer = setInterval(() => i < head.length && socket.write(head[i++]), 20);
      socket.on('close', () => clearInterval(timer));
    });
  });
  const edge = await startEdge(t, url, { upstream: { headersTimeout: '1s' } });
  const started = performance.now();
  const res = await edge.get('/trickle');
  assert.equal(res.status, 504);
  // Bytes arriving do not restart the timeout: the head needs 4.5 s, the answer comes at ~1 s.
  assert.ok(performance.now() - started < 3000);
});

for (const framing of ['content-length', 'chunked'] as const) {
  test(`an origin closing mid-body (${framing}) cuts the client connection and nothing is stored`, async (t) => {
    const origin = await startOrigin(t, (_req, res) => {
      const headers: Record<string, string> = { 'cache-control': 'max-age=60', 'content-type': 'text/plain' };
      if (framing === 'content-length') headers['content-length'] = '10000';
      res.writeHead(200, headers);
      res.write('x'.repeat(1000), () => res.destroy());
    });
    const edge = await startEdge(t, origin.url);
    for (let i = 1; i <= 2; i++) {
      const res = await request(`${edge.url}/big`);
      assert.equal(res.statusCode, 200);
      assert.match(String(res.headers['cache-status']), /fwd=uri-miss/);
      // Never a short 200: the client sees the connection cut before the body is complete.
      await assert.rejects(res.body.text());
      assert.equal(origin.requests.length, i, 'the cut body was not stored: the next request went upstream');
    }
    const m = await edge.metrics();
    assert.equal(metricSum(m, 'strata_cache_objects', { tier: 'memory' }), 0);
  });
}

test('a GET is retried on the next origin when the first refuses the connection', async (t) => {
  const alive = await startOrigin(t, ok({ 'cache-control': 'no-store' }));
  const edge = await startEdge(t, [await refusedUrl(), alive.url]);
  const res = await edge.get('/a');
  assert.equal(res.status, 200);
  assert.equal(res.body, 'body 1 for /a');
  assert.equal(alive.requests.length, 1);
  const m = await edge.metrics();
  assert.equal(metricSum(m, 'strata_upstream_errors_total', { code: 'UPSTREAM_CONNECT_FAILED' }), 1);
  // The refused origin is now marked down: the next requests go to the live one first.
  for (let i = 0; i < 3; i++) assert.equal((await edge.get('/a')).status, 200);
  assert.equal(alive.requests.length, 4);
  const after = await edge.metrics();
  assert.equal(metricSum(after, 'strata_upstream_errors_total', { code: 'UPSTREAM_CONNECT_FAILED' }), 1);
});

test('a POST with a body is not retried on another origin', async (t) => {
  const alive = await startOrigin(t);
  const edge = await startEdge(t, [await refusedUrl(), alive.url]);
  const res = await request(`${edge.url}/submit`, { method: 'POST', body: 'payload' });
  assert.equal(res.statusCode, 502);
  assert.match(await res.body.text(), /could not connect to the origin/);
  assert.match(String(res.headers['cache-status']), /^edge-test; fwd=method/);
  assert.equal(alive.requests.length, 0);
  const m = await edge.metrics();
  assert.equal(metricSum(m, 'strata_upstream_errors_total', { code: 'UPSTREAM_CONNECT_FAILED' }), 1);
});

test('upstream.attempts bounds the walk: with every origin refusing, a GET fails after that many attempts', async (t) => {
  const refused = [await refusedUrl(), await refusedUrl(), await refusedUrl(), await refusedUrl()];
  const byDefault = await startEdge(t, refused);
  assert.equal((await byDefault.get('/a')).status, 502);
  assert.equal(
    metricSum(await byDefault.metrics(), 'strata_upstream_errors_total', { code: 'UPSTREAM_CONNECT_FAILED' }),
    3,
  );
  const two = await startEdge(t, refused, { upstream: { attempts: 2 } });
  assert.equal((await two.get('/a')).status, 502);
  const m = await two.metrics();
  assert.equal(metricSum(m, 'strata_upstream_errors_total', { code: 'UPSTREAM_CONNECT_FAILED' }), 2);
  assert.equal(metricSum(m, 'strata_upstream_retries_total', { kind: 'origin' }), 1);
});

test('an origin that stops sending mid-body past upstream.bodyTimeout cuts the client connection', async (t) => {
  const origin = await startOrigin(t, (_req, res) => {
    res.writeHead(200, { 'cache-control': 'max-age=60', 'content-length': '100' });
    res.write('partial');
  });
  const edge = await startEdge(t, origin.url, { upstream: { bodyTimeout: '200ms' } });
  const res = await request(`${edge.url}/a`);
  assert.equal(res.statusCode, 200);
  await assert.rejects(res.body.text());
  const again = await request(`${edge.url}/a`);
  assert.match(String(again.headers['cache-status']), /fwd=uri-miss/);
  await assert.rejects(again.body.text());
  assert.equal(origin.requests.length, 2);
});

test('an origin answering with something that is not valid HTTP gives 502 UPSTREAM_PROTOCOL', async (t) => {
  // One malformed answer per path, none of which may reach a client or the cache.
  const answers: Record<string, string> = {
    '/ssh': 'SSH-2.0-OpenSSH_9.6\r\n\r\n',
    '/huge-head': `HTTP/1.1 200 OK\r\nX-Big: ${'a'.repeat(100_000)}\r\nContent-Length: 2\r\n\r\nok`,
    '/bad-length': 'HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\nok',
    '/two-lengths': 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok',
    '/length-and-chunked':
      'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n',
    '/nul-in-field': 'HTTP/1.1 200 OK\r\nX-A: a\u0000b\r\nContent-Length: 2\r\n\r\nok',
  };
  const url = await rawOrigin(t, (socket) =>
    socket.once('data', (data: Buffer) => socket.end(answers[data.toString('latin1').split(' ')[1]] ?? '')),
  );
  const edge = await startEdge(t, url);
  for (const path of Object.keys(answers)) {
    const res = await edge.get(path);
    assert.equal(res.status, 502, path);
    assert.match(res.body, /invalid response from the origin/, path);
  }
  const m = await edge.metrics();
  assert.equal(
    metricSum(m, 'strata_upstream_errors_total', { code: 'UPSTREAM_PROTOCOL' }),
    Object.keys(answers).length,
  );
  assert.equal(metricSum(m, 'strata_cache_objects', { tier: 'memory' }), 0);
});
