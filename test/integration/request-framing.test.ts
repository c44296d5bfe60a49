// Request framing RFC 9112 rejects, sent on raw sockets to a real edge with a second request
// pipelined behind it: each is answered with a 4xx/501 at once, the connection closes, and the
// pipelined request never reaches the origin (no request smuggling). Some of these llhttp
// accepts (marked), the rest it refuses itself; all are pinned here.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import { ok, startOrigin, type TestOrigin } from '../helpers/origin.js';
import { startEdge, type TestEdge } from '../helpers/edge.js';
import { metricSum } from '../helpers/metrics.js';
import { rawConnect } from '../helpers/raw.js';

const smuggled = 'GET /smuggled HTTP/1.1\r\nHost: a.test\r\n\r\n';
const post = (fields: string, body: string, version = '1.1') =>
  `POST /a HTTP/${version}\r\nHost: a.test\r\n${fields}\r\n${body}`;
const chunked = 'Transfer-Encoding: chunked\r\n';

interface Case {
  name: string;
  raw: string;
  status: number;
  /** The metric code counted for it. */
  code: string;
}

/** What llhttp (strict mode) accepts and RFC 9112 rejects; Strata's framing check refuses these. */
const acceptedByNode: Case[] = [
  {
    name: 'RFC 9112 §6.1: Transfer-Encoding in an HTTP/1.0 request (keep-alive)',
    raw: post(`Connection: keep-alive\r\n${chunked}`, '1\r\nx\r\n0\r\n\r\n', '1.0'),
    status: 400,
    code: 'TRANSFER_ENCODING_HTTP10',
  },
  {
    name: 'RFC 9112 §7.1: a chunk size with more hex digits than any length can have',
    raw: post(chunked, `${'0'.repeat(40)}1\r\nx\r\n0\r\n\r\n`),
    status: 400,
    code: 'CHUNK_SIZE_INVALID',
  },
  {
    name: 'RFC 9112 §7.1.1: chunk extensions past the per-request bound (llhttp: 16 KiB per chunk, no total)',
    raw: post(chunked, `${`1;${'e'.repeat(1000)}\r\nx\r\n`.repeat(8)}0\r\n\r\n`),
    status: 400,
    code: 'CHUNK_EXTENSIONS_TOO_LONG',
  },
  {
    name: 'RFC 9112 §6.3: an empty Transfer-Encoding names no final chunked',
    raw: post('Transfer-Encoding: \r\n', ''),
    status: 400,
    code: 'TRANSFER_ENCODING_INVALID',
  },
  {
    name: 'RFC 9112 §6.1: a transfer coding Strata does not implement, on its own field line (501)',
    raw: post('Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n', '1\r\nx\r\n0\r\n\r\n'),
    status: 501,
    code: 'TRANSFER_CODING_UNSUPPORTED',
  },
];

/** What llhttp refuses itself; pinned so that a parser change cannot let them through. */
const refusedByNode: Case[] = [
  {
    name: 'RFC 9112 §6.3: chunked not the final transfer coding',
    raw: post('Transfer-Encoding: chunked, gzip\r\n', '1\r\nx\r\n0\r\n\r\n'),
    status: 400,
    code: 'TRANSFER_ENCODING_INVALID',
  },
  {
    name: 'RFC 9112 §7.1: a bare LF after a chunk size',
    raw: post(chunked, '1\nx\r\n0\r\n\r\n'),
    status: 400,
    code: 'CHUNK_FRAMING_INVALID',
  },
  {
    name: 'RFC 9112 §7.1: a bare LF after chunk data',
    raw: post(chunked, '1\r\nx\n0\r\n\r\n'),
    status: 400,
    code: 'CHUNK_FRAMING_INVALID',
  },
  {
    name: 'RFC 9112 §7.1: a bare LF ending the last chunk',
    raw: post(chunked, '1\r\nx\r\n0\n\n'),
    status: 400,
    code: 'CHUNK_FRAMING_INVALID',
  },
  {
    name: 'RFC 9112 §5.1: whitespace between a field name and the colon',
    raw: post('Transfer-Encoding : chunked\r\nContent-Length: 5\r\n', '0\r\n\r\n'),
    status: 400,
    code: 'HPE_INVALID_HEADER_TOKEN',
  },
  {
    name: 'RFC 9112 §5.2: obs-fold in Transfer-Encoding',
    raw: post('Transfer-Encoding: gzip,\r\n chunked\r\n', '1\r\nx\r\n0\r\n\r\n'),
    status: 400,
    // The framing check sees "gzip," as the whole field first.
    code: 'TRANSFER_ENCODING_INVALID',
  },
  {
    name: 'RFC 9112 §5.2: obs-fold in any field',
    raw: 'GET /a HTTP/1.1\r\nHost: a.test\r\nX-A: b\r\n c\r\n\r\n',
    status: 400,
    code: 'HPE_INVALID_HEADER_TOKEN',
  },
];

