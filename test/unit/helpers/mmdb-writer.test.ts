// The test MMDB writer, read back by the maxmind package (the reader Strata uses).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Reader } from 'maxmind';
import { writeMmdb } from '../../helpers/mmdb-writer.js';
import { geoDatabaseBytes } from '../../helpers/geo-fixtures.js';

test('a database of IPv4 and IPv6 networks reads back with each record and its prefix length', () => {
  const reader = new Reader(geoDatabaseBytes('cc0'));
  assert.equal(reader.metadata.ipVersion, 6);
  assert.equal(reader.metadata.recordSize, 32);
  assert.equal(reader.metadata.databaseType, 'country ipvAll');
  assert.deepEqual(reader.getWithPrefixLength('192.0.2.77'), [{ country_code: 'DE' }, 24]);
  assert.deepEqual(reader.getWithPrefixLength('198.51.100.1'), [{ country_code: 'US' }, 24]);
  assert.deepEqual(reader.getWithPrefixLength('10.200.3.4'), [{ country_code: 'NL' }, 8]);
  // 2001:db8::/32 holds two /40s: the rest of it is the tree's leaves around them (here a /33).
  assert.deepEqual(reader.getWithPrefixLength('2001:db8:ffff::1'), [{ country_code: 'FR' }, 33]);
  assert.equal(reader.get('8.8.8.8'), null);
  assert.equal(reader.get('2a00::1'), null);
});

test('a more specific network inside a wider one splits it; the rest keeps the wider record', () => {
  const reader = new Reader(geoDatabaseBytes('cc0'));
  assert.deepEqual(reader.getWithPrefixLength('2001:db8:100::5'), [{ country_code: 'US' }, 40]);
  assert.deepEqual(reader.getWithPrefixLength('2001:db8:200:1::5'), [{ country_code: 'JP' }, 40]);
  assert.deepEqual(reader.getWithPrefixLength('2001:db8:300::5'), [{ country_code: 'FR' }, 40]);
});

test('GeoLite2-shaped records keep their nested maps, strings and integers', () => {
  const reader = new Reader(geoDatabaseBytes('geolite2'));
  assert.equal(reader.metadata.databaseType, 'GeoLite2-Country');
  assert.deepEqual(reader.get('203.0.113.9'), {
    continent: { code: 'AS', geoname_id: 6255148, names: { en: 'AS' } },
    country: { iso_code: 'JP', geoname_id: 2921044, names: { en: 'JP' } },
  });
});

test('values of every size class and type encode and decode', () => {
  const long = 'x'.repeat(300);
  const longer = 'y'.repeat(70_000);
  const record = { long, longer, big: 5_000_000_000, zero: 0, yes: true, list: [1, 'two', { three: 3 }] };
  const reader = new Reader(writeMmdb([{ cidr: '0.0.0.0/0', record }], { databaseType: 'test' }));
  assert.deepEqual(reader.get('1.2.3.4'), { ...record, big: 5_000_000_000n });
});
