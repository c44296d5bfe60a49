// The TCP relay with real servers and clients: redis-server used through it by ioredis
// (commands and a pub/sub subscription that outlives other connections), half-close with an
// echo server, a killed backend, PROXY protocol both ways, a connect timeout, an idle timeout.

import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';
import { Redis } from 'ioredis';
import { startRedis } from '../helpers/redis.js';
import {
  lineBackend,
  lineClient,
  startRelays,
  unresponsiveBackend,
  type TestRelays,
} from '../helpers/relay.js';
import { until } from '../helpers/wait.js';

function redisThrough(t: TestContext, port: number, options: { lazy?: boolean } = {}): Redis {
  const client = new Redis({
    port,
    host: '127.0.0.1',
    maxRetriesPerRequest: 1,
    retryStrategy: () => null,
    lazyConnect: options.lazy ?? false,
  });
  client.on('error', () => {}); // each test asserts on the commands' results
  t.after(() => client.disconnect());
  return client;
}

/** Listens `server` on loopback (closed after the test) and starts a TCP relay named `name` to it. */
async function relayTo(t: TestContext, server: Server, name: string): Promise<TestRelays> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => server.close());
  const backend = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  return startRelays(t, { tcp: [{ name, listen: '127.0.0.1:0', backends: [backend] }] });
}

test('redis through the TCP relay: commands, and a subscription that keeps receiving while other connections come and go', async (t) => {
  const redis = await startRedis(t);
  const r = await startRelays(t, {
    tcp: [{ name: 'redis', listen: '127.0.0.1:0', backends: [`127.0.0.1:${redis.port}`] }],
  });
  const client = redisThrough(t, r.port);
  assert.equal(await client.set('k', 'v'), 'OK');
  assert.equal(await client.get('k'), 'v');
  assert.equal(await client.incrby('n', 41), 41);
  const big = 'x'.repeat(4 * 1024 * 1024);
  await client.set('big', big);
  assert.equal((await client.get('big'))?.length, big.length, 'a 4 MiB value both ways');

  const subscriber = redisThrough(t, r.port);
  const received: string[] = [];
  subscriber.on('message', (_channel: string, message: string) => received.push(message));
  await subscriber.subscribe('news');
  for (let i = 0; i < 20; i++) {
    // A short-lived connection through the relay between messages: the subscription must not care.
    const passer = redisThrough(t, r.port);
    assert.equal(await passer.ping(), 'PONG');
    passer.disconnect();
    assert.equal(await client.publish('news', `m${i}`), 1, 'one subscriber listening');
  }
  await until(() => received.length === 20);
  assert.deepEqual(
    received,
    Array.from({ length: 20 }, (_, i) => `m${i}`),
  );
  // The command client and the subscriber (the last passer's close may still be on its way).
  await until(() => r.relay.stats().active === 2);
  assert.ok(r.relay.stats().accepted >= 22);
});

test('half-close: the client ends its side and still reads the whole echo (backpressure through a large payload)', async (t) => {
  const echo = createServer({ allowHalfOpen: true }, (socket) => socket.pipe(socket));
  const r = await relayTo(t, echo, 'echo');
  const payload = Buffer.alloc(8 * 1024 * 1024, 'abcdefgh');
  const socket = connect({ port: r.port, host: '127.0.0.1', allowHalfOpen: true });
  const chunks: Buffer[] = [];
  socket.on('data', (c: Buffer) => chunks.push(c));
  const ended = new Promise<void>((resolve) => socket.once('end', resolve));
  socket.end(payload);
  await ended;
  assert.ok(Buffer.concat(chunks).equals(payload), 'every byte came back after the client had ended');
  await until(() => r.relay.stats().active === 0);
  const line = r.lines.find((l) => l.msg === 'relay')!;
  assert.equal(line.end, 'closed');
  assert.equal(line.bytesToBackend, payload.length);
  assert.equal(line.bytesToClient, payload.length);
});

test('reused read buffers: concurrent downloads, some read slowly, each arrives byte for byte (busy and idle connections share the relay)', async (t) => {
  // Each connection gets its own pattern: bytes that leaked from another connection's read, or
  // a buffer read into while a write of it was pending, would show as a mismatch.
  const sizeBytes = 6 * 1024 * 1024;
  const patternOf = (n: number) => {
    const b = Buffer.allocUnsafe(sizeBytes);
    for (let i = 0; i < sizeBytes; i += 4) b.writeUInt32BE((i * 2654435761 + n) >>> 0, i);
    return b;
  };
  const source = createServer((socket) => {
    socket.once('data', (d: Buffer) => socket.end(patternOf(d[0])));
    socket.on('error', () => {});
  });
  const r = await relayTo(t, source, 'dl');
  const download = (n: number, slow: boolean) =>
    new Promise<Buffer>((resolve, reject) => {
      const socket = connect(r.port, '127.0.0.1');
      const chunks: Buffer[] = [];
      socket.on('data', (c: Buffer) => {
        chunks.push(c);
        // A slow reader: the relay's writes to it stay pending, and it must pause the backend.
        if (slow && chunks.length % 8 === 0) {
          socket.pause();
          setTimeout(() => socket.resume(), 5);
        }
      });
      socket.on('end', () => resolve(Buffer.concat(chunks)));
      socket.on('error', reject);
      socket.write(Buffer.from([n]));
    });
  const got = await Promise.all([1, 2, 3, 4, 5, 6].map((n) => download(n, n % 2 === 0)));
  got.forEach((body, i) => assert.ok(body.equals(patternOf(i + 1)), `download ${i + 1} arrived intact`));
  // A small exchange after the busy ones, through the shared buffer.
  const small = await download(7, false);
  assert.ok(small.equals(patternOf(7)));
});

