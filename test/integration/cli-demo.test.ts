// strata demo: a region of three nodes; bad ports are usage errors, and a node that cannot start
// takes the demo down with it.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';
import { runCli } from '../helpers/cli.js';
import { until } from '../helpers/wait.js';

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

test('strata demo runs a region: two edges in front of one shield, and says which is which', async (t) => {
  const run = runCli(t, [
    'demo',
    '--port',
    '0',
    '--admin-port',
    '0',
    '--shield-port',
    '0',
    '--origin-port',
    '0',
  ]);
  await until(() => run.stderr().includes('Ctrl-C stops the demo.'), 10_000);
  const urlOf = (id: string) =>
    new RegExp(`^  ${id} +(http://127\\.0\\.0\\.1:\\d+) `, 'm').exec(run.stderr())?.[1];
  const [one, two, shield] = ['edge-demo-1', 'edge-demo-2', 'shield-demo'].map(urlOf);
  assert.ok(one && two && shield, run.stderr());
  const first = await request(`${one}/cacheable`);
  await first.body.text();
  assert.match(
    String(first.headers['cache-status']),
    /^shield-demo; fwd=uri-miss; .*, edge-demo-1; fwd=uri-miss/,
  );
  // The same URL through the other edge (the demo's curl --connect-to): a hit at the shield.
  const second = await request(`${two}/cacheable`, { headers: { host: one.slice(7) } });
  await second.body.text();
  assert.match(String(second.headers['cache-status']), /^shield-demo; hit; .*, edge-demo-2; fwd=uri-miss/);
  // The purge line the demo prints: every node of the region applies it.
  const purge = /^ {2}(node dist\/shared\/cli\/strata\.js purge .*)$/m.exec(run.stderr())?.[1];
  assert.ok(purge, 'the demo shows how to purge');
  const purged = runCli(t, purge.split(' ').slice(2));
  assert.equal(await purged.exited, 0, purged.stderr());
  for (const id of ['edge-demo-1', 'edge-demo-2', 'shield-demo'])
    assert.match(purged.stdout(), new RegExp(id));
  const after = await request(`${one}/cacheable`);
  await after.body.text();
  assert.match(
    String(after.headers['cache-status']),
    /^shield-demo; fwd=uri-miss; .*, edge-demo-1; fwd=uri-miss/,
  );
  run.child.kill('SIGINT');
  assert.equal(await run.exited, 0);
  for (const id of ['edge-demo-1', 'edge-demo-2', 'shield-demo'])
    assert.match(run.stdout(), new RegExp(`"node":"${id}".*stopped`));
});
