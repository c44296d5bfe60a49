// Geo at the edge: the client's country, continent and region go to the origin as fields (a
// client's own copies removed), sites' allow/deny lists answer 403, steering answers 302 to the
// client's region's hostname, and an edge with a dns section serves GeoDNS too.

import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { startEdge, type TestEdge } from '../helpers/edge.js';
import { ok, startOrigin, type TestOrigin } from '../helpers/origin.js';
import { testGeoDatabase } from '../helpers/geo-fixtures.js';
import { addressesOf, query, udpQuery } from '../helpers/dns.js';
import { metricSum } from '../helpers/metrics.js';
import type { GeoDns } from '../../edge/geo/geo-dns.js';
import { connect } from 'node:http2';
import { startHttpsEdge } from '../helpers/https-node.js';
import { issue, testCa, writeCert } from '../helpers/tls-certs.js';

const DE = '192.0.2.7';
const US = '198.51.100.7';
const JP = '203.0.113.7';
const FR6 = '2001:db8::7';

async function geoEdge(
  t: TestContext,
  extra: Record<string, unknown> = {},
  fields?: Record<string, string>,
): Promise<{ edge: TestEdge; origin: TestOrigin }> {
  const origin = await startOrigin(t, ok({ 'cache-control': 'max-age=60' }));
  const edge = await startEdge(t, origin.url, {
    node: { id: 'edge-eu-1', region: 'eu' },
    // The test client is a trusted load balancer saying who the client is.
    proxy: { trustForwarded: true },
    geo: {
      database: await testGeoDatabase(t, 'geolite2'),
      regions: {
        eu: { continents: ['EU'], edges: ['192.0.2.10'] },
        us: { continents: ['NA', 'SA'], edges: ['198.51.100.10'] },
        ap: { continents: ['AS', 'OC'], edges: ['203.0.113.10'] },
      },
      defaultRegion: 'eu',
      ...(fields && { fields }),
    },
    sites: [
      {
        hosts: ['www.example.test', 'us.example.test'],
        origins: [origin.url],
        geo: { deny: ['JP'], steer: { us: 'us.example.test', eu: 'eu.example.test' } },
      },
      { hosts: ['de-only.example.test'], origins: [origin.url], geo: { allow: ['DE'] } },
      { hosts: ['open.example.test'], origins: [origin.url] },
    ],
    ...extra,
  });
  return { edge, origin };
}

const from = (client: string, host: string, more: Record<string, string> = {}) => ({
  host,
  'x-forwarded-for': client,
  ...more,
});

test("the origin gets the client's country, continent and region, never the client's own copies", async (t) => {
  const { edge, origin } = await geoEdge(t);
  const res = await edge.get(
    '/a',
    from(DE, 'open.example.test', { 'strata-geo-country': 'US', 'Strata-Geo-Region': 'us' }),
  );
  assert.equal(res.status, 200);
  const seen = origin.requests[0];
  assert.equal(seen.headers['strata-geo-country'], 'DE');
  assert.equal(seen.headers['strata-geo-continent'], 'EU');
  assert.equal(seen.headers['strata-geo-region'], 'eu');
  // Once each: the client's copies are gone, not joined to the edge's.
  const names = seen.rawHeaders.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase());
  assert.equal(names.filter((n) => n.startsWith('strata-geo-')).length, 3);
  // Unknown to the database: XX, and the default region.
  await edge.get('/b', from('8.8.8.8', 'open.example.test'));
  assert.equal(origin.requests[1].headers['strata-geo-country'], 'XX');
  assert.equal(origin.requests[1].headers['strata-geo-continent'], 'XX');
  assert.equal(origin.requests[1].headers['strata-geo-region'], 'eu');
  // IPv6 clients too.
  await edge.get('/c', from(FR6, 'open.example.test'));
  assert.equal(origin.requests[2].headers['strata-geo-country'], 'FR');
});

test('field names are configurable; the configured names are the ones removed from clients', async (t) => {
  const { edge, origin } = await geoEdge(
    t,
    {},
    { country: 'CF-IPCountry', continent: 'X-Continent', region: 'X-Region' },
  );
  await edge.get('/a', from(US, 'open.example.test', { 'cf-ipcountry': 'FR' }));
  const seen = origin.requests[0].headers;
  assert.equal(seen['cf-ipcountry'], 'US');
  assert.equal(seen['x-continent'], 'NA');
  assert.equal(seen['x-region'], 'us');
  assert.equal(seen['strata-geo-country'], undefined);
});

test("a stored variant that varies on the country field is chosen by the edge's country, not the client's claim", async (t) => {
  const { edge, origin } = await geoEdge(t);
  origin.handle((req, res) => {
    res.writeHead(200, { 'cache-control': 'max-age=60', vary: 'Strata-Geo-Country' });
    res.end(`for ${String(req.headers['strata-geo-country'])}`);
  });
  const de = await edge.get('/v', from(DE, 'open.example.test'));
  assert.equal(de.body, 'for DE');
  // A French client claiming to be German gets its own variant, not the German one.
  const fr = await edge.get('/v', from(FR6, 'open.example.test', { 'strata-geo-country': 'DE' }));
  assert.equal(fr.body, 'for FR');
  assert.equal(origin.requests.length, 2);
  const again = await edge.get('/v', from(DE, 'open.example.test'));
  assert.equal(again.body, 'for DE');
  assert.match(again.cacheStatus, /hit/);
});

