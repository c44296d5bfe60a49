// The cache.disk config block: absent means memory only; present, it is validated strictly
// (every problem names its key path) and every key but path and maxBytes has a default.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validateConfig } from '../../../../shared/config/config.js';

const sites = [{ hosts: ['example.test'], origins: ['http://127.0.0.1:3000'] }];

test('without cache.disk the node runs memory only', () => {
  const { config } = validateConfig({ sites });
  assert.equal(config?.cache.disk, undefined);
});

test('cache.disk takes sizes and durations as text and fills in defaults', () => {
  const { config, problems } = validateConfig({
    sites,
    cache: { disk: { path: '/var/cache/strata', maxBytes: '20GiB', writeRetry: '1m' } },
  });
  assert.deepEqual(problems, []);
  assert.deepEqual(config?.cache.disk, {
    path: '/var/cache/strata',
    maxBytes: 20 * 1024 ** 3,
    maxObjectBytes: undefined,
    chunkBytes: 256 * 1024,
    onOpenError: 'fail',
    writeQueue: { maxObjects: 1024, maxBytes: 64 * 1024 ** 2 },
    writeRetry: 60_000,
    accessFlush: 60_000,
  });
});

test('cache.disk problems name their key paths', () => {
  const { problems } = validateConfig({
    sites,
    cache: { disk: { maxBytes: '1GiB', onOpenError: 'ignore', chunkSize: 4096 } },
  });
  const paths = problems.map((p) => p.path).sort();
  assert.deepEqual(paths, ['cache.disk.chunkSize', 'cache.disk.onOpenError', 'cache.disk.path']);
});

test('cache.disk.maxObjectBytes may not exceed cache.disk.maxBytes', () => {
  const { problems } = validateConfig({
    sites,
    cache: { disk: { path: '/d', maxBytes: '16MiB', maxObjectBytes: '32MiB' } },
  });
  assert.equal(problems[0]?.path, 'cache.disk.maxObjectBytes');
  assert.match(problems[0].message, /must not exceed cache.disk.maxBytes/);
});
