// Interim (1xx) responses from the origin: passed to the client before the final response,
// never stored (RFC 9110 §15.2, RFC 9111 §3), through a real edge, read on a raw socket.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startOrigin } from '../helpers/origin.js';
import { startEdge } from '../helpers/edge.js';
import { rawConnect } from '../helpers/raw.js';

const get = (path: string, version = '1.1') => `GET ${path} HTTP/${version}\r\nHost: a.test\r\n\r\n`;

/** An origin that sends a 103 (with a field of its own) and a 102 before a storable 200. */
async function hintingOrigin(t: import('node:test').TestContext) {
  return startOrigin(t, (req, res) => {
    res.writeEarlyHints({ link: '</styles.css>; rel=preload; as=style', 'x-my-header': 'test' });
    res.writeProcessing();
    res.writeHead(200, { 'cache-control': 'max-age=3600', 'content-length': 2 });
    res.end(req.method === 'HEAD' ? undefined : 'ok');
  });
}

test('RFC 9110 §15.2: a 103 and a 102 from the origin reach the client before the final response', async (t) => {
  const origin = await hintingOrigin(t);
  const edge = await startEdge(t, origin.url);
  const conn = await rawConnect(edge.node.http.port);
  t.after(() => conn.close());
  const hints = await conn.send(get('/a'));
  assert.equal(hints.status, 103);
  assert.equal(hints.headers.link, '</styles.css>; rel=preload; as=style');
  assert.equal(hints.headers['x-my-header'], 'test');
  assert.equal(hints.headers['content-length'], undefined);
  assert.equal((await conn.send('')).status, 102);
  const final = await conn.send('');
  assert.equal(final.status, 200);
  assert.equal(final.body, 'ok');
  assert.equal(final.headers['x-my-header'], undefined);
  assert.match(final.headers['cache-status'], /fwd=uri-miss; fwd-status=200; stored/);
});

test('RFC 9111 §3: interim responses are never stored, nor their fields in the final response', async (t) => {
  const origin = await hintingOrigin(t);
  const edge = await startEdge(t, origin.url);
  const conn = await rawConnect(edge.node.http.port);
  t.after(() => conn.close());
  assert.equal((await conn.send(get('/a'))).status, 103);
  assert.equal((await conn.send('')).status, 102);
  assert.equal((await conn.send('')).status, 200);
  const hit = await conn.send(get('/a'));
  assert.equal(hit.status, 200);
  assert.match(hit.headers['cache-status'], /; hit; /);
  assert.equal(hit.headers['x-my-header'], undefined);
  assert.equal(hit.raw.indexOf('HTTP/1.1 1'), -1);
  assert.equal(origin.requests.length, 1);
});

test('RFC 9110 §15.2: no 1xx is sent to an HTTP/1.0 client', async (t) => {
  const origin = await hintingOrigin(t);
  const edge = await startEdge(t, origin.url);
  const conn = await rawConnect(edge.node.http.port);
  t.after(() => conn.close());
  const res = await conn.send(get('/a', '1.0'));
  assert.equal(res.status, 200);
  assert.equal(res.raw.indexOf('HTTP/1.1 1'), -1);
});

test('RFC 9110 §15.2: a request passed to the origin (POST) gets its interim responses too', async (t) => {
  const origin = await hintingOrigin(t);
  const edge = await startEdge(t, origin.url);
  const conn = await rawConnect(edge.node.http.port);
  t.after(() => conn.close());
  const hints = await conn.send('POST /form HTTP/1.1\r\nHost: a.test\r\nContent-Length: 1\r\n\r\nx');
  assert.equal(hints.status, 103);
  assert.equal((await conn.send('')).status, 102);
  assert.equal((await conn.send('')).status, 200);
});
