// A disk tier that cannot be opened at start (locked by another process, corrupt) stops the
// node with a message naming the path, unless cache.disk.onOpenError says to run memory-only.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ok, startOrigin } from '../helpers/origin.js';
import { metric, startEdge } from '../helpers/edge.js';
import { openDisk, tempDir } from '../helpers/disk.js';
import { runChild } from '../helpers/disk-child.js';

const projectRoot = fileURLToPath(new URL('../../../', import.meta.url));

/** Another process holding the LevelDB lock on `path` until the test ends. */
async function lockedByAnotherProcess(t: Parameters<typeof runChild>[0], path: string): Promise<void> {
  const script = `
    import { Level } from 'level';
    const db = new Level(process.argv[1]);
    await db.open();
    console.log(JSON.stringify({ locked: true }));
    process.stdin.resume();`;
  const holder = runChild(t, ['--input-type=module', '-e', script, path], { spawn: { cwd: projectRoot } });
  await holder.line((l) => l.locked === true);
}

test('a disk cache locked by another process stops start-up with a message naming the path', async (t) => {
  const origin = await startOrigin(t, ok());
  const path = await tempDir();
  await lockedByAnotherProcess(t, path);
  await assert.rejects(
    startEdge(t, origin.url, { cache: { disk: { path, maxBytes: '16MiB' } } }),
    (err: Error) => {
      assert.match(
        err.message,
        new RegExp(`cannot open the disk cache at ${path}: it is locked by another process`),
      );
      return true;
    },
  );
});

test('a corrupt disk cache stops start-up with a message naming the path and what to do', async (t) => {
  const origin = await startOrigin(t, ok());
  const path = await tempDir();
  const store = await openDisk(t, { path });
  await store.close();
  await writeFile(join(path, 'CURRENT'), 'not a manifest name');
  await assert.rejects(
    startEdge(t, origin.url, { cache: { disk: { path, maxBytes: '16MiB' } } }),
    (err: Error) => {
      assert.match(
        err.message,
        new RegExp(`cannot open the disk cache at ${path}: the database is corrupt \\(wipe`),
      );
      return true;
    },
  );
});

test('with onOpenError: memory-only, a node whose disk cannot be opened serves from memory', async (t) => {
  const origin = await startOrigin(t, ok({ 'cache-control': 'max-age=60' }));
  const path = await tempDir();
  await lockedByAnotherProcess(t, path);
  const edge = await startEdge(t, origin.url, {
    cache: { disk: { path, maxBytes: '16MiB', onOpenError: 'memory-only' } },
  });
  await edge.get('/a');
  assert.match((await edge.get('/a')).cacheStatus, /hit/);
  assert.equal(origin.requests.length, 1);
  const m = await edge.metrics();
  assert.equal(metric(m, 'strata_cache_objects{tier="memory"}'), 1);
  assert.equal(metric(m, 'strata_cache_objects{tier="disk"}'), 0);
});
