// Proxy header handling (RFC 9110 §7.6): hop-by-hop fields removed both ways, Via added both
// ways, the forwarding family set (and trusted only when configured), Host kept or replaced.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'undici';
import { ok, startOrigin } from '../helpers/origin.js';
import { startEdge } from '../helpers/edge.js';
import { rawConnect, rawRequest } from '../helpers/raw.js';

/** Field names (lowercase) as they arrived at the origin, one entry per field line. */
const fieldLines = (raw: string[]): string[] => raw.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase());

/** All values of one field as they arrived at the origin. */
const fieldValues = (raw: string[], name: string): string[] =>
  raw.filter((_, i) => i % 2 === 1 && raw[i - 1].toLowerCase() === name);

test('hop-by-hop request fields, and the fields named in Connection, never reach the origin', async (t) => {
  const origin = await startOrigin(t);
  const edge = await startEdge(t, origin.url);
  const res = await rawRequest(
    edge.node.http.port,
    'GET /a HTTP/1.1\r\nHost: example.test\r\n' +
      'Connection: keep-alive, X-Secret-Hop, Upgrade\r\nKeep-Alive: timeout=99\r\nTE: trailers\r\n' +
      // h2c, not websocket: a WebSocket upgrade is piped or refused (websocket.test.ts).
      'Trailer: X-Checksum\r\nUpgrade: h2c\r\nProxy-Authorization: Basic Zm9vOmJhcg==\r\n' +
      'Proxy-Connection: keep-alive\r\nX-Secret-Hop: 1\r\nX-End-To-End: kept\r\n\r\n',
  );
  assert.equal(res.status, 200, res.raw);
  assert.equal(origin.requests.length, 1);
  const names = fieldLines(origin.requests[0].rawHeaders);
  for (const hop of [
    'keep-alive',
    'te',
    'trailer',
    'upgrade',
    'proxy-authorization',
    'proxy-connection',
    'x-secret-hop',
  ])
    assert.ok(!names.includes(hop), `${hop} was forwarded: ${names.join(', ')}`);
  // The edge's own connection to the origin may say keep-alive; nothing of the client's survives.
  assert.deepEqual(
    fieldValues(origin.requests[0].rawHeaders, 'connection').filter((v) => v !== 'keep-alive'),
    [],
  );
  assert.equal(origin.requests[0].headers['x-end-to-end'], 'kept');
});

test('an Expect: 100-continue request is answered by the edge and forwarded without Expect', async (t) => {
  const origin = await startOrigin(t);
  const edge = await startEdge(t, origin.url);
  const conn = await rawConnect(edge.node.http.port);
  t.after(() => conn.close());
  const cont = await conn.send(
    'POST /upload HTTP/1.1\r\nHost: example.test\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n',
  );
  assert.equal(cont.status, 100, cont.raw);
  const res = await conn.send('hello');
  assert.equal(res.status, 200, res.raw);
  assert.equal(origin.requests.length, 1);
  assert.equal(origin.requests[0].body, 'hello');
  assert.equal(origin.requests[0].headers.expect, undefined);
});

test('hop-by-hop response fields, and those named in Connection, never reach the client (miss and hit)', async (t) => {
  const origin = await startOrigin(t, (_req, res) => {
    // Chunked, so that the origin may announce a trailer.
    res.writeHead(200, {
      'cache-control': 'max-age=60',
      connection: 'X-Origin-Hop, keep-alive',
      'keep-alive': 'timeout=99, max=7',
      'x-origin-hop': 'secret',
      trailer: 'X-Checksum',
      upgrade: 'h2c',
      'proxy-authenticate': 'Basic realm="origin"',
      'x-end-to-end': 'kept',
    });
    res.write('body');
    res.addTrailers({ 'x-checksum': 'abc' });
    res.end();
  });
  const edge = await startEdge(t, origin.url);
  const port = edge.node.http.port;
  for (const expected of [/fwd=uri-miss/, /hit/]) {
    const res = await rawRequest(port, 'GET /a HTTP/1.1\r\nHost: example.test\r\nConnection: close\r\n\r\n');
    assert.equal(res.status, 200);
    assert.match(res.headers['cache-status'], expected);
    for (const hop of ['x-origin-hop', 'trailer', 'upgrade', 'proxy-authenticate'])
      assert.equal(res.headers[hop], undefined, `${hop} reached the client: ${res.raw}`);
    // Connection and Keep-Alive are the edge's own, for its own connection.
    assert.equal(res.headers.connection, 'close');
    assert.equal(res.headers['keep-alive'], undefined);
    assert.equal(res.headers['x-end-to-end'], 'kept');
    assert.doesNotMatch(res.raw, /x-checksum/i, 'the trailer reached the client');
  }
  assert.equal(origin.requests.length, 1);
});

