// npm run bench as a smoke run: the bench starts its servers, loads a hit and a miss scenario with
// autocannon (which npm ci installs), prints the table and stops its children. No timing is
// asserted: only that numbers come out and that the edge's own counters say hits were hits and
// misses were misses, all of them stored. (bench:ab: bench-ab-smoke.test.ts, a file of its own
// since it builds a git ref first.)

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runLoadtestScript as run } from '../helpers/loadtest-script.js';
import { tempDir } from '../helpers/temp.js';

/** scenario, reference, connections, req/s twice, ratio, p50 / p99 twice, goal, PASS or MISS (not ERR). */
function row(name: string, reference: string): RegExp {
  const n = '[\\d,]+';
  const latency = '[\\d.]+ / [\\d.]+';
  return new RegExp(
    `^${name}\\s+${reference}\\s+64\\s+${n}\\s+${n}\\s+\\d+\\.\\d\\dx\\s+${latency}\\s+${latency}\\s+>= [\\d.]+x\\s+(PASS|MISS)$`,
    'm',
  );
}

test('bench --quick loads with autocannon and prints a row of numbers per scenario', async (t) => {
  const { stdout } = await run(t, 'bench.js', ['--quick', '--duration', '1', '--scenarios', 'hit-1k,miss']);
  assert.match(stdout, /^machine: .*; autocannon \d+\.\d+\.\d+, one process$/m);
  assert.match(stdout, row('hit 1 KiB', 'bare'));
  assert.match(stdout, row('miss 1 KiB \\(origin \\+5 ms\\)', 'origin'));
  assert.match(stdout, /edge counted [1-9]\d* hit for \d+ responses autocannon saw; no other outcome/);
  assert.match(stdout, /edge counted [1-9]\d* miss for \d+ responses autocannon saw; no other outcome/);
  assert.match(stdout, /not stored: 0$/m);
});

test('bench --generator wrk without wrk installed says so in one line and starts nothing', async (t) => {
  // An empty PATH: no wrk (nor taskset); the bench itself runs from process.execPath.
  const emptyDir = await tempDir(t, 'strata-no-wrk');
  const { stdout, stderr } = await run(t, 'bench.js', ['--quick', '--generator', 'wrk'], {
    env: { ...process.env, PATH: emptyDir },
    expected: 1,
  });
  assert.equal(stdout, '');
  assert.equal(
    stderr,
    'bench: wrk is not installed: apt-get install -y wrk (Debian), or run with --generator autocannon (installed by npm ci)\n',
  );
});
