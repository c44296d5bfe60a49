// npm run bench:tier as a smoke run: three edges and two shields as processes, a small Zipf load,
// then the hop comparison. No timing is asserted: only that every request was answered by the
// tier expected, and that each unique object cost the origin one request.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';

test('bench:tier: one origin request per unique object through three edges and two shields', async () => {
  const script = fileURLToPath(new URL('../../loadtest/tier-bench.js', import.meta.url));
  const args = [
    '--requests',
    '1500',
    '--objects',
    '500',
    '--hop-objects',
    '100',
    '--rounds',
    '1',
    '--concurrency',
    '16',
  ];
  const { stdout } = await promisify(execFile)(process.execPath, [script, ...args], { timeout: 60_000 });
  // 1.00 unless a shield was taken out of service mid-run (a probe timing out on a loaded
  // machine sends its keys elsewhere); never below 1 (every object came from the origin once).
  const perObject = Number(/origin requests per unique object\s+([\d.]+)/.exec(stdout)?.[1]);
  assert.ok(perObject >= 1 && perObject <= 1.05, stdout);
  assert.match(stdout, /errors\s+0\n/);
  assert.match(stdout, /^ {2}edge hit\s+\d+\s+[\d.]+\s+[\d.]+$/m);
  assert.match(stdout, /^ {2}hit at the shield via edge\s+\d+\s+[\d.]+\s+[\d.]+$/m);
  assert.doesNotMatch(stdout, /not the expected outcome/);
});
