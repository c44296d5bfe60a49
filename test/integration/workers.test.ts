// A node with workers: 2, run as operators run it (strata edge, real processes and signals): the
// primary supervises the workers, sums their metrics, replaces a killed one, reloads the config
// file on SIGHUP one worker at a time without a failed request, refuses a bad one, and drains
// everything on SIGTERM.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import type { CliRun } from '../helpers/cli.js';
import { metricSum } from '../helpers/metrics.js';
import { ok, startOrigin } from '../helpers/origin.js';
import { until } from '../helpers/wait.js';
import { config, get, startNode, type Node } from '../helpers/workers-node.js';

/** A GET on a new connection, with the fields the shared-cache test looks at. */
async function fullGet(url: string) {
  const res = await request(url, { reset: true });
  await res.body.dump();
  const field = (name: string) => res.headers[name] as string | undefined;
  return {
    status: res.statusCode,
    cacheStatus: field('cache-status') ?? '',
    via: field('via'),
    surrogate: field('surrogate-control'),
  };
}

async function metrics(node: Node): Promise<string> {
  return (await request(`${node.admin}/metrics`)).body.text();
}

const lines = (run: CliRun) =>
  run
    .stdout()
    .split('\n')
    .filter((l) => l !== '');

test('two workers serve the port, /metrics sums them, and stdout stays whole JSON lines', async (t) => {
  const origin = await startOrigin(t, ok({ 'cache-control': 'max-age=60' }));
  const node = await startNode(t, config(origin.url));
  for (let i = 0; i < 20; i++) assert.equal((await get(`${node.url}/p${i % 4}`)).status, 200);
  const m = await metrics(node);
  assert.equal(metricSum(m, 'strata_requests_total'), 20);
  assert.equal(metricSum(m, 'strata_workers_ready'), 2);
  for (const worker of ['0', '1'])
    assert.ok(metricSum(m, 'strata_worker_memory_bytes', { worker, kind: 'rss' }) > 10 * 1024 ** 2);
  await until(() => lines(node.run).filter((l) => l.includes('"msg":"request"')).length === 20);
  const access = lines(node.run)
    .map((l) => JSON.parse(l) as { msg: string; worker?: number })
    .filter((l) => l.msg === 'request');
  assert.deepEqual(new Set(access.map((l) => l.worker)), new Set([0, 1]), 'both workers served requests');
  assert.equal((await request(`${node.admin}/readyz`)).statusCode, 200);
  node.run.child.kill('SIGTERM');
  assert.equal(await node.run.exited, 0);
  assert.match(node.run.stdout(), /"msg":"edge stopped"\}\n$/);
});

test('a worker killed with SIGKILL is replaced, and the node keeps serving meanwhile', async (t) => {
  const origin = await startOrigin(t, ok({ 'cache-control': 'no-store' }));
  const node = await startNode(t, config(origin.url));
  const ready = lines(node.run).filter((l) => l.includes('"msg":"worker ready"'));
  const victim = (JSON.parse(ready[0]) as { pid: number }).pid;
  process.kill(victim, 'SIGKILL');
  // Connections the killed worker held are lost with it; from the primary's noticing on, the
  // other worker takes every new one while the replacement starts.
  await until(() => node.run.stdout().includes('worker exited, restarting'), 10_000);
  for (let i = 0; i < 10; i++) assert.equal((await get(`${node.url}/during-${i}`)).status, 200);
  await until(() => lines(node.run).filter((l) => l.includes('"msg":"worker ready"')).length === 3, 10_000);
  assert.match(node.run.stdout(), /"signal":"SIGKILL","restartInMs":\d+,"msg":"worker exited, restarting"/);
  const m = await metrics(node);
  assert.equal(metricSum(m, 'strata_worker_restarts_total'), 1);
  assert.equal(metricSum(m, 'strata_workers_ready'), 2);

  // With no worker left the node is not ready, until a replacement is.
  const pids = lines(node.run)
    .filter((l) => l.includes('"msg":"worker ready"'))
    .slice(-2)
    .map((l) => (JSON.parse(l) as { pid: number }).pid);
  for (const pid of pids) process.kill(pid, 'SIGKILL');
  const readyz = async () => (await request(`${node.admin}/readyz`)).statusCode;
  await until(async () => (await readyz()) === 503, 10_000);
  // (node:cluster binds the port again for the new worker: with port 0, as here, another one.)
  await until(async () => (await readyz()) === 200, 10_000);
});

