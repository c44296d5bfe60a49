// strata dns as operators run it: the built CLI with a config file, answering real queries,
// serving metrics on its admin listener, stopping on SIGTERM; config check reads its files too.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { request } from 'undici';
import { runCli } from '../helpers/cli.js';
import { tempFile } from '../helpers/temp.js';
import { startOrigin } from '../helpers/origin.js';
import { testGeoDatabase } from '../helpers/geo-fixtures.js';
import { addressesOf, query, udpQuery } from '../helpers/dns.js';
import { metricSum } from '../helpers/metrics.js';

test('strata dns answers by region, serves /metrics, and exits 0 on SIGTERM', async (t) => {
  const healthy = await startOrigin(t);
  const probe = `${healthy.url}/.well-known/strata/health`;
  const file = await tempFile(
    t,
    'strata-dns',
    'dns.yaml',
    `
node: { id: dns-1 }
listen: { admin: "127.0.0.1:0" }
log: { level: warn }
geo:
  database: ${await testGeoDatabase(t, 'cc0')}
  regions:
    eu: { continents: [EU], edges: [{ address: 192.0.2.10, probe: "${probe}" }], near: [us] }
    us: { continents: [NA], edges: [{ address: 198.51.100.10, probe: "${probe}" }] }
  defaultRegion: eu
dns: { listen: "127.0.0.1:0", zone: cdn.example, names: [www.cdn.example], ttl: 30 }
`,
  );
  const check = runCli(t, ['config', 'check', file]);
  assert.equal(await check.exited, 0, check.stderr());
  const run = runCli(t, ['dns', '--config', file]);
  const started = await run.logLine('dns started');
  const port = started.dnsPort as number;
  assert.equal(started.dns, `127.0.0.1:${port}`);
  const us = await udpQuery(port, query('www.cdn.example', 'A', { subnet: '198.51.100.0/24' }));
  assert.deepEqual(addressesOf(us), ['198.51.100.10']);
  const eu = await udpQuery(port, query('www.cdn.example', 'A', { subnet: '192.0.2.0/24' }));
  assert.deepEqual(addressesOf(eu), ['192.0.2.10']);
  const metrics = await (
    await request(`http://127.0.0.1:${started.adminPort as number}/metrics`)
  ).body.text();
  assert.equal(metricSum(metrics, 'strata_dns_queries_total', { rcode: 'NOERROR' }), 2);
  assert.equal(metricSum(metrics, 'strata_dns_edge_up'), 2);
  run.child.kill('SIGTERM');
  assert.equal(await run.exited, 0);
});

test('strata dns: usage errors exit 2, a config without dns exits 1 naming the key', async (t) => {
  const none = runCli(t, ['dns']);
  assert.equal(await none.exited, 2);
  assert.match(none.stderr(), /--config FILE is required/);
  const file = await tempFile(
    t,
    'strata-dns',
    'edge.yaml',
    'sites: [{ hosts: ["*"], origins: ["http://127.0.0.1:3000"] }]\n',
  );
  const run = runCli(t, ['dns', '--config', file]);
  assert.equal(await run.exited, 1);
  assert.equal(run.stderr(), `${file}: dns: is required (strata dns serves it)\n`);
});

test('an edge with workers: 2 serves GeoDNS once, from its primary, says so on /readyz, and keeps it through reloads', async (t) => {
  const origin = await startOrigin(t);
  const probe = `${origin.url}/.well-known/strata/health`;
  const file = await tempFile(
    t,
    'strata-dns',
    'edge.yaml',
    `
node: { id: edge-dns, region: eu }
listen: { http: "127.0.0.1:0", admin: "127.0.0.1:0" }
workers: 2
log: { level: info, access: false }
sites: [{ hosts: ["*"], origins: ["${origin.url}"] }]
geo:
  database: ${await testGeoDatabase(t, 'cc0')}
  regions:
    eu: { continents: [EU], edges: [{ address: 192.0.2.10, probe: "${probe}" }] }
    us: { continents: [NA], edges: [{ address: 198.51.100.10, probe: "${probe}" }] }
  defaultRegion: eu
dns: { listen: "127.0.0.1:0", zone: cdn.example, names: [www.cdn.example] }
`,
  );
  const run = runCli(t, ['edge', '--config', file]);
  const dns = await run.logLine('dns listening (udp and tcp)');
  const started = await run.logLine('edge started');
  const port = dns.dnsPort as number;
  const us = await udpQuery(port, query('www.cdn.example', 'A', { subnet: '198.51.100.0/24' }));
  assert.deepEqual(addressesOf(us), ['198.51.100.10']);
  const ready = await request(`http://127.0.0.1:${started.adminPort as number}/readyz`);
  assert.equal(ready.statusCode, 200);
  assert.match(await ready.body.text(), new RegExp(`^dns cdn.example :${port}: listening$`, 'm'));
  // The workers' geo filters send the origin the client's fields (127.0.0.1: unknown, default region).
  const res = await request(`http://${started.http as string}/x`);
  await res.body.text();
  assert.equal(origin.requests.at(-1)!.headers['strata-geo-region'], 'eu');
  // Only the primary bound the DNS port: one such line in the whole output.
  assert.equal(
    run
      .stdout()
      .split('\n')
      .filter((l) => l.includes('dns listening')).length,
    1,
  );
  // The primary runs the DNS server: a reload (which replaces only the workers) may not change it.
  await writeFile(
    file,
    (await readFile(file, 'utf8')).replace('names: [www.cdn.example]', 'names: [img.cdn.example]'),
  );
  run.child.kill('SIGHUP');
  const refused = await run.logLine('reload refused: the workers keep the running config');
  assert.match(
    String(refused.problems),
    /^dns: the GeoDNS server \(dns, and geo with it\) changes only with a restart/,
  );
  const again = await udpQuery(port, query('www.cdn.example', 'A', { subnet: '198.51.100.0/24' }));
  assert.deepEqual(addressesOf(again), ['198.51.100.10']);
  run.child.kill('SIGTERM');
  assert.equal(await run.exited, 0);
});

test('regression: a config that cannot be split between workers exits 1 before the GeoDNS server starts, instead of hanging with it', async (t) => {
  const file = await tempFile(
    t,
    'strata-dns',
    'edge.yaml',
    `
listen: { http: "127.0.0.1:0", admin: "127.0.0.1:0" }
workers: 2
cache: { memory: { maxBytes: 1MiB, maxObjectBytes: 64KiB } }
sites: [{ hosts: ["*"], origins: ["http://127.0.0.1:9"] }]
geo:
  database: ${await testGeoDatabase(t, 'cc0')}
  regions: { eu: { continents: [EU], edges: ["192.0.2.10"] } }
  defaultRegion: eu
dns: { listen: "127.0.0.1:0", zone: cdn.example, names: [www.cdn.example], probe: { timeout: 100ms } }
`,
  );
  const run = runCli(t, ['edge', '--config', file]);
  assert.equal(await run.exited, 1);
  assert.match(run.stderr(), /the config split between 2 workers is invalid: cache.memory.maxBytes/);
  assert.doesNotMatch(run.stdout(), /dns listening/);
});
