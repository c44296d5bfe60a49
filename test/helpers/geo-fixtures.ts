// Test GeoIP databases, built in the test's setup by the MMDB writer (mmdb-writer.ts): the
// documentation ranges (RFC 5737, RFC 3849) and private ranges (RFC 1918) mapped to countries,
// in the two record shapes Strata reads (the CC0 database's and GeoLite2's).

import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { writeMmdb, type MmdbNetwork } from './mmdb-writer.js';
import { tempDir } from './temp.js';

/** Which country each test network is in, and its continent (GeoLite2's shape carries it). */
export const testNetworks: readonly { cidr: string; country: string; continent: string }[] = [
  { cidr: '192.0.2.0/24', country: 'DE', continent: 'EU' },
  { cidr: '198.51.100.0/24', country: 'US', continent: 'NA' },
  { cidr: '203.0.113.0/24', country: 'JP', continent: 'AS' },
  { cidr: '2001:db8::/32', country: 'FR', continent: 'EU' },
  { cidr: '2001:db8:100::/40', country: 'US', continent: 'NA' },
  { cidr: '2001:db8:200::/40', country: 'JP', continent: 'AS' },
  { cidr: '10.0.0.0/8', country: 'NL', continent: 'EU' },
  { cidr: '172.16.0.0/12', country: 'CA', continent: 'NA' },
  { cidr: '192.168.0.0/16', country: 'AU', continent: 'OC' },
];

export type RecordShape = 'cc0' | 'geolite2';

/** The networks as records of one shape: `{ country_code }` or `{ country: { iso_code }, continent: { code } }`. */
export function shapedNetworks(shape: RecordShape, networks = testNetworks): MmdbNetwork[] {
  return networks.map(({ cidr, country, continent }): MmdbNetwork => ({
    cidr,
    record:
      shape === 'cc0'
        ? { country_code: country }
        : {
            continent: { code: continent, geoname_id: 6255148, names: { en: continent } },
            country: { iso_code: country, geoname_id: 2921044, names: { en: country } },
          },
  }));
}

/** Writes a test database of `shape` into a temp dir (removed after the test); returns its path. */
export async function testGeoDatabase(
  t: TestContext,
  shape: RecordShape,
  networks = testNetworks,
): Promise<string> {
  const file = join(await tempDir(t, 'strata-geo'), `${shape}.mmdb`);
  await writeFile(file, geoDatabaseBytes(shape, networks));
  return file;
}

export function geoDatabaseBytes(shape: RecordShape, networks = testNetworks): Buffer {
  return writeMmdb(shapedNetworks(shape, networks), {
    databaseType: shape === 'cc0' ? 'country ipvAll' : 'GeoLite2-Country',
  });
}