test('Via is added upstream and downstream, after any Via already present', async (t) => {
  const origin = await startOrigin(t, ok({ 'cache-control': 'max-age=60', via: '1.1 origin-lb' }));
  const edge = await startEdge(t, origin.url);
  const miss = await edge.get('/a', { via: '1.0 client-proxy' });
  assert.equal(origin.requests[0].headers.via, '1.0 client-proxy, 1.1 edge-test (strata)');
  assert.equal(miss.headers.via, '1.1 origin-lb, 1.1 edge-test (strata)');
  const hit = await edge.get('/a');
  assert.match(hit.cacheStatus, /hit/);
  assert.equal(hit.headers.via, '1.1 origin-lb, 1.1 edge-test (strata)');
  const plain = await edge.get('/b', {}, 'POST');
  assert.equal(origin.requests[1].headers.via, '1.1 edge-test (strata)');
  assert.equal(plain.headers.via, '1.1 origin-lb, 1.1 edge-test (strata)');
});

test('Via is on error responses too', async (t) => {
  const origin = await startOrigin(t);
  const edge = await startEdge(t, origin.url, { sites: [{ hosts: ['a.test'], origins: [origin.url] }] });
  const res = await edge.get('/', { host: 'unknown.test' });
  assert.equal(res.status, 421);
  assert.equal(res.headers.via, '1.1 edge-test (strata)');
});

