// Routing by Host to a site: exact, wildcard and catch-all hosts; unknown hosts and
// absolute-form targets for other hosts are refused (Strata is never an open proxy).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import type { TestContext } from 'node:test';
import { ok, startOrigin, type TestOrigin } from '../helpers/origin.js';
import { startEdge, startNode, type TestEdge } from '../helpers/edge.js';
import { edgeRole } from '../../edge/edge-role.js';
import type { NodeRole } from '../../shared/node-role.js';
import { StrataError } from '../../shared/errors.js';
import { metricSum } from '../helpers/metrics.js';
import { rawConnect, rawRequest } from '../helpers/raw.js';
import { until } from '../helpers/wait.js';

interface TwoSites {
  edge: TestEdge;
  port: number;
  example: TestOrigin;
  other: TestOrigin;
}

/** example.test and *.example.test on one origin, other.test on another. */
async function twoSites(t: TestContext): Promise<TwoSites> {
  const example = await startOrigin(t, ok({ 'x-site': 'example' }));
  const other = await startOrigin(t, ok({ 'x-site': 'other' }));
  const edge = await startEdge(t, [], {
    sites: [
      { hosts: ['example.test', '*.example.test'], origins: [example.url] },
      { hosts: ['other.test'], origins: [other.url] },
    ],
  });
  return { edge, port: edge.node.http.port, example, other };
}

test('a request is routed to the site of its Host: exact, wildcard, deeper subdomains', async (t) => {
  const { edge, example, other } = await twoSites(t);
  const cases: [string, string][] = [
    ['example.test', 'example'],
    ['www.example.test', 'example'],
    ['a.b.c.example.test', 'example'],
    ['other.test', 'other'],
  ];
  for (const [host, site] of cases) {
    const res = await edge.get('/x', { host });
    assert.equal(res.status, 200, host);
    assert.equal(res.headers['x-site'], site, host);
  }
  assert.equal(example.requests.length, 3);
  assert.equal(other.requests.length, 1);
  // The origin sees the Host as the client sent it.
  assert.deepEqual(
    example.requests.map((r) => r.headers.host),
    ['example.test', 'www.example.test', 'a.b.c.example.test'],
  );
});

test('routing ignores the port, letter case and a trailing dot', async (t) => {
  const { edge, example } = await twoSites(t);
  for (const host of ['example.test:8080', 'EXAMPLE.Test', 'example.test.', 'WWW.Example.TEST.:81']) {
    const res = await edge.get('/x', { host });
    assert.equal(res.status, 200, host);
    assert.equal(res.headers['x-site'], 'example', host);
  }
  assert.equal(example.requests.length, 4);
});

test('an unknown host gets 421 with a text body naming the request id, and no origin is asked', async (t) => {
  const { edge, example, other } = await twoSites(t);
  for (const host of ['nope.test', 'badexample.test', 'example.test.evil', 'test']) {
    const res = await edge.get('/x', { host });
    assert.equal(res.status, 421, host);
    assert.match(String(res.headers['content-type']), /^text\/plain/);
    const id = String(res.headers['x-request-id']);
    assert.ok(id.length > 0);
    assert.match(res.body, /no site is configured for this host/);
    assert.ok(res.body.includes(`request id: ${id}`), res.body);
    assert.match(res.cacheStatus, /^edge-test; fwd=bypass/);
    assert.equal(res.headers['cache-control'], 'no-store');
  }
  assert.equal(example.requests.length + other.requests.length, 0);
  const m = await edge.metrics();
  assert.equal(metricSum(m, 'strata_requests_total', { status: '421' }), 4);
});

test('the wildcard does not match its apex: *.example.test alone leaves example.test unknown', async (t) => {
  const origin = await startOrigin(t);
  const edge = await startEdge(t, [], { sites: [{ hosts: ['*.example.test'], origins: [origin.url] }] });
  assert.equal((await edge.get('/', { host: 'a.example.test' })).status, 200);
  assert.equal((await edge.get('/', { host: 'example.test' })).status, 421);
  assert.equal(origin.requests.length, 1);
});

test('the longest matching wildcard wins over a shorter one', async (t) => {
  const outer = await startOrigin(t, ok({ 'x-site': 'outer' }));
  const inner = await startOrigin(t, ok({ 'x-site': 'inner' }));
  const edge = await startEdge(t, [], {
    sites: [
      { hosts: ['*.example.test'], origins: [outer.url] },
      { hosts: ['*.eu.example.test', 'eu.example.test'], origins: [inner.url] },
    ],
  });
  assert.equal((await edge.get('/', { host: 'cdn.eu.example.test' })).headers['x-site'], 'inner');
  assert.equal((await edge.get('/', { host: 'a.b.eu.example.test' })).headers['x-site'], 'inner');
  assert.equal((await edge.get('/', { host: 'eu.example.test' })).headers['x-site'], 'inner');
  assert.equal((await edge.get('/', { host: 'us.example.test' })).headers['x-site'], 'outer');
  assert.equal(inner.requests.length, 3);
  assert.equal(outer.requests.length, 1);
});

