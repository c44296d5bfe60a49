// npm run bench:dns as a smoke run: strata dns as a process, one short round of each kind of
// query, and the GeoIP lookups. No timing is asserted: only that every kind was answered and the
// tables were printed.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runLoadtestScript as run } from '../helpers/loadtest-script.js';

test('bench:dns answers every kind of query over UDP and prints GeoIP lookups per second', async (t) => {
  const { stdout } = await run(t, 'dns-bench.js', [
    '--seconds',
    '1',
    '--queries',
    '2000',
    '--rounds',
    '1',
    '--lookups',
    '20000',
  ]);
  for (const kind of ['A, ECS /24', 'A, no ECS', 'NXDOMAIN']) {
    const line = stdout.split('\n').find((l) => l.trim().startsWith(kind));
    assert.ok(line, stdout);
    const answersPerSec = Number(line.trim().slice(kind.length).trim().split(/\s+/)[0]);
    assert.ok(answersPerSec > 0, line);
  }
  assert.match(stdout, /^ {2}IPv4 random\s+\d+\s+[\d.]+%$/m);
  assert.match(stdout, /^ {2}IPv6 random\s+\d+\s+[\d.]+%$/m);
});
