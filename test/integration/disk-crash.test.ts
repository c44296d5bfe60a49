// A process killed in the middle of a disk write leaves no visible partial object: the start-up
// sweep removes the chunks written without metadata, and what was committed reads back whole.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Level } from 'level';
import { ranges } from '../../shared/cache/disk-layout.js';
import { bodyOf } from '../contract/store-contract.js';
import { openDisk, tempDir } from '../helpers/disk.js';
import { helperScript, runChild } from '../helpers/disk-child.js';
import type { DiskStore } from '../../shared/cache/disk-store.js';

const url = (i: number) => `http://crash.test/obj/${i}`;

async function keysIn(path: string, range: { gte: Buffer; lt: Buffer }): Promise<number> {
  const db = new Level<Buffer, Buffer>(path, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
  await db.open();
  let n = 0;
  for await (const _ of db.keys(range)) n++;
  await db.close();
  return n;
}

/** Every visible object reads back whole (all checksums pass); returns their chunk count. */
async function checkVisible(store: DiskStore, upTo: number): Promise<{ visible: number[]; chunks: number }> {
  const visible: number[] = [];
  let chunks = 0;
  for (let i = 1; i <= upTo; i++) {
    const found = await store.variants(url(i));
    if (!found) continue;
    const body = await bodyOf(found[0]);
    assert.equal(body.length, found[0].body.size);
    assert.ok(
      body.every((b) => b === (i & 0xff)),
      `object ${i} is intact`,
    );
    visible.push(i);
    chunks += Math.ceil(body.length / (256 * 1024));
  }
  return { visible, chunks };
}

test('a writer killed between its chunks and its metadata leaves no partial object after restart', async (t) => {
  const path = await tempDir();
  const run = runChild(t, [helperScript('disk-crash-child.js'), path, 'hold']);
  await run.line((l) => l.partial === 3);
  run.child.kill('SIGKILL');
  assert.equal(await run.exited, 'SIGKILL');
  const store = await openDisk(t, { path, chunkBytes: 256 * 1024 });
  assert.equal(store.swept, 1, 'the partial body was found and removed');
  const { visible, chunks } = await checkVisible(store, 3);
  assert.deepEqual(visible, [1, 2]);
  await store.close();
  assert.equal(await keysIn(path, ranges.pending()), 0);
  assert.equal(await keysIn(path, ranges.allChunks()), chunks, 'no chunk without metadata is left');
});

test('a writer killed at an arbitrary moment of a write loop leaves only whole objects', async (t) => {
  const path = await tempDir();
  const run = runChild(t, [helperScript('disk-crash-child.js'), path, 'loop']);
  await run.line((l) => l.committed === 4);
  run.child.kill('SIGKILL');
  await run.exited;
  const store = await openDisk(t, { path, chunkBytes: 256 * 1024 });
  const { visible, chunks } = await checkVisible(store, 50);
  assert.ok(visible.length >= 4, `visible ${visible.join(',')}`);
  assert.deepEqual(
    visible,
    Array.from({ length: visible.length }, (_, i) => i + 1),
    'committed in order',
  );
  await store.close();
  assert.equal(await keysIn(path, ranges.allChunks()), chunks, 'no chunk without metadata is left');
});
