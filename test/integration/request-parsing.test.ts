// Strict request parsing: smuggling shapes, bad bytes and oversized heads are refused before
// anything reaches an origin or the cache, and the edge keeps serving afterwards.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import { request } from 'undici';
import { ok, startOrigin, type TestOrigin } from '../helpers/origin.js';
import { startEdge, type TestEdge } from '../helpers/edge.js';
import { metricSum } from '../helpers/metrics.js';
import { rawConnect, rawRequest } from '../helpers/raw.js';

interface Setup {
  edge: TestEdge;
  port: number;
  origin: TestOrigin;
}

async function setup(t: TestContext, server: Record<string, unknown> = {}): Promise<Setup> {
  const origin = await startOrigin(t, ok({ 'cache-control': 'max-age=60' }));
  const edge = await startEdge(t, origin.url, { server });
  return { edge, port: edge.node.http.port, origin };
}

/** The edge still answers, nothing was stored and the origin saw only that one request. */
async function stillServingAndNothingCached(s: Setup): Promise<void> {
  const before = s.origin.requests.length;
  const res = await s.edge.get('/after');
  assert.equal(res.status, 200);
  assert.equal(s.origin.requests.length, before + 1);
  assert.deepEqual(
    s.origin.requests.map((r) => r.url),
    Array(before + 1).fill('/after'),
    'the origin saw only the follow-up request',
  );
  const m = await s.edge.metrics();
  assert.equal(metricSum(m, 'strata_cache_objects', { tier: 'memory' }), 1, 'only /after is stored');
}

const rejectsWith = async (port: number, raw: string | Buffer, status: number): Promise<void> => {
  const conn = await rawConnect(port);
  try {
    const res = await conn.send(raw);
    assert.equal(res.status, status, res.raw);
    // The connection is closed: whatever followed the bad request is never parsed as a request.
    await conn.closed;
  } finally {
    conn.close();
  }
};

test('Content-Length with Transfer-Encoding is refused with 400 and never forwarded', async (t) => {
  const s = await setup(t);
  // The classic CL.TE smuggling shape: a second request hidden in the body.
  const smuggled = 'GET /poison HTTP/1.1\r\nHost: a.test\r\n\r\n';
  const body = `0\r\n\r\n${smuggled}`;
  await rejectsWith(
    s.port,
    `POST /a HTTP/1.1\r\nHost: a.test\r\nContent-Length: ${body.length}\r\nTransfer-Encoding: chunked\r\n\r\n${body}`,
    400,
  );
  await rejectsWith(
    s.port,
    `GET /a HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n`,
    400,
  );
  assert.equal(s.origin.requests.length, 0);
  const m = await s.edge.metrics();
  assert.equal(metricSum(m, 'strata_client_errors_total'), 2);
  await stillServingAndNothingCached(s);
});

test('duplicate differing Content-Length fields are refused with 400', async (t) => {
  const s = await setup(t);
  await rejectsWith(
    s.port,
    'POST /a HTTP/1.1\r\nHost: a.test\r\nContent-Length: 3\r\nContent-Length: 30\r\n\r\nabc',
    400,
  );
  await rejectsWith(s.port, 'POST /a HTTP/1.1\r\nHost: a.test\r\nContent-Length: 3, 30\r\n\r\nabc', 400);
  assert.equal(s.origin.requests.length, 0);
  await stillServingAndNothingCached(s);
});

test('a Transfer-Encoding that does not end in chunked is refused with 400', async (t) => {
  const s = await setup(t);
  await rejectsWith(
    s.port,
    'POST /a HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n',
    400,
  );
  assert.equal(s.origin.requests.length, 0);
  await stillServingAndNothingCached(s);
});

test('invalid bytes in header names or values are refused with 400', async (t) => {
  const s = await setup(t);
  const bad = [
    'GET /a HTTP/1.1\r\nHost: a.test\r\nX-Bad\x01Name: 1\r\n\r\n',
    'GET /a HTTP/1.1\r\nHost: a.test\r\nBad Name: 1\r\n\r\n',
    'GET /a HTTP/1.1\r\nHost: a.test\r\nX-Value: a\x00b\r\n\r\n',
    'GET /a HTTP/1.1\r\nHost: a.test\r\nX-Value: a\rb\r\n\r\n',
    'GET /a HTTP/1.1\r\nHost: a.test\r\nX-Folded: a\r\n  b\r\n\r\n',
    'GET /a b HTTP/1.1\r\nHost: a.test\r\n\r\n',
  ];
  for (const raw of bad) await rejectsWith(s.port, Buffer.from(raw, 'latin1'), 400);
  assert.equal(s.origin.requests.length, 0);
  await stillServingAndNothingCached(s);
});

