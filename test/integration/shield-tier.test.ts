// The shield tier with real nodes on loopback: an origin, two shields (strata shield) and three
// edges fetching their misses from the shields. Which shield answered is read from the first
// Cache-Status entry, as an operator would.

import test, { type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type AddressInfo } from 'node:net';
import { get as httpGet, type IncomingMessage } from 'node:http';
import { ManualClock, startNode, type TestEdge } from '../helpers/edge.js';
import { ok, startOrigin, type OriginHandler, type TestOrigin } from '../helpers/origin.js';
import { metricSum } from '../helpers/metrics.js';
import { until } from '../helpers/wait.js';
import { shieldRole } from '../../shield/shield-role.js';

/** Short probe intervals so that a stopped or returning shield is noticed within the test. */
const health = { probeInterval: '50ms', probeTimeout: '500ms' };

interface Tier {
  origin: TestOrigin;
  shields: TestEdge[];
  edges: TestEdge[];
  clock: ManualClock;
  /** Starts shield i again on its old port, as after a restart. */
  restartShield(i: number): Promise<TestEdge>;
}

interface TierOptions {
  handler?: OriginHandler;
  edges?: number;
  site?: Record<string, unknown>;
  edge?: Record<string, unknown>;
  shield?: Record<string, unknown>;
}

async function startTier(t: TestContext, options: TierOptions = {}): Promise<Tier> {
  const clock = new ManualClock();
  const origin = await startOrigin(t, options.handler ?? ok({ 'cache-control': 'max-age=60' }));
  const site = { hosts: ['*'], origins: [origin.url], ...options.site };
  const shieldConfig = (id: string, port = 0) => ({
    node: { id },
    listen: { http: `127.0.0.1:${port}`, admin: '127.0.0.1:0' },
    sites: [site],
    upstream: { health },
    proxy: { trustedProxies: ['127.0.0.1'] },
    ...options.shield,
  });
  const ids = ['shield-a', 'shield-b'];
  const shields = await Promise.all(
    ids.map((id) => startNode(t, shieldConfig(id), { role: shieldRole, clock })),
  );
  const edges = await Promise.all(
    Array.from({ length: options.edges ?? 3 }, (_, i) =>
      startNode(
        t,
        {
          node: { id: `edge-${i + 1}` },
          sites: [site],
          shields: shields.map((s) => ({ url: s.url })),
          upstream: { health },
          ...options.edge,
        },
        { clock },
      ),
    ),
  );
  return {
    origin,
    shields,
    edges,
    clock,
    async restartShield(i) {
      const port = shields[i].node.http.port;
      shields[i] = await startNode(t, shieldConfig(ids[i], port), { role: shieldRole, clock });
      return shields[i];
    },
  };
}

/** Every client asks for one site name, as through DNS: the cache key must not depend on the edge's port. */
const host = { host: 'cdn.test' };

/** The node named by the first Cache-Status entry: the tier furthest from the client. */
function firstCache(res: { cacheStatus: string }): string {
  return res.cacheStatus.split(';')[0];
}

test('50 concurrent requests for one new object through three edges make one origin request', async (t) => {
  const tier = await startTier(t, {
    handler: (req, res) =>
      setTimeout(
        () => ok({ 'cache-control': 'max-age=60' }, `the object at ${req.url}`)(req, res, 1, ''),
        100,
      ),
  });
  const answers = await Promise.all(
    Array.from({ length: 50 }, (_, i) => tier.edges[i % 3].get('/new-object', host)),
  );
  for (const res of answers) {
    assert.equal(res.status, 200);
    assert.equal(res.body, 'the object at /new-object');
  }
  assert.equal(tier.origin.requests.length, 1);
  // Each edge collapsed its own clients into one shield request; the owning shield, those three.
  const owner = firstCache(answers.find((r) => r.cacheStatus.startsWith('shield'))!);
  const shield = tier.shields.find((s) => s.node.config.node.id === owner)!;
  const m = await shield.metrics();
  assert.equal(metricSum(m, 'strata_collapsed_requests_total'), 2);
  // Cache-Status lists the shield's entry before the edge's (RFC 9211 §2).
  const first = answers.find(
    (r) => !r.cacheStatus.includes('collapsed') && r.cacheStatus.includes(`${owner};`),
  )!;
  assert.match(
    first.cacheStatus,
    /^shield-[ab]; fwd=uri-miss; fwd-status=200; stored, edge-\d; fwd=uri-miss; fwd-status=200; stored$/,
  );
});

