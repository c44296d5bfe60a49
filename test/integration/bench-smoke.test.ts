// npm run bench and bench:ab as smoke runs: the bench starts its servers, loads a hit and a miss
// scenario, prints the table and stops its children. No timing is asserted: only that numbers
// come out and that the edge's own counters say hits were hits and misses were misses, all of
// them stored.

import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** scenario, reference, connections, req/s twice, ratio, p50 / p99 twice, goal, PASS or MISS (not ERR). */
function row(name: string, reference: string): RegExp {
  const n = '[\\d,]+';
  const latency = '[\\d.]+ / [\\d.]+';
  return new RegExp(
    `^${name}\\s+${reference}\\s+64\\s+${n}\\s+${n}\\s+\\d+\\.\\d\\dx\\s+${latency}\\s+${latency}\\s+>= [\\d.]+x\\s+(PASS|MISS)$`,
    'm',
  );
}

/** Runs a loadtest script to its end; fails the test with its output unless it exits 0. */
async function run(t: TestContext, script: string, args: string[]): Promise<string> {
  const path = fileURLToPath(new URL(`../../loadtest/${script}`, import.meta.url));
  const child = spawn(process.execPath, [path, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => child.kill('SIGKILL'));
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
  child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  assert.equal(code, 0, `${script} failed:\n${stderr}\n${stdout}`);
  return stdout;
}

// wrk is installed by .ci/run; without it this test fails with bench's install hint.
test('bench --quick prints a row of numbers per scenario', async (t) => {
  const stdout = await run(t, 'bench.js', ['--quick', '--duration', '1', '--scenarios', 'hit-1k,miss']);
  assert.match(stdout, row('hit 1 KiB', 'bare'));
  assert.match(stdout, row('miss 1 KiB \\(origin \\+5 ms\\)', 'origin'));
  assert.match(stdout, /edge counted [1-9]\d* hit for \d+ responses wrk saw; no other outcome/);
  assert.match(stdout, /edge counted [1-9]\d* miss for \d+ responses wrk saw; no other outcome/);
  assert.match(stdout, /not stored: 0$/m);
});

// bench:ab builds a git ref into .ab/ (this checkout's HEAD here) and compares it with this build.
test('bench:ab compares a built ref with this tree and prints the CPU per response of each', async (t) => {
  const stdout = await run(t, 'ab.js', [
    '--base',
    'HEAD',
    '--rounds',
    '1',
    '--duration',
    '1',
    '--scenarios',
    'hit',
  ]);
  assert.match(stdout, /^ {2}base [0-9a-f]{7} +median +\d+\.\d +runs \d+\.\d$/m);
  assert.match(stdout, /^ {2}this tree +median +\d+\.\d +runs \d+\.\d$/m);
  assert.match(stdout, /^ {2}this tree \/ base: \d\.\d{3}/m);
});
