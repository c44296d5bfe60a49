// Capacity of the disk tier: maxBytes is honoured by evicting least recently used objects, the
// LRU order survives a restart, and evicted, replaced or purged objects leave no body behind
// (no file, no chunk).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { DiskStore } from '../../../../shared/cache/disk-store.js';
import { bodyOf, cached, pattern } from '../../../contract/store-contract.js';
import { bodiesOnDisk, bodyKinds, openDisk, tempDir } from '../../../helpers/disk.js';

const maxBytes = 256 * 1024;
const url = (i: number) => `http://a.test/e/${i}`;

async function get(store: DiskStore, i: number): Promise<Buffer | undefined> {
  const found = await store.variants(url(i));
  return found && bodyOf(found[0]);
}

test('eviction keeps the store under maxBytes, dropping the least recently used object first', async (t) => {
  const store = await openDisk(t, { maxBytes });
  for (let i = 0; i < 40; i++) {
    await store.put(cached(url(i), pattern(16 * 1024, i)));
    assert.ok(store.stats().bytes <= maxBytes, `after put ${i}: ${store.stats().bytes} bytes`);
    // Object 0 is read all along, so it stays while its neighbours go.
    assert.deepEqual(await get(store, 0), pattern(16 * 1024, 0));
  }
  assert.equal(await get(store, 1), undefined);
  assert.deepEqual(await get(store, 39), pattern(16 * 1024, 39));
  assert.ok(store.stats().objects >= 10 && store.stats().objects < 16, `${store.stats().objects} objects`);
});

test('the LRU order survives a restart: access times are persisted lazily and at close', async (t) => {
  const path = await tempDir();
  let store = await openDisk(t, { path, maxBytes });
  for (let i = 0; i < 12; i++) await store.put(cached(url(i), pattern(16 * 1024, i)));
  await get(store, 0); // 0 is now the most recently used
  await store.close();
  store = await openDisk(t, { path, maxBytes });
  assert.equal(store.stats().objects, 12);
  for (let i = 12; i < 16; i++) await store.put(cached(url(i), pattern(16 * 1024, i)));
  assert.ok(store.stats().bytes <= maxBytes);
  assert.deepEqual(await get(store, 0), pattern(16 * 1024, 0), 'the recently used object stayed');
  assert.equal(await get(store, 1), undefined, 'the least recently used went first');
});

for (const bodies of bodyKinds) {
  test(`${bodies}: evicted, replaced and purged objects leave no body behind`, async (t) => {
    const path = await tempDir();
    const store = await openDisk(t, { path, maxBytes, bodies });
    for (let i = 0; i < 30; i++) await store.put(cached(url(i % 20), pattern(12 * 1024 + i, i)));
    await store.purge({ kind: 'url', key: url(19) }, false);
    const live = store.stats().objects;
    const chunks = (
      await Promise.all(
        Array.from({ length: 20 }, async (_, i) => {
          const found = await store.variants(url(i));
          return found ? Math.ceil(found[0].body.size / 4096) : 0;
        }),
      )
    ).reduce((a, b) => a + b, 0);
    await store.close();
    assert.ok(live > 0 && live < 20);
    // A grace delay passes before bodies go (reads under way finish); close does it at once.
    const expected =
      bodies === 'files' ? { chunks: 0, files: live, pending: 0 } : { chunks, files: 0, pending: 0 };
    assert.deepEqual(await bodiesOnDisk(path), expected);
  });
}
