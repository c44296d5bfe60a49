// Regions: which region a client is in, and the order of regions to fall back to.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Regions } from '../../../../edge/geo/regions.js';
import type { GeoAnswer } from '../../../../edge/geo/geoip.js';

const regions = new Regions({
  defaultRegion: 'us',
  regions: {
    eu: {
      continents: ['EU', 'AF'],
      countries: [],
      edges: ['192.0.2.10', { address: '2001:db8::10', probe: 'http://[2001:db8::10]:9090/healthz' }],
      near: ['us'],
    },
    us: { continents: ['NA', 'SA'], countries: ['JP'], edges: ['198.51.100.10'], near: [] },
    ap: { continents: ['AS', 'OC'], countries: [], edges: [], near: ['us', 'eu'] },
  },
});

const at = (country?: string, continent?: string, region?: string): GeoAnswer => ({
  country,
  continent,
  region,
  prefixLength: 24,
});

test('a country rule comes before its continent, an override region before both, the default last', () => {
  assert.equal(regions.regionOf(at('DE', 'EU')), 'eu');
  assert.equal(regions.regionOf(at('JP', 'AS')), 'us');
  assert.equal(regions.regionOf(at('CN', 'AS')), 'ap');
  assert.equal(regions.regionOf(at('DE', 'EU', 'ap')), 'ap');
  assert.equal(regions.regionOf(at(undefined, undefined)), 'us');
  assert.equal(regions.regionOf(at('AQ', 'AN')), 'us');
  // An override naming no configured region is ignored.
  assert.equal(regions.regionOf(at('DE', 'EU', 'mars')), 'eu');
});

test('nearness: the region, its near list in order, then the other regions in config order', () => {
  assert.deepEqual(regions.nearness('eu'), ['eu', 'us', 'ap']);
  assert.deepEqual(regions.nearness('ap'), ['ap', 'us', 'eu']);
  assert.deepEqual(regions.nearness('us'), ['us', 'eu', 'ap']);
  assert.deepEqual(regions.nearness('mars'), ['eu', 'us', 'ap']);
});

test("edges carry their region and probe URL: the proxy listener's health path by default", () => {
  assert.deepEqual(regions.edges('eu'), [
    { address: '192.0.2.10', region: 'eu', probe: 'http://192.0.2.10/.well-known/strata/health' },
    { address: '2001:db8::10', region: 'eu', probe: 'http://[2001:db8::10]:9090/healthz' },
  ]);
  assert.equal(regions.allEdges().length, 3);
});
