// Per-site HTTPS options and upstream TLS: the redirect from HTTP (308, not for ACME challenges),
// HSTS on HTTPS responses only, a cache key with the scheme unless the site shares it, and
// tls.insecure for one https origin whose certificate no CA vouches for.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { validateConfig } from '../../shared/config/config.js';
import { StrataNode } from '../../shared/node.js';
import { edgeRole } from '../../edge/edge-role.js';
import { ok, startOrigin } from '../helpers/origin.js';
import { rawRequest } from '../helpers/raw.js';
import { httpsGet, startHttpsEdge, tlsAgent } from '../helpers/https-node.js';
import { issue, testCa, writeCert } from '../helpers/tls-certs.js';

async function setup(t: test.TestContext, siteOptions: Record<string, unknown>) {
  const origin = await startOrigin(t, ok({ 'cache-control': 'max-age=60' }));
  const ca = await testCa(t);
  const files = await writeCert(ca, 'site', await issue(ca, ['site.test']));
  const edge = await startHttpsEdge(t, [files], {
    sites: [{ hosts: ['site.test'], origins: [origin.url], ...siteOptions }],
  });
  const agent = tlsAgent(t, ca, 'site.test');
  return { origin, edge, agent };
}

test('https.redirect: HTTP gets 308 to the same URL on https (any method), ACME challenges do not', async (t) => {
  const { origin, edge } = await setup(t, { https: { redirect: true, port: 8443 } });
  const get = await rawRequest(edge.node.http.port, 'GET /a/b?c=1 HTTP/1.1\r\nHost: Site.Test:8080\r\n\r\n');
  assert.equal(get.status, 308);
  assert.equal(get.headers.location, 'https://site.test:8443/a/b?c=1');
  assert.match(get.headers['cache-status'], /^edge-test; fwd=bypass/);
  const post = await rawRequest(
    edge.node.http.port,
    'POST /form HTTP/1.1\r\nHost: site.test\r\nContent-Length: 0\r\n\r\n',
  );
  assert.equal(post.status, 308);
  const acme = await rawRequest(
    edge.node.http.port,
    'GET /.well-known/acme-challenge/token123 HTTP/1.1\r\nHost: site.test\r\n\r\n',
  );
  assert.equal(acme.status, 200);
  assert.deepEqual(
    origin.requests.map((r) => r.url),
    ['/.well-known/acme-challenge/token123'],
  );
});

test('HSTS is sent on HTTPS responses (miss, hit, errors), never over HTTP', async (t) => {
  const { edge, agent } = await setup(t, {
    https: { hsts: { maxAge: '365d', includeSubDomains: true, preload: true } },
  });
  const hsts = 'max-age=31536000; includeSubDomains; preload';
  const miss = await httpsGet(agent, `${edge.httpsUrl}/x`, 'site.test');
  const hit = await httpsGet(agent, `${edge.httpsUrl}/x`, 'site.test');
  assert.match(String(hit.headers['cache-status']), /hit/);
  assert.equal(miss.headers['strict-transport-security'], hsts);
  assert.equal(hit.headers['strict-transport-security'], hsts);
  // An error made here (504: only-if-cached with nothing stored) carries it too.
  const error = await httpsGet(agent, `${edge.httpsUrl}/y`, 'site.test', {
    'cache-control': 'only-if-cached',
  });
  assert.equal(error.status, 504);
  assert.equal(error.headers['strict-transport-security'], hsts);
  const plain = await rawRequest(edge.node.http.port, 'GET /x HTTP/1.1\r\nHost: site.test\r\n\r\n');
  assert.equal(plain.status, 200);
  assert.equal(plain.headers['strict-transport-security'], undefined);
});

test('an object fetched over HTTP is not served to HTTPS, unless the site shares the scheme', async (t) => {
  for (const [scheme, originRequests] of [
    ['keep', 2],
    ['ignore', 1],
  ] as const) {
    const { origin, edge, agent } = await setup(t, { cacheKey: { scheme } });
    await rawRequest(edge.node.http.port, 'GET /obj HTTP/1.1\r\nHost: site.test\r\n\r\n');
    const secure = await httpsGet(agent, `${edge.httpsUrl}/obj`, 'site.test');
    assert.equal(secure.status, 200);
    assert.equal(origin.requests.length, originRequests, `cacheKey.scheme: ${scheme}`);
    assert.match(String(secure.headers['cache-status']), scheme === 'keep' ? /uri-miss/ : /hit/);
  }
});

test('tls.insecure reaches an https origin no CA vouches for, and says so loudly at start', async (t) => {
  const ca = await testCa(t);
  const cert = await issue(ca, ['origin.internal']);
  const server = createServer({ key: cert.key, cert: cert.cert }, (_req, res) => {
    res.writeHead(200, { 'content-length': '2' }).end('ok');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const lines: { level: number; msg: string; peer?: string }[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(JSON.parse(chunk.toString()) as (typeof lines)[number]);
      done();
    },
  });
  const start = async (origin: unknown) => {
    const { config, problems } = validateConfig({
      node: { id: 'edge-test' },
      listen: { http: '127.0.0.1:0', admin: '127.0.0.1:0' },
      sites: [{ hosts: ['*'], origins: [origin] }],
      log: { access: false },
    });
    assert.deepEqual(problems, []);
    const node = new StrataNode(config!, { role: edgeRole, log: pino({ level: 'info' }, sink) });
    await node.start();
    t.after(() => node.stop(1000));
    const res = await rawRequest(node.http.port, 'GET / HTTP/1.1\r\nHost: a.test\r\n\r\n');
    server.closeAllConnections();
    return res.status;
  };
  assert.equal(await start(url), 502);
  assert.equal(await start({ url, tls: { insecure: true } }), 200);
  const warning = lines.find((l) => l.level === 40 && /TLS VERIFICATION IS OFF/.test(l.msg));
  assert.equal(warning?.peer, url);
});
