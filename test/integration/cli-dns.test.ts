// strata dns as operators run it: the built CLI with a config file, answering real queries,
// serving metrics on its admin listener, stopping on SIGTERM; config check reads its files too.

import { test } from 'node:test';
import assert from 'node:assert/strict';
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