test("a site's denied countries, and countries not on its allow list, get a 403 that says why", async (t) => {
  const { edge, origin } = await geoEdge(t);
  const denied = await edge.get('/', from(JP, 'www.example.test'));
  assert.equal(denied.status, 403);
  assert.match(denied.body, /^403 this site is not available in your country \(JP\)/);
  assert.equal(denied.headers['strata-error'], 'GEO_DENIED');
  assert.equal(denied.headers['cache-control'], 'no-store');
  assert.equal((await edge.get('/', from(FR6, 'de-only.example.test'))).status, 403);
  assert.equal((await edge.get('/', from('8.8.8.8', 'de-only.example.test'))).status, 403);
  assert.equal((await edge.get('/', from(DE, 'de-only.example.test'))).status, 200);
  // Other sites serve everyone.
  assert.equal((await edge.get('/', from(JP, 'open.example.test'))).status, 200);
  assert.equal(origin.requests.length, 2);
  assert.equal(metricSum(await edge.metrics(), 'strata_requests_total', { status: '403' }), 3);
});

test("steering: a client of another region is redirected (302) to its region's hostname, reads only", async (t) => {
  const { edge, origin } = await geoEdge(t);
  const far = await edge.get('/page?x=1', from(US, 'www.example.test'));
  assert.equal(far.status, 302);
  assert.equal(far.headers.location, 'http://us.example.test/page?x=1');
  // This edge's own region, a region the site does not steer (ap), and the regional host itself: served.
  assert.equal((await edge.get('/page', from(DE, 'www.example.test'))).status, 200);
  assert.equal((await edge.get('/page', from(FR6, 'www.example.test'))).status, 200);
  assert.equal((await edge.get('/page', from(US, 'us.example.test'))).status, 200);
  // A POST is not moved: a 302 would turn it into a GET.
  assert.equal((await edge.get('/form', from(US, 'www.example.test'), 'POST')).status, 200);
  // The French client's /page was the German one's stored copy; the redirect reached no origin.
  assert.deepEqual(
    origin.requests.map((r) => `${r.method} ${r.headers.host}${r.url}`),
    ['GET www.example.test/page', 'GET us.example.test/page', 'POST www.example.test/form'],
  );
});

test('an edge with a dns section serves GeoDNS from the same GeoIP database', async (t) => {
  const healthy = await startOrigin(t);
  const probe = `${healthy.url}/.well-known/strata/health`;
  const { edge } = await geoEdge(t, {
    geo: {
      database: await testGeoDatabase(t, 'cc0'),
      regions: {
        eu: { continents: ['EU'], edges: [{ address: '192.0.2.10', probe }] },
        us: { continents: ['NA'], edges: [{ address: '198.51.100.10', probe }] },
      },
      defaultRegion: 'eu',
    },
    sites: [{ hosts: ['*'], origins: [healthy.url] }],
    dns: { listen: '127.0.0.1:0', zone: 'cdn.example', names: ['www.cdn.example'] },
  });
  const dns = edge.node.nodeServices.find((s) => s.name === 'geodns') as GeoDns;
  const us = await udpQuery(dns.port, query('www.cdn.example', 'A', { subnet: '198.51.100.0/24' }));
  assert.deepEqual(addressesOf(us), ['198.51.100.10']);
  assert.equal(metricSum(await edge.metrics(), 'strata_dns_queries_total', { transport: 'udp' }), 1);
});

test("over HTTP/2 too, the origin gets the geo fields and never the client's copies", async (t) => {
  const origin = await startOrigin(t, ok({ 'cache-control': 'no-store' }));
  const ca = await testCa(t);
  const files = await writeCert(ca, 'site', await issue(ca, ['site.test']));
  const edge = await startHttpsEdge(t, [files], {
    sites: [{ hosts: ['site.test'], origins: [origin.url] }],
    geo: {
      database: await testGeoDatabase(t, 'cc0'),
      // The client is 127.0.0.1: an override places it.
      overrides: [{ cidr: '127.0.0.0/8', country: 'JP' }],
    },
  });
  const client = connect(`https://127.0.0.1:${edge.httpsPort}`, { ca: ca.cert, servername: 'site.test' });
  t.after(() => client.close());
  const status = await new Promise<number>((resolve, reject) => {
    const req = client.request({ ':path': '/h2', ':authority': 'site.test', 'strata-geo-country': 'FR' });
    req.on('response', (h) => resolve(Number(h[':status'])));
    req.on('error', reject);
    req.resume();
    req.end();
  });
  assert.equal(status, 200);
  const seen = origin.requests[0].headers;
  assert.equal(seen['strata-geo-country'], 'JP');
  assert.equal(seen['strata-geo-continent'], 'AS');
  // No regions configured: no region field.
  assert.equal(seen['strata-geo-region'], undefined);
});
