// npm run bench and bench:ab as smoke runs: the bench starts its servers, loads a hit and a miss
// scenario with autocannon (which npm ci installs), prints the table and stops its children. No
// timing is asserted: only that numbers come out and that the edge's own counters say hits were
// hits and misses were misses, all of them stored.

import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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

/** Runs a loadtest script to its end; fails the test with its output unless it exits `expected`. */
async function run(
  t: TestContext,
  script: string,
  args: string[],
  options: { env?: NodeJS.ProcessEnv; expected?: number } = {},
): Promise<{ stdout: string; stderr: string }> {
  const path = fileURLToPath(new URL(`../../loadtest/${script}`, import.meta.url));
  const child = spawn(process.execPath, [path, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: options.env,
  });
  t.after(() => child.kill('SIGKILL'));
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
  child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  assert.equal(code, options.expected ?? 0, `${script} exited ${code}:\n${stderr}\n${stdout}`);
  return { stdout, stderr };
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
  const emptyDir = await mkdtemp(join(tmpdir(), 'strata-no-wrk-'));
  t.after(() => rm(emptyDir, { recursive: true, force: true }));
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
