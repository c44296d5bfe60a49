// The CacheStore contract: cases every store (memory, disk, tiered) must pass, run from
// test/contract/*.test.ts with a factory per store.

import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { bufferBody, type CacheStore, type CachedObject, type ObjectMeta } from '../../shared/cache/store.js';
import { storedObject } from '../helpers/objects.js';

export interface StoreLimits {
  maxBytes: number;
  maxObjectBytes: number;
  maxVariants: number;
}

export interface StoreFixture {
  store: CacheStore;
  /** Waits until every accepted write is where reads will look (write-behind tiers). */
  settle(): Promise<void>;
}

export type MakeStore = (t: TestContext, limits: StoreLimits) => Promise<StoreFixture>;

const limits: StoreLimits = { maxBytes: 8 * 1024 * 1024, maxObjectBytes: 1024 * 1024, maxVariants: 4 };

/** A stored object as the pipeline builds it; `body` may be text or bytes. */
export function cached(key: string, body: string | Buffer, meta: Partial<ObjectMeta> = {}): CachedObject {
  const bytes = typeof body === 'string' ? Buffer.from(body) : body;
  return storedObject(key, bufferBody(bytes), {
    headers: ['content-type', 'text/plain', 'content-length', String(bytes.length)],
    requestTimeMs: 1_700_000_000_000,
    responseTimeMs: 1_700_000_000_100,
    ...meta,
  });
}

export async function bodyOf(object: CachedObject, start?: number, end?: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const part of object.body.read(start, end)) parts.push(part);
  return Buffer.concat(parts);
}

async function lookup(store: CacheStore, key: string): Promise<readonly CachedObject[] | undefined> {
  return store.variants(key);
}

/** Deterministic bytes: byte i is a function of i, so a wrong offset shows. */
export function pattern(size: number, seed = 0): Buffer {
  const b = Buffer.alloc(size);
  for (let i = 0; i < size; i++) b[i] = (i * 31 + seed * 7 + (i >> 8)) & 0xff;
  return b;
}

