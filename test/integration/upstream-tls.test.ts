// https origins: TLS names the origin by its URL's host (SNI and certificate check), whatever
// Host the client sent; upstream.caFile adds trusted CAs; certificate failures are UPSTREAM_TLS.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { makeCerts } from '../helpers/certs.js';
import { metric, startEdge } from '../helpers/edge.js';

async function httpsOrigin(t: test.TestContext, key: string, cert: string) {
  const seen: { host?: string; servername?: string }[] = [];
  const server = createServer({ key, cert }, (req, res) => {
    seen.push({ host: req.headers.host, servername: (req.socket as { servername?: string }).servername });
    res.writeHead(200, { 'cache-control': 'max-age=60', 'content-length': '2' });
    res.end('ok');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  server.on('listening', () => undefined);
  return { port: (server.address() as AddressInfo).port, seen, server };
}

test('an https origin is reached with its own host name for TLS, keeping the client Host', async (t) => {
  const certs = await makeCerts(t);
  const origin = await httpsOrigin(t, certs.key, certs.cert);
  t.after(() => origin.server.closeAllConnections());
  const edge = await startEdge(t, `https://localhost:${origin.port}`, { upstream: { caFile: certs.caFile } });
  const a = await edge.get('/a', { host: 'www.example.test' });
  assert.equal(a.status, 200);
  const b = await edge.get('/b', { host: 'other.example.test' });
  assert.equal(b.status, 200);
  assert.deepEqual(origin.seen, [
    { host: 'www.example.test', servername: 'localhost' },
    { host: 'other.example.test', servername: 'localhost' },
  ]);
});

test('an untrusted origin certificate is UPSTREAM_TLS (502), not a reset', async (t) => {
  const certs = await makeCerts(t);
  const origin = await httpsOrigin(t, certs.key, certs.cert);
  t.after(() => origin.server.closeAllConnections());
  const edge = await startEdge(t, `https://localhost:${origin.port}`);
  const res = await edge.get('/a');
  assert.equal(res.status, 502);
  assert.match(res.body, /TLS with the origin failed/);
  assert.equal(metric(await edge.metrics(), 'strata_upstream_errors_total{code="UPSTREAM_TLS"}'), 1);
});

test('an unreadable upstream.caFile stops start-up naming the key', async (t) => {
  await assert.rejects(
    startEdge(t, 'https://localhost:1', { upstream: { caFile: '/nonexistent/ca.pem' } }),
    /upstream\.caFile: cannot read \/nonexistent\/ca\.pem/,
  );
});
