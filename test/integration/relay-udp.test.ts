// The UDP relay with real servers and clients: DNS through it (a dns-packet server, queried by
// node:dns's c-ares resolver and by 200 concurrent raw clients), session expiry and the rate
// limit on a manual clock, the amplification cap, IPv6, 64 KiB datagrams and probe health.

import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { Resolver } from 'node:dns/promises';
import dnsPacket from 'dns-packet';
import {
  datagramBackend,
  datagramClient,
  RelayClock,
  startRelays,
  type TestBackend,
} from '../helpers/relay.js';
import { until } from '../helpers/wait.js';

/** The address the DNS server gives name cN.test: 10.0.(N >> 8).(N & 255); other names: NXDOMAIN. */
const addressOf = (n: number) => `10.0.${n >> 8}.${n & 255}`;

async function dnsServer(t: TestContext): Promise<TestBackend> {
  const socket = createSocket('udp4');
  const server = { name: 'dns', address: '', port: 0, requests: 0, stop: async () => {} };
  socket.on('message', (message, from) => {
    server.requests++;
    const query = dnsPacket.decode(message);
    const question = query.questions?.[0];
    const n = /^c(\d+)\.test$/.exec(question?.name ?? '')?.[1];
    const answers =
      n !== undefined && question?.type === 'A'
        ? [{ type: 'A' as const, name: question.name, ttl: 60, data: addressOf(Number(n)) }]
        : [];
    const reply = dnsPacket.encode({
      id: query.id,
      type: 'response',
      flags: dnsPacket.AUTHORITATIVE_ANSWER | (answers.length ? 0 : 3),
      questions: query.questions,
      answers,
    });
    socket.send(reply, from.port, from.address);
  });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  server.port = socket.address().port;
  server.address = `127.0.0.1:${server.port}`;
  let stopped: Promise<void> | undefined;
  server.stop = () => (stopped ??= new Promise<void>((resolve) => socket.close(() => resolve())));
  t.after(() => server.stop());
  return server;
}

const dnsRelay = (backend: TestBackend, extra: Record<string, unknown> = {}) => ({
  udp: [{ name: 'dns', listen: '127.0.0.1:0', backends: [backend.address], ...extra }],
});

test('DNS through the UDP relay: node:dns (c-ares) resolves a name and gets NXDOMAIN for another', async (t) => {
  const dns = await dnsServer(t);
  const r = await startRelays(t, dnsRelay(dns));
  const resolver = new Resolver({ timeout: 5000, tries: 1 });
  resolver.setServers([`127.0.0.1:${r.port}`]);
  assert.deepEqual(await resolver.resolve4('c7.test'), [addressOf(7)]);
  await assert.rejects(resolver.resolve4('nobody.test'), { code: 'ENOTFOUND' });
  assert.ok(dns.requests >= 2);
  assert.ok(r.relay.stats().packetsToClient >= 2);
});

test('200 concurrent DNS clients through the UDP relay each get their own answer, in a session each', async (t) => {
  const dns = await dnsServer(t);
  // Every test client is 127.0.0.1: the per-address limit (100 by default) must make room.
  const r = await startRelays(t, dnsRelay(dns, { maxPerClient: 1000 }));
  const ask = async (n: number) => {
    const client = await datagramClient(t, r.port);
    const id = (n * 7919) & 0xffff;
    const reply = dnsPacket.decode(
      await client.ask(
        dnsPacket.encode({
          id,
          type: 'query',
          flags: dnsPacket.RECURSION_DESIRED,
          questions: [{ type: 'A', name: `c${n}.test` }],
        }),
      ),
    );
    return {
      n,
      id: reply.id,
      name: reply.answers?.[0]?.name,
      data: (reply.answers?.[0] as { data?: unknown } | undefined)?.data,
    };
  };
  const answers = await Promise.all(Array.from({ length: 200 }, (_, n) => ask(n)));
  for (const a of answers) {
    assert.equal(a.id, (a.n * 7919) & 0xffff);
    assert.equal(a.name, `c${a.n}.test`);
    assert.equal(a.data, addressOf(a.n));
  }
  const s = r.relay.stats();
  assert.equal(s.accepted, 200);
  assert.equal(s.active, 200);
  assert.equal(s.packetsToBackend, 200);
  assert.equal(s.packetsToClient, 200);
  assert.equal(dns.requests, 200);
});

test('a session idle for idleTimeout expires (manual clock) and its access-log line is written; the client then gets a new one', async (t) => {
  const a = await datagramBackend(t, 'a');
  const clock = new RelayClock();
  const r = await startRelays(
    t,
    { udp: [{ name: 'expiry', listen: '127.0.0.1:0', backends: [a.address], idleTimeout: '5s' }] },
    clock,
  );
  const client = await datagramClient(t, r.port);
  assert.equal((await client.ask('one')).toString(), 'a:one');
  clock.advance(4000);
  assert.equal((await client.ask('two')).toString(), 'a:two', 'activity keeps the session');
  clock.advance(4000);
  assert.equal(r.relay.stats().active, 1);
  clock.advance(1000);
  await until(() => r.relay.stats().active === 0);
  const line = r.lines.find((l) => l.msg === 'relay')!;
  assert.equal(line.end, 'idle');
  assert.equal(line.packetsToBackend, 2);
  assert.equal(line.packetsToClient, 2);
  assert.equal(line.bytesToBackend, 6);
  assert.equal((await client.ask('three')).toString(), 'a:three');
  assert.equal(r.relay.stats().accepted, 2);
});