test('SIGHUP reloads the config one worker at a time with no failed request; a bad file is refused', async (t) => {
  const origin = await startOrigin(t, ok({ 'cache-control': 'no-store' }));
  const node = await startNode(t, config(origin.url));
  let failures = 0;
  let sent = 0;
  let loading = true;
  const load = (async () => {
    while (loading) {
      const res = await get(`${node.url}/under-load-${sent++}`).catch(() => ({ status: 0, cacheStatus: '' }));
      if (res.status !== 200) failures++;
    }
  })();
  await writeFile(node.file, config(origin.url, 'edge-reloaded'));
  node.run.child.kill('SIGHUP');
  await until(() => node.run.stdout().includes('"msg":"reloaded"'), 40_000);
  const before = sent;
  await until(() => sent > before + 20);
  loading = false;
  await load;
  assert.equal(failures, 0, `${failures} of ${sent} requests failed during the reload`);
  assert.match((await get(`${node.url}/after`)).cacheStatus, /^edge-reloaded; /);
  // Once the replaced workers are gone, the new ones fill from each other: a worker that closes
  // its socket takes nothing of its successor's with it.
  await until(() => lines(node.run).filter((l) => l.includes('handed over and exited')).length === 2, 20_000);
  origin.handle(ok({ 'cache-control': 'max-age=60' }));
  for (let i = 0; i < 4; i++) assert.equal((await get(`${node.url}/shared-after`)).status, 200);
  assert.equal(origin.requests.filter((r) => r.url === '/shared-after').length, 1);

  // A bad file: every problem logged with its key path, and the running workers stay.
  await writeFile(node.file, config(origin.url, 'edge-bad', 'server: { maxHeaders: lots }'));
  node.run.child.kill('SIGHUP');
  await until(() => node.run.stdout().includes('reload refused'), 10_000);
  assert.match(node.run.stdout(), /"problems":\["server\.maxHeaders: expected an integer/);
  assert.match((await get(`${node.url}/still`)).cacheStatus, /^edge-reloaded; /);
  node.run.child.kill('SIGTERM');
  assert.equal(await node.run.exited, 0);
});

test('the workers share one cache: one origin request per object, whichever worker a client reached', async (t) => {
  const origin = await startOrigin(t, (req, res) => {
    // Slow enough that the concurrent misses below overlap on both workers.
    setTimeout(
      () => ok({ 'cache-control': 'max-age=60', 'surrogate-control': 'max-age=300' })(req, res, 0, ''),
      200,
    );
  });
  const node = await startNode(t, config(origin.url));
  // Concurrent misses for one object, over new connections spread over both workers.
  const first = await Promise.all(Array.from({ length: 10 }, () => fullGet(`${node.url}/together`)));
  for (const r of first) assert.equal(r.status, 200);
  // Then hits and misses for more objects, each request on its own connection.
  const later: Awaited<ReturnType<typeof fullGet>>[] = [];
  for (let i = 0; i < 40; i++) later.push(await fullGet(`${node.url}/object-${i % 8}`));
  const perPath = new Map<string, number>();
  for (const r of origin.requests) perPath.set(r.url, (perPath.get(r.url) ?? 0) + 1);
  assert.deepEqual(
    [...perPath.values()],
    Array(9).fill(1),
    `origin requests per path: ${JSON.stringify([...perPath])}`,
  );
  // The origin saw the client's request once, forwarded by the node once (one Via, one CDN-Loop entry).
  for (const r of origin.requests) {
    assert.equal(r.headers.via, '1.1 edge-workers (strata)');
    assert.equal(r.headers['cdn-loop'], 'edge-workers');
    assert.equal(r.headers['x-forwarded-for'], '127.0.0.1');
    assert.equal(r.headers['strata-worker-scheme'], undefined);
  }
  for (const r of [...first, ...later]) {
    // One member and one Via entry for the node, and no surrogate field for the client.
    assert.match(r.cacheStatus, /^edge-workers; [^,]+$/);
    assert.equal(r.via, '1.1 edge-workers (strata)');
    assert.equal(r.surrogate, undefined);
  }
  const hits = later.filter((r) => /; hit/.test(r.cacheStatus)).length;
  assert.equal(hits, 32, "every request after an object's first is a hit");
  const m = await metrics(node);
  assert.equal(metricSum(m, 'strata_requests_total'), 50, 'a fill between workers is not a client request');
  assert.ok(metricSum(m, 'strata_worker_sibling_fills_total') > 0);
  // A hit at the worker that owns the key counts as the node's hit.
  const firstHits = first.filter((r) => /; hit/.test(r.cacheStatus)).length;
  assert.equal(metricSum(m, 'strata_requests_total', { outcome: 'hit' }), hits + firstHits);
});

test("without a disk tier, a reload hands each worker's memory tier to its successor", async (t) => {
  const origin = await startOrigin(t, ok({ 'cache-control': 'max-age=600' }));
  const text = (id: string) => config(origin.url, id).replace('drainTimeout: 5s', 'drainTimeout: 10s');
  const node = await startNode(t, text('edge-handoff'));
  for (let i = 0; i < 12; i++) assert.equal((await get(`${node.url}/warm-${i}`)).status, 200);
  assert.equal(origin.requests.length, 12);
  await writeFile(node.file, text('edge-handoff-reloaded'));
  node.run.child.kill('SIGHUP');
  await until(() => node.run.stdout().includes('"msg":"reloaded"'), 40_000);
  // New workers, empty memory tiers: each fills the keys it owns from the worker it replaced.
  for (let i = 0; i < 12; i++) assert.match((await get(`${node.url}/warm-${i}`)).cacheStatus, /; hit/);
  assert.equal(origin.requests.length, 12, 'no object was fetched from the origin again');
  node.run.child.kill('SIGTERM');
  assert.equal(await node.run.exited, 0);
});

test('with a disk tier each worker keeps the keys it owns, across a restart and a reload', async (t) => {
  const origin = await startOrigin(t, ok({ 'cache-control': 'max-age=600' }));
  const dir = await mkdtemp(join(tmpdir(), 'strata-workers-disk-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const text = (id: string) =>
    config(origin.url, id).replace(
      'cache:\n',
      `cache:\n  disk: { path: ${join(dir, 'cache')}, maxBytes: 64MiB }\n`,
    );
  // The cache key has the Host, and the restarted node listens on another port.
  const host = 'disk.test';
  let node = await startNode(t, text('edge-disk'));
  for (let i = 0; i < 12; i++) assert.equal((await get(`${node.url}/kept-${i}`, host)).status, 200);
  node.run.child.kill('SIGTERM');
  assert.equal(await node.run.exited, 0);
  assert.equal(origin.requests.length, 12);

  // Restarted: every object comes from a worker's disk tier, none from the origin.
  node = await startNode(t, text('edge-disk'));
  for (let i = 0; i < 12; i++) assert.match((await get(`${node.url}/kept-${i}`, host)).cacheStatus, /; hit/);
  assert.equal(origin.requests.length, 12);

  // A reload replaces each worker after its predecessor closed its disk tier: no failed request.
  let failures = 0;
  let sent = 0;
  let loading = true;
  const load = (async () => {
    while (loading) {
      const res = await get(`${node.url}/kept-${sent++ % 12}`, host).catch(() => ({
        status: 0,
        cacheStatus: '',
      }));
      if (res.status !== 200) failures++;
    }
  })();
  await writeFile(node.file, text('edge-disk-reloaded'));
  node.run.child.kill('SIGHUP');
  await until(() => node.run.stdout().includes('"msg":"reloaded"'), 40_000);
  loading = false;
  await load;
  assert.equal(failures, 0, `${failures} of ${sent} requests failed during the reload`);
  // While a worker was replaced, the other fetched its keys itself; the new workers start
  // with empty memory tiers, and find every object on the disk tiers.
  const fetched = origin.requests.length;
  for (let i = 0; i < 12; i++)
    assert.match((await get(`${node.url}/kept-${i}`, host)).cacheStatus, /^edge-disk-reloaded; hit/);
  assert.equal(origin.requests.length, fetched);
  // The new workers fill from each other as the old ones did (the old ones closing their
  // sockets took nothing of the new ones' with them).
  for (let i = 0; i < 4; i++) assert.equal((await get(`${node.url}/after-reload`, host)).status, 200);
  assert.equal(origin.requests.filter((r) => r.url === '/after-reload').length, 1);
  const m = await metrics(node);
  assert.ok(metricSum(m, 'strata_disk_hits_total') > 0);
});