test('a stopped shield: its keys move to the other shield and come back when it returns', async (t) => {
  const tier = await startTier(t, { handler: ok({ 'cache-control': 'no-store' }) });
  const edge = tier.edges[0];
  const paths = Array.from({ length: 20 }, (_, i) => `/k${i}`);
  const owners = new Map<string, string>();
  for (const path of paths) owners.set(path, firstCache(await edge.get(path, host)));
  const ownedByA = paths.filter((p) => owners.get(p) === 'shield-a');
  const ownedByB = paths.filter((p) => owners.get(p) === 'shield-b');
  assert.ok(ownedByA.length > 0 && ownedByB.length > 0, `both shields own keys: ${[...owners.values()]}`);
  // Every edge agrees on the owner of a key.
  for (const path of paths) assert.equal(firstCache(await tier.edges[2].get(path, host)), owners.get(path));

  await tier.shields[0].stop();
  for (const path of paths) {
    const res = await edge.get(path, host);
    assert.equal(res.status, 200, `${path} still answered`);
    assert.equal(firstCache(res), 'shield-b');
  }
  const m = await edge.metrics();
  assert.equal(metricSum(m, 'strata_upstream_peer_usable', { peer: tier.shields[0].url }), 0);

  await tier.restartShield(0);
  await until(async () => firstCache(await edge.get(ownedByA[0], host)) === 'shield-a', 5000);
  for (const path of paths) assert.equal(firstCache(await edge.get(path, host)), owners.get(path));
});

test('both shields stopped: edges go to the origin (shieldFallback: direct)', async (t) => {
  const tier = await startTier(t, { handler: ok({ 'cache-control': 'no-store' }) });
  await Promise.all(tier.shields.map((s) => s.stop()));
  // At once (before any probe noticed) and after the probes took both shields out.
  for (let i = 0; i < 2; i++) {
    const res = await tier.edges[0].get(`/direct-${i}`);
    assert.equal(res.status, 200);
    assert.equal(res.body, `body ${i + 1} for /direct-${i}`);
    assert.match(res.cacheStatus, /^edge-1; fwd=uri-miss/);
    await until(
      async () =>
        metricSum(await tier.edges[0].metrics(), 'strata_upstream_peer_usable', { kind: 'shield' }) === 0,
    );
  }
});

test('both shields stopped with shieldFallback: fail: 503 SHIELD_UNAVAILABLE, the origin never asked', async (t) => {
  const tier = await startTier(t, { edge: { shieldFallback: 'fail' }, edges: 1 });
  await Promise.all(tier.shields.map((s) => s.stop()));
  for (let i = 0; i < 2; i++) {
    const res = await tier.edges[0].get(`/fail-${i}`);
    assert.equal(res.status, 503);
    assert.equal(res.headers['strata-error'], 'SHIELD_UNAVAILABLE');
    assert.match(res.body, /no origin shield could be reached/);
    await until(
      async () =>
        metricSum(await tier.edges[0].metrics(), 'strata_upstream_peer_usable', { kind: 'shield' }) === 0,
    );
  }
  assert.equal(tier.origin.requests.length, 0);
});

