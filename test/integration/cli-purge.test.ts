// strata purge against a real node: what it prints for each node, its exit codes, and its
// one-line errors (wrong token, no API, bad URL).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startEdge } from '../helpers/edge.js';
import { ok, startOrigin } from '../helpers/origin.js';
import { runCli } from '../helpers/cli.js';
import { testToken } from '../helpers/purge.js';
import { gate } from '../helpers/wait.js';

test('strata purge prints each node and the time until all applied; exit 0', async (t) => {
  const origin = await startOrigin(t, ok({ 'cache-control': 'max-age=600', 'cache-tag': 'news' }));
  const edge = await startEdge(t, origin.url, { purge: { token: testToken } });
  await edge.get('/n');
  const run = runCli(t, [
    'purge',
    '--tag',
    'news',
    '--api',
    edge.adminUrl,
    '--token',
    testToken,
    '--wait',
    '5s',
  ]);
  assert.equal(await run.exited, 0, run.stderr());
  const lines = run.stdout().trim().split('\n');
  assert.match(lines[0], /^purge \d+-\d+ accepted for 1 live node$/);
  assert.match(lines[1], /^ {2}edge-test {2}applied after [\d.]+ ms \(1 objects\)$/);
  assert.match(lines[2], /^all 1 applied it within [\d.]+ ms$/);
  assert.match((await edge.get('/n')).cacheStatus, /fwd=uri-miss/);
});

test('strata purge exits 1 when a node did not apply it within --wait', async (t) => {
  // Opened after the test before the node stops (hooks run in order): its agent waits on it.
  const held = gate();
  t.after(() => held.open());
  const origin = await startOrigin(t);
  const edge = await startEdge(t, origin.url, { purge: { token: testToken } });
  const apply = edge.node.purger.apply.bind(edge.node.purger);
  edge.node.purger.apply = async (spec) => {
    await held.promise;
    return apply(spec);
  };
  const run = runCli(t, ['purge', '--all', '--api', edge.adminUrl, '--wait', '200ms', '--token', testToken]);
  assert.equal(await run.exited, 1);
  assert.match(run.stdout(), /edge-test {2}NOT applied within 200ms/);
  assert.equal(
    run.stderr(),
    'strata purge: 1 of 1 nodes did not apply purge ' +
      /purge (\S+)/.exec(run.stdout())![1] +
      ' within 200ms\n',
  );
});

test('strata purge errors are one line: wrong token, no API, bad URL, nothing to purge', async (t) => {
  const origin = await startOrigin(t);
  const edge = await startEdge(t, origin.url, { purge: { token: testToken } });
  const wrong = runCli(t, [
    'purge',
    'http://a.test/x',
    '--api',
    edge.adminUrl,
    '--token',
    'not-the-token-at-all',
  ]);
  assert.equal(await wrong.exited, 1);
  assert.equal(wrong.stderr(), 'strata purge: refused (401 PURGE_UNAUTHORIZED): wrong bearer token\n');
  const closed = `http://127.0.0.1:${edge.node.http.port + 0}`;
  await edge.stop();
  const none = runCli(t, ['purge', 'http://a.test/x', '--api', closed, '--token', testToken]);
  assert.equal(await none.exited, 1);
  assert.match(none.stderr(), /^strata purge: no purge API at http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\)\n$/);
  const bad = runCli(t, ['purge', 'a.test/x', '--token', testToken]);
  assert.equal(await bad.exited, 2);
  assert.equal(bad.stderr(), 'strata purge: "a.test/x" is not an absolute http:// or https:// URL\n');
  const nothing = runCli(t, ['purge', '--token', testToken]);
  assert.equal(await nothing.exited, 2);
  assert.match(nothing.stderr(), /^strata purge: nothing to purge/);
});
