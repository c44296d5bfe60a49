// A failed disk write (here: a file-size limit a body file hits, as on a full disk) turns disk
// writes off (logged, counted), the node goes on from memory, and writes come back after
// cache.disk.writeRetry once the disk has room again.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { tempDir } from '../helpers/disk.js';
import { helperScript, runChild } from '../helpers/disk-child.js';

const run = promisify(execFile);

test('a full disk turns disk writes off, memory goes on, and writes resume after the retry delay', async (t) => {
  const path = await tempDir();
  // A 2 MiB file-size limit: object 16 (16 x 128 KiB) is the first body file that hits it.
  const child = runChild(
    t,
    ['--fsize=2097152:unlimited', process.execPath, helperScript('disk-fault-child.js'), path],
    {
      command: 'prlimit',
    },
  );
  const failed = await child.line((l) => l.phase === 'failed');
  assert.equal(failed.writeErrors, 1, 'the failure is counted once');
  assert.ok((failed.failedAt as number) > 1, 'writes worked before the disk filled up');
  assert.equal(failed.disabled, 1, 'the next disk write was skipped (writes off) and counted');
  assert.equal(failed.servedFromMemory, true, 'the node goes on from memory');

  await run('prlimit', ['--pid', String(child.child.pid), '--fsize=unlimited:unlimited']);
  child.child.stdin!.end('lifted\n');
  const recovered = await child.line((l) => l.phase === 'recovered');
  assert.equal(recovered.stillOffBeforeRetry, true, 'writes stay off until the retry delay has passed');
  assert.equal(recovered.writtenAfterRetry, true, 'then the database is reopened and writes resume');
  assert.equal(recovered.earlyObjectKept, true, 'objects written before the failure are still there');
  assert.equal(await child.exited, 0);
});
