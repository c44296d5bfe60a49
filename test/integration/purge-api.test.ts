// The purge API on one node with the in-process bus: every selector, soft purges, the answers
// it refuses (token, body, fields, size, rate), and the Varnish-style PURGE method.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'undici';
import { startEdge, metric } from '../helpers/edge.js';
import { ok, startOrigin } from '../helpers/origin.js';
import { getPurge, postPurge, testToken } from '../helpers/purge.js';

const purge = { token: testToken };

test('a URL purge removes every Vary variant and the HEAD twin; the answer lists the node', async (t) => {
  const origin = await startOrigin(t, ok({ 'cache-control': 'max-age=600', vary: 'accept-language' }));
  const edge = await startEdge(t, origin.url, { purge });
  await edge.get('/a', { 'accept-language': 'en' });
  await edge.get('/a', { 'accept-language': 'fr' });
  assert.match((await edge.get('/a', { 'accept-language': 'fr' }, 'HEAD')).cacheStatus, /hit/);
  assert.equal(origin.requests.length, 2);
  const answer = await postPurge(edge.adminUrl, { urls: ['http://Example.test.:80/a'] }, { wait: '5s' });
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  assert.equal(answer.body.complete, true);
  // The node serves any host (*): Example.test. and 127.0.0.1 are both its; this purge named
  // example.test, so the 127.0.0.1 copies stay.
  assert.match((await edge.get('/a', { 'accept-language': 'en' })).cacheStatus, /hit/);
  const results = answer.body.results as { node: string; applied: boolean }[];
  assert.deepEqual(
    results.map((r) => [r.node, r.applied]),
    [['edge-test', true]],
  );
  const local = `http://127.0.0.1:${edge.node.http.port}/a`;
  const second = await postPurge(edge.adminUrl, { urls: [local] }, { wait: '5s' });
  assert.equal((second.body.results as { objects: number }[])[0].objects, 2);
  assert.match((await edge.get('/a', { 'accept-language': 'en' }, 'HEAD')).cacheStatus, /fwd=uri-miss/);
  // The HEAD fill stored 'en' again: 'fr' is a variant missing under a stored key.
  assert.match((await edge.get('/a', { 'accept-language': 'fr' })).cacheStatus, /fwd=vary-miss/);
  const report = await getPurge(edge.adminUrl, String(second.body.id));
  assert.equal(report.status, 200);
  assert.equal(report.body.complete, true);
  assert.deepEqual((report.body.purge as { urls: string[] }).urls, [local]);
  const metrics = await edge.metrics();
  assert.equal(metric(metrics, 'strata_purges_applied_total{mode="hard"}'), 2);
});

test('prefix, host, tag and all purges each remove exactly what they select', async (t) => {
  const origin = await startOrigin(t, (req, res) => {
    const tags = req.url!.startsWith('/img/') ? 'images' : 'pages';
    res.writeHead(200, { 'cache-control': 'max-age=600', 'cache-tag': `${tags}, all-things` });
    res.end(`body of ${req.url}`);
  });
  const edge = await startEdge(t, origin.url, { purge });
  const get = (host: string, path: string) => edge.get(path, { host });
  const fill = async () => {
    for (const host of ['a.test', 'b.test'])
      for (const path of ['/img/1', '/img/2', '/page']) await get(host, path);
  };
  const cached = async () => {
    const out: string[] = [];
    for (const host of ['a.test', 'b.test'])
      for (const path of ['/img/1', '/img/2', '/page'])
        if (/hit/.test((await edge.get(path, { host, 'cache-control': 'only-if-cached' })).cacheStatus))
          out.push(`${host}${path}`);
    return out;
  };
  await fill();
  await postPurge(edge.adminUrl, { prefixes: ['http://a.test/img/'] }, { wait: '5s' });
  assert.deepEqual(await cached(), ['a.test/page', 'b.test/img/1', 'b.test/img/2', 'b.test/page']);
  await postPurge(edge.adminUrl, { hosts: ['B.test.'] }, { wait: '5s' });
  assert.deepEqual(await cached(), ['a.test/page']);
  await fill();
  await postPurge(edge.adminUrl, { tags: ['images'] }, { wait: '5s' });
  assert.deepEqual(await cached(), ['a.test/page', 'b.test/page']);
  await postPurge(edge.adminUrl, { all: true }, { wait: '5s' });
  assert.deepEqual(await cached(), []);
});

