// Fleet-wide purges over a real redis-server: an origin, a shield and three edges with disk
// tiers. Every selector reaches every node and is acknowledged; a fill in flight when its tag
// is purged is not stored; an edge does not re-cache from a shield that has not applied the
// purge yet; an edge stopped during 100 purges applies them all when it starts again.

import test, { type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock, metric, startNode, type TestEdge } from '../helpers/edge.js';
import { startOrigin, type TestOrigin } from '../helpers/origin.js';
import { postPurge, testToken } from '../helpers/purge.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';
import { tempDir } from '../helpers/temp.js';
import { gate, until } from '../helpers/wait.js';
import { shieldRole } from '../../shield/shield-role.js';

interface Fleet {
  redis: TestRedis;
  origin: TestOrigin;
  shield: TestEdge;
  edges: TestEdge[];
  /** Starts edge i again on its disk tier (after stop()). */
  restartEdge(i: number): Promise<TestEdge>;
  /** What the origin answers: its version of each path, and tags by path. */
  version: Map<string, number>;
}

const tagsOf = (path: string) => (path.startsWith('/img/') ? 'images shared' : 'pages shared');

async function startFleet(t: TestContext, edgeCount = 3): Promise<Fleet> {
  const redis = await startRedis(t);
  const version = new Map<string, number>();
  const origin = await startOrigin(t, (req, res) => {
    const path = req.url!;
    res.writeHead(200, { 'cache-control': 'max-age=600', 'surrogate-key': tagsOf(path) });
    res.end(`${path} v${version.get(path) ?? 1}`);
  });
  const clock = new ManualClock();
  const site = { hosts: ['*'], origins: [origin.url] };
  const purge = { redis: redis.url, token: testToken, heartbeat: '100ms' };
  const disk = async (name: string) => ({ disk: { path: await tempDir(t, name), maxBytes: '64MiB' } });
  const shield = await startNode(
    t,
    { node: { id: 'shield-1' }, sites: [site], purge, cache: await disk('shield') },
    { role: shieldRole, clock },
  );
  const edgeConfig = async (i: number) => ({
    node: { id: `edge-${i + 1}` },
    sites: [site],
    shields: [{ url: shield.url }],
    purge,
    cache: await disk(`edge-${i + 1}`),
  });
  const configs = await Promise.all(Array.from({ length: edgeCount }, (_, i) => edgeConfig(i)));
  const edges = await Promise.all(configs.map((c) => startNode(t, c, { clock })));
  // Every node has written its first heartbeat: the API waits for all of them.
  await until(async () => (await liveNodes(edges[0])) === edgeCount + 1, 10_000);
  return {
    redis,
    origin,
    shield,
    edges,
    version,
    async restartEdge(i) {
      edges[i] = await startNode(t, configs[i], { clock });
      return edges[i];
    },
  };
}

async function liveNodes(node: TestEdge): Promise<number> {
  const { request } = await import('undici');
  const res = await request(`${node.adminUrl}/nodes`);
  const body = (await res.body.json()) as { nodes?: unknown[] };
  return body.nodes?.length ?? 0;
}

/**
 * Whether a node serves the path from its cache (only-if-cached: no fetch either way). `as`: the
 * node whose Host the object was fetched with (a shield stores what an edge asked for, keyed by
 * the Host the client gave that edge).
 */
async function cached(node: TestEdge, path: string, as: TestEdge = node): Promise<boolean> {
  const host = as.url.replace('http://', '');
  return (await node.get(path, { host, 'cache-control': 'only-if-cached' })).status === 200;
}

test('each selector reaches the shield and every edge, and each node acknowledges it', async (t) => {
  const fleet = await startFleet(t);
  const { edges, shield } = fleet;
  const nodes = [shield, ...edges];
  const paths = ['/img/1', '/img/2', '/page'];
  const fill = async () => {
    for (const e of edges) for (const p of paths) await e.get(p);
  };
  await fill();
  // The shield passed its Surrogate-Key on: the edges index the tags; clients never see them.
  assert.equal((await edges[0].get('/img/1')).headers['surrogate-key'], undefined);
  const cases: [Record<string, unknown>, string[]][] = [
    [{ tags: ['images'] }, ['/page']],
    [{ urls: ['http://127.0.0.1/page'] }, ['/img/1', '/img/2']],
    [{ prefixes: [`${fleet.shield.url.replace(/:\d+$/, '')}/img/`] }, ['/page']],
    [{ hosts: ['127.0.0.1'] }, []],
    [{ all: true }, []],
  ];
  for (const [selector, kept] of cases) {
    await fill();
    // Edges key by the Host each was asked with (127.0.0.1:port): purge each edge's own host.
    const body = selectorFor(selector, edges, shield);
    const answer = await postPurge(edges[1].adminUrl, body, { wait: '10s' });
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.equal(answer.body.nodes, 4);
    assert.equal(answer.body.complete, true);
    const results = answer.body.results as { node: string; applied: boolean }[];
    assert.deepEqual(results.map((r) => r.node).sort(), ['edge-1', 'edge-2', 'edge-3', 'shield-1']);
    for (const e of edges)
      for (const p of paths)
        assert.equal(await cached(e, p), kept.includes(p), `${JSON.stringify(selector)} ${p}`);
  }
  for (const n of nodes) assert.equal(metric(await n.metrics(), 'strata_purge_bus_up'), 1);
});