test('"*" is a catch-all; more specific sites win over it', async (t) => {
  const specific = await startOrigin(t, ok({ 'x-site': 'specific' }));
  const fallback = await startOrigin(t, ok({ 'x-site': 'fallback' }));
  const edge = await startEdge(t, [], {
    sites: [
      { hosts: ['*'], origins: [fallback.url] },
      { hosts: ['a.test', '*.b.test'], origins: [specific.url] },
    ],
  });
  assert.equal((await edge.get('/', { host: 'a.test' })).headers['x-site'], 'specific');
  assert.equal((await edge.get('/', { host: 'x.b.test' })).headers['x-site'], 'specific');
  assert.equal((await edge.get('/', { host: 'anything.test' })).headers['x-site'], 'fallback');
  assert.equal((await edge.get('/', { host: '10.0.0.1:8080' })).headers['x-site'], 'fallback');
  assert.equal(specific.requests.length, 2);
  assert.equal(fallback.requests.length, 2);
});

test('an absolute-form target for a host that is not a site is refused, never proxied', async (t) => {
  const { port, example, other } = await twoSites(t);
  for (const target of [
    'http://evil.test/',
    'http://evil.test:80/x?y',
    'https://evil.test/',
    'http://127.0.0.1/',
  ]) {
    // The Host field names a configured site: the authority in the target must win (RFC 9112 §3.2.2).
    const res = await rawRequest(
      port,
      `GET ${target} HTTP/1.1\r\nHost: example.test\r\nConnection: close\r\n\r\n`,
    );
    assert.equal(res.status, 403, target);
    assert.match(res.body, /absolute-form requests are only accepted for configured sites/);
    assert.match(res.body, /request id: /);
  }
  assert.equal(example.requests.length + other.requests.length, 0);
});

test('an absolute-form target for a configured site is served from that site', async (t) => {
  const { port, example, other } = await twoSites(t);
  const res = await rawRequest(
    port,
    'GET http://other.test/page?q=1 HTTP/1.1\r\nHost: example.test\r\nConnection: close\r\n\r\n',
  );
  assert.equal(res.status, 200);
  assert.equal(res.headers['x-site'], 'other');
  assert.equal(other.requests.length, 1);
  assert.equal(other.requests[0].url, '/page?q=1');
  assert.equal(other.requests[0].headers.host, 'other.test');
  assert.equal(example.requests.length, 0);
});

test('regression: an absolute-form target without a path is origin-form "/" (with its query)', async (t) => {
  const { port, other } = await twoSites(t);
  const res = await rawRequest(
    port,
    'GET http://other.test?q=1 HTTP/1.1\r\nHost: other.test\r\nConnection: close\r\n\r\n',
  );
  assert.equal(res.status, 200);
  assert.equal(other.requests[0].url, '/?q=1');
});

test('CONNECT gets 405 and the connection closes: no tunnel is opened', async (t) => {
  const { port, example, other } = await twoSites(t);
  const conn = await rawConnect(port);
  const res = await conn.send('CONNECT example.test:443 HTTP/1.1\r\nHost: example.test:443\r\n\r\n');
  assert.equal(res.status, 405, res.raw);
  assert.match(res.headers.allow, /GET/);
  assert.match(res.headers['cache-status'], /fwd=bypass; detail=connect-refused/);
  await conn.closed;
  assert.equal(example.requests.length + other.requests.length, 0);
});

test('a client that resets right after CONNECT does not take the edge down', async (t) => {
  const { edge, port } = await twoSites(t);
  for (let i = 0; i < 20; i++) {
    const socket = connect(port, '127.0.0.1');
    await new Promise<void>((resolve) => socket.once('connect', resolve));
    socket.on('error', () => undefined);
    socket.write('CONNECT example.test:443 HTTP/1.1\r\nHost: example.test:443\r\n\r\n');
    socket.resetAndDestroy();
  }
  await new Promise((resolve) => setTimeout(resolve, 100));
  const res = await edge.get('/still', { host: 'example.test' });
  assert.equal(res.status, 200);
});

test('a refused connection is closed by the edge even when the client keeps its side open', async (t) => {
  const { edge, port } = await twoSites(t);
  const connections = () =>
    new Promise<number>((resolve, reject) =>
      edge.node.http.server.getConnections((err, n) => (err ? reject(err) : resolve(n))),
    );
  for (const request of [
    'CONNECT example.test:443 HTTP/1.1\r\nHost: example.test:443\r\n\r\n',
    'GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n',
  ]) {
    // allowHalfOpen: the client never closes its side, as a careless or hostile one would not.
    const socket = connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    t.after(() => socket.destroy());
    socket.on('error', () => undefined);
    let answer = '';
    socket.on('data', (chunk: Buffer) => (answer += chunk.toString('latin1')));
    const ended = new Promise((resolve) => socket.once('end', resolve));
    socket.write(request);
    await ended;
    assert.match(answer, /^HTTP\/1\.1 4\d\d /, request);
    // The edge lets go of the socket after a short linger, not when the client decides.
    await until(async () => (await connections()) === 0, 5000);
  }
});