export function storeContract(name: string, makeStore: MakeStore): void {
  const open = async (t: TestContext, l: Partial<StoreLimits> = {}) => makeStore(t, { ...limits, ...l });

  test(`${name}: a stored object is found by its key, with its metadata and body`, async (t) => {
    const { store, settle } = await open(t);
    await store.put(cached('http://a.test/x', 'hello', { tags: ['t1'], etag: '"e"' }));
    await settle();
    const found = await lookup(store, 'http://a.test/x');
    assert.equal(found?.length, 1);
    assert.equal(found[0].meta.etag, '"e"');
    assert.deepEqual(found[0].meta.tags, ['t1']);
    assert.equal(found[0].meta.size, 5);
    assert.equal(found[0].body.size, 5);
    assert.equal((await bodyOf(found[0])).toString(), 'hello');
    assert.equal(await lookup(store, 'http://a.test/other'), undefined);
  });

  test(`${name}: storing the same variant again replaces it`, async (t) => {
    const { store, settle } = await open(t);
    await store.put(cached('http://a.test/x', 'one'));
    await settle();
    await store.put(cached('http://a.test/x', 'two!'));
    await settle();
    const found = await lookup(store, 'http://a.test/x');
    assert.equal(found?.length, 1);
    assert.equal((await bodyOf(found[0])).toString(), 'two!');
    assert.equal(store.stats().objects, 1);
  });

  test(`${name}: variants are kept side by side, most recently stored first, at most maxVariants`, async (t) => {
    const { store, settle } = await open(t, { maxVariants: 2 });
    const v = (variant: string) => ({ variant, vary: ['accept-encoding'] });
    await store.put(cached('http://a.test/v', 'gzip', v('gzip')));
    await settle();
    await store.put(cached('http://a.test/v', 'br', v('br')));
    await settle();
    let found = await lookup(store, 'http://a.test/v');
    assert.deepEqual(
      found?.map((o) => o.meta.variant),
      ['br', 'gzip'],
    );
    await store.put(cached('http://a.test/v', 'identity', v('identity')));
    await settle();
    found = await lookup(store, 'http://a.test/v');
    assert.deepEqual(
      found?.map((o) => o.meta.variant),
      ['identity', 'br'],
    );
    assert.deepEqual(await Promise.all(found.map(async (o) => (await bodyOf(o)).toString())), [
      'identity',
      'br',
    ]);
    assert.equal(store.stats().objects, 2);
  });

  test(`${name}: updateMeta replaces the metadata and keeps the body; false when the object is gone`, async (t) => {
    const { store, settle } = await open(t);
    const object = cached('http://a.test/u', 'body', { etag: '"1"', lifetimeSec: 10 });
    await store.put(object);
    await settle();
    const updated = { ...object.meta, lifetimeSec: 99, responseTimeMs: object.meta.responseTimeMs + 5000 };
    assert.equal(await store.updateMeta(updated), true);
    await settle();
    const found = await lookup(store, 'http://a.test/u');
    assert.equal(found?.[0].meta.lifetimeSec, 99);
    assert.equal(found[0].meta.responseTimeMs, updated.responseTimeMs);
    assert.equal((await bodyOf(found[0])).toString(), 'body');
    assert.equal(await store.updateMeta({ ...updated, key: 'http://a.test/none' }), false);
  });

  for (const soft of [false, true]) {
    const how = soft ? 'soft' : 'hard';
    test(`${name}: ${how} purges by url, prefix, host, tag and all touch exactly what they select`, async (t) => {
      const { store, settle } = await open(t);
      const fill = async () => {
        await store.put(cached('http://a.test/p/1', 'a1', { tags: ['red'] }));
        await store.put(
          cached('http://a.test/p/1', 'a1-gz', { variant: 'gzip', vary: ['accept-encoding'], tags: ['red'] }),
        );
        await store.put(cached('http://a.test/p/2', 'a2', { tags: ['blue'] }));
        await store.put(cached('http://a.test/q', 'aq', { tags: ['red', 'blue'] }));
        await store.put(cached('https://b.test/p/1', 'b1', { tags: ['blue'] }));
        await settle();
      };
      const alive = async (key: string): Promise<boolean[]> =>
        ((await lookup(store, key)) ?? []).map((o) => !o.meta.invalidated);
      const cases = [
        { selector: { kind: 'url', key: 'http://a.test/p/1' }, n: 2, hit: 'http://a.test/p/1' },
        { selector: { kind: 'prefix', prefix: 'http://a.test/p/' }, n: 3, hit: 'http://a.test/p/2' },
        { selector: { kind: 'host', host: 'b.test' }, n: 1, hit: 'https://b.test/p/1' },
        { selector: { kind: 'tag', tag: 'red' }, n: 3, hit: 'http://a.test/q' },
        { selector: { kind: 'all' }, n: 5, hit: 'http://a.test/p/2' },
      ] as const;
      for (const c of cases) {
        await fill();
        assert.equal(await store.purge(c.selector, soft), c.n, `${how} ${c.selector.kind}`);
        await settle();
        if (soft)
          assert.ok(
            (await lookup(store, c.hit))!.every((o) => o.meta.invalidated),
            c.selector.kind,
          );
        else assert.equal(await lookup(store, c.hit), undefined, `${c.selector.kind} removed ${c.hit}`);
        // What the selector did not match is untouched.
        if (c.selector.kind === 'host') assert.deepEqual(await alive('http://a.test/q'), [true]);
        if (c.selector.kind === 'tag') assert.deepEqual(await alive('http://a.test/p/2'), [true]);
        if (c.selector.kind === 'prefix') assert.deepEqual(await alive('http://a.test/q'), [true]);
        await store.purge({ kind: 'all' }, false);
        await settle();
      }
      assert.equal(store.stats().objects, 0);
    });
  }

  test(`${name}: a soft-purged object keeps its body and is fresh again after updateMeta`, async (t) => {
    const { store, settle } = await open(t);
    await store.put(cached('http://a.test/s', 'still here', { tags: ['x'] }));
    await settle();
    assert.equal(await store.purge({ kind: 'tag', tag: 'x' }, true), 1);
    const [stale] = (await lookup(store, 'http://a.test/s'))!;
    assert.equal(stale.meta.invalidated, true);
    assert.equal((await bodyOf(stale)).toString(), 'still here');
    assert.equal(await store.updateMeta({ ...stale.meta, invalidated: false }), true);
    await settle();
    assert.equal((await lookup(store, 'http://a.test/s'))![0].meta.invalidated, false);
  });

  test(`${name}: the tag index follows the object: a replaced variant answers to its new tags only`, async (t) => {
    const { store, settle } = await open(t);
    await store.put(cached('http://a.test/t', 'one', { tags: ['old', 'both'] }));
    await settle();
    await store.put(cached('http://a.test/t', 'two', { tags: ['new', 'both'] }));
    await store.put(cached('http://b.test/t', 'other', { tags: ['both'] }));
    await settle();
    assert.equal(await store.purge({ kind: 'tag', tag: 'old' }, false), 0);
    assert.equal(await store.purge({ kind: 'tag', tag: 'new' }, false), 1);
    assert.equal(await lookup(store, 'http://a.test/t'), undefined);
    assert.equal(await store.purge({ kind: 'host', host: 'b.test' }, false), 1);
    assert.equal(await store.purge({ kind: 'tag', tag: 'both' }, false), 0);
    assert.equal(store.stats().objects, 0);
  });

  test(`${name}: stats count objects and bytes, and go back to zero when purged`, async (t) => {
    const { store, settle } = await open(t);
    assert.deepEqual(store.stats(), { objects: 0, bytes: 0 });
    await store.put(cached('http://a.test/1', pattern(1000)));
    await store.put(cached('http://a.test/2', pattern(3000)));
    await settle();
    const s = store.stats();
    assert.equal(s.objects, 2);
    // Bodies plus each object's metadata estimate (about 1 KiB, see metaBytes), which the memory
    // tier counts at its heap footprint (memory-store.ts).
    assert.ok(s.bytes >= 4000 + 2 * 512 && s.bytes < 4000 + 2 * 3072, `bytes ${s.bytes}`);
    await store.purge({ kind: 'url', key: 'http://a.test/1' }, false);
    await settle();
    assert.equal(store.stats().objects, 1);
    await store.purge({ kind: 'all' }, false);
    assert.deepEqual(store.stats(), { objects: 0, bytes: 0 });
  });

  test(`${name}: bodies and byte ranges read back exactly, across chunk boundaries`, async (t) => {
    const { store, settle } = await open(t);
    const bytes = pattern(10_000, 3);
    await store.put(cached('http://a.test/r', bytes));
    await store.put(cached('http://a.test/empty', Buffer.alloc(0)));
    await settle();
    const [object] = (await lookup(store, 'http://a.test/r'))!;
    assert.deepEqual(await bodyOf(object), bytes);
    for (const [start, end] of [
      [0, 0],
      [0, 4095],
      [4095, 4096],
      [4000, 9000],
      [8192, 9999],
      [9999, 9999],
      [123, 8191],
    ]) {
      assert.deepEqual(await bodyOf(object, start, end), bytes.subarray(start, end + 1), `${start}-${end}`);
    }
    const [empty] = (await lookup(store, 'http://a.test/empty'))!;
    assert.equal(empty.body.size, 0);
    assert.equal((await bodyOf(empty)).length, 0);
  });

  test(`${name}: an object larger than maxObjectBytes is not stored`, async (t) => {
    const { store, settle } = await open(t, { maxObjectBytes: 64 * 1024 });
    await store.put(cached('http://a.test/big', pattern(256 * 1024)));
    await settle();
    assert.equal(await lookup(store, 'http://a.test/big'), undefined);
    assert.equal(store.stats().objects, 0);
  });

  test(`${name}: the store stays within maxBytes, dropping least recently used objects`, async (t) => {
    const { store, settle } = await open(t, { maxBytes: 64 * 1024, maxObjectBytes: 16 * 1024 });
    for (let i = 0; i < 20; i++) {
      await store.put(cached(`http://a.test/lru/${i}`, pattern(8 * 1024, i)));
      await settle();
      assert.ok(store.stats().bytes <= 64 * 1024, `after ${i}: ${store.stats().bytes}`);
    }
    assert.equal(await lookup(store, 'http://a.test/lru/0'), undefined);
    const last = await lookup(store, 'http://a.test/lru/19');
    assert.deepEqual(await bodyOf(last![0]), pattern(8 * 1024, 19));
  });

  test(`${name}: close resolves and may be called once the store is done`, async (t) => {
    const { store, settle } = await open(t);
    await store.put(cached('http://a.test/c', 'x'));
    await settle();
    await store.close();
  });
}
