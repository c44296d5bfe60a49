// WebSocket through the edge: ws:// and wss:// echo with the `ws` client (text, binary, 1 MiB,
// ping/pong, close codes, subprotocol and permessage-deflate negotiated end to end), the origin's
// refusal passed on as it was, sites that do not allow upgrades, failover while connecting,
// the path through a shield, limits, backpressure from a reader that stops, and drain.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import WebSocket, { WebSocketServer } from 'ws';
import { metric, startNode } from '../helpers/edge.js';
import { startHttpsEdge } from '../helpers/https-node.js';
import { issue, testCa, writeCert } from '../helpers/tls-certs.js';
import { until } from '../helpers/wait.js';
import { shieldRole } from '../../shield/shield-role.js';

interface EchoOrigin {
  url: string;
  server: Server;
  wss: WebSocketServer;
  /** Upgrade requests the origin received: their headers. */
  upgrades: IncomingMessage['headers'][];
  /** Close codes the origin's sockets received. */
  closes: number[];
}

/** A WebSocket echo origin (permessage-deflate on, first offered subprotocol chosen). */
async function echoOrigin(t: test.TestContext): Promise<EchoOrigin> {
  const server = createServer((_req, res) => res.writeHead(200).end('plain\n'));
  const upgrades: IncomingMessage['headers'][] = [];
  const closes: number[] = [];
  const wss = new WebSocketServer({
    server,
    perMessageDeflate: true,
    handleProtocols: (protocols) => [...protocols][0] ?? false,
    verifyClient: (info, done) => {
      upgrades.push(info.req.headers);
      if (info.req.url === '/refuse') done(false, 401, 'Unauthorized', { 'x-origin': 'said no' });
      else done(true);
    },
  });
  wss.on('connection', (ws) => {
    ws.on('message', (data, binary) => ws.send(data, { binary }));
    ws.on('close', (code) => closes.push(code));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(async () => {
    for (const c of wss.clients) c.terminate();
    await new Promise<void>((resolve) => wss.close(() => resolve()));
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server, wss, upgrades, closes };
}

/** Opens a client; resolves with it and the 101's headers once open. */
function open(
  url: string,
  options: WebSocket.ClientOptions = {},
  protocols: string[] = [],
): Promise<{ ws: WebSocket; headers: IncomingMessage['headers'] }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, protocols, { headers: { host: 'site.test' }, ...options });
    let headers: IncomingMessage['headers'] = {};
    ws.once('upgrade', (res) => (headers = res.headers));
    ws.once('open', () => resolve({ ws, headers }));
    ws.once('error', reject);
    ws.once('unexpected-response', (_req, res) => reject(new Error(`unexpected ${res.statusCode}`)));
  });
}

function nextMessage(ws: WebSocket): Promise<{ data: Buffer; binary: boolean }> {
  return new Promise((resolve) =>
    ws.once('message', (data, binary) => resolve({ data: data as Buffer, binary })),
  );
}

function closed(ws: WebSocket): Promise<{ code: number; reason: string }> {
  return new Promise((resolve) =>
    ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })),
  );
}

/** Echo of text, binary and 1 MiB messages, a ping answered by the origin, and a close code both ways. */
async function exercise(ws: WebSocket, origin: EchoOrigin): Promise<void> {
  ws.send('hello');
  const text = await nextMessage(ws);
  assert.equal(text.data.toString(), 'hello');
  assert.equal(text.binary, false);
  const bytes = Buffer.from([0, 1, 2, 253, 254, 255]);
  ws.send(bytes);
  const binary = await nextMessage(ws);
  assert.equal(binary.binary, true);
  assert.deepEqual(binary.data, bytes);
  const big = Buffer.alloc(1024 * 1024, 'x');
  big.write('start', 0);
  big.write('end', big.length - 3);
  ws.send(big, { binary: true });
  assert.ok((await nextMessage(ws)).data.equals(big));
  const pong = new Promise<Buffer>((resolve) => ws.once('pong', resolve));
  ws.ping('are you there');
  assert.equal((await pong).toString(), 'are you there');
  const done = closed(ws);
  const before = origin.closes.length;
  ws.close(4001, 'done here');
  assert.deepEqual(await done, { code: 4001, reason: 'done here' });
  await until(() => origin.closes.length > before);
  assert.equal(origin.closes.at(-1), 4001);
}

const site = (origin: EchoOrigin, extra: Record<string, unknown> = {}) => ({
  hosts: ['site.test'],
  origins: [origin.url],
  websocket: 'direct',
  ...extra,
});