/** The selector with URLs, prefixes and hosts spelled for every node's own Host (127.0.0.1:port). */
function selectorFor(
  selector: Record<string, unknown>,
  edges: TestEdge[],
  shield: TestEdge,
): Record<string, unknown> {
  const bases = [...edges, shield].map((n) => n.url);
  const out: Record<string, unknown> = { ...selector };
  if (selector.urls) out.urls = bases.map((b) => `${b}/page`);
  if (selector.prefixes) out.prefixes = bases.map((b) => `${b}/img/`);
  if (selector.hosts) out.hosts = bases.map((b) => b.replace('http://', ''));
  return out;
}

test('the fill race: a response in flight while its tag is purged is not stored', async (t) => {
  const fleet = await startFleet(t, 1);
  const [edge] = fleet.edges;
  const held = gate();
  let arrived!: () => void;
  const atOrigin = new Promise<void>((resolve) => (arrived = resolve));
  fleet.origin.handle((req, res) => {
    res.writeHead(200, { 'cache-control': 'max-age=600', 'surrogate-key': 'slow' });
    res.write('old ');
    arrived();
    void held.promise.then(() => res.end('body'));
  });
  const inFlight = edge.get('/slow');
  await atOrigin;
  const answer = await postPurge(edge.adminUrl, { tags: ['slow'] }, { wait: '10s' });
  assert.equal(answer.body.complete, true);
  held.open();
  assert.equal((await inFlight).body, 'old body');
  // Neither the shield nor the edge kept it: both had the fill in flight when the purge came.
  assert.equal(await cached(edge, '/slow'), false);
  assert.equal(await cached(fleet.shield, '/slow', edge), false);
});

test('the tier race: an edge does not re-cache the purged object from a shield that is behind', async (t) => {
  const fleet = await startFleet(t, 1);
  const [edge] = fleet.edges;
  await edge.get('/page');
  assert.equal(await cached(fleet.shield, '/page', edge), true);
  // The shield is slow to apply purges: its agent waits until the test lets it go.
  const slow = gate();
  const apply = fleet.shield.node.purger.apply.bind(fleet.shield.node.purger);
  fleet.shield.node.purger.apply = async (spec) => {
    await slow.promise;
    return apply(spec);
  };
  fleet.version.set('/page', 2);
  const answer = await postPurge(edge.adminUrl, { urls: [`${edge.url}/page`] }, { wait: '300ms' });
  assert.equal(answer.body.complete, false);
  const shieldResult = (answer.body.results as { node: string; applied: boolean }[]).find(
    (r) => r.node === 'shield-1',
  );
  assert.equal(shieldResult?.applied, false);
  // The edge applied it; the shield still holds v1 but sees that the edge is ahead: origin.
  const again = await edge.get('/page');
  assert.equal(again.body, '/page v2');
  assert.equal((await edge.get('/page')).body, '/page v2');
  assert.equal(metric(await fleet.shield.metrics(), 'strata_purge_tier_passes_total'), 1);
  slow.open();
  await until(async () => !(await cached(fleet.shield, '/page', edge)));
});

test('an edge stopped during 100 purges applies all of them when it starts again (position on disk)', async (t) => {
  const fleet = await startFleet(t, 2);
  const paths = Array.from({ length: 100 }, (_, i) => `/page/${i}`);
  for (const p of paths) await fleet.edges[0].get(p);
  await fleet.edges[0].stop();
  for (const p of paths) {
    const answer = await postPurge(fleet.edges[1].adminUrl, { urls: [`${fleet.edges[0].url}${p}`] });
    assert.equal(answer.status, 202);
  }
  const edge = await fleet.restartEdge(0);
  // The restarted edge listens on a new port: its old objects are keyed by the old one.
  const metrics = await edge.metrics();
  assert.equal(metric(metrics, 'strata_purges_applied_total{mode="hard"}'), 100);
  assert.equal(metric(metrics, 'strata_purge_objects_total'), 100);
  assert.equal(metric(metrics, 'strata_purge_catchups_total{reason="start"}'), 1);
});

test('Redis down: nodes keep serving, the API answers 503, and nodes catch up when it is back', async (t) => {
  const fleet = await startFleet(t, 1);
  const [edge] = fleet.edges;
  await edge.get('/page');
  // The edge has read the log up to a purge; Redis then loses the log (no persistence).
  assert.equal((await postPurge(edge.adminUrl, { tags: ['other'] }, { wait: '5s' })).body.complete, true);
  await fleet.redis.stop(true);
  await until(async () => metric(await edge.metrics(), 'strata_purge_bus_up') === 0, 10_000);
  assert.match((await edge.get('/page')).cacheStatus, /hit/);
  const refused = await postPurge(edge.adminUrl, { all: true });
  assert.equal(refused.status, 503);
  assert.match(String(refused.body.message), /unreachable/);
  const { request } = await import('undici');
  const ready = await request(`${edge.adminUrl}/readyz`);
  assert.equal(ready.statusCode, 200);
  assert.match(await ready.body.text(), /purge: Redis unreachable/);
  await fleet.redis.restart();
  await until(async () => metric(await edge.metrics(), 'strata_purge_bus_up') === 1, 15_000);
  // Redis came back empty (no persistence): the nodes are live again at their next heartbeat.
  await until(async () => (await liveNodes(edge).catch(() => 0)) === 2, 15_000);
  // It lost the log the edge had read from: the edge dropped its cache, to be safe.
  assert.equal(metric(await edge.metrics(), 'strata_purge_catchups_total{reason="lost"}'), 1);
  await until(
    async () => (await postPurge(edge.adminUrl, { tags: ['pages'] }, { wait: '5s' })).body.complete === true,
    15_000,
  );
  assert.equal(await cached(edge, '/page'), false);
});
