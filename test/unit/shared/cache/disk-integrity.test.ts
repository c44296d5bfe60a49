// The disk tier never serves a damaged object: chunk checksums, missing chunks, short or long
// body files, unreadable records and unknown formats, each on a real LevelDB (and real body
// files) damaged the way a disk would damage them; for bodies in files and in LevelDB chunks.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { StrataError } from '../../../../shared/errors.js';
import { bodyFilePath, formatKey, metaKey, objectId } from '../../../../shared/cache/disk-layout.js';
import { DiskStore } from '../../../../shared/cache/disk-store.js';
import { bodyOf, cached, pattern } from '../../../contract/store-contract.js';
import { appendFile, rm } from 'node:fs/promises';
import {
  bodyKinds,
  countEvents,
  cutBody,
  flipByte,
  openDisk,
  tempDir,
  withRawDb,
  type BodyKind,
} from '../../../helpers/disk.js';

const key = 'http://a.test/obj';

async function storeOne(path: string, size: number, bodies: BodyKind = 'files'): Promise<Buffer> {
  const body = pattern(size, 5);
  const store = new DiskStore({
    path,
    maxBytes: 1 << 26,
    maxObjectBytes: 1 << 24,
    maxVariants: 4,
    chunkBytes: 4096,
    bodies,
  });
  await store.open();
  await store.put(cached(key, body));
  await store.close();
  return body;
}

for (const bodies of bodyKinds) {
  test(`${bodies}: a flipped byte in a chunk fails its checksum: STORE_CORRUPT, object deleted and counted, no bad byte yielded`, async (t) => {
    const path = await tempDir();
    const body = await storeOne(path, 10_000, bodies);
    await flipByte(path, key, 1);
    const events = countEvents();
    const store = await openDisk(t, { path, events });
    const [object] = (await store.variants(key))!;
    const yielded: Buffer[] = [];
    await assert.rejects(
      async () => {
        for await (const part of object.body.read()) yielded.push(part);
      },
      (err: unknown) => err instanceof StrataError && err.code === 'STORE_CORRUPT' && err.context.chunk === 1,
    );
    // Chunk 0 was good and was yielded; nothing of chunk 1 was.
    assert.deepEqual(Buffer.concat(yielded), body.subarray(0, 4096));
    assert.equal(events.corrupted, 1);
    assert.equal(store.variants(key), undefined);
    assert.deepEqual(store.stats(), { objects: 0, bytes: 0 });
    await store.close();
    const again = await openDisk(t, { path });
    assert.equal(again.variants(key), undefined, 'the deletion is persisted');
  });

  test(`${bodies}: a Range reads only the chunks it needs; damage elsewhere in the body does not matter to it`, async (t) => {
    const path = await tempDir();
    const body = await storeOne(path, 40 * 1024, bodies);
    await flipByte(path, key, 0);
    const events = countEvents();
    const store = await openDisk(t, { path, events });
    const [object] = (await store.variants(key))!;
    let before = store.chunksRead;
    assert.deepEqual(
      await bodyOf(object, 5 * 4096 + 100, 5 * 4096 + 200),
      body.subarray(5 * 4096 + 100, 5 * 4096 + 201),
    );
    assert.equal(store.chunksRead - before, 1);
    before = store.chunksRead;
    assert.deepEqual(
      await bodyOf(object, 3 * 4096 - 10, 4 * 4096 + 10),
      body.subarray(3 * 4096 - 10, 4 * 4096 + 11),
    );
    assert.equal(store.chunksRead - before, 3);
    assert.equal(events.corrupted, 0);
    await assert.rejects(bodyOf(object, 0, 100), { code: 'STORE_CORRUPT' });
    assert.equal(events.corrupted, 1);
  });

  test(`${bodies}: a missing chunk (a torn write) is damage too: the object is deleted`, async (t) => {
    const path = await tempDir();
    await storeOne(path, 20_000, bodies);
    await cutBody(path, key, 2);
    const events = countEvents();
    const store = await openDisk(t, { path, events });
    const [object] = (await store.variants(key))!;
    await assert.rejects(
      bodyOf(object),
      (err: StrataError) =>
        err.code === 'STORE_CORRUPT' && err.context.why === (bodies === 'files' ? 'length' : 'missing'),
    );
    assert.equal(events.corrupted, 1);
    assert.equal(store.variants(key), undefined);
  });
}

test('an unreadable metadata record is removed at open and counted', async (t) => {
  const path = await tempDir();
  await storeOne(path, 100);
  await withRawDb(path, key, (db) => db.put(metaKey(objectId(key, '')), Buffer.from('{"v":1,"meta":')));
  const events = countEvents();
  const store = await openDisk(t, { path, events });
  assert.equal(events.corrupted, 1);
  assert.equal(store.variants(key), undefined);
  assert.equal(store.stats().objects, 0);
});

test('a database in a format this version does not know is refused, naming the path', async (t) => {
  const path = await tempDir();
  await storeOne(path, 100);
  await withRawDb(path, key, (db) => db.put(formatKey, Buffer.from('{"v":2}')));
  const store = new DiskStore({ path, maxBytes: 1 << 20, maxObjectBytes: 1 << 16, maxVariants: 4 });
  t.after(() => store.close());
  await assert.rejects(store.open(), (err: StrataError) => {
    assert.equal(err.code, 'STORE_FAILED');
    assert.match(err.message, new RegExp(`${path}.*format 2`));
    return true;
  });
});

test('a body file that is gone is damage: STORE_CORRUPT (missing), the object is deleted', async (t) => {
  const path = await tempDir();
  await storeOne(path, 20_000);
  await withRawDb(path, key, (_db, record) => rm(bodyFilePath(path, record.body.id)));
  const events = countEvents();
  const store = await openDisk(t, { path, events });
  const [object] = (await store.variants(key))!;
  await assert.rejects(
    bodyOf(object),
    (err: StrataError) => err.code === 'STORE_CORRUPT' && err.context.why === 'missing',
  );
  assert.equal(events.corrupted, 1);
  assert.equal(store.variants(key), undefined);
});

test('a body file longer than its record says is damage: its last chunk fails on length', async (t) => {
  const path = await tempDir();
  const body = await storeOne(path, 10_000);
  await withRawDb(path, key, (_db, record) => appendFile(bodyFilePath(path, record.body.id), 'x'));
  const events = countEvents();
  const store = await openDisk(t, { path, events });
  const [object] = (await store.variants(key))!;
  // A range before the last chunk is still good: only the chunks it needs are read.
  assert.deepEqual(await bodyOf(object, 0, 99), body.subarray(0, 100));
  await assert.rejects(
    bodyOf(object),
    (err: StrataError) =>
      err.code === 'STORE_CORRUPT' && err.context.why === 'length' && err.context.chunk === 2,
  );
  assert.equal(events.corrupted, 1);
});