test('a header section over server.maxHeaderBytes gets 431', async (t) => {
  const s = await setup(t, { maxHeaderBytes: '2KiB' });
  await rejectsWith(s.port, `GET /a HTTP/1.1\r\nHost: a.test\r\nX-Big: ${'x'.repeat(3000)}\r\n\r\n`, 431);
  assert.equal(s.origin.requests.length, 0);
  const m = await s.edge.metrics();
  assert.equal(metricSum(m, 'strata_client_errors_total', { code: 'HPE_HEADER_OVERFLOW' }), 1);
  // Just under the limit is fine.
  const fits = await s.edge.get('/after', { 'x-big': 'x'.repeat(1500) });
  assert.equal(fits.status, 200);
});

test('a request target longer than server.maxHeaderBytes gets 414, not 431', async (t) => {
  const s = await setup(t, { maxHeaderBytes: '2KiB' });
  await rejectsWith(s.port, `GET /${'a'.repeat(4000)} HTTP/1.1\r\nHost: a.test\r\n\r\n`, 414);
  assert.equal(s.origin.requests.length, 0);
  await stillServingAndNothingCached(s);
});

test('more header fields than server.maxHeaders gets 431 with the request id', async (t) => {
  const s = await setup(t, { maxHeaders: 10 });
  const fields = Array.from({ length: 20 }, (_, i) => `X-F${i}: ${i}\r\n`).join('');
  const res = await rawRequest(
    s.port,
    `GET /a HTTP/1.1\r\nHost: a.test\r\n${fields}Connection: close\r\n\r\n`,
  );
  assert.equal(res.status, 431);
  assert.match(res.body, /too many header fields/);
  assert.match(res.body, /request id: /);
  assert.ok(res.headers['cache-status']);
  // Exactly at the limit is fine (Host, Connection and 8 others).
  const eight = fields.split('\r\n').slice(0, 8).join('\r\n');
  const atLimit = await rawRequest(
    s.port,
    `GET /after HTTP/1.1\r\nHost: a.test\r\n${eight}\r\nConnection: close\r\n\r\n`,
  );
  assert.equal(atLimit.status, 200, atLimit.raw);
  assert.equal(s.origin.requests.length, 1);
  assert.equal(s.origin.requests[0].url, '/after');
});

test('a body over server.maxBodyBytes with Content-Length gets 413 and is never forwarded', async (t) => {
  const s = await setup(t, { maxBodyBytes: '1KiB' });
  const res = await request(`${s.edge.url}/upload`, { method: 'POST', body: 'x'.repeat(2000) });
  assert.equal(res.statusCode, 413);
  assert.match(await res.body.text(), /request body too large/);
  assert.match(String(res.headers['cache-status']), /edge-test; fwd=method/);
  assert.equal(s.origin.requests.length, 0);
  // Exactly at the limit goes through.
  const fits = await request(`${s.edge.url}/upload`, { method: 'POST', body: 'y'.repeat(1024) });
  await fits.body.text();
  assert.equal(fits.statusCode, 200);
  assert.equal(s.origin.requests.length, 1);
  assert.equal(s.origin.requests[0].body, 'y'.repeat(1024));
});

test('a chunked body over server.maxBodyBytes gets 413 and never reaches the origin whole', async (t) => {
  const s = await setup(t, { maxBodyBytes: '1KiB' });
  const conn = await rawConnect(s.port);
  t.after(() => conn.close());
  const chunk = (text: string) => `${text.length.toString(16)}\r\n${text}\r\n`;
  const head = 'POST /upload HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: chunked\r\n\r\n';
  const res = await conn.send(head + chunk('a'.repeat(600)) + chunk('b'.repeat(600)) + '0\r\n\r\n');
  assert.equal(res.status, 413, res.raw);
  assert.match(res.body, /request body too large/);
  assert.match(res.body, /request id: /);
  assert.match(String(res.headers['cache-status']), /edge-test; fwd=method/);
  assert.equal(s.origin.requests.length, 0, 'the origin never got a complete request');
  // The rest of the body was read and dropped: the connection is still in step.
  const next = await conn.send('GET /after HTTP/1.1\r\nHost: a.test\r\n\r\n');
  assert.equal(next.status, 200, next.raw);
  assert.equal(s.origin.requests.length, 1);
  // A chunked body within the limit is forwarded intact.
  const ok = await rawRequest(
    s.port,
    head.replace('\r\n\r\n', '\r\nConnection: close\r\n\r\n') +
      chunk('c'.repeat(500)) +
      chunk('d'.repeat(500)) +
      '0\r\n\r\n',
  );
  assert.equal(ok.status, 200);
  assert.equal(s.origin.requests.length, 2);
  assert.equal(s.origin.requests[1].body, 'c'.repeat(500) + 'd'.repeat(500));
  const m = await s.edge.metrics();
  assert.equal(metricSum(m, 'strata_cache_objects', { tier: 'memory' }), 1, 'only /after is stored');
});
