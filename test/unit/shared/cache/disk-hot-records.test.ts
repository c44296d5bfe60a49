// Records the disk index keeps for recently read variants (a hot disk hit reads no record) never
// outlive a change to the record on disk: a soft purge, a 304 update, a replacement.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bodyOf, cached, pattern } from '../../../contract/store-contract.js';
import { openDisk } from '../../../helpers/disk.js';
import type { CachedObject } from '../../../../shared/cache/store.js';

const key = 'http://hot.test/a';

test('a kept record answers synchronously and is dropped by a soft purge, a 304 update and a replacement', async (t) => {
  const store = await openDisk(t);
  await store.put(cached(key, pattern(10_000, 1)));
  assert.ok(store.variants(key) instanceof Promise, 'the first hit reads the record');
  await store.variants(key);
  const hot = store.variants(key) as readonly CachedObject[];
  assert.ok(Array.isArray(hot), 'a recently read record is kept: the hit answers synchronously');
  assert.deepEqual(await bodyOf(hot[0]), pattern(10_000, 1));

  await store.purge({ kind: 'url', key }, true);
  const [purged] = (await store.variants(key))!;
  assert.equal(purged.meta.invalidated, true, 'the soft purge is seen, not the kept record');

  await store.updateMeta({ ...purged.meta, invalidated: false, lifetimeSec: 77 });
  const [updated] = (await store.variants(key))!;
  assert.equal(updated.meta.lifetimeSec, 77, 'the 304 update is seen');

  await store.put(cached(key, pattern(12_000, 2)));
  const [replaced] = (await store.variants(key))!;
  assert.deepEqual(await bodyOf(replaced), pattern(12_000, 2), 'the replacement is seen');
});