test('a soft purge marks objects stale: revalidated next, served stale within stale-while-revalidate', async (t) => {
  let etag = '"v1"';
  const origin = await startOrigin(t, (req, res) => {
    if (req.headers['if-none-match'] === etag) {
      res.writeHead(304, { etag, 'cache-control': 'max-age=600' }).end();
      return;
    }
    res.writeHead(200, {
      etag,
      'cache-control': 'max-age=600, stale-while-revalidate=60',
      'surrogate-key': 'p',
    });
    res.end('v1');
  });
  const edge = await startEdge(t, origin.url, { purge });
  await edge.get('/s');
  assert.equal((await postPurge(edge.adminUrl, { tags: ['p'], soft: true }, { wait: '5s' })).status, 200);
  const stale = await edge.get('/s');
  assert.match(stale.cacheStatus, /hit/);
  assert.equal(stale.body, 'v1');
  // The background revalidation (a 304) makes it fresh again.
  await untilRequests(origin, 2);
  assert.equal(origin.requests[1].headers['if-none-match'], '"v1"');
  etag = '"v2"';
  await postPurge(
    edge.adminUrl,
    { urls: [`http://127.0.0.1:${edge.node.http.port}/s`], soft: true },
    { wait: '5s' },
  );
  const metrics = await edge.metrics();
  assert.equal(metric(metrics, 'strata_purges_applied_total{mode="soft"}'), 2);
});

async function untilRequests(origin: { requests: unknown[] }, n: number): Promise<void> {
  const { until } = await import('../helpers/wait.js');
  await until(() => origin.requests.length >= n);
}

test('refusals: no token configured, missing or wrong token, bad JSON, unknown fields, no selector, oversized body', async (t) => {
  const origin = await startOrigin(t);
  const off = await startEdge(t, origin.url);
  const disabled = await postPurge(off.adminUrl, { all: true });
  assert.equal(disabled.status, 403);
  assert.match(String(disabled.body.message), /purge\.token/);
  const edge = await startEdge(t, origin.url, { purge: { ...purge, api: { maxBodyBytes: 1024 } } });
  const cases: [unknown, { token?: string | null }, number, RegExp][] = [
    [{ all: true }, { token: null }, 401, /missing bearer token/],
    [{ all: true }, { token: 'wrong-token-0123456789' }, 401, /wrong bearer token/],
    ['{"urls": [', {}, 400, /not JSON/],
    [{ urls: ['http://a.test/'], colour: 'red' }, {}, 400, /unknown field "colour"/],
    [{}, {}, 400, /nothing to purge/],
    [{ urls: ['/relative'] }, {}, 400, /absolute http/],
    [{ tags: 'one' }, {}, 400, /list of non-empty strings/],
    [{ tags: ['x'.repeat(2000)] }, {}, 413, /larger than 1024 bytes/],
  ];
  for (const [body, options, status, message] of cases) {
    const answer = await postPurge(edge.adminUrl, body, options);
    assert.equal(answer.status, status, JSON.stringify(body));
    assert.match(String(answer.body.message), message);
  }
  assert.equal((await getPurge(edge.adminUrl, '1-0')).status, 404);
  const metrics = await edge.metrics();
  assert.equal(metric(metrics, 'strata_purge_api_refused_total{code="PURGE_UNAUTHORIZED"}'), 2);
});

test('the purge API limits its request rate (purge.api.ratePerSec, burst)', async (t) => {
  const origin = await startOrigin(t);
  const edge = await startEdge(t, origin.url, { purge: { ...purge, api: { ratePerSec: 1, burst: 2 } } });
  const statuses: number[] = [];
  for (let i = 0; i < 4; i++) statuses.push((await postPurge(edge.adminUrl, { tags: ['t'] })).status);
  assert.deepEqual(statuses.slice(0, 2), [202, 202]);
  assert.ok(statuses.slice(2).includes(429), String(statuses));
});

test('PURGE on the proxy listener: refused by default, accepted from purge.methodFrom', async (t) => {
  const origin = await startOrigin(t, ok({ 'cache-control': 'max-age=600' }));
  const closed = await startEdge(t, origin.url, { purge });
  assert.equal((await closed.get('/p', {}, 'PURGE')).status, 405);
  const edge = await startEdge(t, origin.url, { purge: { ...purge, methodFrom: ['127.0.0.0/8'] } });
  await edge.get('/p');
  assert.match((await edge.get('/p')).cacheStatus, /hit/);
  const res = await request(`${edge.url}/p`, { method: 'PURGE' as 'GET' });
  assert.equal(res.statusCode, 200);
  const { id } = (await res.body.json()) as { id: string };
  const { until } = await import('../helpers/wait.js');
  await until(async () => (await getPurge(edge.adminUrl, id)).body.complete === true);
  assert.match((await edge.get('/p')).cacheStatus, /fwd=uri-miss/);
});