test('ws:// and wss:// echo through the edge: text, binary, 1 MiB, ping/pong, close codes', async (t) => {
  const origin = await echoOrigin(t);
  const ca = await testCa(t);
  const files = await writeCert(ca, 'site', await issue(ca, ['site.test']));
  const edge = await startHttpsEdge(t, [files], { sites: [site(origin)] });
  const plain = await open(`ws://127.0.0.1:${edge.node.http.port}/chat`, {}, ['chat.v1', 'chat.v0']);
  // Negotiated end to end: the origin's choices reach the client.
  assert.equal(plain.ws.protocol, 'chat.v1');
  assert.match(plain.ws.extensions, /permessage-deflate/);
  assert.match(String(plain.headers['cache-status']), /^edge-test; fwd=bypass; fwd-status=101/);
  assert.match(String(plain.headers.via), /edge-test/);
  await exercise(plain.ws, origin);
  const tls = { ca: ca.cert, servername: 'site.test' } as WebSocket.ClientOptions;
  const secure = await open(`wss://127.0.0.1:${edge.httpsPort}/chat`, tls);
  await exercise(secure.ws, origin);
  // The origin saw the client's handshake fields and the edge's forwarding fields.
  assert.equal(origin.upgrades[0]['sec-websocket-protocol'], 'chat.v1,chat.v0');
  assert.equal(origin.upgrades[0].upgrade, 'websocket');
  assert.equal(origin.upgrades[1]['x-forwarded-proto'], 'https');
  const text = await edge.metrics();
  assert.equal(metric(text, 'strata_websocket_upgrades_total{result="tunnel"}'), 2);
  assert.equal(metric(text, 'strata_requests_total{outcome="pass",status="101"}'), 2);
  await until(async () => metric(await edge.metrics(), 'strata_websocket_connections') === 0);
});

test('the origin refusing the upgrade: the client gets its status, fields and body, and no tunnel', async (t) => {
  const origin = await echoOrigin(t);
  const edge = await startNode(t, { sites: [site(origin)] });
  const answer = await new Promise<{ status: number; headers: IncomingMessage['headers']; body: string }>(
    (resolve, reject) => {
      const ws = new WebSocket(`ws://127.0.0.1:${edge.node.http.port}/refuse`, {
        headers: { host: 'site.test' },
      });
      ws.once('open', () => reject(new Error('opened')));
      ws.once('error', () => undefined);
      ws.once('unexpected-response', (_req, res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      });
    },
  );
  assert.equal(answer.status, 401);
  assert.equal(answer.headers['x-origin'], 'said no');
  assert.equal(answer.body, 'Unauthorized');
  assert.match(String(answer.headers['cache-status']), /fwd=bypass; fwd-status=401/);
  const text = await edge.metrics();
  assert.equal(metric(text, 'strata_websocket_upgrades_total{result="refused-by-origin"}'), 1);
  assert.equal(metric(text, 'strata_websocket_connections'), 0);
});

test('a site that does not allow WebSocket answers 403 and the origin never sees the upgrade', async (t) => {
  const origin = await echoOrigin(t);
  const edge = await startNode(t, { sites: [site(origin, { websocket: 'off' })] });
  const status = await new Promise<number>((resolve) => {
    const ws = new WebSocket(`ws://127.0.0.1:${edge.node.http.port}/chat`, {
      headers: { host: 'site.test' },
    });
    ws.once('error', () => undefined);
    ws.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
  });
  assert.equal(status, 403);
  assert.equal(origin.upgrades.length, 0);
  assert.equal(metric(await edge.metrics(), 'strata_websocket_upgrades_total{result="not-allowed"}'), 1);
});

test('an origin that cannot be reached is skipped while connecting: the next one takes the tunnel', async (t) => {
  const origin = await echoOrigin(t);
  const dead = createServer();
  await new Promise<void>((resolve) => dead.listen(0, '127.0.0.1', resolve));
  const deadUrl = `http://127.0.0.1:${(dead.address() as AddressInfo).port}`;
  await new Promise<void>((resolve) => dead.close(() => resolve()));
  const edge = await startNode(t, { sites: [site(origin, { origins: [deadUrl, origin.url] })] });
  // Whichever origin the rotation starts with, both connections reach the live one.
  for (let i = 0; i < 2; i++) {
    const { ws } = await open(`ws://127.0.0.1:${edge.node.http.port}/chat`);
    ws.send('ping');
    assert.equal((await nextMessage(ws)).data.toString(), 'ping');
    ws.close();
  }
  assert.ok(
    metric(await edge.metrics(), 'strata_upstream_errors_total{code="UPSTREAM_CONNECT_FAILED"}') >= 1,
  );
});

