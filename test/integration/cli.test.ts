// The strata command as operators run it: a real child process, real config files, real signals.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { createServer, type AddressInfo } from 'node:net';
import { request } from 'undici';
import { runCli } from '../helpers/cli.js';
import { ok, startOrigin } from '../helpers/origin.js';
import { rawRequest } from '../helpers/raw.js';

async function configFile(t: TestContext, text: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'strata-cli-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'edge.yaml');
  await writeFile(file, text);
  return file;
}

const validConfig = (originUrl: string, extra = '') => `
node: { id: edge-cli }
listen: { http: "127.0.0.1:0", admin: "127.0.0.1:0" }
sites:
  - hosts: ["*"]
    origins: ["${originUrl}"]
cache:
  memory: { maxBytes: 16MiB, maxObjectBytes: 1MiB }
${extra}`;

test('config check exits 0 on a valid file', async (t) => {
  const file = await configFile(t, validConfig('http://127.0.0.1:3000'));
  const run = runCli(t, ['config', 'check', file]);
  assert.equal(await run.exited, 0);
  assert.match(run.stdout(), /ok/);
  assert.equal(run.stderr(), '');
});

test('config check exits 1 and prints every problem as FILE: key.path: message', async (t) => {
  const file = await configFile(
    t,
    `
listen: { http: "nowhere" }
sites:
  - hosts: ["a.test", "bad host"]
    origins: ["ftp://x"]
  - hosts: ["A.test"]
    origins: ["http://127.0.0.1:1"]
cache:
  memory: { maxBytes: 1MiB, maxObjectBytes: 2MiB, colour: red }
`,
  );
  const run = runCli(t, ['config', 'check', file]);
  assert.equal(await run.exited, 1);
  const lines = run.stderr().trim().split('\n');
  const expected = [
    'listen.http',
    'sites[0].hosts[1]',
    'sites[0].origins[0]',
    'cache.memory.colour',
    'sites[1].hosts[0]',
    'cache.memory.maxObjectBytes',
  ];
  for (const path of expected)
    assert.ok(
      lines.some((l) => l.startsWith(`${file}: ${path}: `)),
      `no line for ${path} in:\n${run.stderr()}`,
    );
  assert.equal(lines.length, expected.length);
});

