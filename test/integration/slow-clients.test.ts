// Slow readers. server.sendTimeout: a client that stops taking response bytes loses its
// connection, and the memory its response held; one that reads slowly but steadily is never cut.
// And while it is connected, a slow client of a miss queues about a chunk in its socket, not the
// rest of the object: it takes the body from the fill at its own pace.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { once } from 'node:events';
import { startOrigin } from '../helpers/origin.js';
import { metric, startEdge } from '../helpers/edge.js';
import { metricSum } from '../helpers/metrics.js';
import { gate, until } from '../helpers/wait.js';

/** Larger than what the kernel's socket buffers on loopback absorb, so bytes wait in the edge. */
const bodyBytes = 16 * 1024 * 1024;

async function edgeWithLargeObject(t: test.TestContext) {
  const body = Buffer.alloc(bodyBytes, 'x');
  const origin = await startOrigin(t, (_req, res) => {
    res.writeHead(200, { 'cache-control': 'max-age=3600', 'content-length': String(body.length) });
    res.end(body);
  });
  const edge = await startEdge(t, origin.url, {
    server: { sendTimeout: '1s' },
    cache: { memory: { maxBytes: '128MiB', maxObjectBytes: '32MiB' } },
  });
  return { origin, edge, port: Number(new URL(edge.url).port) };
}

/** Sends one GET on a new connection; the caller decides how the response is read. */
async function requestOn(port: number, path: string): Promise<Socket> {
  const socket = connect(port, '127.0.0.1');
  await once(socket, 'connect');
  socket.write(`GET ${path} HTTP/1.1\r\nHost: edge.test\r\n\r\n`);
  return socket;
}

for (const source of ['miss', 'hit'] as const) {
  test(`a client that stops reading a ${source} is disconnected after server.sendTimeout`, async (t) => {
    const { edge, port } = await edgeWithLargeObject(t);
    if (source === 'hit') assert.equal((await edge.get('/big')).status, 200);
    const socket = await requestOn(port, '/big');
    socket.pause();
    const closed = once(socket, 'close');
    socket.on('error', () => undefined); // the reset is what the test waits for
    const started = Date.now();
    await until(
      async () =>
        metricSum(await edge.metrics(), 'strata_client_errors_total', { code: 'SEND_TIMEOUT' }) === 1,
      10_000,
    );
    const waited = Date.now() - started;
    assert.ok(waited >= 1000, `cut after ${waited} ms, before the 1 s send timeout`);
    // The connection is gone: reading what the kernel held ends in a close, not the whole body.
    let received = 0;
    socket.on('data', (c: Buffer) => (received += c.length));
    socket.resume();
    await closed;
    assert.ok(received < bodyBytes, `received ${received} of ${bodyBytes} bytes`);
    // The edge still serves.
    assert.equal((await edge.get('/big')).status, 200);
  });
}

test('a client reading slowly but steadily gets the whole response', async (t) => {
  const { edge, port } = await edgeWithLargeObject(t);
  const socket = await requestOn(port, '/big');
  socket.on('error', (err) => assert.fail(err));
  // 4 MiB/s in bursts every 100 ms: the whole response takes several times server.sendTimeout,
  // but bytes leave the edge many times a second.
  let total = 0;
  let inWindow = 0;
  socket.on('data', (chunk: Buffer) => {
    total += chunk.length;
    inWindow += chunk.length;
    if (inWindow >= 400 * 1024) socket.pause();
  });
  const window = setInterval(() => {
    inWindow = 0;
    socket.resume();
  }, 100);
  t.after(() => clearInterval(window));
  const started = Date.now();
  await until(() => total > bodyBytes, 30_000);
  assert.ok(Date.now() - started > 2000, 'the read was not slow enough to test anything');
  assert.equal(metricSum(await edge.metrics(), 'strata_client_errors_total', { code: 'SEND_TIMEOUT' }), 0);
  socket.destroy();
});

test('a client that stops reading a miss queues about a chunk, not the rest of the object', async (t) => {
  const body = Buffer.alloc(bodyBytes, 'y');
  const origin = await startOrigin(t, (_req, res) => {
    res.writeHead(200, { 'cache-control': 'max-age=3600', 'content-length': String(body.length) });
    res.end(body);
  });
  const edge = await startEdge(t, origin.url, {
    cache: { memory: { maxBytes: '128MiB', maxObjectBytes: '32MiB' } },
  });
  const serverSockets: Socket[] = [];
  edge.node.http.server.on('connection', (s: Socket) => serverSockets.push(s));
  const client = await requestOn(Number(new URL(edge.url).port), '/big');
  client.pause();
  t.after(() => client.destroy());
  // The fill reads the whole object from the origin at full speed and stores it...
  await until(async () => metricSum(await edge.metrics(), 'strata_cache_objects', { tier: 'memory' }) === 1);
  // ...while what waits in the client's socket stays near one chunk (undici reads 64 KiB at a time).
  const waiting = serverSockets.reduce((a, s) => a + s.writableLength, 0);
  assert.ok(waiting <= 256 * 1024, `${waiting} bytes queued for a client that reads nothing`);
  // It still gets the whole body, byte for byte, once it reads.
  let received = 0;
  let head = true;
  client.on('data', (c: Buffer) => {
    if (head) {
      const end = c.indexOf('\r\n\r\n');
      if (end === -1) return;
      c = c.subarray(end + 4);
      head = false;
    }
    assert.ok(c.every((b) => b === 0x79));
    received += c.length;
  });
  client.resume();
  await until(() => received === bodyBytes, 10_000);
});

test('a slow collapsed client gets the whole body in order after the fill was stored without it', async (t) => {
  const size = 6 * 1024 * 1024;
  const body = Buffer.alloc(size);
  for (let i = 0; i < size; i++) body[i] = i % 251;
  const rest = gate();
  const origin = await startOrigin(t, (_req, res) => {
    res.writeHead(200, { 'cache-control': 'max-age=3600', 'content-length': String(size) });
    res.write(body.subarray(0, size / 2));
    void rest.promise.then(() => res.end(body.subarray(size / 2)));
  });
  const edge = await startEdge(t, origin.url, {
    cache: { memory: { maxBytes: '64MiB', maxObjectBytes: '16MiB' } },
  });
  const port = Number(new URL(edge.url).port);
  const fast = edge.get('/shared', { host: 'edge.test' });
  await until(() => origin.requests.length === 1);
  const slow = await requestOn(port, '/shared');
  slow.pause();
  t.after(() => slow.destroy());
  await until(async () => metric(await edge.metrics(), 'strata_collapsed_requests_total') === 1);
  rest.open();
  // The fill completes and is stored while the collapsed client has read nothing.
  assert.equal((await fast).body.length, size);
  await until(async () => metricSum(await edge.metrics(), 'strata_cache_objects', { tier: 'memory' }) === 1);
  const chunks: Buffer[] = [];
  slow.on('data', (c: Buffer) => chunks.push(c));
  slow.resume();
  const received = () => Buffer.concat(chunks);
  await until(() => {
    const all = received();
    const start = all.indexOf('\r\n\r\n');
    return start !== -1 && all.length - start - 4 >= size;
  }, 10_000);
  const all = received();
  const got = all.subarray(all.indexOf('\r\n\r\n') + 4);
  assert.equal(got.length, size);
  assert.ok(got.equals(body), 'the body arrived whole and in order');
});
