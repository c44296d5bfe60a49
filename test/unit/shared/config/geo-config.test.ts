// The geo and dns sections: regions, overrides, nearness, site rules, and what strata dns reads.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfigText, validateConfig, validateDnsConfig } from '../../../../shared/config/config.js';
import type { Problem } from '../../../../shared/config/schema.js';

const sites = [{ hosts: ['example.test'], origins: ['http://127.0.0.1:3000'] }];

function hasProblem(problems: Problem[], path: string, message: RegExp): void {
  const found = problems.find((p) => p.path === path);
  assert.ok(found, `no problem at ${path}; got ${JSON.stringify(problems)}`);
  assert.match(found.message, message);
}

const issueExample = `
node: { id: edge-eu-1, region: eu }
sites:
  - hosts: [www.example.test]
    origins: ["http://127.0.0.1:3000"]
    geo: { deny: [KP], steer: { us: us.example.test } }
geo:
  regions:
    eu: { continents: [EU, AF], countries: [], edges: ["192.0.2.10", "2001:db8::10"], near: [us] }
    us: { continents: [NA, SA], edges: [{ address: "198.51.100.10", probe: "http://198.51.100.10:9090/readyz" }] }
  defaultRegion: us
  overrides: [{ cidr: 10.0.0.0/8, region: eu }, { cidr: "192.168.0.0/16", country: DE }]
dns: { listen: "0.0.0.0:53", zone: "cdn.example", names: ["www.cdn.example"], ttl: 30 }
`;

test("the issue's example is valid, with defaults filled in", () => {
  const { config, problems } = parseConfigText(issueExample);
  assert.deepEqual(problems, []);
  assert.equal(config!.geo!.fields.country, 'Strata-Geo-Country');
  assert.equal(config!.geo!.database, undefined);
  assert.deepEqual(config!.geo!.regions.us.near, []);
  assert.equal(config!.dns!.maxAnswers, 8);
  assert.equal(config!.dns!.probe.interval, 5000);
  assert.deepEqual(config!.sites[0].geo!.steer, { us: 'us.example.test' });
});

test('every geo problem names its key path', () => {
  const { problems } = validateConfig({
    sites: [{ ...sites[0], geo: { allow: ['DE'], deny: ['FR'], steer: { mars: 'mars.example.test' } } }],
    geo: {
      regions: {
        eu: { continents: ['XX'], countries: ['de'], near: ['eu', 'moon'], edges: ['not-an-ip'] },
        us: { countries: ['US'], colour: 'blue' },
        ap: { countries: ['US'] },
      },
      overrides: [
        { cidr: '10.0.0.0/8' },
        { cidr: '10.0.0.0/40', country: 'DE' },
        { cidr: '10.0.0.0/8', region: 'moon' },
      ],
    },
    dns: { zone: 'cdn.example', names: ['www.other.example'], ttl: 100_000 },
  });
  hasProblem(problems, 'geo.regions.eu.continents[0]', /expected one of AF/);
  hasProblem(problems, 'geo.regions.eu.countries[0]', /country code/);
  hasProblem(problems, 'geo.regions.eu.near[0]', /not near itself/);
  hasProblem(problems, 'geo.regions.eu.near[1]', /no region "moon"/);
  hasProblem(problems, 'geo.regions.eu.edges[0]', /not an IP address|IPv4 or IPv6/);
  hasProblem(problems, 'geo.regions.us.colour', /unknown key/);
  hasProblem(problems, 'geo.regions.ap.countries[0]', /US is already in region us/);
  hasProblem(problems, 'geo.defaultRegion', /required when regions are given/);
  hasProblem(problems, 'geo.overrides[0]', /either country or region/);
  hasProblem(problems, 'geo.overrides[1].cidr', /too long/);
  hasProblem(problems, 'geo.overrides[2].region', /no region "moon"/);
  hasProblem(problems, 'sites[0].geo', /allow or deny, not both/);
  hasProblem(problems, 'sites[0].geo.steer.mars', /no region "mars"/);
  hasProblem(problems, 'dns.names[0]', /not inside the zone cdn.example/);
  hasProblem(problems, 'dns.ttl', /0 to 86400|from 0 to 86400/);
});

test('a dns section needs regions; site geo rules need the geo section', () => {
  const { problems } = validateConfig({
    sites: [{ ...sites[0], geo: { deny: ['KP'] } }],
    dns: { zone: 'cdn.example', names: ['cdn.example'] },
  });
  hasProblem(problems, 'geo.regions', /needs regions/);
  hasProblem(problems, 'sites[0].geo', /needs the top-level geo section/);
});

test('strata dns reads a config without sites, but not one without dns', () => {
  const geo = { regions: { eu: { continents: ['EU'], edges: ['192.0.2.10'] } }, defaultRegion: 'eu' };
  const ok = validateDnsConfig({ geo, dns: { zone: 'cdn.example', names: ['www.cdn.example'] } });
  assert.deepEqual(ok.problems, []);
  assert.equal(ok.config!.dns!.listen, '0.0.0.0:53');
  hasProblem(validateDnsConfig({ geo }).problems, 'dns', /is required/);
  // A node's config still needs its sites.
  hasProblem(
    validateConfig({ geo, dns: { zone: 'cdn.example', names: ['www.cdn.example'] } }).problems,
    'sites',
    /required/,
  );
});
