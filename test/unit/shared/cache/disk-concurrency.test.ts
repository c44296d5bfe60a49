// Reads and writes of one key at the same time: a read sees one whole version or fails cleanly
// (never a mix of two), and a purge during a write keeps the written object from appearing.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { StrataError } from '../../../../shared/errors.js';
import { bodyOf, cached } from '../../../contract/store-contract.js';
import { countEvents, openDisk } from '../../../helpers/disk.js';

const key = 'http://a.test/hot';
const size = 64 * 1024 + 123;

test('concurrent reads while the same key is rewritten see one whole version, never a mix', async (t) => {
  const events = countEvents();
  const store = await openDisk(t, { events });
  await store.put(cached(key, Buffer.alloc(size, 0)));
  let whole = 0;
  let changed = 0;
  const read = async () => {
    const found = await store.variants(key);
    assert.ok(found, 'some version is always visible');
    try {
      const body = await bodyOf(found[0]);
      assert.equal(body.length, size);
      assert.ok(
        body.every((b) => b === body[0]),
        `a read mixed versions (first byte ${body[0]})`,
      );
      whole++;
    } catch (err) {
      // The object was replaced between the lookup and the first chunk: a clean failure.
      assert.ok(err instanceof StrataError && err.code === 'STORE_FAILED', String(err));
      changed++;
    }
  };
  for (let version = 1; version <= 20; version++) {
    await Promise.all([read(), read(), store.put(cached(key, Buffer.alloc(size, version))), read(), read()]);
  }
  assert.equal(changed, 0, 'a replaced body stays readable for reads that looked it up');
  assert.equal(whole, 80);
  assert.equal(events.corrupted, 0, 'a replaced body is not mistaken for damage');
  const [last] = (await store.variants(key))!;
  assert.deepEqual(await bodyOf(last), Buffer.alloc(size, 20));
});

test('a read that has started keeps reading its version while the key is replaced', async (t) => {
  const store = await openDisk(t);
  await store.put(cached(key, Buffer.alloc(size, 1)));
  const [old] = (await store.variants(key))!;
  const reader = old.body.read()[Symbol.asyncIterator]();
  const first = await reader.next();
  await store.put(cached(key, Buffer.alloc(size, 2)));
  const parts = [first.value as Buffer];
  for (let r = await reader.next(); !r.done; r = await reader.next()) parts.push(r.value);
  assert.deepEqual(Buffer.concat(parts), Buffer.alloc(size, 1));
});

test('a purge issued while an object is being written keeps it from ever appearing', async (t) => {
  const store = await openDisk(t);
  const writing = store.put(cached(key, Buffer.alloc(8 * 1024 * 1024, 7), { tags: ['big'] }));
  assert.equal(await store.purge({ kind: 'tag', tag: 'big' }, false), 0, 'nothing visible was purged');
  await writing;
  assert.equal(store.variants(key), undefined);
  assert.equal(store.stats().objects, 0);
});
