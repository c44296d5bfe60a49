// Relays in a node: an edge runs them as services (reported in /readyz and /metrics, stopped
// with the node), a shield refuses them, and with workers: 2 the primary process relays TCP and
// UDP itself (strata edge as operators run it).

import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { request } from 'undici';
import { validateConfig } from '../../shared/config/config.js';
import { StrataNode } from '../../shared/node.js';
import { shieldRole } from '../../shield/shield-role.js';
import type { Relays } from '../../edge/relays/relays.js';
import { startNode } from '../helpers/edge.js';
import { runCli } from '../helpers/cli.js';
import { metricSum } from '../helpers/metrics.js';
import { ok, startOrigin } from '../helpers/origin.js';
import { datagramBackend, datagramClient, lineBackend, lineClient } from '../helpers/relay.js';
import { tempFile } from '../helpers/temp.js';
import { until } from '../helpers/wait.js';

const relaysOf = (node: StrataNode) => node.nodeServices[0] as Relays;

async function readyz(adminUrl: string): Promise<{ status: number; body: string }> {
  const res = await request(`${adminUrl}/readyz`);
  return { status: res.statusCode, body: await res.body.text() };
}

test('an edge runs its relays as services: /readyz lists them, /metrics counts them, stop closes them', async (t) => {
  const origin = await startOrigin(t, ok());
  const line = await lineBackend(t, 'tcp');
  const datagrams = await datagramBackend(t, 'udp');
  const edge = await startNode(t, {
    sites: [{ hosts: ['*'], origins: [origin.url] }],
    relays: {
      tcp: [{ name: 'lines', listen: '127.0.0.1:0', backends: [line.address] }],
      udp: [{ name: 'datagrams', listen: '127.0.0.1:0', backends: [datagrams.address] }],
    },
  });
  const relays = relaysOf(edge.node);
  const tcpPort = relays.get('tcp', 'lines')!.port;
  const udpPort = relays.get('udp', 'datagrams')!.port;
  const client = await lineClient(tcpPort);
  assert.equal(await client.ask('hi'), 'tcp:hi');
  assert.equal((await (await datagramClient(t, udpPort)).ask('hi')).toString(), 'udp:hi');
  const ready = await readyz(edge.adminUrl);
  assert.equal(ready.status, 200);
  assert.equal(ready.body.split('\n')[0], 'ready');
  assert.match(
    ready.body,
    new RegExp(`^relay tcp/lines :${tcpPort}: listening, 1/1 backends usable, 1 active$`, 'm'),
  );
  assert.match(
    ready.body,
    new RegExp(`^relay udp/datagrams :${udpPort}: listening, 1/1 backends usable, 1 active$`, 'm'),
  );
  const m = await edge.metrics();
  assert.equal(metricSum(m, 'strata_relay_accepted_total', { protocol: 'tcp', relay: 'lines' }), 1);
  assert.equal(metricSum(m, 'strata_relay_packets_total', { protocol: 'udp', direction: 'to_client' }), 1);
  assert.equal(metricSum(m, 'strata_relay_active'), 2);
  assert.equal((await edge.get('/')).status, 200, 'HTTP is served beside the relays');
  client.socket.end();
  await edge.stop();
  assert.equal(relays.get('tcp', 'lines')!.stats().listening, false);
  await assert.rejects(lineClient(tcpPort), { code: 'ECONNREFUSED' });
});

test('/readyz stays 200 when a relay has no usable backend, and says so', async (t) => {
  const origin = await startOrigin(t, ok());
  const gone = await lineBackend(t, 'gone');
  await gone.stop();
  const edge = await startNode(t, {
    sites: [{ hosts: ['*'], origins: [origin.url] }],
    relays: {
      tcp: [
        {
          name: 'down',
          listen: '127.0.0.1:0',
          backends: [gone.address],
          health: { interval: '1s', failures: 1 },
        },
      ],
    },
  });
  await until(async () => /no usable backend/.test((await readyz(edge.adminUrl)).body), 10_000);
  assert.equal((await readyz(edge.adminUrl)).status, 200);
});

test('a relay that cannot listen fails the node start with its address', async (t) => {
  const taken = createServer();
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
  t.after(() => taken.close());
  const port = (taken.address() as { port: number }).port;
  await assert.rejects(
    startNode(t, {
      sites: [{ hosts: ['*'], origins: ['http://127.0.0.1:1'] }],
      relays: { tcp: [{ name: 'clash', listen: `127.0.0.1:${port}`, backends: ['127.0.0.1:1'] }] },
    }),
    new RegExp(`cannot listen on 127\\.0\\.0\\.1:${port}`),
  );
});

