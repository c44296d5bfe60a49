// Objects larger than the memory tier's limit are stored on disk only, streamed from it, and a
// damaged first chunk of such a stream becomes a miss before anything is sent.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { TieredStore } from '../../shared/cache/tiered-store.js';
import { startOrigin } from '../helpers/origin.js';
import { metric, startEdge } from '../helpers/edge.js';
import { flipByte, tempDir } from '../helpers/disk.js';

const body = Buffer.alloc(300_000);
// ASCII only: the test client reads bodies as text.
for (let i = 0; i < body.length; i++) body[i] = 97 + ((i * 7) % 26);

async function setup(t: test.TestContext) {
  const origin = await startOrigin(t, (_req, res) => {
    res.writeHead(200, { 'cache-control': 'max-age=600', 'content-length': body.length, etag: '"big"' });
    res.end(body);
  });
  const path = await tempDir();
  const overrides = {
    cache: {
      memory: { maxBytes: '1MiB', maxObjectBytes: '64KiB' },
      disk: { path, maxBytes: '64MiB', chunkBytes: '16KiB' },
    },
  };
  return { origin, path, overrides };
}

test('an object over the memory limit but within the disk limit is stored on disk and streamed from it', async (t) => {
  const { origin, overrides } = await setup(t);
  const edge = await startEdge(t, origin.url, overrides);
  const first = await edge.get('/big', { host: 'site.test' });
  assert.match(first.cacheStatus, /fwd=uri-miss; fwd-status=200; stored/);
  // Regression: while its disk write is queued, the object (in no memory tier) is still a hit.
  const queued = await edge.get('/big', { host: 'site.test' });
  assert.match(queued.cacheStatus, /hit/);
  await (edge.node.store as TieredStore).flush();
  const hit = await edge.get('/big', { host: 'site.test' });
  assert.match(hit.cacheStatus, /hit/);
  assert.equal(hit.body, body.toString());
  const range = await edge.get('/big', { host: 'site.test', range: 'bytes=100000-100009' });
  assert.equal(range.status, 206);
  assert.equal(range.body, body.subarray(100000, 100010).toString());
  assert.equal(origin.requests.length, 1);
  const m = await edge.metrics();
  assert.equal(metric(m, 'strata_cache_objects{tier="memory"}'), 0, 'too large for memory');
  assert.equal(metric(m, 'strata_cache_objects{tier="disk"}'), 1);
});

test('a damaged first chunk of a disk-only object becomes a miss, never a broken response', async (t) => {
  const { origin, path, overrides } = await setup(t);
  const first = await startEdge(t, origin.url, overrides);
  await first.get('/big', { host: 'site.test' });
  await (first.node.store as TieredStore).flush();
  await first.node.stop(1000);
  await flipByte(path, 'http://site.test/big', 0);
  const second = await startEdge(t, origin.url, overrides);
  const res = await second.get('/big', { host: 'site.test' });
  assert.equal(res.status, 200);
  assert.match(res.cacheStatus, /fwd=uri-miss; fwd-status=200; stored/);
  assert.equal(origin.requests.length, 2);
  assert.equal(metric(await second.metrics(), 'strata_disk_corrupt_objects_total'), 1);
});
