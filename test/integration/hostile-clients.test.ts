// Clients that vanish at the worst moment or send what no client should: each is run against
// one edge, and the edge must still answer normally afterwards (no uncaught error, no stuck
// fill, nothing wrong stored).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { startOrigin } from '../helpers/origin.js';
import { startEdge } from '../helpers/edge.js';

const big = Buffer.alloc(4 * 1024 * 1024, 'x');

/** Opens a connection, runs `act` on it, then resets it (RST, as a crashed client or a middlebox would). */
async function resetAfter(port: number, act: (socket: Socket) => Promise<void> | void): Promise<void> {
  const socket = connect(port, '127.0.0.1');
  socket.on('error', () => undefined);
  await new Promise<void>((resolve) => socket.once('connect', resolve));
  await act(socket);
  socket.resetAndDestroy();
}

/** Resolves once `n` bytes of the response arrived (or the connection ended). */
function received(socket: Socket, n: number): Promise<void> {
  return new Promise((resolve) => {
    let got = 0;
    socket.on('data', (chunk: Buffer) => {
      got += chunk.length;
      if (got >= n) resolve();
    });
    socket.once('close', () => resolve());
  });
}

test('clients resetting mid-request, mid-body and mid-response leave the edge serving', async (t) => {
  const origin = await startOrigin(t, (req, res) => {
    if (req.url === '/big') {
      res.writeHead(200, { 'content-length': big.length, 'cache-control': 'max-age=60' });
      res.end(big);
      return;
    }
    if (req.url?.startsWith('/slow')) {
      setTimeout(() => {
        res.writeHead(200, { 'content-length': 2, 'cache-control': 'max-age=60' });
        res.end('ok');
      }, 100);
      return;
    }
    res.writeHead(200, { 'content-length': 2, 'cache-control': 'max-age=60' });
    res.end('ok');
  });
  const edge = await startEdge(t, origin.url);
  const port = edge.node.http.port;
  const head = (target: string, extra = '') => `GET ${target} HTTP/1.1\r\nHost: site.test\r\n${extra}\r\n`;

  const cases: [string, (socket: Socket) => Promise<void> | void][] = [
    ['half a request line', (s) => void s.write('GET /pa')],
    ['half a head', (s) => void s.write('GET /a HTTP/1.1\r\nHost: site.test\r\nAccept: te')],
    ['binary garbage', (s) => void s.write(Buffer.from([0, 1, 2, 255, 254, 13, 10, 13, 10]))],
    [
      'half a POST body to a slow origin',
      async (s) => {
        s.write('POST /slow-post HTTP/1.1\r\nHost: site.test\r\nContent-Length: 100\r\n\r\nabc');
        await sleep(20);
      },
    ],
    [
      'a chunked POST cut mid-chunk',
      async (s) => {
        s.write(
          'POST /slow-chunked HTTP/1.1\r\nHost: site.test\r\nTransfer-Encoding: chunked\r\n\r\n10\r\nabc',
        );
        await sleep(20);
      },
    ],
    [
      'a miss while it streams (4 MiB)',
      async (s) => {
        const part = received(s, 64 * 1024);
        s.write(head('/big'));
        await part;
      },
    ],
    [
      'a hit while it streams (4 MiB)',
      async (s) => {
        const part = received(s, 64 * 1024);
        s.write(head('/big'));
        await part;
      },
    ],
    [
      'a slow miss (its fill carries on for the cache)',
      async (s) => {
        s.write(head('/slow-collapse'));
        await sleep(20);
      },
    ],
    ['pipelined requests', (s) => void s.write(head('/p1') + head('/p2') + head('/p3'))],
    [
      'an Expect: 100-continue POST',
      (s) =>
        void s.write(
          'POST /e HTTP/1.1\r\nHost: site.test\r\nExpect: 100-continue\r\nContent-Length: 10\r\n\r\n',
        ),
    ],
    [
      'a WebSocket upgrade',
      (s) => void s.write(head('/ws', 'Connection: Upgrade\r\nUpgrade: websocket\r\n')),
    ],
    ['CONNECT', (s) => void s.write('CONNECT site.test:443 HTTP/1.1\r\nHost: site.test:443\r\n\r\n')],
  ];
  for (const [index, [name, act]] of cases.entries()) {
    await resetAfter(port, act);
    // Meanwhile another client still gets an answer: the edge is up after each case.
    const res = await edge.get(`/after-${index}`, { host: 'site.test' });
    assert.equal(res.status, 200, name);
  }
  // The fills those clients left end as stored objects for the next clients.
  await sleep(200);
  const slow = await edge.get('/slow-collapse', { host: 'site.test' });
  assert.equal(slow.body, 'ok');
  assert.match(slow.cacheStatus, /hit/);
  const whole = await edge.get('/big', { host: 'site.test' });
  assert.equal(whole.body.length, big.length);
  assert.match(whole.cacheStatus, /hit/);
});
