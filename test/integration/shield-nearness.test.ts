// An edge whose region's shields are down fetches from the shields of the region nearest it
// (geo.regions' near list), not from whichever shield hashes first; shields may serve GeoDNS.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startEdge, startNode } from '../helpers/edge.js';
import { startOrigin } from '../helpers/origin.js';
import { shieldRole } from '../../shield/shield-role.js';
import { testGeoDatabase } from '../helpers/geo-fixtures.js';
import { addressesOf, query, udpQuery } from '../helpers/dns.js';
import type { GeoDns } from '../../edge/geo/geo-dns.js';

test("with no shield in its region, an edge uses the nearest region's shield", async (t) => {
  const origin = await startOrigin(t);
  const shield = (id: string) =>
    startNode(t, { node: { id }, sites: [{ hosts: ['*'], origins: [origin.url] }] }, { role: shieldRole });
  const us = await shield('shield-us');
  const ap = await shield('shield-ap');
  const geo = {
    regions: {
      eu: { continents: ['EU'], near: ['us', 'ap'] },
      us: { continents: ['NA'] },
      ap: { continents: ['AS'] },
    },
    defaultRegion: 'eu',
  };
  const edge = await startEdge(t, origin.url, {
    node: { id: 'edge-eu', region: 'eu' },
    geo,
    shields: [
      { url: ap.url, region: 'ap' },
      { url: us.url, region: 'us' },
    ],
  });
  for (let i = 0; i < 20; i++) {
    const res = await edge.get(`/object-${i}`);
    assert.equal(res.status, 200);
    assert.match(String(res.headers.via), /shield-us/);
  }
});

test('a shield with a dns section serves GeoDNS (any node may), and sends no geo fields of its own', async (t) => {
  const origin = await startOrigin(t);
  const probe = `${origin.url}/.well-known/strata/health`;
  const shield = await startNode(
    t,
    {
      node: { id: 'shield-dns' },
      sites: [{ hosts: ['*'], origins: [origin.url] }],
      geo: {
        database: await testGeoDatabase(t, 'cc0'),
        regions: { eu: { continents: ['EU'], edges: [{ address: '192.0.2.10', probe }] } },
        defaultRegion: 'eu',
      },
      dns: { listen: '127.0.0.1:0', zone: 'cdn.example', names: ['www.cdn.example'] },
    },
    { role: shieldRole },
  );
  const dns = shield.node.nodeServices.find((s) => s.name === 'geodns') as GeoDns;
  assert.deepEqual(addressesOf(await udpQuery(dns.port, query('www.cdn.example', 'A'))), ['192.0.2.10']);
  // The edge's fields pass through a shield as they came.
  await shield.get('/x', { 'strata-geo-country': 'DE' });
  assert.equal(origin.requests.at(-1)!.headers['strata-geo-country'], 'DE');
  assert.equal(origin.requests.at(-1)!.headers['strata-geo-region'], undefined);
});