test('the per-client packet rate limit drops what is over the burst until tokens come back (manual clock)', async (t) => {
  const a = await datagramBackend(t, 'a');
  const clock = new RelayClock();
  const r = await startRelays(
    t,
    {
      udp: [
        {
          name: 'limited',
          listen: '127.0.0.1:0',
          backends: [a.address],
          rateLimit: { packetsPerSecond: 2, burst: 5 },
        },
      ],
    },
    clock,
  );
  const client = await datagramClient(t, r.port);
  for (let i = 0; i < 12; i++) await client.send(`p${i}`);
  await until(() => r.relay.stats().dropped['rate-limit'] + a.requests === 12);
  assert.equal(a.requests, 5);
  assert.equal(r.relay.stats().dropped['rate-limit'], 7);
  clock.advance(1000);
  // A new socket of the same address: the bucket is the address's, refilled by two tokens.
  const again = await datagramClient(t, r.port);
  assert.equal((await again.ask('later')).toString(), 'a:later', 'two tokens a second later');
  // Another address is not limited by this one's bucket.
  const v6 = await startRelays(
    t,
    {
      udp: [
        {
          name: 'limited6',
          listen: '[::1]:0',
          backends: [a.address],
          rateLimit: { packetsPerSecond: 2, burst: 5 },
        },
      ],
    },
    clock,
  );
  assert.equal((await (await datagramClient(t, v6.port, '::1')).ask('other')).toString(), 'a:other');
});

/** A backend that answers "size:N" with N bytes. */
async function sizedBackend(t: TestContext): Promise<TestBackend> {
  const socket = createSocket('udp4');
  const backend = { name: 'sized', address: '', port: 0, requests: 0, stop: async () => {} };
  socket.on('message', (d, from) => {
    backend.requests++;
    const n = Number(/^size:(\d+)/.exec(d.toString())?.[1] ?? 0);
    socket.send(Buffer.alloc(n, 'r'), from.port, from.address);
  });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  backend.port = socket.address().port;
  backend.address = `127.0.0.1:${backend.port}`;
  t.after(() => socket.close());
  return backend;
}

test('the amplification cap drops replies past maxRatio times what an unproven client sent; trusted clients are not capped', async (t) => {
  const big = await sizedBackend(t);
  const r = await startRelays(t, { udp: [{ name: 'amp', listen: '127.0.0.1:0', backends: [big.address] }] });
  const client = await datagramClient(t, r.port);
  // Requests of 10 bytes: 30 bytes may come back for the first, 60 in all after the second.
  assert.equal((await client.ask('size:25   ')).length, 25);
  await client.send('size:100  ');
  await until(() => r.relay.stats().dropped.amplification === 1);
  assert.equal(big.requests, 2, 'the request went through; its reply did not');
  assert.equal(r.relay.stats().bytesToClient, 25);
  assert.equal((await client.ask('size:30   ')).length, 30, 'within the budget again (25 + 30 <= 90)');

  const trusted = await startRelays(t, {
    udp: [
      {
        name: 'amp-trusted',
        listen: '127.0.0.1:0',
        backends: [big.address],
        amplification: { trusted: ['127.0.0.0/8'] },
      },
    ],
  });
  const insider = await datagramClient(t, trusted.port);
  assert.equal((await insider.ask('size:5000 ')).length, 5000);
  assert.equal(trusted.relay.stats().dropped.amplification, 0);
});

test('IPv6 clients and backends, and datagrams up to 64 KiB both ways', async (t) => {
  const echo6 = createSocket('udp6');
  echo6.on('message', (d, from) => echo6.send(d, from.port, from.address));
  await new Promise<void>((resolve) => echo6.bind(0, '::1', resolve));
  t.after(() => echo6.close());
  const r6 = await startRelays(t, {
    udp: [{ name: 'v6', listen: '[::1]:0', backends: [`[::1]:${echo6.address().port}`] }],
  });
  const client6 = await datagramClient(t, r6.port, '::1');
  assert.equal((await client6.ask('over v6')).toString(), 'over v6');
  const line6 = await (async () => {
    await r6.stop(Date.now());
    return r6.lines.find((l) => l.msg === 'relay')!;
  })();
  assert.match(String(line6.client), /^\[::1\]:\d+$/);

  const echo4 = createSocket('udp4');
  echo4.on('message', (d, from) => echo4.send(d, from.port, from.address));
  await new Promise<void>((resolve) => echo4.bind(0, '127.0.0.1', resolve));
  t.after(() => echo4.close());
  const r4 = await startRelays(t, {
    udp: [{ name: 'big', listen: '127.0.0.1:0', backends: [`127.0.0.1:${echo4.address().port}`] }],
  });
  const client4 = await datagramClient(t, r4.port);
  // 65507 bytes: the largest UDP payload over IPv4 (65535 less the IP and UDP headers).
  const largest = Buffer.alloc(65_507, 7);
  assert.ok((await client4.ask(largest)).equals(largest));
  assert.equal(r4.relay.stats().bytesToClient, 65_507);
});

test('UDP probes: a backend whose reply lacks the expected bytes is out of service; new sessions go to the other', async (t) => {
  const a = await datagramBackend(t, 'a');
  const b = await datagramBackend(t, 'b');
  const r = await startRelays(t, {
    udp: [
      {
        name: 'probed',
        listen: '127.0.0.1:0',
        backends: [a.address, b.address],
        // The backends answer "NAME:ping": only b passes.
        health: { interval: '1s', failures: 1, probe: { send: 'ping', expect: 'b:ping' } },
      },
    ],
  });
  await until(() => r.relay.stats().backends[0].usable === false, 10_000);
  assert.equal(r.relay.stats().backends[1].usable, true);
  for (let i = 0; i < 4; i++)
    assert.equal((await (await datagramClient(t, r.port)).ask(`q${i}`)).toString(), `b:q${i}`);
});
