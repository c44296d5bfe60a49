// GeoDNS with the edges' health read from their heartbeats (purge.redis): a real redis-server,
// real edges (in this process, and one strata edge process to SIGKILL) writing a heartbeat every
// second that advertises the address the regions name them by (node.addresses), and a DNS
// server reading them, queried with dns-packet over UDP. No probe is configured that could pass.

import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { startEdge, type TestEdge } from '../helpers/edge.js';
import { startOrigin } from '../helpers/origin.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';
import { nextHeartbeat } from '../helpers/purge.js';
import { testGeoDatabase } from '../helpers/geo-fixtures.js';
import { addressesOf, query, startDns, udpQuery } from '../helpers/dns.js';
import { metricSum } from '../helpers/metrics.js';
import { runCli } from '../helpers/cli.js';
import { tempFile } from '../helpers/temp.js';
import { until } from '../helpers/wait.js';
import type { DnsNode } from '../../edge/geo/dns-node.js';
import { GeoDns } from '../../edge/geo/geo-dns.js';
import { heartbeatGraceMs } from '../../edge/geo/heartbeat-health.js';

const heartbeatMs = 1000;
/**
 * How soon after an edge dies its address leaves the answers: its last heartbeat is at most
 * this old when it dies, counts for an interval and the grace, and is read every quarter interval.
 */
const leaveBoundMs = heartbeatMs + heartbeatGraceMs(heartbeatMs) + heartbeatMs / 4;
/**
 * Timers and queries late on a machine other tests share. The bus's own liveness (three
 * intervals) would keep the edge 3 s after a kill just after a heartbeat: the bound stays below.
 */
const slackMs = 500;

const usEdges = ['198.51.100.10', '198.51.100.11'];
/** 192.0.2.11 is listed but never runs: no heartbeat names it, so no answer does. */
const euEdges = ['192.0.2.10', '192.0.2.11'];

interface World {
  redis: TestRedis;
  dns: DnsNode;
  /** The A answer for a client in the us region (sorted addresses). */
  us(): Promise<string[]>;
  eu(): Promise<string[]>;
  /** Waits until the answers for us and eu clients are these. */
  answers(us: string[], eu: string[]): Promise<void>;
  /** Starts an edge in this process that advertises `address`. */
  edge(id: string, region: string, address: string): Promise<TestEdge>;
  /** purge.redis and purge.heartbeat, for any node of the test. */
  purge: Record<string, unknown>;
  originUrl: string;
}

/** eu (near: us) and us (near: eu); the DNS server reads the heartbeats of the running edges. */
async function world(t: TestContext): Promise<World> {
  const redis = await startRedis(t);
  const origin = await startOrigin(t);
  const purge = { redis: redis.url, heartbeat: `${heartbeatMs}ms` };
  // A probe URL nothing listens on: were the probes used, every edge would be down.
  const probe = 'http://127.0.0.1:1/.well-known/strata/health';
  const edges = (list: string[]) => list.map((address) => ({ address, probe }));
  const dns = await startDns(t, {
    geo: {
      database: await testGeoDatabase(t, 'cc0'),
      regions: {
        eu: { continents: ['EU'], edges: edges(euEdges), near: ['us'] },
        us: { continents: ['NA'], edges: edges(usEdges), near: ['eu'] },
      },
      defaultRegion: 'eu',
    },
    dns: { zone: 'cdn.example', names: ['www.cdn.example'], ttl: 30 },
    purge,
  });
  const ask = async (subnet: string) =>
    addressesOf(await udpQuery(dns.dnsPort, query('www.cdn.example', 'A', { subnet })));
  const us = () => ask('198.51.100.0/24');
  const eu = () => ask('192.0.2.0/24');
  const same = (a: string[], b: string[]) => a.join() === b.join();
  return {
    redis,
    dns,
    us,
    eu,
    answers: (u, e) => until(async () => same(await us(), u) && same(await eu(), e), 10_000),
    edge: (id, region, address) =>
      startEdge(t, origin.url, { node: { id, region, addresses: [address] }, purge }),
    purge,
    originUrl: origin.url,
  };
}

/** Resolves with how long `condition` took to hold (checked on every turn of the event loop). */
async function timeUntil(condition: () => Promise<boolean>): Promise<number> {
  const startMs = Date.now();
  await until(condition, 10_000);
  return Date.now() - startMs;
}

test("stopping a region's edges moves answers to the next region at the next read; starting them brings them back", async (t) => {
  const w = await world(t);
  const us = await Promise.all(usEdges.map((a, i) => w.edge(`edge-us-${i}`, 'us', a)));
  await w.edge('edge-eu-0', 'eu', euEdges[0]);
  // 192.0.2.11 is listed but silent: never named (nor would its probe have passed).
  await w.answers(usEdges, [euEdges[0]]);

  // A stopping edge removes its heartbeat as it begins to drain: gone at the next read.
  await us[0].stop();
  assert.deepEqual(await w.us(), usEdges, 'a read may not have run yet');
  const one = await timeUntil(async () => (await w.us()).length === 1);
  assert.deepEqual(await w.us(), [usEdges[1]]);
  await us[1].stop();
  const both = await timeUntil(async () => (await w.us())[0] === euEdges[0]);
  t.diagnostic(`graceful stop left the answers after ${one} ms and ${both} ms`);
  assert.ok(one < heartbeatMs && both < heartbeatMs, `left after ${one} and ${both} ms`);
  assert.deepEqual(await w.us(), [euEdges[0]]);
  let metrics = await w.dns.registry.metrics();
  assert.equal(metricSum(metrics, 'strata_dns_edge_up', { region: 'us' }), 0);
  assert.ok(
    metricSum(metrics, 'strata_dns_answers_total', { client_region: 'us', answer_region: 'eu' }) >= 1,
  );

  // Back: a started edge writes its first heartbeat as it starts serving.
  await w.edge('edge-us-0b', 'us', usEdges[0]);
  const back = await timeUntil(async () => (await w.us())[0] === usEdges[0]);
  t.diagnostic(`a started edge was back in the answers after ${back} ms`);
  assert.deepEqual(await w.us(), [usEdges[0]]);
  metrics = await w.dns.registry.metrics();
  assert.equal(metricSum(metrics, 'strata_dns_edge_up', { region: 'us', edge: usEdges[0] }), 1);
  assert.equal(metricSum(metrics, 'strata_dns_heartbeats_readable'), 1);
});