test('config check reports YAML syntax errors with their line', async (t) => {
  const file = await configFile(t, 'sites:\n  - hosts: ["a.test"\n    origins: []\n');
  const run = runCli(t, ['config', 'check', file]);
  assert.equal(await run.exited, 1);
  assert.match(
    run.stderr(),
    new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: \\(yaml line \\d+\\): `),
  );
});

test('config check on a missing file exits 1 naming the file', async (t) => {
  const run = runCli(t, ['config', 'check', '/nonexistent/strata.yaml']);
  assert.equal(await run.exited, 1);
  assert.match(run.stderr(), /^\/nonexistent\/strata\.yaml: .*ENOENT/);
});

test('--help on every command prints its help and exits 0', { concurrency: true }, async (t) => {
  const cases = [
    ['--help'],
    ['-h'],
    ['help'],
    ['edge', '--help'],
    ['shield', '--help'],
    ['config', '--help'],
    ['config', 'check', '--help'],
    ['demo', '-h'],
  ];
  await Promise.all(
    cases.map((args) =>
      t.test(`strata ${args.join(' ')}`, async (t) => {
        const run = runCli(t, args);
        assert.equal(await run.exited, 0);
        assert.match(run.stdout(), /^Usage: strata/);
      }),
    ),
  );
});

test(
  'an unknown command, a missing command or a bad option exits 2 with usage on stderr',
  { concurrency: true },
  async (t) => {
    const cases = [['fly'], ['fly', '--help'], [], ['edge'], ['edge', '--port', '1'], ['config', 'lint']];
    await Promise.all(
      cases.map((args) =>
        t.test(`strata ${args.join(' ')}`, async (t) => {
          const run = runCli(t, args);
          assert.equal(await run.exited, 2);
          assert.match(run.stderr(), /Usage: strata/);
          assert.equal(run.stdout(), '');
        }),
      ),
    );
  },
);

test('option errors read like the other usage errors: lower case after "strata:"', async (t) => {
  const cases: [string[], string][] = [
    [['edge', '--verbose'], "strata: unknown option '--verbose'"],
    [['edge', '--config'], "strata: option '-c, --config <value>' argument missing"],
    [
      ['demo-origin', 'extra'],
      "strata: unexpected argument 'extra'. This command does not take positional arguments",
    ],
  ];
  for (const [args, line] of cases) {
    const run = runCli(t, args);
    assert.equal(await run.exited, 2);
    assert.equal(run.stderr().split('\n')[0], line);
  }
});

test('edge with an invalid config exits 1 and names the key path on stderr', async (t) => {
  const file = await configFile(t, validConfig('http://127.0.0.1:1', 'server: { maxHeaders: lots }\n'));
  const run = runCli(t, ['edge', '--config', file]);
  assert.equal(await run.exited, 1);
  assert.match(run.stderr(), new RegExp(`: server\\.maxHeaders: expected an integer`));
  assert.doesNotMatch(run.stdout(), /edge started/);
});

test('edge exits 1 with the address when its port is taken', async (t) => {
  const taken = createServer();
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => taken.close(() => resolve())));
  const port = (taken.address() as AddressInfo).port;
  const file = await configFile(
    t,
    validConfig('http://127.0.0.1:1').replace('"127.0.0.1:0", admin', `"127.0.0.1:${port}", admin`),
  );
  const run = runCli(t, ['edge', '--config', file]);
  assert.equal(await run.exited, 1);
  assert.match(run.stderr(), new RegExp(`cannot listen on 127\\.0\\.0\\.1:${port}: .*EADDRINUSE`));
});

test('a node says on stdout where it listens whatever log.level, with the ports bound for port 0', async (t) => {
  // With workers, the primary says it once for all of them.
  for (const extra of [
    'log: { level: warn }',
    'log: { level: silent }',
    'log: { level: warn }\nworkers: 2',
  ]) {
    const file = await configFile(t, validConfig('http://127.0.0.1:1', `${extra}\n`));
    const run = runCli(t, ['edge', '--config', file]);
    const started = await run.logLine('edge started');
    assert.ok(Number(started.httpPort) > 0 && Number(started.adminPort) > 0);
    assert.equal(started.http, `127.0.0.1:${String(started.httpPort)}`);
    assert.equal(started.admin, `127.0.0.1:${String(started.adminPort)}`);
    assert.equal((await request(`http://${String(started.admin)}/readyz`)).statusCode, 200);
    run.child.kill('SIGTERM');
    assert.equal(await run.exited, 0);
    // Nothing else at these levels: the start line is the one exception.
    assert.deepEqual(
      run
        .stdout()
        .trim()
        .split('\n')
        .map((l) => (JSON.parse(l) as { msg: string }).msg),
      ['edge started'],
      extra,
    );
  }
});

test('edge serves requests, then on SIGTERM drains an in-flight request and exits 0', async (t) => {
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  let slowArrived!: () => void;
  const arrived = new Promise<void>((resolve) => (slowArrived = resolve));
  const origin = await startOrigin(t, (req, res, n) => {
    if (req.url !== '/slow') return ok({ 'cache-control': 'max-age=60' })(req, res, n, '');
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '10' });
    res.write('first');
    slowArrived();
    void released.then(() => res.end('-last'));
  });
  // One process, whose listener closes as it logs 'edge stopping' (workers close theirs a
  // moment later, when their primary's word reaches them: workers.test.ts).
  const file = await configFile(t, validConfig(origin.url, 'shutdown: { drainTimeout: 20s }\nworkers: 1\n'));
  const run = runCli(t, ['edge', '--config', file]);
  const started = await run.logLine('edge started');
  const base = `http://127.0.0.1:${String(started.httpPort)}`;
  const admin = `http://127.0.0.1:${String(started.adminPort)}`;

  const first = await request(`${base}/a?q=1`);
  assert.equal(first.statusCode, 200);
  assert.equal(await first.body.text(), 'body 1 for /a?q=1');
  assert.match(String(first.headers['cache-status']), /^edge-cli; fwd=uri-miss; fwd-status=200; stored/);
  // One access-log line per request, with fixed field names.
  const access = await run.logLine('request');
  assert.equal(access.method, 'GET');
  assert.equal(access.host, `127.0.0.1:${String(started.httpPort)}`);
  assert.equal(access.path, '/a?q=1');
  assert.equal(access.status, 200);
  assert.equal(access.cache, 'miss');
  assert.equal(access.bytes, 'body 1 for /a?q=1'.length);
  assert.equal(typeof access.ms, 'number');
  assert.equal(typeof access.upstreamMs, 'number');
  assert.equal(typeof access.reqId, 'string');
  assert.equal(access.node, 'edge-cli');
  assert.equal((await request(`${admin}/readyz`)).statusCode, 200);

  const slow = await request(`${base}/slow`);
  assert.equal(slow.statusCode, 200);
  await arrived;
  run.child.kill('SIGTERM');
  const stopping = await run.logLine('edge stopping');
  assert.equal(stopping.signal, 'SIGTERM');
  // Stopped accepting: a new connection is refused while the slow request is still in flight.
  await assert.rejects(request(`${base}/a`, { reset: true }), /ECONNREFUSED/);
  release();
  assert.equal(await slow.body.text(), 'first-last');
  assert.equal(await run.exited, 0);
  await run.logLine('edge stopped');
  assert.equal(origin.requests.length, 2);
  assert.equal(run.stderr(), '');
});

