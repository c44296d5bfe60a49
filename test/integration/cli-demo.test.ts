// strata demo: bad ports are usage errors, and an edge that cannot start takes the demo down with it.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { runCli } from '../helpers/cli.js';

test('strata demo with a port that is not a port exits 2 with usage', async (t) => {
  const run = runCli(t, ['demo', '--port', 'abc']);
  assert.equal(await run.exited, 2);
  assert.match(run.stderr(), /--port expects a port from 0 to 65535, got "abc"/);
});

test('regression: strata demo whose edge port is taken exits 1 instead of hanging with its origin up', async (t) => {
  const blocker = createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => blocker.close(() => resolve())));
  const taken = (blocker.address() as AddressInfo).port;
  const run = runCli(t, ['demo', '--port', String(taken), '--admin-port', '0', '--origin-port', '0']);
  assert.equal(await run.exited, 1);
  assert.match(run.stderr(), new RegExp(`cannot listen on 127.0.0.1:${taken}`));
});
