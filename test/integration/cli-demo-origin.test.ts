// strata demo-origin: the demo origin alone (the origin container of deploy/docker-compose.yml),
// run as a real child process with an edge in front of it.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type AddressInfo } from 'node:net';
import { request } from 'undici';
import { runCli, type CliRun } from '../helpers/cli.js';
import { startEdge } from '../helpers/edge.js';

/** Resolves with the URL from the "listening on" line on stderr. */
function listening(run: CliRun): Promise<string> {
  return new Promise((resolve, reject) => {
    const check = () => {
      const m = /listening on (http:\/\/\S+)/.exec(run.stderr());
      if (!m) return;
      run.child.stderr!.off('data', check);
      resolve(m[1]);
    };
    run.child.stderr!.on('data', check);
    check();
    void run.exited.then((code) => reject(new Error(`exited (${code}) before listening:\n${run.stderr()}`)));
  });
}

test('demo-origin serves the demo routes on --listen behind an edge, and exits 0 on SIGTERM', async (t) => {
  const run = runCli(t, ['demo-origin', '--listen', '127.0.0.1:0']);
  const originUrl = await listening(run);
  assert.match(originUrl, /^http:\/\/127\.0\.0\.1:\d+$/);
  // The compose health check fetches the origin's root.
  const root = await request(`${originUrl}/`);
  assert.equal(root.statusCode, 200);
  assert.match(await root.body.text(), /^Strata demo origin/);

  const edge = await startEdge(t, originUrl);
  const first = await edge.get('/cacheable');
  assert.equal(first.status, 200);
  assert.equal(first.cacheStatus, 'edge-test; fwd=uri-miss; fwd-status=200; stored');
  const second = await edge.get('/cacheable');
  assert.match(second.cacheStatus, /^edge-test; hit; ttl=\d+$/);
  assert.equal(second.body, first.body);

  run.child.kill('SIGTERM');
  assert.equal(await run.exited, 0);
});

test('demo-origin listens on an IPv6 literal', async (t) => {
  const run = runCli(t, ['demo-origin', '-l', '[::1]:0']);
  const originUrl = await listening(run);
  assert.match(originUrl, /^http:\/\/\[::1\]:\d+$/);
  assert.equal((await request(`${originUrl}/cacheable`)).statusCode, 200);
  run.child.kill('SIGINT');
  assert.equal(await run.exited, 0);
});

test(
  'demo-origin with a bad address or argument exits 2 with its usage',
  { concurrency: true },
  async (t) => {
    const cases = [
      ['demo-origin', '--listen', 'nowhere'],
      ['demo-origin', '--listen', '127.0.0.1:70000'],
      ['demo-origin', '--listen', 'http://127.0.0.1:3000'],
      ['demo-origin', 'extra'],
      ['demo-origin', '--port', '3000'],
    ];
    await Promise.all(
      cases.map((args) =>
        t.test(`strata ${args.join(' ')}`, async (t) => {
          const run = runCli(t, args);
          assert.equal(await run.exited, 2);
          assert.match(run.stderr(), /Usage: strata demo-origin/);
          assert.equal(run.stdout(), '');
        }),
      ),
    );
  },
);

test('demo-origin --help exits 0, and the main help lists it', async (t) => {
  const help = runCli(t, ['demo-origin', '--help']);
  assert.equal(await help.exited, 0);
  assert.match(help.stdout(), /^Usage: strata demo-origin \[--listen HOST:PORT\]/);
  const main = runCli(t, ['--help']);
  assert.equal(await main.exited, 0);
  assert.match(main.stdout(), /^ {2}demo-origin {2,}/m);
});

test('demo-origin exits 1 naming the address when its port is taken', async (t) => {
  const taken = createServer();
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => taken.close(() => resolve())));
  const port = (taken.address() as AddressInfo).port;
  const run = runCli(t, ['demo-origin', '--listen', `127.0.0.1:${port}`]);
  assert.equal(await run.exited, 1);
  assert.match(run.stderr(), new RegExp(`cannot listen on 127\\.0\\.0\\.1:${port}: .*EADDRINUSE`));
});
