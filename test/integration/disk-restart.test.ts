// A node restarted with the same cache.disk.path serves what it stored before, from disk, with
// correct Age and freshness (stored request and response times are persisted); Range and
// Vary work from disk too.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { TieredStore } from '../../shared/cache/tiered-store.js';
import { ok, startOrigin } from '../helpers/origin.js';
import { metric, startEdge, type TestEdge } from '../helpers/edge.js';
import { tempDir } from '../helpers/disk.js';

const host = { host: 'site.test' };

/** Lets queued disk writes finish, then stops the node as a restart would. */
async function stopAfterWrites(edge: TestEdge): Promise<void> {
  await (edge.node.store as TieredStore).flush();
  await edge.node.stop(1000);
}

test('after a restart, objects come from disk with correct Age, TTL and freshness', async (t) => {
  const origin = await startOrigin(t, (req, res, n) => {
    const headers: Record<string, string> = { 'cache-control': 'max-age=100', etag: `"v${n}"` };
    if (req.url === '/aged') headers.age = '20';
    ok(headers)(req, res, n, '');
  });
  const disk = { path: await tempDir(), maxBytes: '64MiB' };
  const first = await startEdge(t, origin.url, { cache: { disk } });
  const a = await first.get('/a', host);
  const aged = await first.get('/aged', host);
  await stopAfterWrites(first);

  const second = await startEdge(t, origin.url, { cache: { disk } });
  second.clock.nowMs = first.clock.nowMs + 30_000;
  const hit = await second.get('/a', host);
  assert.equal(hit.body, a.body);
  assert.equal(hit.headers.etag, '"v1"');
  assert.equal(hit.cacheStatus, 'edge-test; hit; ttl=70');
  assert.equal(hit.headers.age, '30');
  const agedHit = await second.get('/aged', host);
  assert.equal(agedHit.body, aged.body);
  assert.equal(agedHit.headers.age, '50', 'the Age the origin sent is kept: 20 + 30');
  assert.equal(origin.requests.length, 2);
  const m = await second.metrics();
  assert.equal(metric(m, 'strata_cache_objects{tier="disk"}'), 2);
  assert.equal(metric(m, 'strata_cache_objects{tier="memory"}'), 2, 'promoted to memory on the hit');
  assert.equal(metric(m, 'strata_disk_hits_total'), 2);

  second.clock.advance(71);
  const stale = await second.get('/a', host);
  assert.match(stale.cacheStatus, /fwd=stale; fwd-status=200; stored/);
  assert.equal(origin.requests.length, 3);
  assert.equal(origin.requests[2].headers['if-none-match'], '"v1"', 'revalidated with the stored validator');
});

test('after a restart, a Range is answered from the disk object and a Vary variant is found', async (t) => {
  const body = Buffer.alloc(50_000, 'x');
  body.write('MIDDLE', 30_000);
  const origin = await startOrigin(t, (req, res) => {
    const gz = req.headers['accept-encoding'] === 'gzip';
    const payload = req.url === '/v' ? Buffer.from(gz ? 'gzip variant' : 'plain variant') : body;
    res.writeHead(200, {
      'cache-control': 'max-age=600',
      'content-length': payload.length,
      ...(req.url === '/v' ? { vary: 'accept-encoding' } : {}),
    });
    res.end(payload);
  });
  const disk = { path: await tempDir(), maxBytes: '64MiB', chunkBytes: '4KiB' };
  const first = await startEdge(t, origin.url, { cache: { disk } });
  await first.get('/r', host);
  await first.get('/v', { ...host, 'accept-encoding': 'gzip' });
  await first.get('/v', host);
  await stopAfterWrites(first);

  const second = await startEdge(t, origin.url, { cache: { disk } });
  second.clock.nowMs = first.clock.nowMs + 5_000;
  const part = await second.get('/r', { ...host, range: 'bytes=30000-30005' });
  assert.equal(part.status, 206);
  assert.equal(part.body, 'MIDDLE');
  assert.equal(part.headers['content-range'], 'bytes 30000-30005/50000');
  assert.equal((await second.get('/v', { ...host, 'accept-encoding': 'gzip' })).body, 'gzip variant');
  assert.equal((await second.get('/v', host)).body, 'plain variant');
  assert.equal(origin.requests.length, 3, 'all three answered from disk');
});
