// GeoIp: both record shapes, continents derived from countries, CIDR overrides, the default
// CC0 database, and reloading the file when it changes.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { GeoIp } from '../../../../edge/geo/geoip.js';
import { GeoMetrics } from '../../../../edge/geo/geo-metrics.js';
import { continentOf } from '../../../../edge/geo/continents.js';
import { geoDatabaseBytes, testGeoDatabase, testNetworks } from '../../../helpers/geo-fixtures.js';
import { tempDir } from '../../../helpers/temp.js';
import { until } from '../../../helpers/wait.js';
import { metricSum } from '../../../helpers/metrics.js';
import type { TestContext } from 'node:test';

const log = pino({ level: 'silent' });

async function open(t: TestContext, options: ConstructorParameters<typeof GeoIp>[0]): Promise<GeoIp> {
  const geo = new GeoIp(options);
  await geo.start();
  t.after(() => geo.stop());
  return geo;
}

for (const shape of ['cc0', 'geolite2'] as const) {
  test(`a ${shape}-shaped database answers country, continent and the network's prefix length`, async (t) => {
    const geo = await open(t, { database: await testGeoDatabase(t, shape), log, watch: false });
    assert.deepEqual(geo.lookup('192.0.2.55'), {
      country: 'DE',
      continent: 'EU',
      region: undefined,
      prefixLength: 24,
    });
    assert.deepEqual(geo.lookup('203.0.113.1'), {
      country: 'JP',
      continent: 'AS',
      region: undefined,
      prefixLength: 24,
    });
    assert.equal(geo.lookup('2001:db8:100::1').country, 'US');
    assert.equal(geo.lookup('2001:db8:100::1').continent, 'NA');
    // An IPv4 client on a dual-stack socket.
    assert.equal(geo.lookup('::ffff:198.51.100.9').country, 'US');
    // Not in the database, and not an address at all.
    assert.equal(geo.lookup('8.8.8.8').country, undefined);
    assert.deepEqual(geo.lookup('not-an-ip'), {
      country: undefined,
      continent: undefined,
      region: undefined,
      prefixLength: 0,
    });
  });
}

test('the continent comes from the country when the record has none, and every test country has one', () => {
  for (const n of testNetworks) assert.equal(continentOf(n.country), n.continent);
  assert.equal(continentOf('BR'), 'SA');
  assert.equal(continentOf('ZZ'), undefined);
});

test('CIDR overrides win over the database, the longest prefix first', async (t) => {
  const geo = await open(t, {
    database: await testGeoDatabase(t, 'cc0'),
    overrides: [
      { cidr: '192.0.2.0/24', country: 'BR' },
      { cidr: '192.0.2.128/25', region: 'lab' },
      { cidr: '::1', country: 'CA' },
    ],
    log,
    watch: false,
  });
  assert.deepEqual(geo.lookup('192.0.2.1'), {
    country: 'BR',
    continent: 'SA',
    region: undefined,
    prefixLength: 24,
  });
  assert.deepEqual(geo.lookup('192.0.2.200'), {
    country: undefined,
    continent: undefined,
    region: 'lab',
    prefixLength: 25,
  });
  assert.equal(geo.lookup('::1').country, 'CA');
  assert.equal(geo.lookup('198.51.100.1').country, 'US');
});

test('the default database (CC0, a dependency) loads and answers for public addresses', async (t) => {
  const geo = await open(t, { log, watch: false });
  const google = geo.lookup('8.8.8.8');
  assert.equal(google.country, 'US');
  assert.equal(google.continent, 'NA');
  assert.ok(google.prefixLength > 0 && google.prefixLength <= 32);
  // DENIC's address space (Frankfurt), over IPv6.
  assert.equal(geo.lookup('2a02:568::1').continent, 'EU');
});

test('a database replaced on disk (by rename) is reloaded; a broken one leaves the old in service', async (t) => {
  const dir = await tempDir(t, 'strata-geo-reload');
  const file = join(dir, 'geo.mmdb');
  await writeFile(file, geoDatabaseBytes('cc0'));
  const registry = new Registry();
  const geo = await open(t, { database: file, log, metrics: new GeoMetrics(registry) });
  assert.equal(geo.lookup('192.0.2.1').country, 'DE');
  const moved = testNetworks.map((n) => (n.cidr === '192.0.2.0/24' ? { ...n, country: 'IT' } : n));
  await writeFile(join(dir, 'next.tmp'), geoDatabaseBytes('geolite2', moved));
  await rename(join(dir, 'next.tmp'), file);
  await until(() => geo.lookup('192.0.2.1').country === 'IT');
  assert.equal(metricSum(await registry.metrics(), 'strata_geo_reloads_total', { result: 'ok' }) >= 1, true);
  await writeFile(file, 'not a database');
  await until(
    async () => metricSum(await registry.metrics(), 'strata_geo_reloads_total', { result: 'failed' }) >= 1,
  );
  assert.equal(geo.lookup('192.0.2.1').country, 'IT');
});

test('a database that cannot be read fails the start with GEO_DATABASE_INVALID', async (t) => {
  const geo = new GeoIp({ database: join(await tempDir(t, 'strata-geo-missing'), 'none.mmdb'), log });
  await assert.rejects(geo.start(), { code: 'GEO_DATABASE_INVALID' });
  await geo.stop();
});
