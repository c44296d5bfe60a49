// HTTP/2 on the HTTPS listener: the same pipeline and cache as HTTP/1.1 (a node:http2 client gets
// hits with Cache-Status), and the floods it must survive: rapid reset (open+reset pairs, closed
// with GOAWAY ENHANCE_YOUR_CALM, origin load and memory bounded) and CONTINUATION.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, constants, type ClientHttp2Session } from 'node:http2';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { metric } from '../helpers/edge.js';
import { metricSum } from '../helpers/metrics.js';
import { ok, startOrigin } from '../helpers/origin.js';
import { continuationFlood, frameType, openAndReset, rawH2 } from '../helpers/h2-frames.js';
import { httpsGet, startHttpsEdge, tlsAgent } from '../helpers/https-node.js';
import { issue, testCa, writeCert } from '../helpers/tls-certs.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** Heap in use after a full collection: what is still referenced. */
function heapAfterGc(): number {
  gc();
  return process.memoryUsage().heapUsed;
}

async function setup(t: test.TestContext, server: Record<string, unknown> = {}) {
  const origin = await startOrigin(t, ok({ 'cache-control': 'max-age=60' }));
  const ca = await testCa(t);
  const files = await writeCert(ca, 'site', await issue(ca, ['site.test']));
  const edge = await startHttpsEdge(t, [files], {
    sites: [{ hosts: ['site.test'], origins: [origin.url] }],
    server,
  });
  return { origin, ca, edge };
}

function h2Client(t: test.TestContext, port: number, ca: string): ClientHttp2Session {
  const client = connect(`https://127.0.0.1:${port}`, { ca, servername: 'site.test' });
  t.after(() => client.close());
  return client;
}

function h2Get(client: ClientHttp2Session, path: string) {
  return new Promise<{ status: number; headers: Record<string, unknown>; body: string }>(
    (resolve, reject) => {
      const req = client.request({ ':path': path, ':authority': 'site.test' });
      let headers: Record<string, unknown> = {};
      let body = '';
      req.on('response', (h) => (headers = h));
      req.setEncoding('utf8');
      req.on('data', (d: string) => (body += d));
      req.on('end', () => resolve({ status: Number(headers[':status']), headers, body }));
      req.on('error', reject);
      req.end();
    },
  );
}

test('an HTTP/2 client gets cache hits with Cache-Status, from the same cache as HTTPS/1.1', async (t) => {
  const { origin, ca, edge } = await setup(t);
  const client = h2Client(t, edge.httpsPort, ca.cert);
  const first = await h2Get(client, '/obj');
  assert.equal(first.status, 200);
  assert.match(String(first.headers['cache-status']), /^edge-test; fwd=uri-miss; fwd-status=200; stored/);
  const second = await h2Get(client, '/obj');
  assert.equal(second.body, first.body);
  assert.match(String(second.headers['cache-status']), /^edge-test; hit; ttl=/);
  // HTTP/1.1 over TLS shares the object (same scheme, same key).
  const h1 = await httpsGet(tlsAgent(t, ca, 'site.test'), `${edge.httpsUrl}/obj`, 'site.test');
  assert.match(String(h1.headers['cache-status']), /^edge-test; hit/);
  assert.equal(origin.requests.length, 1);
  // The origin saw a plain request: no pseudo-fields, the :authority as Host, proto https.
  assert.equal(origin.requests[0].headers.host, 'site.test');
  assert.equal(origin.requests[0].headers['x-forwarded-proto'], 'https');
  assert.ok(origin.requests[0].rawHeaders.every((name) => !name.startsWith(':')));
  const text = await edge.metrics();
  assert.equal(metric(text, 'strata_requests_total{outcome="hit",status="200"}'), 2);
  assert.equal(metric(text, 'strata_tls_handshakes_total{protocol="TLSv1.3",resumed="no",alpn="h2"}'), 1);
});

test('a Host field that differs from :authority is refused with 400', async (t) => {
  const { origin, ca, edge } = await setup(t);
  const client = h2Client(t, edge.httpsPort, ca.cert);
  const status = await new Promise<number>((resolve, reject) => {
    const req = client.request({ ':path': '/', ':authority': 'site.test', host: 'other.test' });
    req.on('response', (h) => resolve(Number(h[':status'])));
    req.on('error', reject);
    req.resume();
    req.end();
  });
  assert.equal(status, 400);
  assert.equal(origin.requests.length, 0);
});

test('a rapid-reset flood (5,000 open+reset pairs) is cut with GOAWAY and leaves the node serving', async (t) => {
  const maxResets = 100;
  const { origin, ca, edge } = await setup(t, { http2: { maxResets } });
  const flood = async (pairs: number, from: number) => {
    const codes: (number | undefined)[] = [];
    for (let sent = 0; sent < pairs;) {
      const conn = await rawH2(edge.httpsPort, 'site.test', ca.cert);
      // Each pair a new URL: a miss, the costly kind (a fill per request).
      for (let id = 1; sent < pairs && id < 2 * 1000; id += 2, sent++)
        conn.write(openAndReset(id, 'site.test', `/flood/${from + sent}`));
      await conn.closed;
      codes.push(conn.goawayCode());
    }
    return codes;
  };
  // A first flood warms up what any HTTP/2 traffic allocates once (code, pools, buffers).
  await flood(1000, 0);
  const heapBefore = heapAfterGc();
  const codes = await flood(5000, 1000);
  const connections = codes.length + 1;
  // Every connection was told why: ENHANCE_YOUR_CALM (0xb).
  assert.ok(
    codes.every((c) => c === constants.NGHTTP2_ENHANCE_YOUR_CALM),
    JSON.stringify(codes),
  );
  const text = await edge.metrics();
  assert.equal(metric(text, 'strata_http2_connections_closed_total{reason="rapid-reset"}'), connections);
  // The pipeline saw at most maxResets + 1 requests per connection (what came after in the same
  // socket read was left alone), and the origin no more than that.
  const served = metricSum(text, 'strata_requests_total');
  assert.ok(served <= connections * (maxResets + 1), `${served} requests for ${connections} connections`);
  assert.ok(origin.requests.length <= served, `origin saw ${origin.requests.length}`);
  // Still serving, over HTTP/2, with memory back within bounds.
  const after = await h2Get(h2Client(t, edge.httpsPort, ca.cert), '/after');
  assert.equal(after.status, 200);
  // Nothing the flood made is kept (client, edge and origin share this heap), beyond the
  // small objects it stored.
  const grownMiB = (heapAfterGc() - heapBefore) / 1024 ** 2;
  assert.ok(grownMiB < 8, `heap grew ${grownMiB.toFixed(1)} MiB`);
  assert.equal(metric(await edge.metrics(), 'strata_fill_bytes'), 0);
});

test('a CONTINUATION flood ends the connection, and the node keeps serving', async (t) => {
  const { origin, ca, edge } = await setup(t);
  const conn = await rawH2(edge.httpsPort, 'site.test', ca.cert);
  conn.write(continuationFlood(1, 'site.test', 10_000));
  await conn.closed;
  assert.equal(conn.received.get(frameType.headers), undefined, 'no response to an unfinished header block');
  assert.equal(origin.requests.length, 0);
  const text = await edge.metrics();
  assert.ok(metric(text, 'strata_http2_connections_closed_total{reason="protocol-error"}') >= 1);
  const after = await h2Get(h2Client(t, edge.httpsPort, ca.cert), '/after');
  assert.equal(after.status, 200);
});