test('a shield refuses relays with their key path', async (t) => {
  const { config } = validateConfig({
    sites: [{ hosts: ['*'], origins: ['http://127.0.0.1:1'] }],
    relays: { udp: [{ name: 'dns', listen: '127.0.0.1:0', backends: ['127.0.0.1:53'] }] },
  });
  assert.throws(() => new StrataNode(config!, { role: shieldRole }), /relays\.udp: relays face clients/);
  const file = await tempFile(
    t,
    'strata-relay-shield',
    'shield.yaml',
    `sites: [{ hosts: ["*"], origins: ["http://127.0.0.1:1"] }]
relays:
  tcp: [{ name: db, listen: "127.0.0.1:0", backends: ["127.0.0.1:5432"] }]
`,
  );
  const run = runCli(t, ['shield', '--config', file]);
  assert.equal(await run.exited, 1);
  assert.match(run.stderr(), /shield\.yaml: relays\.tcp: relays face clients: run them on an edge/);
});

async function startWorkers(t: TestContext, text: string) {
  const file = await tempFile(t, 'strata-relay-workers', 'edge.yaml', text);
  const run = runCli(t, ['edge', '--config', file]);
  await until(() => /"workers":2,"msg":"edge started"/.test(run.stdout()), 20_000);
  const lines = () =>
    run
      .stdout()
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  return { run, lines, file };
}

test('with workers: 2 the primary relays TCP and UDP, counts them in /metrics and logs each end', async (t) => {
  const origin = await startOrigin(t, ok());
  const line = await lineBackend(t, 'tcp');
  const datagrams = await datagramBackend(t, 'udp');
  const { run, lines, file } = await startWorkers(
    t,
    `node: { id: edge-relays }
listen: { http: "127.0.0.1:0", admin: "127.0.0.1:0" }
workers: 2
sites: [{ hosts: ["*"], origins: ["${origin.url}"] }]
relays:
  tcp: [{ name: lines, listen: "127.0.0.1:0", backends: ["${line.address}"] }]
  udp: [{ name: datagrams, listen: "127.0.0.1:0", backends: ["${datagrams.address}"], idleTimeout: 1s }]
shutdown: { drainTimeout: 2s }
`,
  );
  const listening = lines().filter((l) => l.msg === 'relay listening');
  assert.equal(listening.length, 2, 'each relay listens once, in the primary');
  assert.ok(listening.every((l) => l.worker === undefined));
  const port = (protocol: string) => Number(listening.find((l) => l.protocol === protocol)!.port);
  const started = lines().find((l) => l.workers === 2)!;
  for (let i = 0; i < 4; i++) {
    const client = await lineClient(port('tcp'));
    assert.equal(await client.ask(`t${i}`), `tcp:t${i}`);
    client.socket.end();
    await client.closed;
    assert.equal((await (await datagramClient(t, port('udp'))).ask(`u${i}`)).toString(), `udp:u${i}`);
  }
  const m = await (await request(`http://127.0.0.1:${String(started.adminPort)}/metrics`)).body.text();
  assert.equal(metricSum(m, 'strata_relay_accepted_total', { protocol: 'tcp' }), 4);
  assert.equal(metricSum(m, 'strata_relay_accepted_total', { protocol: 'udp' }), 4);
  assert.equal(metricSum(m, 'strata_workers_ready'), 2);
  const ready = await (await request(`http://127.0.0.1:${String(started.adminPort)}/readyz`)).body.text();
  assert.match(ready, /^ready\nrelay tcp\/lines :\d+: listening/);
  await until(() => lines().filter((l) => l.msg === 'relay' && l.protocol === 'tcp').length === 4);
  // The relays run in the primary, which a reload does not replace: a changed relay is refused.
  await writeFile(file, (await readFile(file, 'utf8')).replace('name: lines', 'name: renamed'));
  run.child.kill('SIGHUP');
  const refused = await run.logLine('reload refused: the workers keep the running config');
  assert.deepEqual(refused.problems, ['relays: relays change only with a restart']);
  run.child.kill('SIGTERM');
  assert.equal(await run.exited, 0);
  // UDP sessions end at the latest with the drain: one line each.
  assert.equal(lines().filter((l) => l.msg === 'relay' && l.protocol === 'udp').length, 4);
});