test('a request without Host gets 400 and no origin is asked', async (t) => {
  const { port, example, other } = await twoSites(t);
  for (const version of ['1.1', '1.0']) {
    const res = await rawRequest(port, `GET /x HTTP/${version}\r\nAccept: */*\r\n\r\n`);
    assert.equal(res.status, 400, version);
    assert.match(res.body, /missing Host/);
  }
  const empty = await rawRequest(port, 'GET /x HTTP/1.1\r\nHost:\r\nConnection: close\r\n\r\n');
  assert.equal(empty.status, 400);
  assert.equal(example.requests.length + other.requests.length, 0);
});

test('a request with two Host fields gets 400 (RFC 9112 §3.2) and no origin is asked', async (t) => {
  const { edge, port, example, other } = await twoSites(t);
  const conn = await rawConnect(port);
  t.after(() => conn.close());
  const res = await conn.send('GET /x HTTP/1.1\r\nHost: example.test\r\nHost: other.test\r\n\r\n');
  assert.equal(res.status, 400);
  assert.match(res.body, /more than one Host/);
  assert.equal(res.headers.connection, 'close');
  await conn.closed;
  const same = await rawRequest(port, 'GET /x HTTP/1.1\r\nHost: example.test\r\nhost: example.test\r\n\r\n');
  assert.equal(same.status, 400);
  assert.equal(example.requests.length + other.requests.length, 0);
  const m = await edge.metrics();
  assert.equal(metricSum(m, 'strata_client_errors_total', { code: 'DUPLICATE_HOST' }), 2);
});

test("a Host with characters no host may have gets 400, so it cannot make another URL's cache key", async (t) => {
  // Regression: with a catch-all site, "Host: victim.test/admin" + "GET /x" was stored under
  // http://victim.test/admin/x and then served to real requests for that URL.
  const origin = await startOrigin(t, (req, res) => {
    const body = `host=${req.headers.host} url=${req.url}`;
    res.writeHead(200, { 'cache-control': 'max-age=60', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
  const edge = await startEdge(t, origin.url);
  const port = edge.node.http.port;
  for (const host of [
    'victim.test/admin',
    'victim.test:80/admin',
    'a b.test',
    'evil@victim.test',
    'victim.test?x',
    'victim.test:8o',
  ]) {
    const res = await rawRequest(port, `GET /x HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
    assert.equal(res.status, 400, host);
    assert.match(res.body, /invalid Host/);
  }
  for (const target of ['http://victim.test:80@evil.test/x', 'http://user@victim.test/x', 'http:///x']) {
    const res = await rawRequest(
      port,
      `GET ${target} HTTP/1.1\r\nHost: victim.test\r\nConnection: close\r\n\r\n`,
    );
    assert.equal(res.status, 400, target);
  }
  assert.equal(origin.requests.length, 0);
  const real = await edge.get('/admin/x', { host: 'victim.test' });
  assert.equal(real.body, 'host=victim.test url=/admin/x');
  assert.match(real.cacheStatus, /fwd=uri-miss/);
  // Hosts that are valid stay valid: IPv4, IPv6 literals, ports, an empty port.
  for (const host of ['10.0.0.1:8080', '[::1]:8080', '[::1]', 'victim.test:', 'xn--bcher-kva.test']) {
    const res = await edge.get('/ok', { host });
    assert.equal(res.status, 200, host);
  }
  const m = await edge.metrics();
  assert.equal(metricSum(m, 'strata_client_errors_total', { code: 'INVALID_HOST' }), 9);
});

test("a role's request filters run after routing, in order, and the first decision ends the request", async (t) => {
  const origin = await startOrigin(t);
  const seen: string[] = [];
  const role: NodeRole = {
    ...edgeRole,
    filters: () => [
      {
        name: 'record',
        onRequest: (ctx) => void seen.push(`${ctx.site.config.hosts[0]} ${ctx.target}`),
      },
      {
        name: 'deny',
        onRequest: (ctx) =>
          ctx.req.headers['x-deny']
            ? { action: 'respond', error: new StrataError('PROXY_REFUSED', 'denied by a filter') }
            : undefined,
      },
    ],
  };
  const edge = await startNode(t, { sites: [{ hosts: ['*'], origins: [origin.url] }] }, { role });
  const denied = await edge.get('/a', { 'x-deny': '1' });
  assert.equal(denied.status, 403);
  assert.match(denied.body, /denied by a filter/);
  assert.equal((await edge.get('/a')).status, 200);
  assert.deepEqual(seen, ['* /a', '* /a']);
  assert.equal(origin.requests.length, 1);
});
