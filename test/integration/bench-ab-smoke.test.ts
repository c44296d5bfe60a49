// npm run bench:ab as a smoke run, in a file of its own: it builds a git ref with tsc first (tens
// of seconds on a busy machine), which would otherwise share one file's time budget with the
// bench smoke run.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runLoadtestScript as run } from '../helpers/loadtest-script.js';

// bench:ab builds a git ref into .ab/ (this checkout's HEAD here) and compares it with this build.
test('bench:ab compares a built ref with this tree and prints the CPU per response of each', async (t) => {
  const { stdout } = await run(t, 'ab.js', [
    '--base',
    'HEAD',
    '--rounds',
    '1',
    '--duration',
    '1',
    '--scenarios',
    'hit',
    '--generator',
    'autocannon',
  ]);
  assert.match(stdout, /load generator: autocannon \d+\.\d+\.\d+, one process$/m);
  assert.match(stdout, /^ {2}base [0-9a-f]{7} +median +\d+\.\d +runs \d+\.\d$/m);
  assert.match(stdout, /^ {2}this tree +median +\d+\.\d +runs \d+\.\d$/m);
  assert.match(stdout, /^ {2}this tree \/ base: \d\.\d{3}/m);
});