test('access-log lines of requests refused before routing name the host and path sent', async (t) => {
  const file = await configFile(
    t,
    validConfig('http://127.0.0.1:1').replace('hosts: ["*"]', 'hosts: ["a.test"]') +
      'server: { maxHeaders: 8 }\n',
  );
  const run = runCli(t, ['edge', '--config', file]);
  const port = Number((await run.logLine('edge started')).httpPort);
  const fields = Array.from({ length: 10 }, (_, i) => `X-F${i}: ${i}\r\n`).join('');
  const refused: [string, number][] = [
    [`GET /many?q=1 HTTP/1.1\r\nHost: a.test\r\n${fields}\r\n`, 431],
    ['OPTIONS * HTTP/1.1\r\nHost: a.test\r\n\r\n', 400],
    ['GET /no-host HTTP/1.0\r\n\r\n', 400],
    ['GET /elsewhere HTTP/1.1\r\nHost: b.test:8080\r\n\r\n', 421],
  ];
  for (const [raw, status] of refused) assert.equal((await rawRequest(port, raw)).status, status, raw);
  run.child.kill('SIGTERM');
  assert.equal(await run.exited, 0);
  const access = run
    .stdout()
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .filter((l) => l.msg === 'request')
    .map(({ method, host, path, status }) => ({ method, host, path, status }))
    // Each worker writes its own lines: in order per worker, not across them.
    .sort((a, b) => String(a.path).localeCompare(String(b.path)));
  assert.deepEqual(access, [
    { method: 'OPTIONS', host: 'a.test', path: '*', status: 400 },
    { method: 'GET', host: 'b.test:8080', path: '/elsewhere', status: 421 },
    { method: 'GET', host: 'a.test', path: '/many?q=1', status: 431 },
    { method: 'GET', host: '', path: '/no-host', status: 400 },
  ]);
});

test('strata shield serves as a shield: edges fetch through it, and it refuses shield keys', async (t) => {
  const origin = await startOrigin(t, ok({ 'cache-control': 'max-age=60' }));
  const shieldFile = await configFile(
    t,
    validConfig(origin.url).replace('edge-cli', 'shield-cli') + 'proxy: { trustedProxies: ["127.0.0.1"] }\n',
  );
  const shield = runCli(t, ['shield', '--config', shieldFile]);
  const started = await shield.logLine('shield started');
  const shieldUrl = `http://127.0.0.1:${String(started.httpPort)}`;
  const health = await request(`${shieldUrl}/.well-known/strata/health`);
  assert.equal(health.statusCode, 200);
  assert.equal(await health.body.text(), 'ok\n');

  const edgeFile = await configFile(t, validConfig(origin.url, `shields: [{ url: "${shieldUrl}" }]\n`));
  const edge = runCli(t, ['edge', '--config', edgeFile]);
  const edgeStarted = await edge.logLine('edge started');
  const res = await request(`http://127.0.0.1:${String(edgeStarted.httpPort)}/via-shield`);
  assert.equal(res.statusCode, 200);
  assert.equal(await res.body.text(), 'body 1 for /via-shield');
  assert.match(String(res.headers['cache-status']), /^shield-cli; fwd=uri-miss; .*, edge-cli; fwd=uri-miss/);

  // A shield in front of shields is refused at start, naming the key.
  const bad = runCli(t, ['shield', '--config', edgeFile]);
  assert.equal(await bad.exited, 1);
  assert.match(bad.stderr(), /shields: a shield fetches from the origins/);
  shield.child.kill('SIGTERM');
  assert.equal(await shield.exited, 0);
  await shield.logLine('shield stopped');
});