test('through the shield: edge -> shield -> origin, each hop in Via', async (t) => {
  const origin = await echoOrigin(t);
  const shield = await startNode(
    t,
    { node: { id: 'shield-test' }, sites: [site(origin)], proxy: { trustedProxies: ['127.0.0.1'] } },
    { role: shieldRole },
  );
  const edge = await startNode(t, {
    sites: [site(origin, { websocket: 'shield' })],
    shields: [{ url: shield.url }],
    shieldFallback: 'fail',
    upstream: { health: { probeInterval: 0 } },
  });
  const { ws, headers } = await open(`ws://127.0.0.1:${edge.node.http.port}/chat`);
  ws.send('through');
  assert.equal((await nextMessage(ws)).data.toString(), 'through');
  assert.match(String(origin.upgrades[0].via), /edge-test.*shield-test/);
  assert.match(
    String(headers['cache-status']),
    /^shield-test; fwd=bypass; fwd-status=101, edge-test; fwd=bypass/,
  );
  ws.close(1000);
  await closed(ws);
});

test('limits: a second tunnel from one address past websocket.maxPerClient gets 429', async (t) => {
  const origin = await echoOrigin(t);
  const edge = await startNode(t, { sites: [site(origin)], websocket: { maxPerClient: 1 } });
  const first = await open(`ws://127.0.0.1:${edge.node.http.port}/chat`);
  await assert.rejects(open(`ws://127.0.0.1:${edge.node.http.port}/chat`), /unexpected 429/);
  first.ws.close();
  await closed(first.ws);
  // The slot is free again once the first tunnel ended.
  await until(async () => metric(await edge.metrics(), 'strata_websocket_connections') === 0);
  const again = await open(`ws://127.0.0.1:${edge.node.http.port}/chat`);
  again.ws.close();
  assert.equal(metric(await edge.metrics(), 'strata_websocket_upgrades_total{result="limit"}'), 1);
});

test('a reader that stops reading: the edge holds a bounded amount, the origin is held back', async (t) => {
  const origin = await echoOrigin(t);
  const edge = await startNode(t, { sites: [site(origin, { origins: [origin.url] })] });
  const serverSide = new Promise<WebSocket>((resolve) => origin.wss.once('connection', resolve));
  const { ws } = await open(`ws://127.0.0.1:${edge.node.http.port}/chat`, { perMessageDeflate: false });
  const sender = await serverSide;
  // The client stops reading its socket: what the origin sends must stop somewhere.
  (ws as unknown as { _socket: Socket })._socket.pause();
  const chunk = Buffer.alloc(1024 * 1024, 'y');
  for (let i = 0; i < 64; i++) sender.send(chunk, { binary: true });
  // The origin's own buffer fills (the edge stopped reading it), while the edge holds little.
  await until(() => sender.bufferedAmount > 16 * 1024 * 1024, 10_000);
  const held = metric(await edge.metrics(), 'strata_websocket_buffered_bytes');
  assert.ok(held < 2 * 1024 * 1024, `edge holds ${held} bytes`);
  ws.terminate();
});

test('drain on shutdown: both sides get Close 1001, then the connections end', async (t) => {
  const origin = await echoOrigin(t);
  const edge = await startNode(t, { sites: [site(origin)] });
  const { ws } = await open(`ws://127.0.0.1:${edge.node.http.port}/chat`);
  ws.send('in flight');
  await nextMessage(ws);
  const clientClosed = closed(ws);
  const started = Date.now();
  await edge.node.stop(5000);
  assert.equal((await clientClosed).code, 1001);
  await until(() => origin.closes.length === 1);
  assert.equal(origin.closes[0], 1001);
  assert.ok(Date.now() - started < 2000, `stop took ${Date.now() - started} ms`);
});

test('a tunnel with no bytes either way for websocket.idleTimeout is closed on both sides', async (t) => {
  const origin = await echoOrigin(t);
  const edge = await startNode(t, { sites: [site(origin)], websocket: { idleTimeout: '1s' } });
  const { ws } = await open(`ws://127.0.0.1:${edge.node.http.port}/chat`);
  const started = Date.now();
  const end = await closed(ws);
  // No Close frame: the connection was cut (1006 on the client's side).
  assert.equal(end.code, 1006);
  assert.ok(Date.now() - started >= 900, `closed after ${Date.now() - started} ms`);
  await until(() => origin.closes.length === 1);
  assert.equal(metric(await edge.metrics(), 'strata_websocket_connections'), 0);
});