test('forwarding fields are set and incoming ones are dropped by default', async (t) => {
  const origin = await startOrigin(t);
  const edge = await startEdge(t, origin.url);
  await edge.get('/a', {
    host: 'example.test',
    'x-forwarded-for': '6.6.6.6',
    'x-forwarded-proto': 'https',
    'x-forwarded-host': 'evil.test',
    forwarded: 'for=6.6.6.6;proto=https',
  });
  const h = origin.requests[0].headers;
  assert.equal(h['x-forwarded-for'], '127.0.0.1');
  assert.equal(h['x-forwarded-proto'], 'http');
  assert.equal(h['x-forwarded-host'], 'example.test');
  assert.equal(h.forwarded, 'for=127.0.0.1;host=example.test;proto=http');
  // One field line each: nothing of the client's was kept alongside.
  for (const name of ['x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'forwarded'])
    assert.equal(fieldValues(origin.requests[0].rawHeaders, name).length, 1, name);
});

test('with proxy.trustForwarded the incoming chain is kept and this hop appended', async (t) => {
  const origin = await startOrigin(t);
  const edge = await startEdge(t, origin.url, { proxy: { trustForwarded: true } });
  await edge.get('/a', {
    host: 'example.test:8443',
    'x-forwarded-for': '203.0.113.7, 10.0.0.2',
    'x-forwarded-proto': 'https',
    'x-forwarded-host': 'www.example.test',
    forwarded: 'for=203.0.113.7;proto=https',
  });
  const h = origin.requests[0].headers;
  assert.equal(h['x-forwarded-for'], '203.0.113.7, 10.0.0.2, 127.0.0.1');
  assert.equal(h['x-forwarded-proto'], 'https');
  assert.equal(h['x-forwarded-host'], 'www.example.test');
  assert.equal(h.forwarded, 'for=203.0.113.7;proto=https, for=127.0.0.1;host="example.test:8443";proto=http');
});

test('without forwarding fields from the client, trustForwarded still sets them', async (t) => {
  const origin = await startOrigin(t);
  const edge = await startEdge(t, origin.url, { proxy: { trustForwarded: true } });
  await edge.get('/a', { host: 'example.test' });
  const h = origin.requests[0].headers;
  assert.equal(h['x-forwarded-for'], '127.0.0.1');
  assert.equal(h['x-forwarded-proto'], 'http');
  assert.equal(h['x-forwarded-host'], 'example.test');
  assert.equal(h.forwarded, 'for=127.0.0.1;host=example.test;proto=http');
});

test('an IPv6 client is quoted in Forwarded (RFC 7239 §6) and plain in X-Forwarded-For', async (t) => {
  const origin = await startOrigin(t);
  const edge = await startEdge(t, origin.url, { listen: { http: '[::1]:0', admin: '127.0.0.1:0' } });
  const res = await request(`http://[::1]:${edge.node.http.port}/a`, { headers: { host: 'example.test' } });
  await res.body.text();
  assert.equal(res.statusCode, 200);
  const h = origin.requests[0].headers;
  assert.equal(h.forwarded, 'for="[::1]";host=example.test;proto=http');
  assert.equal(h['x-forwarded-for'], '::1');
});

test('an IPv4 client on a dual-stack listener is forwarded as IPv4, not as ::ffff:a.b.c.d', async (t) => {
  const origin = await startOrigin(t);
  const edge = await startEdge(t, origin.url, { listen: { http: '[::]:0', admin: '127.0.0.1:0' } });
  const res = await request(`http://127.0.0.1:${edge.node.http.port}/a`, {
    headers: { host: 'example.test' },
  });
  await res.body.text();
  const h = origin.requests[0].headers;
  assert.equal(h['x-forwarded-for'], '127.0.0.1');
  assert.equal(h.forwarded, 'for=127.0.0.1;host=example.test;proto=http');
});

test("the origin gets the request's id in X-Request-Id, the one its error responses and log line carry", async (t) => {
  const origin = await startOrigin(t, (req, res) => {
    if (req.url === '/fails') return void res.socket?.destroy();
    ok()(req, res, 0, '');
  });
  const edge = await startEdge(t, origin.url);
  await edge.get('/a', { 'x-request-id': 'chosen-by-the-client' });
  assert.match(String(origin.requests[0].headers['x-request-id']), /^[0-9a-z]+-[0-9a-z]+$/);
  assert.equal(fieldValues(origin.requests[0].rawHeaders, 'x-request-id').length, 1);
  const failed = await edge.get('/fails');
  assert.equal(failed.status, 502);
  assert.equal(origin.requests[1].headers['x-request-id'], failed.headers['x-request-id']);
});

test('with proxy.trustForwarded a valid incoming X-Request-Id is the request id all the way', async (t) => {
  const origin = await startOrigin(t, (req, res) => {
    if (req.url === '/fails') return void res.socket?.destroy();
    ok()(req, res, 0, '');
  });
  const edge = await startEdge(t, origin.url, { proxy: { trustForwarded: true } });
  const failed = await edge.get('/fails', { 'x-request-id': 'lb-7f3a9c:01' });
  assert.equal(failed.headers['x-request-id'], 'lb-7f3a9c:01');
  assert.equal(origin.requests[0].headers['x-request-id'], 'lb-7f3a9c:01');
  // One that could break a log line or a header is replaced by the edge's own.
  await edge.get('/a', { 'x-request-id': 'a "quoted" id' });
  assert.match(String(origin.requests[1].headers['x-request-id']), /^[0-9a-z]+-[0-9a-z]+$/);
});

test('Host reaches the origin as the client sent it, unless the site sets originHost', async (t) => {
  const origin = await startOrigin(t);
  const edge = await startEdge(t, origin.url, {
    sites: [
      { hosts: ['kept.test'], origins: [origin.url] },
      { hosts: ['*.replaced.test'], origins: [origin.url], originHost: 'backend.internal' },
    ],
  });
  await edge.get('/a', { host: 'Kept.Test:8080' });
  await edge.get('/b', { host: 'www.replaced.test' });
  assert.equal(origin.requests[0].headers.host, 'Kept.Test:8080');
  assert.equal(origin.requests[1].headers.host, 'backend.internal');
  // The client's host is still visible to the origin through the forwarding fields.
  assert.equal(origin.requests[1].headers['x-forwarded-host'], 'www.replaced.test');
  assert.match(String(origin.requests[1].headers.forwarded), /host=www\.replaced\.test/);
  assert.equal(fieldValues(origin.requests[1].rawHeaders, 'host').length, 1);
});

test('repeated Cookie fields are joined with "; ", other repeated fields with ", "', async (t) => {
  const origin = await startOrigin(t);
  const edge = await startEdge(t, origin.url);
  const res = await rawRequest(
    edge.node.http.port,
    'GET /a HTTP/1.1\r\nHost: example.test\r\nCookie: a=1\r\nAccept: text/html\r\nCookie: b=2; c=3\r\n' +
      'Accept: */*\r\nConnection: close\r\n\r\n',
  );
  assert.equal(res.status, 200);
  const raw = origin.requests[0].rawHeaders;
  assert.deepEqual(fieldValues(raw, 'cookie'), ['a=1; b=2; c=3']);
  assert.deepEqual(fieldValues(raw, 'accept'), ['text/html, */*']);
});

test('Set-Cookie fields from the origin reach the client as separate fields', async (t) => {
  const origin = await startOrigin(t, ok({ 'set-cookie': ['a=1; Path=/', 'b=2; Path=/'] }));
  const edge = await startEdge(t, origin.url);
  const res = await rawRequest(
    edge.node.http.port,
    'GET /a HTTP/1.1\r\nHost: example.test\r\nConnection: close\r\n\r\n',
  );
  assert.equal(res.status, 200);
  assert.equal(res.raw.match(/^set-cookie: /gim)?.length, 2, res.raw);
});
