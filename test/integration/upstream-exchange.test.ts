// The upstream exchange (an undici dispatch handler) against a real origin through a real pool:
// bodies read with backpressure, readers that stop early, interim responses, errors after the
// head, and a client's abort.

import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Peer, type UpstreamOptions } from '../../shared/http/upstream.js';
import { PeerHealth } from '../../shared/http/health.js';
import { StrataError } from '../../shared/errors.js';
import { startOrigin } from '../helpers/origin.js';
import { until } from '../helpers/wait.js';

const options: UpstreamOptions = {
  connectTimeout: 2000,
  queueTimeout: 2000,
  headersTimeout: 2000,
  bodyTimeout: 2000,
  keepAliveTimeout: 4000,
  connections: 4,
};

function originFor(t: TestContext, url: string): Peer {
  const origin = new Peer(url, 'origin', new PeerHealth({ failures: 3, openMs: 1000 }), options);
  t.after(() => origin.pool.destroy());
  return origin;
}

const get = (path: string, signal?: AbortSignal) => ({
  method: 'GET',
  path,
  headers: { host: 'site.test' },
  signal,
});

test('a slow reader gets a large body whole and in order, with undici paused meanwhile', async (t) => {
  const body = Buffer.alloc(4 * 1024 * 1024);
  for (let i = 0; i < body.length; i += 4) body.writeUInt32BE(i, i);
  const server = await startOrigin(t, (_req, res) => {
    res.writeHead(200, { 'content-length': body.length });
    res.end(body);
  });
  const up = await originFor(t, server.url).request(get('/big'));
  assert.equal(up.status, 200);
  const hash = createHash('sha256');
  let chunks = 0;
  await up.body.read((chunk) => {
    hash.update(chunk);
    // Every fourth chunk makes the reader wait, as a slow client's drain does.
    return ++chunks % 4 === 0 ? sleep(1) : true;
  });
  assert.equal(hash.digest('hex'), createHash('sha256').update(body).digest('hex'));
});

test('a reader that stops early resolves at once and the pool serves the next request', async (t) => {
  const server = await startOrigin(t, (_req, res) => {
    res.writeHead(200, { 'content-length': 1024 * 1024 });
    res.end(Buffer.alloc(1024 * 1024, 1));
  });
  const origin = originFor(t, server.url);
  const first = await origin.request(get('/a'));
  let seen = 0;
  await first.body.read((chunk) => {
    seen += chunk.length;
    return false;
  });
  assert.ok(seen > 0 && seen < 1024 * 1024, `read ${seen} bytes before stopping`);
  const second = await origin.request(get('/b'));
  let total = 0;
  await second.body.read((chunk) => {
    total += chunk.length;
    return true;
  });
  assert.equal(total, 1024 * 1024);
  assert.equal(server.requests.length, 2);
});

/**
 * An origin behind a pool of one connection, held by a first request until `release()`; later
 * requests are answered at once. `finish()` releases it, sends one more request and returns the
 * paths the origin saw, so a test can check that a request it gave up on never went out.
 */
async function busyPool(t: TestContext, queueTimeout: number) {
  let release = (): void => undefined;
  const server = await startOrigin(t, (_req, res, n) => {
    const answer = () => res.writeHead(200, { 'content-length': 2 }).end('ok');
    if (n === 1) release = answer;
    else answer();
  });
  const origin = new Peer(server.url, 'origin', new PeerHealth({ failures: 3, openMs: 1000 }), {
    ...options,
    connections: 1,
    queueTimeout,
  });
  t.after(() => origin.pool.destroy());
  const first = origin.request(get('/holds-the-only-connection'));
  await until(() => server.requests.length === 1);
  const finish = async (): Promise<string[]> => {
    release();
    (await first).body.discard();
    (await origin.request(get('/after'))).body.discard();
    return server.requests.map((r) => r.url);
  };
  return { origin, finish };
}

test('a request waiting for a busy pool gives up after queueTimeout and is never sent', async (t) => {
  const { origin, finish } = await busyPool(t, 300);
  const started = Date.now();
  await assert.rejects(origin.request(get('/queued')), (err: unknown) => {
    assert.ok(err instanceof StrataError);
    assert.equal(err.code, 'UPSTREAM_BUSY');
    assert.equal(err.status, 503);
    return true;
  });
  const waited = Date.now() - started;
  assert.ok(waited >= 250 && waited < 1500, `gave up after ${waited} ms`);
  assert.deepEqual(await finish(), ['/holds-the-only-connection', '/after']);
});

test('a client leaving while its request waits for a connection is let go at once, and the request is never sent', async (t) => {
  const { origin, finish } = await busyPool(t, 60_000);
  const client = new AbortController();
  const queued = origin.request(get('/queued', client.signal));
  client.abort();
  await assert.rejects(queued, (err: unknown) => err instanceof StrataError && err.code === 'CLIENT_ABORTED');
  assert.deepEqual(await finish(), ['/holds-the-only-connection', '/after']);
});

test('interim 1xx responses are skipped: the head is the final response', async (t) => {
  const server = await startOrigin(t, (_req, res) => {
    res.writeEarlyHints({ link: '</style.css>; rel=preload; as=style' }, () => {
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': 5 });
      res.end('final');
    });
  });
  const up = await originFor(t, server.url).request(get('/hints'));
  assert.equal(up.status, 200);
  let text = '';
  await up.body.read((chunk) => {
    text += chunk.toString();
    return true;
  });
  assert.equal(text, 'final');
});

test('a body cut after the head rejects the read with UPSTREAM_RESET; a body never read is not lost', async (t) => {
  const server = await startOrigin(t, (req, res) => {
    const length = req.url === '/whole' ? 1024 * 1024 : 1000;
    res.writeHead(200, { 'content-length': length });
    if (req.url === '/whole') return void res.end(Buffer.alloc(length, 2));
    res.write('partial');
    setTimeout(() => res.destroy(), 20);
  });
  const origin = originFor(t, server.url);
  const cut = await origin.request(get('/cut'));
  await assert.rejects(
    cut.body.read(() => true),
    (err: unknown) => err instanceof StrataError && err.code === 'UPSTREAM_RESET',
  );
  // The head resolves before the caller reads: what arrives meanwhile waits for it, and past
  // 64 KiB undici stops reading the socket until the reader comes.
  const whole = await origin.request(get('/whole'));
  await sleep(50);
  let total = 0;
  await whole.body.read((chunk) => {
    total += chunk.length;
    return true;
  });
  assert.equal(total, 1024 * 1024);
});

test("a client's abort before the head rejects with CLIENT_ABORTED and cancels the origin request", async (t) => {
  let closed = false;
  const server = await startOrigin(t, (_req, res) => {
    res.on('close', () => (closed = true));
  });
  const abort = new AbortController();
  const pending = originFor(t, server.url).request(get('/never', abort.signal));
  setTimeout(() => abort.abort(), 50);
  await assert.rejects(
    pending,
    (err: unknown) => err instanceof StrataError && err.code === 'CLIENT_ABORTED',
  );
  for (let i = 0; i < 50 && !closed; i++) await sleep(10);
  assert.ok(closed, 'the origin saw its request go away');
});

test('a refused connection rejects the head with UPSTREAM_CONNECT_FAILED', async (t) => {
  const server = await startOrigin(t);
  const url = server.url;
  await server.close();
  await assert.rejects(
    originFor(t, url).request(get('/')),
    (err: unknown) => err instanceof StrataError && err.code === 'UPSTREAM_CONNECT_FAILED',
  );
});
