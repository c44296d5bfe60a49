// An edge whose region's shields are down fetches from the shields of the region nearest it
// (geo.regions' near list), not from whichever shield hashes first.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startEdge, startNode } from '../helpers/edge.js';
import { startOrigin } from '../helpers/origin.js';
import { shieldRole } from '../../shield/shield-role.js';

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
