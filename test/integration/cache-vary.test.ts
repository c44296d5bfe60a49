// Vary (RFC 9111 §4.1): variants per URL, normalization, Vary: *, and the variant cap.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ok, startOrigin } from '../helpers/origin.js';
import { startEdge } from '../helpers/edge.js';

test('each Accept-Language value gets its own variant', async (t) => {
  const origin = await startOrigin(t, (req, res) => {
    res.writeHead(200, { 'cache-control': 'max-age=60', vary: 'Accept-Language' });
    res.end(`lang=${req.headers['accept-language'] ?? '-'}`);
  });
  const edge = await startEdge(t, origin.url);
  assert.equal((await edge.get('/v', { 'accept-language': 'en' })).body, 'lang=en');
  const fr = await edge.get('/v', { 'accept-language': 'fr' });
  assert.equal(fr.body, 'lang=fr');
  assert.match(fr.cacheStatus, /fwd=vary-miss/);
  const en = await edge.get('/v', { 'accept-language': 'en' });
  assert.equal(en.body, 'lang=en');
  assert.match(en.cacheStatus, /hit/);
  assert.match((await edge.get('/v', { 'accept-language': 'fr' })).cacheStatus, /hit/);
  // absent is its own value, distinct from any language
  assert.equal((await edge.get('/v')).body, 'lang=-');
  assert.equal(origin.requests.length, 3);
});

test('Accept-Encoding is normalized: spellings that pick the same coding share a variant', async (t) => {
  const origin = await startOrigin(t, ok({ 'cache-control': 'max-age=60', vary: 'accept-encoding' }));
  const edge = await startEdge(t, origin.url);
  await edge.get('/e', { 'accept-encoding': 'gzip, deflate, br' });
  assert.match((await edge.get('/e', { 'accept-encoding': 'br;q=1.0, gzip;q=0.8' })).cacheStatus, /hit/);
  assert.match((await edge.get('/e', { 'accept-encoding': 'gzip' })).cacheStatus, /vary-miss/);
  assert.match((await edge.get('/e', { 'accept-encoding': 'deflate, gzip' })).cacheStatus, /hit/);
  assert.match((await edge.get('/e', { 'accept-encoding': 'br;q=0, gzip' })).cacheStatus, /hit/);
  assert.equal(origin.requests.length, 2);
});

test('Vary: * is never served from cache', async (t) => {
  const origin = await startOrigin(t, ok({ 'cache-control': 'max-age=60', vary: '*' }));
  const edge = await startEdge(t, origin.url);
  await edge.get('/s');
  const second = await edge.get('/s');
  assert.doesNotMatch(second.cacheStatus, /; hit/);
  assert.equal(origin.requests.length, 2);
});

test('Vary with a list and whitespace matches on every named field', async (t) => {
  const origin = await startOrigin(t, ok({ 'cache-control': 'max-age=60', vary: ' X-A ,x-b,, ' }));
  const edge = await startEdge(t, origin.url);
  await edge.get('/l', { 'x-a': '1', 'x-b': '2' });
  assert.match((await edge.get('/l', { 'x-a': '1', 'x-b': '2' })).cacheStatus, /hit/);
  assert.match((await edge.get('/l', { 'x-a': '1', 'x-b': '3' })).cacheStatus, /vary-miss/);
  assert.match((await edge.get('/l', { 'x-a': '1' })).cacheStatus, /vary-miss/);
  assert.equal(origin.requests.length, 3);
});

test('an empty Vary value varies on nothing', async (t) => {
  const origin = await startOrigin(t, ok({ 'cache-control': 'max-age=60', vary: '' }));
  const edge = await startEdge(t, origin.url);
  await edge.get('/n', { 'x-a': '1' });
  assert.match((await edge.get('/n', { 'x-a': '2' })).cacheStatus, /hit/);
});

test('variants per URL are capped by cache.maxVariants; the oldest goes first', async (t) => {
  const origin = await startOrigin(t, (req, res) => {
    res.writeHead(200, { 'cache-control': 'max-age=60', vary: 'x-v' });
    res.end(String(req.headers['x-v']));
  });
  const edge = await startEdge(t, origin.url, { cache: { maxVariants: 2 } });
  for (const v of ['1', '2', '3']) await edge.get('/c', { 'x-v': v });
  assert.match((await edge.get('/c', { 'x-v': '3' })).cacheStatus, /hit/);
  assert.match((await edge.get('/c', { 'x-v': '2' })).cacheStatus, /hit/);
  assert.match((await edge.get('/c', { 'x-v': '1' })).cacheStatus, /vary-miss/);
});

test('a gzip-only origin still compresses for browsers: the origin is asked for every coding the key admits', async (t) => {
  const origin = await startOrigin(t, (req, res) => {
    const gzip = String(req.headers['accept-encoding'] ?? '').includes('gzip');
    const headers: Record<string, string> = { 'cache-control': 'max-age=60', vary: 'Accept-Encoding' };
    if (gzip) headers['content-encoding'] = 'gzip';
    res.writeHead(200, headers);
    res.end(gzip ? 'compressed' : 'plain');
  });
  const edge = await startEdge(t, origin.url);
  const chrome = { 'accept-encoding': 'gzip, deflate, br, zstd' };
  await edge.get('/g', chrome);
  assert.equal(origin.requests[0].headers['accept-encoding'], 'br, gzip');
  const hit = await edge.get('/g', chrome);
  assert.match(hit.cacheStatus, /hit/);
  assert.equal(hit.headers['content-encoding'], 'gzip');
  const brOnly = await edge.get('/g', { 'accept-encoding': 'br' });
  assert.match(brOnly.cacheStatus, /vary-miss/);
  assert.equal(brOnly.headers['content-encoding'], undefined);
  const none = await edge.get('/g');
  assert.equal(none.headers['content-encoding'], undefined);
  assert.equal(origin.requests.at(-1)?.headers['accept-encoding'], 'identity');
});
