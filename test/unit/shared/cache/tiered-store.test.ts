// Memory over disk: the hit path stays synchronous, misses go to disk and promote, objects that
// leave memory stay on disk, big objects stream from disk, and a full write queue is counted.

import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { TieredStore, type TieredStoreOptions } from '../../../../shared/cache/tiered-store.js';
import { bodyOf, cached, pattern } from '../../../contract/store-contract.js';
import { countEvents, flipByte, tempDir, testDisk, type EventCounts } from '../../../helpers/disk.js';

const log = pino({ level: 'silent' });

async function tiered(
  t: TestContext,
  options: {
    path?: string;
    memoryBytes?: number;
    memoryObjectBytes?: number;
    events?: EventCounts;
  } & Partial<Pick<TieredStoreOptions, 'writeQueue'>> = {},
): Promise<TieredStore> {
  const events = options.events ?? countEvents();
  const disk = await testDisk({ path: options.path, log, events });
  const store = new TieredStore({
    memory: {
      maxBytes: options.memoryBytes ?? 8 * 1024 * 1024,
      maxObjectBytes: options.memoryObjectBytes ?? 1024 * 1024,
      maxVariants: 4,
    },
    disk,
    writeQueue: options.writeQueue ?? { maxObjects: 1000, maxBytes: 64 * 1024 * 1024 },
    onOpenError: 'fail',
    log,
    events,
  });
  await store.open();
  t.after(() => store.close());
  return store;
}

test('variants() answers synchronously when memory has the key, and for a key on neither tier', async (t) => {
  const store = await tiered(t);
  await store.put(cached('http://a.test/m', 'in memory'));
  const hit = store.variants('http://a.test/m');
  assert.ok(!(hit instanceof Promise), 'a memory hit is not a promise');
  assert.equal(hit?.length, 1);
  await store.flush();
  assert.ok(!(store.variants('http://a.test/m') instanceof Promise), 'still synchronous once also on disk');
  assert.equal(store.variants('http://a.test/none'), undefined);
});

test('a memory miss is read from disk and promoted: the next lookup is a synchronous memory hit', async (t) => {
  const events = countEvents();
  const store = await tiered(t, { events });
  await store.put(cached('http://a.test/p', pattern(9000)));
  await store.flush();
  await store.memory.close(); // as if memory had evicted everything
  const fromDisk = store.variants('http://a.test/p');
  assert.ok(fromDisk instanceof Promise);
  const [object] = (await fromDisk)!;
  assert.ok(object.body.buffer, 'a small object is served from a buffer once read');
  assert.deepEqual(await bodyOf(object), pattern(9000));
  const again = store.variants('http://a.test/p');
  assert.ok(!(again instanceof Promise));
  assert.equal(store.memory.stats().objects, 1);
  assert.equal(events.hits, 1, 'one disk hit counted');
});

test('objects evicted from memory stay on disk and are served from there', async (t) => {
  const store = await tiered(t, { memoryBytes: 1024 * 1024, memoryObjectBytes: 512 * 1024 });
  for (let i = 0; i < 12; i++) {
    await store.put(cached(`http://a.test/e/${i}`, pattern(200 * 1024, i)));
    await store.flush();
  }
  assert.ok(store.memory.stats().objects < 12, 'memory had to evict');
  assert.equal(store.disk.stats().objects, 12);
  for (let i = 0; i < 12; i++) {
    const [object] = (await store.variants(`http://a.test/e/${i}`))!;
    assert.deepEqual(await bodyOf(object), pattern(200 * 1024, i));
  }
});

test('an object too large for memory is stored on disk only and streams from it', async (t) => {
  const store = await tiered(t, { memoryObjectBytes: 64 * 1024 });
  await store.put(cached('http://a.test/big', pattern(300 * 1024)));
  await store.flush();
  assert.equal(store.memory.stats().objects, 0);
  const [object] = (await store.variants('http://a.test/big'))!;
  assert.equal(object.body.buffer, undefined, 'streams from disk');
  assert.deepEqual(await bodyOf(object, 100_000, 200_000), pattern(300 * 1024).subarray(100_000, 200_001));
  assert.equal(store.memory.stats().objects, 0, 'not promoted');
});

test('a full write queue skips the disk write and counts it; the response path never waits', async (t) => {
  const events = countEvents();
  const store = await tiered(t, { events, writeQueue: { maxObjects: 1, maxBytes: 64 * 1024 * 1024 } });
  for (let i = 0; i < 10; i++) await store.put(cached(`http://a.test/q/${i}`, pattern(64 * 1024, i)));
  await store.flush();
  assert.ok((events.skipped['queue-full'] ?? 0) >= 1, JSON.stringify(events.skipped));
  assert.equal(store.memory.stats().objects, 10, 'memory has them all');
  assert.equal(store.disk.stats().objects, 10 - events.skipped['queue-full']);
});

test('a damaged object on disk is a miss (deleted and counted), never a broken body', async (t) => {
  const path = await tempDir();
  const first = await tiered(t, { path });
  await first.put(cached('http://a.test/d', pattern(20_000)));
  await first.close();
  await flipByte(path, 'http://a.test/d', 3);
  const events = countEvents();
  const store = await tiered(t, { path, events });
  assert.equal(await store.variants('http://a.test/d'), undefined);
  assert.equal(events.corrupted, 1);
  assert.equal(store.disk.stats().objects, 0);
});

test('a purge while a disk write is queued keeps the purged object off the disk', async (t) => {
  const store = await tiered(t);
  await store.put(cached('http://a.test/x', pattern(1000), { tags: ['t'] }));
  assert.equal(await store.purge({ kind: 'tag', tag: 't' }, false), 1);
  await store.flush();
  assert.equal(store.disk.stats().objects, 0);
  assert.equal(await store.variants('http://a.test/x'), undefined);
});
