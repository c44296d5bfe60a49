// How the pipeline ends requests it cannot serve normally: labels, closes and cancellations.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'undici';
import { ok, startOrigin } from '../helpers/origin.js';
import { metric, startEdge } from '../helpers/edge.js';
import { rawConnect, rawRequest } from '../helpers/raw.js';
import { until } from '../helpers/wait.js';

test('regression: a request refused before any upstream work is counted as pass, not miss', async (t) => {
  const origin = await startOrigin(t, ok());
  const edge = await startEdge(t, origin.url, { sites: [{ hosts: ['known.test'], origins: [origin.url] }] });
  const res = await edge.get('/x', { host: 'nope.test' });
  assert.equal(res.status, 421);
  assert.match(res.cacheStatus, /fwd=bypass/);
  const m = await edge.metrics();
  assert.equal(metric(m, 'strata_requests_total{outcome="pass",status="421"}'), 1);
  assert.equal(metric(m, 'strata_requests_total{outcome="miss",status="421"}'), 0);
});

test('regression: a body over maxBodyBytes gets 413 and the connection closes instead of reading it', async (t) => {
  const origin = await startOrigin(t, ok());
  const edge = await startEdge(t, origin.url, { server: { maxBodyBytes: 1024 } });
  const conn = await rawConnect(edge.node.http.port);
  t.after(() => conn.close());
  const res = await conn.send(
    `POST /up HTTP/1.1\r\nHost: a.test\r\nContent-Length: 100000\r\n\r\n${'x'.repeat(2000)}`,
  );
  assert.equal(res.status, 413);
  assert.equal(res.headers.connection, 'close');
  await conn.closed;
  assert.equal(origin.requests.length, 0);
});

test('a client leaving a passed request cancels the upstream request', async (t) => {
  let upstreamClosed = false;
  const origin = await startOrigin(t, (req, res) => {
    res.on('close', () => (upstreamClosed = true));
    void req; // held: never answered
  });
  const edge = await startEdge(t, origin.url);
  const controller = new AbortController();
  const pending = request(`${edge.url}/slow`, { method: 'POST', body: 'x', signal: controller.signal });
  await until(() => origin.requests.length === 1);
  controller.abort();
  await assert.rejects(pending);
  await until(() => upstreamClosed);
  await until(
    async () => metric(await edge.metrics(), 'strata_requests_total{outcome="pass",status="499"}') === 1,
  );
  // The client's leaving is not the origin's fault: no upstream error is counted for it.
  assert.doesNotMatch(await edge.metrics(), /^strata_upstream_errors_total\{/m);
});

test('an upstream failure tells the client what failed, not the origin address or library detail', async (t) => {
  const edge = await startEdge(t, 'http://127.0.0.1:1');
  const res = await edge.get('/x');
  assert.equal(res.status, 502);
  assert.match(res.body, /^502 could not connect to the origin\nrequest id: \S+\n$/);
  assert.doesNotMatch(res.body, /127\.0\.0\.1|ECONNREFUSED/);
});

test('requests refused before the pipeline still carry Cache-Status', async (t) => {
  const origin = await startOrigin(t, ok());
  const edge = await startEdge(t, origin.url);
  const smuggled = await rawRequest(
    edge.node.http.port,
    'POST / HTTP/1.1\r\nHost: a.test\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
  );
  assert.equal(smuggled.status, 400);
  assert.equal(smuggled.headers['cache-status'], 'edge-test; fwd=bypass; detail=malformed-request');
  const badHost = await rawRequest(edge.node.http.port, 'GET / HTTP/1.1\r\nHost: a.test/admin\r\n\r\n');
  assert.equal(badHost.status, 400);
  assert.equal(badHost.headers['cache-status'], 'edge-test; fwd=bypass; detail=malformed-request');
  assert.equal(origin.requests.length, 0);
});
