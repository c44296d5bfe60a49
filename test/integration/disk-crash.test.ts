// A process killed in the middle of a disk write leaves no visible partial object: the start-up
// sweep removes the body (file or chunks) written without metadata, and what was committed reads
// back whole. Real children killed with SIGKILL, for bodies in files and in LevelDB chunks.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bodyOf } from '../contract/store-contract.js';
import { bodiesOnDisk, bodyKinds, openDisk, tempDir, type BodyKind } from '../helpers/disk.js';
import { helperScript, runChild } from '../helpers/disk-child.js';
import type { DiskStore } from '../../shared/cache/disk-store.js';

const url = (i: number) => `http://crash.test/obj/${i}`;

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

/** What the bodies of `visible` objects leave on disk, and nothing else. */
function only(bodies: BodyKind, visible: number[], chunks: number) {
  return bodies === 'files'
    ? { chunks: 0, files: visible.length, pending: 0 }
    : { chunks, files: 0, pending: 0 };
}

for (const bodies of bodyKinds) {
  test(`${bodies}: a writer killed between its body and its metadata leaves no partial object after restart`, async (t) => {
    const path = await tempDir();
    const run = runChild(t, [helperScript('disk-crash-child.js'), path, 'hold', bodies]);
    await run.line((l) => l.partial === 3);
    run.child.kill('SIGKILL');
    assert.equal(await run.exited, 'SIGKILL');
    const store = await openDisk(t, { path, chunkBytes: 256 * 1024 });
    assert.equal(store.swept, 1, 'the partial body was found and removed');
    const { visible, chunks } = await checkVisible(store, 3);
    assert.deepEqual(visible, [1, 2]);
    await store.close();
    assert.deepEqual(
      await bodiesOnDisk(path),
      only(bodies, visible, chunks),
      'no body without metadata is left',
    );
  });

  test(`${bodies}: a writer killed at an arbitrary moment of a write loop leaves only whole objects`, async (t) => {
    const path = await tempDir();
    const run = runChild(t, [helperScript('disk-crash-child.js'), path, 'loop', bodies]);
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
    assert.deepEqual(
      await bodiesOnDisk(path),
      only(bodies, visible, chunks),
      'no body without metadata is left',
    );
  });
}