test('origin stopped: the shield serves stale where allowed; shield and origin stopped: the edge does', async (t) => {
  const tier = await startTier(t, {
    handler: ok({ 'cache-control': 'max-age=10' }, 'the stored copy'),
    site: { staleIfError: '1h' },
    edges: 1,
  });
  const edge = tier.edges[0];
  assert.equal((await edge.get('/page')).status, 200);
  await tier.origin.close();
  tier.clock.advance(20);
  const fromShield = await edge.get('/page');
  assert.equal(fromShield.status, 200);
  assert.equal(fromShield.body, 'the stored copy');
  assert.match(
    fromShield.cacheStatus,
    /^shield-[ab]; hit; ttl=-10; detail=stale-if-error, edge-1; fwd=stale;/,
  );

  await Promise.all(tier.shields.map((s) => s.stop()));
  tier.clock.advance(20);
  const fromEdge = await edge.get('/page');
  assert.equal(fromEdge.status, 200);
  assert.equal(fromEdge.body, 'the stored copy');
  assert.match(fromEdge.cacheStatus, /^edge-1; hit; ttl=-30; detail=stale-if-error$/);
});

test('origin stopped and no stale copy allowed: 502 from the shield reaches the client, 504 for a hung origin', async (t) => {
  const tier = await startTier(t, {
    handler: (req, res) => {
      if (req.url !== '/hang') ok({ 'cache-control': 'max-age=10' })(req, res, 1, '');
    },
    shield: { upstream: { health, headersTimeout: '200ms' } },
    edges: 1,
  });
  const edge = tier.edges[0];
  const hung = await edge.get('/hang');
  assert.equal(hung.status, 504);
  // The shield's own error, passed on: its words in the body (Strata-Error stays at each hop).
  assert.match(hung.body, /^504 the origin did not answer in time\n/);
  assert.match(hung.cacheStatus, /^shield-[ab]; fwd=uri-miss, edge-1; fwd=uri-miss; fwd-status=504/);
  await tier.origin.close();
  const res = await edge.get('/gone');
  assert.equal(res.status, 502);
  assert.match(res.body, /^502 could not connect to the origin\n/);
  // A shield passing on its origin's failure is healthy: it stays in service.
  const m = await edge.metrics();
  assert.equal(metricSum(m, 'strata_upstream_peer_usable', { kind: 'shield' }), 2);
  assert.equal(metricSum(m, 'strata_upstream_retries_total'), 0);
});

test('an edge configured as its own shield is refused with 508 Loop Detected', async (t) => {
  const origin = await startOrigin(t);
  const port = await freePort();
  const edge = await startNode(t, {
    node: { id: 'edge-loop' },
    listen: { http: `127.0.0.1:${port}`, admin: '127.0.0.1:0' },
    sites: [{ hosts: ['*'], origins: [origin.url] }],
    shields: [{ url: `http://127.0.0.1:${port}` }],
    shieldFallback: 'fail',
    upstream: { health },
  });
  // Its first probe ran before its own listener was open (503 until a probe finds it).
  let res = await edge.get('/a');
  await until(async () => (res = await edge.get('/a')).status !== 503);
  assert.equal(res.status, 508);
  assert.match(res.cacheStatus, /^edge-loop; fwd=bypass, edge-loop; fwd=uri-miss; fwd-status=508/);
  assert.match(res.body, /already passed through this node \(CDN-Loop\)/);
  assert.equal(origin.requests.length, 0);
});

test('the shield honours the edge as a trusted forwarder: the client address survives both hops', async (t) => {
  const tier = await startTier(t, { handler: ok({ 'cache-control': 'no-store' }), edges: 1 });
  // The client comes from 127.0.0.5, the edge from 127.0.0.1.
  const res = await fromAddress('127.0.0.5', `${tier.edges[0].url}/who`);
  assert.equal(res.statusCode, 200);
  const seen = tier.origin.requests[0].headers;
  assert.equal(seen['x-forwarded-for'], '127.0.0.5, 127.0.0.1');
  assert.match(String(seen.via), /edge-1 \(strata\), 1\.1 shield-[ab] \(strata\)$/);
  assert.match(String(seen['cdn-loop']), /^edge-1, shield-[ab]$/);
  // One request id through both tiers' logs: the shield kept the edge's.
  assert.match(String(seen['x-request-id']), /^[a-z0-9]+-\d+$/);
});

