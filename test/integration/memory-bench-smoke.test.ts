// npm run bench:memory as a smoke run: one fresh edge per size, a few hundred objects. No memory
// figure is asserted (a few hundred objects are within the collector's noise): only that every
// object was stored (the bench checks it) and that the table has a row of numbers per size.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';

test('bench:memory: every object stored, one row of figures per object size', async () => {
  const script = fileURLToPath(new URL('../../loadtest/memory-bench.js', import.meta.url));
  const args = ['--sizes', '1024,65536', '--objects', '300,100', '--rounds', '1', '--settle-ms', '0'];
  const { stdout } = await promisify(execFile)(process.execPath, [script, ...args], { timeout: 60_000 });
  assert.match(stdout, /^1 KiB\s+300\s+[\d,]+\s+-?[\d,]+\s+-?[\d.]+x \(-?[\d.]+\)/m, stdout);
  assert.match(stdout, /^64 KiB\s+100\s+[\d,]+\s+-?[\d,]+\s+-?[\d.]+x/m, stdout);
  assert.match(stdout, /goal \(issue 15\)/);
});
