// npm run bench:relay as a smoke run: one short round per target. No speed is asserted: only
// that every scenario measured something through each target and the table came out whole.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';

test('bench:relay: TCP and UDP through the relay, directly and through the bare relay, in one table', async () => {
  const script = fileURLToPath(new URL('../../loadtest/relay-bench.js', import.meta.url));
  const args = ['--rounds', '1', '--duration', '300', '--udp-clients', '8'];
  const { stdout } = await promisify(execFile)(process.execPath, [script, ...args], { timeout: 60_000 });
  for (const scenario of ['tcp, 1 connection', 'tcp, 64 connections', 'udp, 8 clients x 8, 512 B']) {
    const row = new RegExp(
      `^${scenario}\\s+(\\d+) \\S+\\s+(\\d+) \\S+\\s+(\\d+) \\S+\\s+[\\d.]+x\\s+[\\d.]+x\\s+\\d+ / \\d+ ms per \\S+( pkt)?\\s+(\\d+%|n/a)\\s+(PASS|MISS)$`,
      'm',
    ).exec(stdout);
    assert.ok(row, `no row for ${scenario} in:\n${stdout}`);
    assert.ok(
      row.slice(1, 4).every((v) => Number(v) > 0),
      `every target measured something: ${row[0]}`,
    );
  }
  assert.doesNotMatch(stdout, /reason="(no-backend|max-connections|max-per-client|denied)"/);
});
