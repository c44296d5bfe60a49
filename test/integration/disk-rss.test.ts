// A 50 MiB object streams from the disk tier without being loaded whole: the RSS of the
// reading process grows by a small fraction of the object, measured in a child process
// (which collects garbage every 4 MiB, so the figure is what the read retains).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tempDir } from '../helpers/disk.js';
import { helperScript, runChild } from '../helpers/disk-child.js';

test('a 50 MiB object streams from disk while the RSS stays bounded', async (t) => {
  const path = await tempDir();
  const run = runChild(t, ['--expose-gc', helperScript('disk-rss-child.js'), path, '50']);
  const result = (await run.line((l) => 'peak' in l)) as {
    bytes: number;
    baseline: number;
    peak: number;
    chunks: number;
    same: boolean;
  };
  assert.equal(result.bytes, 50 * 1024 * 1024);
  assert.ok(result.same, 'the body read back is the body written');
  assert.equal(result.chunks, 200, 'read as 200 chunks of 256 KiB');
  const growthMiB = (result.peak - result.baseline) / 1024 / 1024;
  assert.ok(growthMiB < 16, `RSS grew by ${growthMiB.toFixed(1)} MiB while streaming 50 MiB`);
  t.diagnostic(`RSS growth while streaming 50 MiB: ${growthMiB.toFixed(1)} MiB`);
});