test('freshness across tiers: an edge counts the Age the shield reports, never outliving max-age', async (t) => {
  const tier = await startTier(t, { edges: 2 });
  assert.match((await tier.edges[0].get('/aging', host)).cacheStatus, /edge-1; fwd=uri-miss; .*stored$/);
  tier.clock.advance(30);
  const second = await tier.edges[1].get('/aging', host);
  assert.ok(Number(second.headers.age) >= 30, `Age ${second.headers.age}`);
  assert.match(second.cacheStatus, /^shield-[ab]; hit; ttl=30, edge-2; fwd=uri-miss; .*stored$/);
  tier.clock.advance(31);
  // Stored at edge-2 with age 30, now 61 > max-age=60: stale at the edge, not a hit.
  const third = await tier.edges[1].get('/aging', host);
  assert.match(third.cacheStatus, /edge-2; fwd=stale/);
  assert.equal(tier.origin.requests.length, 2);
});

/** A GET from a given loopback address (undici's connector does not bind a local address). */
function fromAddress(localAddress: string, url: string): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const req = httpGet(url, { localAddress }, (res) => {
      res.resume();
      res.on('end', () => resolve(res));
    });
    req.on('error', reject);
  });
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

test('an edge revalidating its stale copy gets 304 from the shield, which revalidated with the origin', async (t) => {
  const tier = await startTier(t, { edges: 1 });
  // Date from the test's clock, or the tiers would see the origin's answers as old.
  tier.origin.handle((req, res) => {
    const headers = {
      'cache-control': 'max-age=60',
      etag: '"v1"',
      date: new Date(tier.clock.now()).toUTCString(),
    };
    if (req.headers['if-none-match'] === '"v1"') res.writeHead(304, headers).end();
    else res.writeHead(200, headers).end('version 1');
  });
  const edge = tier.edges[0];
  assert.equal((await edge.get('/doc', host)).body, 'version 1');
  tier.clock.advance(61);
  // Stale at both tiers: the edge asks the shield with its validator, the shield asks the origin.
  const res = await edge.get('/doc', host);
  assert.equal(res.status, 200);
  assert.equal(res.body, 'version 1');
  assert.match(res.cacheStatus, /^edge-1; fwd=stale; fwd-status=304; ttl=60; detail=revalidated$/);
  assert.equal(tier.origin.requests.length, 2);
  assert.equal(tier.origin.requests[1].headers['if-none-match'], '"v1"');
  const shieldMetrics = (await Promise.all(tier.shields.map((s) => s.metrics()))).join('\n');
  assert.equal(
    metricSum(shieldMetrics, 'strata_requests_total', { outcome: 'revalidated', status: '304' }),
    1,
  );
  // Fresh again at the edge: a hit, no request upstream.
  assert.match((await edge.get('/doc', host)).cacheStatus, /^edge-1; hit/);
  assert.equal(tier.origin.requests.length, 2);
});

test("regression: an origin's own Strata-Error never makes an edge take a healthy shield out", async (t) => {
  const tier = await startTier(t, {
    handler: (_req, res) =>
      res.writeHead(503, { 'strata-error': 'INTERNAL', 'content-length': '4' }).end('busy'),
    edges: 1,
  });
  const res = await tier.edges[0].get('/pretend', host);
  assert.equal(res.status, 503);
  assert.equal(res.body, 'busy');
  // The shield passed the origin's 503 on without the field: only a node's own failures carry it.
  assert.equal(res.headers['strata-error'], undefined);
  const m = await tier.edges[0].metrics();
  assert.equal(metricSum(m, 'strata_upstream_retries_total'), 0);
  assert.equal(metricSum(m, 'strata_upstream_peer_usable', { kind: 'shield' }), 2);
  assert.equal(tier.origin.requests.length, 1);
});
