// npm run bench as a smoke run: it starts its servers, loads every scenario, prints the table and
// stops its children. No timing is asserted: only that numbers come out and the edge's own
// counters say hits were hits and misses were misses.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const bench = fileURLToPath(new URL('../../loadtest/bench.js', import.meta.url));
const hasWrk = !spawnSync('wrk', ['--version']).error;

test(
  'bench --quick --duration 1 prints a row of numbers per scenario',
  { skip: !hasWrk && 'wrk is not installed' },
  async (t) => {
    const child = spawn(process.execPath, [bench, '--quick', '--duration', '1'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    t.after(() => child.kill('SIGKILL'));
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    assert.equal(code, 0, `bench failed:\n${stderr}\n${stdout}`);
    for (const [name, ref] of [
      ['hit 1 KiB', 'bare'],
      ['hit 100 KiB', 'bare'],
      ['miss 1 KiB \\(origin \\+5 ms\\)', 'origin'],
    ]) {
      // scenario, reference, edge req/s, ref req/s, ratio, p50 / p99 twice, goal, PASS or MISS (not ERR).
      const row = new RegExp(
        `^${name}\\s+${ref}\\s+[\\d,]+\\s+[\\d,]+\\s+\\d+\\.\\d\\dx\\s+[\\d.]+ / [\\d.]+\\s+[\\d.]+ / [\\d.]+\\s+>= [\\d.]+x\\s+(PASS|MISS)$`,
        'm',
      );
      assert.match(stdout, row);
    }
    const hitChecks = [
      ...stdout.matchAll(/edge counted (\d+) hit for (\d+) responses wrk saw; no other outcome/g),
    ];
    assert.equal(hitChecks.length, 2, stdout);
    for (const m of hitChecks) assert.ok(Number(m[1]) > 0);
    assert.match(stdout, /edge counted [1-9]\d* miss for \d+ responses wrk saw; no other outcome/);
    assert.match(stdout, /not stored: 0/);
  },
);
