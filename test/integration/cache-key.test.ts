// Cache keys: host case and default port, and per-site query options.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ok, startOrigin } from '../helpers/origin.js';
import { startEdge } from '../helpers/edge.js';

test('query strings are part of the key by default', async (t) => {
  const origin = await startOrigin(t, ok({ 'cache-control': 'max-age=60' }));
  const edge = await startEdge(t, origin.url);
  await edge.get('/q?a=1&b=2');
  assert.match((await edge.get('/q?a=1&b=2')).cacheStatus, /hit/);
  assert.match((await edge.get('/q?b=2&a=1')).cacheStatus, /uri-miss/);
});

test('query: sort and dropParams make equivalent URLs share one object', async (t) => {
  const origin = await startOrigin(t, ok({ 'cache-control': 'max-age=60' }));
  const edge = await startEdge(t, origin.url, {
    sites: [
      {
        hosts: ['*'],
        origins: [origin.url],
        cacheKey: { query: 'sort', dropParams: ['utm_source', 'fbclid'] },
      },
    ],
  });
  await edge.get('/q?b=2&a=1&utm_source=x');
  assert.match((await edge.get('/q?a=1&b=2')).cacheStatus, /hit/);
  assert.match((await edge.get('/q?fbclid=9&a=1&b=2')).cacheStatus, /hit/);
  assert.match((await edge.get('/q?a=1&b=3')).cacheStatus, /uri-miss/);
  // the origin still receives the URL the client sent
  assert.equal(origin.requests[0].url, '/q?b=2&a=1&utm_source=x');
});

test('query: ignore drops the whole query from the key', async (t) => {
  const origin = await startOrigin(t, ok({ 'cache-control': 'max-age=60' }));
  const edge = await startEdge(t, origin.url, {
    sites: [{ hosts: ['*'], origins: [origin.url], cacheKey: { query: 'ignore' } }],
  });
  await edge.get('/i?v=1');
  assert.match((await edge.get('/i?v=2')).cacheStatus, /hit/);
  assert.match((await edge.get('/i')).cacheStatus, /hit/);
});

test('host case and the default port do not split the cache', async (t) => {
  const origin = await startOrigin(t, ok({ 'cache-control': 'max-age=60' }));
  const edge = await startEdge(t, origin.url, {
    sites: [{ hosts: ['example.test'], origins: [origin.url] }],
  });
  await edge.get('/h', { host: 'Example.TEST' });
  assert.match((await edge.get('/h', { host: 'example.test:80' })).cacheStatus, /hit/);
  assert.match((await edge.get('/h', { host: 'example.test' })).cacheStatus, /hit/);
  assert.equal(origin.requests.length, 1);
});
