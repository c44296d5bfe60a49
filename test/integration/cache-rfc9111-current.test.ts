// What the current public cache-tests suite checks and the old npm package (http-cache-tests
// 0.4.5, the gate in test/conformance) does not, or checks the other way: each test is named
// after the RFC clause it pins, against a real origin through a real edge.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { ok, startOrigin } from '../helpers/origin.js';
import { startEdge } from '../helpers/edge.js';
import { validateConfig } from '../../shared/config/config.js';
import { StrataNode } from '../../shared/node.js';
import { shieldRole } from '../../shield/shield-role.js';

const future = 'Thu, 18 Aug 2050 02:01:18 GMT';

test('RFC 9111 §5.1: an invalid Age is ignored, and a list-valued Age uses its first member', async (t) => {
  const ages: (string | string[])[] = ['abc', '-7200', '7200.0', '0, 7200', ['0', '7200'], ['3600', '3600']];
  const origin = await startOrigin(t, (req, res) => {
    // One field line per array member.
    res.setHeader('age', ages[Number(req.url?.slice(1))]);
    res.writeHead(200, { 'cache-control': 'max-age=10000', 'content-length': 2 });
    res.end('ok');
  });
  const edge = await startEdge(t, origin.url);
  for (let i = 0; i < ages.length; i++) {
    await edge.get(`/${i}`);
    const again = await edge.get(`/${i}`);
    assert.match(again.cacheStatus, /; hit; /, `Age ${JSON.stringify(ages[i])}`);
  }
  assert.equal(origin.requests.length, ages.length);
  // The first member is old: stale at once.
  origin.handle(ok({ 'cache-control': 'max-age=3600', age: '7200, 0' }));
  await edge.get('/old');
  const old = await edge.get('/old');
  assert.doesNotMatch(old.cacheStatus, /; hit; /);
});

test('RFC 9111 §1.2.2: an Age at or past 2^31 saturates, and the response is stale', async (t) => {
  const origin = await startOrigin(t, (req, res) => {
    res.writeHead(200, { 'cache-control': 'max-age=10000', age: req.url?.slice(1), 'content-length': 2 });
    res.end('ok');
  });
  const edge = await startEdge(t, origin.url);
  for (const age of ['2147483647', '2147483648', '2147483649']) {
    await edge.get(`/${age}`);
    assert.doesNotMatch((await edge.get(`/${age}`)).cacheStatus, /; hit; /, age);
  }
  assert.equal(origin.requests.length, 6);
});

test('RFC 9110 §5.6.7 and RFC 9111 §5.3: an Expires that is not a strict HTTP-date is already expired', async (t) => {
  const invalid = [
    'Thu, 18 Aug 2050 02:01:18 UTC',
    'Thu 18 Aug 2050 02:01:18 GMT',
    'Thu, 18  Aug  2050 02:01:18 GMT',
    'Thu, 18-Aug-2050 02:01:18 GMT',
    'Thu, 18 Aug 2050 2:01:18 GMT',
  ];
  const valid = ['Thursday, 18-Aug-50 02:01:18 GMT', 'Thu Aug 18 02:01:18 2050', future];
  const all = [...invalid, ...valid];
  const origin = await startOrigin(t, (req, res) => {
    res.writeHead(200, {
      date: new Date().toUTCString(),
      expires: all[Number(req.url?.slice(1))],
      'content-length': 2,
    });
    res.end('ok');
  });
  const edge = await startEdge(t, origin.url);
  for (let i = 0; i < all.length; i++) {
    await edge.get(`/${i}`);
    const again = await edge.get(`/${i}`);
    assert.equal(/; hit; /.test(again.cacheStatus), i >= invalid.length, all[i]);
  }
});

test('RFC 9111 §5.2.2.4: a qualified no-cache stores the response without the listed fields', async (t) => {
  const origin = await startOrigin(
    t,
    ok({ 'cache-control': ['no-cache="a, b"', 'max-age=3600'], a: '1', b: '2', c: '3' }),
  );
  const edge = await startEdge(t, origin.url);
  const first = await edge.get('/x');
  assert.equal(first.headers.a, '1');
  const second = await edge.get('/x');
  assert.match(second.cacheStatus, /; hit; /);
  assert.equal(second.headers.a, undefined);
  assert.equal(second.headers.b, undefined);
  assert.equal(second.headers.c, '3');
  assert.equal(origin.requests.length, 1);
});

test('RFC 9111 §5.2.2.7: a qualified private keeps only the listed fields out of a shared cache', async (t) => {
  const origin = await startOrigin(
    t,
    ok({ 'cache-control': 'private="set-cookie", max-age=3600', 'set-cookie': 'id=1' }),
  );
  const edge = await startEdge(t, origin.url);
  const first = await edge.get('/x');
  assert.equal(first.headers['set-cookie'], 'id=1');
  const second = await edge.get('/x');
  assert.match(second.cacheStatus, /; hit; /);
  assert.equal(second.headers['set-cookie'], undefined);
  // Unqualified, the whole response stays out.
  origin.handle(ok({ 'cache-control': 'private, max-age=3600' }));
  assert.match((await edge.get('/y')).cacheStatus, /detail=private/);
});

