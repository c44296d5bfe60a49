// The config's JSON Schema (strata config schema), checked with a real validator (ajv): it
// accepts what the config validator accepts, refuses unknown keys and wrong types as it does,
// and the copy in docs/ (what editors point at) is the current one.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { parse } from 'yaml';
import { configJsonSchema, validateConfig } from '../../../../shared/config/config.js';

const schema = configJsonSchema();
const ajv = new Ajv2020({ allErrors: true, strict: true, allowUnionTypes: true });
const check = ajv.compile(schema);
const root = new URL('../../../../../', import.meta.url);

const valid: unknown[] = [
  { sites: [{ hosts: ['*'], origins: ['http://127.0.0.1:3000'] }] },
  parse(`
node: { id: edge-eu-1, region: eu }
listen: { http: "0.0.0.0:8080", admin: "127.0.0.1:9090" }
sites:
  - hosts: ["example.test", "*.example.test"]
    origins: ["http://10.0.0.5:8080"]
    originProbe: /healthz
    cacheKey: { query: sort, dropParams: [utm_source] }
    staleIfError: 1h
shields: [{ url: "http://10.0.1.7:8080", region: eu }]
cache:
  memory: { maxBytes: 256MiB, maxObjectBytes: 16 MiB }
  disk: { path: /var/cache/strata, maxBytes: 100GiB }
server:
upstream: { connectTimeout: 5s, attempts: 2, health: { openFor: 30s, probeInterval: 0 } }
proxy: { trustedProxies: ["10.0.0.0/8"] }
log: { level: warn }
`),
  parse(`
listen:
  https:
    address: "0.0.0.0:8443"
    certificates: [{ cert: /etc/strata/a.pem, key: /etc/strata/a.key, chain: /etc/strata/chain.pem }]
    reloadCheck: 30s
sites:
  - hosts: ["example.test"]
    origins: ["https://10.0.0.5", { url: "https://10.0.0.6", tls: { insecure: true } }]
    cacheKey: { scheme: ignore }
    https: { redirect: true, hsts: { maxAge: 365d, includeSubDomains: true, preload: true } }
    websocket: shield
shields: [{ url: "https://10.0.1.7:8443", tls: { insecure: true } }]
server: { http2: { maxConcurrentStreams: 128, maxResets: 100 } }
websocket: { maxPerClient: 20, idleTimeout: 10m }
`),
  parse(`
node: { id: edge-eu-1, region: eu }
sites:
  - hosts: ["www.example.test"]
    origins: ["http://10.0.0.5"]
    geo: { deny: [KP], steer: { us: us.example.test } }
geo:
  database: /var/lib/GeoIP/GeoLite2-Country.mmdb
  regions:
    eu: { continents: [EU, AF], edges: ["192.0.2.10", "2001:db8::10"], near: [us] }
    us: { countries: [US, CA], edges: [{ address: "198.51.100.10", probe: "http://198.51.100.10:9090/readyz" }] }
  defaultRegion: us
  overrides: [{ cidr: 10.0.0.0/8, region: eu }, { cidr: "192.168.0.0/16", country: DE }]
  fields: { country: CF-IPCountry }
dns:
  listen: "0.0.0.0:53"
  zone: cdn.example
  names: [www.cdn.example]
  ttl: 30
  nameservers: [{ name: ns1.cdn.example, addresses: ["192.0.2.53"] }]
  probe: { interval: 2s, timeout: 500ms }
`),
];

test('the schema accepts what the config validator accepts', async () => {
  const deploy = parse(await readFile(new URL('deploy/config/edge-local.yaml', root), 'utf8')) as unknown;
  for (const input of [...valid, deploy]) {
    assert.deepEqual(validateConfig(input).problems, []);
    assert.ok(check(input), JSON.stringify(check.errors));
  }
});

test('the schema refuses unknown keys, wrong types, bad values and missing sites, as the validator does', () => {
  const site = { hosts: ['*'], origins: ['http://127.0.0.1:3000'] };
  const invalid: unknown[] = [
    {},
    { sites: [site], cache: { memroy: {} } },
    { sites: [site], server: { maxHeaders: 'lots' } },
    { sites: [site], cache: { memory: { maxBytes: '12 parsecs' } } },
    { sites: [site], upstream: { connectTimeout: 'soon' } },
    { sites: [site], shieldFallback: 'origin' },
    { sites: [{ ...site, hosts: [] }] },
    { sites: [site], listen: { http: 'localhost' } },
    { sites: [site], geo: { regions: { eu: { continents: ['Europe'] } }, defaultRegion: 'eu' } },
    { sites: [site], geo: { regions: { eu: { edges: [{ addr: '192.0.2.1' }] } }, defaultRegion: 'eu' } },
    { sites: [site], dns: { zone: 'cdn.example', names: [], ttl: 30 } },
  ];
  for (const input of invalid) {
    assert.notDeepEqual(validateConfig(input).problems, [], JSON.stringify(input));
    assert.equal(check(input), false, `the schema accepted ${JSON.stringify(input)}`);
  }
});

test('docs/config.schema.json is what strata config schema prints now', async () => {
  const published = JSON.parse(await readFile(new URL('docs/config.schema.json', root), 'utf8')) as unknown;
  assert.deepEqual(
    published,
    JSON.parse(JSON.stringify(schema)),
    'run: node dist/shared/cli/strata.js config schema > docs/config.schema.json',
  );
});
