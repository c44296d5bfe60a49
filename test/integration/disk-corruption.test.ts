// A flipped byte in a stored chunk is never served: through a real edge, the damaged object is
// deleted and counted, the request becomes a miss and the origin is asked again.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { TieredStore } from '../../shared/cache/tiered-store.js';
import { startOrigin } from '../helpers/origin.js';
import { metric, startEdge } from '../helpers/edge.js';
import { flipByte, tempDir } from '../helpers/disk.js';

test('a flipped byte on disk makes the request a miss: the origin is asked again, never a broken body', async (t) => {
  const body = Buffer.alloc(20_000, 'a').toString();
  const origin = await startOrigin(t, (_req, res) => {
    res.writeHead(200, { 'cache-control': 'max-age=600', 'content-length': body.length });
    res.end(body);
  });
  const path = await tempDir();
  const disk = { path, maxBytes: '64MiB', chunkBytes: '4KiB' };
  const first = await startEdge(t, origin.url, { cache: { disk } });
  await first.get('/c', { host: 'site.test' });
  await (first.node.store as TieredStore).flush();
  await first.node.stop(1000);

  await flipByte(path, 'http://site.test/c', 2);

  const second = await startEdge(t, origin.url, { cache: { disk } });
  const res = await second.get('/c', { host: 'site.test' });
  assert.equal(res.status, 200);
  assert.equal(res.body, body);
  assert.match(res.cacheStatus, /fwd=uri-miss; fwd-status=200; stored/);
  assert.equal(origin.requests.length, 2);
  const m = await second.metrics();
  assert.equal(metric(m, 'strata_disk_corrupt_objects_total'), 1);
  const again = await second.get('/c', { host: 'site.test' });
  assert.match(again.cacheStatus, /hit/, 'stored again from the new response');
});