test('a killed edge process leaves the answers within one heartbeat interval (plus grace and read), not three', async (t) => {
  const w = await world(t);
  await w.edge('edge-eu-0', 'eu', euEdges[0]);
  const file = await tempFile(
    t,
    'strata-heartbeat-edge',
    'edge.yaml',
    `
node: { id: edge-us-crash, region: us, addresses: [${usEdges[0]}] }
listen: { http: "127.0.0.1:0", admin: "127.0.0.1:0" }
workers: 1
log: { level: info, access: false }
sites: [{ hosts: ["*"], origins: ["${w.originUrl}"] }]
purge: { redis: "${w.redis.url}", heartbeat: ${heartbeatMs}ms }
`,
  );
  const run = runCli(t, ['edge', '--config', file]);
  await run.logLine('edge started');
  await w.answers([usEdges[0]], [euEdges[0]]);

  // Kill it just after a heartbeat (the worst case: that heartbeat counts longest).
  await nextHeartbeat(w.redis.url, 'edge-us-crash');
  run.child.kill('SIGKILL');
  assert.equal(await run.exited, 'SIGKILL');
  const left = await timeUntil(async () => (await w.us())[0] === euEdges[0]);
  t.diagnostic(`a SIGKILLed edge left the answers after ${left} ms (bound ${leaveBoundMs} ms)`);
  assert.ok(left <= leaveBoundMs + slackMs, `left after ${left} ms`);
  assert.deepEqual(await w.us(), [euEdges[0]]);
});

test('while Redis is unreachable the answers keep the edges as last read; then heartbeats count again', async (t) => {
  const w = await world(t);
  await w.edge('edge-us-0', 'us', usEdges[0]);
  await w.edge('edge-eu-0', 'eu', euEdges[0]);
  await w.answers([usEdges[0]], [euEdges[0]]);
  await w.redis.stop(true);
  await until(
    async () => metricSum(await w.dns.registry.metrics(), 'strata_dns_heartbeats_readable') === 0,
    10_000,
  );
  // Two intervals without a readable heartbeat: every edge's last one is stale, and none left.
  await new Promise((resolve) => setTimeout(resolve, 2 * heartbeatMs));
  assert.deepEqual(await w.us(), [usEdges[0]]);
  assert.deepEqual(await w.eu(), [euEdges[0]]);
  const metrics = await w.dns.registry.metrics();
  assert.ok(metricSum(metrics, 'strata_dns_heartbeat_read_failures_total') >= 2);
  assert.equal(metricSum(metrics, 'strata_dns_edge_up'), 2);

  // Redis back empty (no persistence): no heartbeat at first, yet no edge leaves until the
  // nodes, reconnecting, have had time to write again; then they count as before.
  const edgeUp = async () => metricSum(await w.dns.registry.metrics(), 'strata_dns_edge_up');
  await w.redis.restart();
  await until(
    async () => metricSum(await w.dns.registry.metrics(), 'strata_dns_heartbeats_readable') === 1,
    10_000,
  );
  const settledMs = Date.now() + 2 * heartbeatMs + 2000;
  while (Date.now() < settledMs) {
    assert.equal(await edgeUp(), 2);
    assert.deepEqual(await w.us(), [usEdges[0]]);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  assert.deepEqual(await w.eu(), [euEdges[0]]);
});

test('an edge with a dns section reads the heartbeats too, its own among them', async (t) => {
  const w = await world(t);
  await w.edge('edge-eu-0', 'eu', euEdges[0]);
  const probe = 'http://127.0.0.1:1/.well-known/strata/health';
  const edge = await startEdge(t, w.originUrl, {
    node: { id: 'edge-us-dns', region: 'us', addresses: [usEdges[1]] },
    purge: w.purge,
    geo: {
      database: await testGeoDatabase(t, 'cc0'),
      regions: {
        eu: { continents: ['EU'], edges: euEdges.map((address) => ({ address, probe })), near: ['us'] },
        us: { continents: ['NA'], edges: usEdges.map((address) => ({ address, probe })), near: ['eu'] },
      },
      defaultRegion: 'eu',
    },
    dns: { listen: '127.0.0.1:0', zone: 'cdn.example', names: ['www.cdn.example'] },
  });
  const geoDns = edge.node.nodeServices.find((s): s is GeoDns => s instanceof GeoDns)!;
  const us = async () =>
    addressesOf(await udpQuery(geoDns.port, query('www.cdn.example', 'A', { subnet: '198.51.100.0/24' })));
  await until(async () => (await us()).join() === usEdges[1], 10_000);
  assert.deepEqual(await w.us(), [usEdges[1]], 'the strata dns server agrees');
});