test('a redis backend killed: new connections go to the other one', async (t) => {
  const [one, two] = [await startRedis(t), await startRedis(t)];
  const r = await startRelays(t, {
    tcp: [
      {
        name: 'redis',
        listen: '127.0.0.1:0',
        backends: [`127.0.0.1:${one.port}`, `127.0.0.1:${two.port}`],
        health: { interval: 0, failures: 1 },
      },
    ],
  });
  const portOf = async () => {
    const c = redisThrough(t, r.port);
    const [, port] = (await c.config('GET', 'port')) as [string, string];
    c.disconnect();
    return Number(port);
  };
  assert.deepEqual(new Set([await portOf(), await portOf()]), new Set([one.port, two.port]));
  await one.stop(true);
  for (let i = 0; i < 6; i++) assert.equal(await portOf(), two.port);
  assert.ok(r.relay.stats().errors['connect-failed'] >= 1);
  assert.equal(r.relay.stats().backends[0].usable, false);
});

/** A backend that reads a PROXY header with its own small parser and answers with what it said. */
async function proxyAwareBackend(t: TestContext): Promise<string> {
  // The clients below end their side after sending: all they sent is here on 'end'.
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', () => {});
    // The relay's health probes connect and close without a byte: nothing to read.
    socket.on('end', () =>
      socket.end(chunks.length ? JSON.stringify(readHeader(Buffer.concat(chunks))) : ''),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => server.close());
  return `127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** The test's own reading of the spec (independent of edge/relays/proxy-protocol.ts). */
function readHeader(data: Buffer): Record<string, unknown> {
  if (data.subarray(0, 6).toString() === 'PROXY ') {
    const end = data.indexOf('\r\n');
    const [, family, src, dst, sport, dport] = data.subarray(0, end).toString().split(' ');
    return {
      v: 1,
      family,
      src,
      dst,
      sport: Number(sport),
      dport: Number(dport),
      rest: data.subarray(end + 2).toString(),
    };
  }
  assert.equal(data.subarray(0, 12).toString('hex'), '0d0a0d0a000d0a515549540a');
  const length = data.readUInt16BE(14);
  assert.equal(data[12], 0x21, 'version 2, PROXY');
  assert.equal(data[13], 0x11, 'TCP over IPv4');
  return {
    v: 2,
    src: [...data.subarray(16, 20)].join('.'),
    dst: [...data.subarray(20, 24)].join('.'),
    sport: data.readUInt16BE(24),
    dport: data.readUInt16BE(26),
    rest: data.subarray(16 + length).toString(),
  };
}

/** Sends `text`, ends, and resolves with the whole answer (the backend closes after answering). */
function talk(port: number, text: string | Buffer): Promise<{ answer: string; local: number }> {
  return new Promise((resolve, reject) => {
    const socket: Socket = connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    let answer = '';
    let local = 0;
    socket.setEncoding('utf8').on('data', (c: string) => (answer += c));
    socket.on('connect', () => {
      local = socket.localPort!;
      socket.end(text);
    });
    socket.on('error', reject);
    socket.on('close', () => resolve({ answer, local }));
  });
}

test('PROXY protocol v1 and v2 to the backend name the client and the relay', async (t) => {
  const backend = await proxyAwareBackend(t);
  for (const version of ['v1', 'v2'] as const) {
    const r = await startRelays(t, {
      tcp: [{ name: `p${version}`, listen: '127.0.0.1:0', backends: [backend], proxyProtocol: version }],
    });
    const { answer, local } = await talk(r.port, 'hello');
    const header = JSON.parse(answer) as Record<string, unknown>;
    assert.equal(header.v, version === 'v1' ? 1 : 2);
    assert.equal(header.src, '127.0.0.1');
    assert.equal(header.sport, local);
    assert.equal(header.dst, '127.0.0.1');
    assert.equal(header.dport, r.port);
    assert.equal(header.rest, 'hello', 'the client bytes follow the header');
    if (version === 'v1') assert.equal(header.family, 'TCP4');
  }
});

test('a PROXY header is read only from trusted addresses; it names the client for deny and for the backend', async (t) => {
  const backend = await proxyAwareBackend(t);
  const trusted = await startRelays(t, {
    tcp: [
      {
        name: 'behind-lb',
        listen: '127.0.0.1:0',
        backends: [backend],
        proxyProtocol: 'v1',
        acceptProxyFrom: ['127.0.0.0/8'],
        deny: ['198.51.100.0/24'],
      },
    ],
  });
  const v1 = await talk(trusted.port, 'PROXY TCP4 203.0.113.7 192.0.2.1 40000 443\r\nhi');
  assert.deepEqual(JSON.parse(v1.answer), {
    v: 1,
    family: 'TCP4',
    src: '203.0.113.7',
    dst: '192.0.2.1',
    sport: 40000,
    dport: 443,
    rest: 'hi',
  });
  const v2 = Buffer.concat([
    Buffer.from('0d0a0d0a000d0a515549540a2111000c', 'hex'),
    Buffer.from([203, 0, 113, 9, 192, 0, 2, 1]),
    Buffer.from([0x9c, 0x41, 0x01, 0xbb]),
    Buffer.from('v2'),
  ]);
  const fromV2 = JSON.parse((await talk(trusted.port, v2)).answer) as Record<string, unknown>;
  assert.equal(fromV2.src, '203.0.113.9');
  assert.equal(fromV2.sport, 0x9c41);
  assert.equal(fromV2.rest, 'v2');
  assert.equal((await talk(trusted.port, 'PROXY TCP4 198.51.100.5 192.0.2.1 1 2\r\nx')).answer, '');
  assert.equal(trusted.relay.stats().refused.denied, 1, 'deny applies to the address the header names');
  assert.equal((await talk(trusted.port, 'no header at all\r\n')).answer, '');
  assert.equal(trusted.relay.stats().refused['proxy-header'], 1);
  assert.ok(
    trusted.lines.some((l) => l.client === '203.0.113.7:40000'),
    'the access log names the real client',
  );

  const untrusted = await startRelays(t, {
    tcp: [
      {
        name: 'direct',
        listen: '127.0.0.1:0',
        backends: [backend],
        proxyProtocol: 'v1',
        acceptProxyFrom: ['10.0.0.0/8'],
      },
    ],
  });
  const passed = JSON.parse(
    (await talk(untrusted.port, 'PROXY TCP4 203.0.113.7 192.0.2.1 40000 443\r\n')).answer,
  ) as Record<string, unknown>;
  assert.equal(passed.src, '127.0.0.1', 'an untrusted client cannot claim another address');
  assert.equal(
    passed.rest,
    'PROXY TCP4 203.0.113.7 192.0.2.1 40000 443\r\n',
    'its header is data for the backend',
  );
});

test('a backend that does not answer the connect within connectTimeout: the next one serves the client', async (t) => {
  const silent = await unresponsiveBackend(t);
  const good = await lineBackend(t, 'good');
  const r = await startRelays(t, {
    tcp: [
      {
        name: 'slow',
        listen: '127.0.0.1:0',
        backends: [silent, good.address],
        connectTimeout: '200ms',
        health: { interval: 0, failures: 1 },
      },
    ],
  });
  const client = await lineClient(r.port);
  assert.equal(await client.ask('hello'), 'good:hello');
  assert.equal(r.relay.stats().errors['connect-timeout'], 1);
  assert.equal(r.relay.stats().backends[0].usable, false);
  client.socket.destroy();
});

test('a connection idle for idleTimeout is closed by the relay and counted', async (t) => {
  const a = await lineBackend(t, 'a');
  const r = await startRelays(t, {
    tcp: [{ name: 'idle', listen: '127.0.0.1:0', backends: [a.address], idleTimeout: '1s' }],
  });
  const client = await lineClient(r.port);
  assert.equal(await client.ask('x'), 'a:x');
  await client.closed;
  await until(() => r.lines.some((l) => l.end === 'idle-timeout'));
  assert.equal(r.relay.stats().errors['idle-timeout'], 1);
});

test('IPv6: a TCP relay on ::1 to a backend on ::1, and a PROXY v1 header that says TCP6', async (t) => {
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    const chunks: Buffer[] = [];
    socket.on('error', () => {});
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('end', () => socket.end(Buffer.concat(chunks)));
  });
  await new Promise<void>((resolve) => server.listen(0, '::1', resolve));
  t.after(() => server.close());
  const r = await startRelays(t, {
    tcp: [
      {
        name: 'six',
        listen: '[::1]:0',
        backends: [`[::1]:${(server.address() as AddressInfo).port}`],
        proxyProtocol: 'v1',
        health: { interval: 0 },
      },
    ],
  });
  const answer = await new Promise<{ text: string; local: number }>((resolve, reject) => {
    const socket = connect({ port: r.port, host: '::1', allowHalfOpen: true });
    let text = '';
    let local = 0;
    socket.setEncoding('utf8').on('data', (c: string) => (text += c));
    socket.on('connect', () => {
      local = socket.localPort!;
      socket.end('over six');
    });
    socket.on('error', reject);
    socket.on('close', () => resolve({ text, local }));
  });
  assert.equal(answer.text, `PROXY TCP6 ::1 ::1 ${answer.local} ${r.port}\r\nover six`);
  await until(() => r.lines.length === 1);
  assert.equal(r.lines[0].client, `[::1]:${answer.local}`);
});
