// Capacity of the disk tier: maxBytes is honoured by evicting least recently used objects, the
// LRU order survives a restart, and evicted, replaced or purged objects leave no chunks behind.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Level } from 'level';
import { ranges } from '../../../../shared/cache/disk-layout.js';
import type { DiskStore } from '../../../../shared/cache/disk-store.js';
import { bodyOf, cached, pattern } from '../../../contract/store-contract.js';
import { openDisk, tempDir } from '../../../helpers/disk.js';

const maxBytes = 256 * 1024;
const url = (i: number) => `http://a.test/e/${i}`;

/** Chunk keys in the database, counted with the store closed. */
async function chunksOnDisk(path: string): Promise<number> {
  const db = new Level<Buffer, Buffer>(path, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
  await db.open();
  let n = 0;
  for await (const _ of db.keys(ranges.allChunks())) n++;
  await db.close();
  return n;
}

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

test('evicted, replaced and purged objects leave no chunks behind', async (t) => {
  const path = await tempDir();
  const store = await openDisk(t, { path, maxBytes });
  for (let i = 0; i < 30; i++) await store.put(cached(url(i % 20), pattern(12 * 1024 + i, i)));
  await store.purge({ kind: 'url', key: url(19) }, false);
  const live = store.stats().objects;
  const expected = (
    await Promise.all(
      Array.from({ length: 20 }, async (_, i) => {
        const found = await store.variants(url(i));
        return found ? Math.ceil(found[0].body.size / 4096) : 0;
      }),
    )
  ).reduce((a, b) => a + b, 0);
  await store.close();
  assert.ok(live > 0 && live < 20);
  assert.equal(await chunksOnDisk(path), expected);
});