test('RFC 9213 §2.1: CDN-Cache-Control private, no-cache, no-store and an old Age govern Strata over Cache-Control', async (t) => {
  const cases: Record<string, Record<string, string>> = {
    '/private': { 'cdn-cache-control': 'private' },
    '/no-cache': { 'cdn-cache-control': 'no-cache' },
    '/no-store': { 'cdn-cache-control': 'no-store' },
    '/zero': { 'cdn-cache-control': 'max-age=0' },
    '/old': { 'cdn-cache-control': 'max-age=3600', age: '7200' },
    '/unknown-type': { 'cdn-cache-control': 'max-age=10000, &&&&&', 'cache-control': 'no-store' },
  };
  const origin = await startOrigin(t, (req, res) => {
    res.writeHead(200, {
      'cache-control': 'max-age=10000',
      expires: future,
      date: new Date().toUTCString(),
      ...cases[req.url ?? ''],
      'content-length': 2,
    });
    res.end('ok');
  });
  const edge = await startEdge(t, origin.url);
  for (const [path, fields] of Object.entries(cases)) {
    const first = await edge.get(path);
    // Passed downstream as received (RFC 9213 §3).
    assert.equal(first.headers['cdn-cache-control'], fields['cdn-cache-control'], path);
    assert.doesNotMatch((await edge.get(path)).cacheStatus, /; hit; /, path);
  }
  assert.equal(origin.requests.length, 2 * Object.keys(cases).length);
});

test('RFC 9213 §2.1: a CDN-Cache-Control member of the wrong type makes the whole field ignored', async (t) => {
  const origin = await startOrigin(
    t,
    ok({ 'cdn-cache-control': 'max-age="10000"', 'cache-control': 'no-store' }),
  );
  const edge = await startEdge(t, origin.url);
  assert.match((await edge.get('/x')).cacheStatus, /detail=no-store/);
  await edge.get('/x');
  assert.equal(origin.requests.length, 2);
});

test('RFC 9213 §2.2: the operator-named targeted field is obeyed first and removed on the edge, kept by a shield', async (t) => {
  const origin = await startOrigin(
    t,
    ok({
      'strata-cache-control': 'max-age=500',
      'cdn-cache-control': 'no-store',
      'cache-control': 'max-age=5',
    }),
  );
  const cache = { targetedField: 'Strata-Cache-Control' };
  const edge = await startEdge(t, origin.url, { cache });
  const first = await edge.get('/x');
  assert.equal(first.headers['strata-cache-control'], undefined);
  assert.equal(first.headers['cdn-cache-control'], 'no-store');
  const second = await edge.get('/x');
  assert.match(second.cacheStatus, /; hit; ttl=500/);
  assert.equal(second.headers['strata-cache-control'], undefined);

  // A shield answers edges, which obey the field too: it passes it on.
  const { config } = validateConfig({
    node: { id: 'shield-test' },
    listen: { http: '127.0.0.1:0', admin: '127.0.0.1:0' },
    sites: [{ hosts: ['*'], origins: [origin.url] }],
    log: { level: 'silent', access: false },
    cache,
  });
  assert.ok(config);
  const shield = new StrataNode(config, { role: shieldRole, log: pino({ level: 'silent' }) });
  await shield.start();
  t.after(() => shield.stop(1000));
  const behind = await startEdge(t, origin.url, {
    cache,
    sites: [
      { hosts: ['*'], origins: [origin.url], shields: [{ url: `http://127.0.0.1:${shield.http.port}` }] },
    ],
  });
  const viaShield = await behind.get('/y');
  assert.equal(viaShield.headers['strata-cache-control'], undefined);
  const again = await behind.get('/y');
  assert.match(again.cacheStatus, /^edge-test; hit; ttl=500/);

  // An invalid own field is ignored: CDN-Cache-Control applies (here: not stored).
  origin.handle(ok({ 'strata-cache-control': 'max-age=5, &&&', 'cdn-cache-control': 'no-store' }));
  assert.match((await edge.get('/z')).cacheStatus, /detail=no-store/);
});

test('config: cache.targetedField must be a field name only Strata obeys', () => {
  for (const bad of ['CDN-Cache-Control', 'cache-control', 'not a name'])
    assert.match(
      JSON.stringify(
        validateConfig({
          sites: [{ hosts: ['*'], origins: ['http://127.0.0.1:1'] }],
          cache: { targetedField: bad },
        }).problems,
      ),
      /cache\.targetedField/,
    );
});
