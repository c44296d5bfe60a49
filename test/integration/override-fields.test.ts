// Request fields that make origins serve another URL or method (X-Original-URL and kin) are
// removed by default, so that what is stored under a URL is what the origin serves for it; a
// site may let one through, and its value then selects the stored variant.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startOrigin, type OriginHandler } from '../helpers/origin.js';
import { startEdge } from '../helpers/edge.js';

const fields = [
  'X-Original-URL',
  'X-Rewrite-URL',
  'X-HTTP-Method-Override',
  'X-HTTP-Method',
  'X-Method-Override',
];

/** An origin that, like many frameworks, serves the URL X-Original-URL names. */
const rewritingOrigin: OriginHandler = (req, res) => {
  const path = (req.headers['x-original-url'] as string | undefined) ?? req.url;
  const body = path === '/admin' ? 'admin page' : `page ${path}`;
  res.writeHead(200, { 'cache-control': 'max-age=600', 'content-length': Buffer.byteLength(body) });
  res.end(body);
};

test('regression: X-Original-URL on /page cannot store /admin under /page for later clients', async (t) => {
  const origin = await startOrigin(t, rewritingOrigin);
  const edge = await startEdge(t, origin.url);
  const poisoned = await edge.get('/page', { 'x-original-url': '/admin' });
  assert.equal(poisoned.body, 'page /page');
  const next = await edge.get('/page');
  assert.equal(next.body, 'page /page');
  assert.match(next.cacheStatus, /; hit; /);
});

test('every URL- or method-override field is removed from requests by default', async (t) => {
  const origin = await startOrigin(t, rewritingOrigin);
  const edge = await startEdge(t, origin.url);
  const headers = Object.fromEntries(fields.map((f) => [f, f === 'X-Original-URL' ? '/admin' : 'DELETE']));
  await edge.get('/a', headers, 'POST');
  await edge.get('/b', headers);
  assert.equal(origin.requests.length, 2);
  for (const seen of origin.requests)
    for (const f of fields) assert.equal(seen.headers[f.toLowerCase()], undefined, f);
});

test('sites[].allowOverrideField lets one field through and keys stored variants on its value', async (t) => {
  const origin = await startOrigin(t, rewritingOrigin);
  const edge = await startEdge(t, origin.url, {
    sites: [{ hosts: ['*'], origins: [origin.url], allowOverrideField: 'X-Original-URL' }],
  });
  const admin = await edge.get('/page', { 'x-original-url': '/admin', 'x-http-method-override': 'DELETE' });
  assert.equal(admin.body, 'admin page');
  assert.match(String(admin.headers.vary), /x-original-url/);
  assert.equal(origin.requests[0].headers['x-original-url'], '/admin');
  assert.equal(origin.requests[0].headers['x-http-method-override'], undefined);
  const plain = await edge.get('/page');
  assert.equal(plain.body, 'page /page');
  assert.match(plain.cacheStatus, /fwd=vary-miss/);
  assert.match((await edge.get('/page', { 'x-original-url': '/admin' })).cacheStatus, /; hit; /);
  assert.equal((await edge.get('/page')).body, 'page /page');
  assert.equal(origin.requests.length, 2);
});

test('config: sites[].allowOverrideField names one of the override fields', async (t) => {
  const origin = await startOrigin(t, rewritingOrigin);
  await assert.rejects(
    startEdge(t, origin.url, {
      sites: [{ hosts: ['*'], origins: [origin.url], allowOverrideField: 'X-Forwarded-Host' }],
    }),
    /sites\[0\]\.allowOverrideField/,
  );
});