async function setup(t: TestContext, checkFraming = true): Promise<{ edge: TestEdge; origin: TestOrigin }> {
  const origin = await startOrigin(t, ok({ 'cache-control': 'max-age=60' }));
  const edge = await startEdge(t, origin.url, { server: { maxBodyBytes: '1MiB', checkFraming } });
  return { edge, origin };
}

/** Sends `raw` with a request pipelined behind it: answered with `status`, closed, nothing reaches the origin. */
async function refusedWithNothingSmuggled(s: { edge: TestEdge; origin: TestOrigin }, c: Case): Promise<void> {
  const conn = await rawConnect(s.edge.node.http.port);
  try {
    const res = await conn.send(c.raw + smuggled);
    assert.equal(res.status, c.status, `${c.name}: ${res.raw}`);
    await conn.closed;
  } finally {
    conn.close();
  }
  assert.deepEqual(
    s.origin.requests.map((r) => r.url),
    [],
    `${c.name}: the origin saw a request`,
  );
  const m = await s.edge.metrics();
  assert.equal(metricSum(m, 'strata_client_errors_total', { code: c.code }), 1, c.name);
}

for (const c of [...acceptedByNode, ...refusedByNode]) {
  test(`${c.name}: ${c.status}, closed, and a pipelined request is never sent to the origin`, async (t) => {
    const s = await setup(t);
    await refusedWithNothingSmuggled(s, c);
    const after = await s.edge.get('/after');
    assert.equal(after.status, 200);
    assert.deepEqual(
      s.origin.requests.map((r) => r.url),
      ['/after'],
    );
  });
}

test('with server.checkFraming off, Transfer-Encoding faults are still refused per request, nothing smuggled', async (t) => {
  const s = await setup(t, false);
  const headerLevel = acceptedByNode.filter((c) => c.code.startsWith('TRANSFER_'));
  assert.equal(headerLevel.length, 3);
  for (const c of headerLevel) await refusedWithNothingSmuggled(s, c);
});

test('RFC 9112 §7.1: a chunk larger than server.maxBodyBytes is refused at once with 413, not held open', async (t) => {
  const s = await setup(t);
  const conn = await rawConnect(s.edge.node.http.port);
  t.after(() => conn.close());
  // The head and the size line only: the answer must not wait for the data (server.requestTimeout is 60s).
  const res = await conn.send(post(chunked, 'fffffffffff\r\nx'));
  assert.equal(res.status, 413, res.raw);
  assert.match(res.headers['cache-status'], /detail=malformed-request/);
  await conn.closed;
  const m = await s.edge.metrics();
  assert.equal(metricSum(m, 'strata_client_errors_total', { code: 'CHUNK_TOO_LARGE' }), 1);
  // The request's head had reached the pipeline; its body never completes upstream.
  assert.ok(s.origin.requests.every((r) => r.url !== '/a'));
});

test('RFC 9112 §3.2: requests pipelined behind one refused for its Host are never answered or forwarded', async (t) => {
  const s = await setup(t);
  for (const raw of [
    'GET /a HTTP/1.1\r\nHost: a.test\r\nHost: b.test\r\n\r\n',
    'GET /a HTTP/1.1\r\nHost: a.test/admin\r\n\r\n',
  ]) {
    const conn = await rawConnect(s.edge.node.http.port);
    const res = await conn.send(raw + smuggled);
    assert.equal(res.status, 400, res.raw);
    await conn.closed;
    conn.close();
  }
  assert.deepEqual(s.origin.requests, []);
});

test('well-framed pipelined requests all reach the origin', async (t) => {
  const s = await setup(t);
  const conn = await rawConnect(s.edge.node.http.port);
  t.after(() => conn.close());
  const first = await conn.send(
    post(`${chunked}`, '5;ext=1\r\nhello\r\n0\r\nX-Trailer: t\r\n\r\n') +
      post('Content-Length: 3\r\n', 'abc') +
      'GET /b HTTP/1.1\r\nHost: a.test\r\n\r\n',
  );
  assert.equal(first.status, 200);
  assert.equal((await conn.send('')).status, 200);
  assert.equal((await conn.send('')).status, 200);
  // The edge forwards pipelined requests at once: the origin may see them in any order.
  assert.deepEqual(s.origin.requests.map((r) => `${r.method} ${r.url} ${r.body}`).sort(), [
    'GET /b ',
    'POST /a abc',
    'POST /a hello',
  ]);
});

test('a client that half-closes after its request still gets the answer on a miss, then the close', async (t) => {
  const origin = await startOrigin(t, (req, res) => {
    // Answer after the client's FIN has arrived at the edge.
    setTimeout(() => ok({ 'cache-control': 'max-age=60' })(req, res, 1, ''), 50);
  });
  const edge = await startEdge(t, origin.url);
  const conn = await rawConnect(edge.node.http.port);
  t.after(() => conn.close());
  const answer = conn.send('GET /slow HTTP/1.1\r\nHost: a.test\r\n\r\n');
  conn.socket.end();
  const res = await answer;
  assert.equal(res.status, 200, res.raw);
  assert.match(res.headers['cache-status'], /fwd=uri-miss; fwd-status=200; stored/);
  await conn.closed;
  assert.equal(origin.requests.length, 1);
});
