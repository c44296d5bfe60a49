// GeoDNS end to end: a DNS server (strata dns's parts) over a test GeoIP database, real edges
// whose health it probes, and real clients: raw dns-packet queries over UDP and TCP (with EDNS
// Client Subnet) and node:dns's Resolver (c-ares), which retries truncated answers over TCP.

import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { Resolver } from 'node:dns/promises';
import dnsPacket from 'dns-packet';
import { startEdge } from '../helpers/edge.js';
import { startOrigin } from '../helpers/origin.js';
import { testGeoDatabase } from '../helpers/geo-fixtures.js';
import {
  addressesOf,
  ecsOf,
  query,
  rcodeOf,
  startDns,
  tcpQuery,
  udpQuery,
  type DnsReply,
} from '../helpers/dns.js';
import { metricSum } from '../helpers/metrics.js';
import { until } from '../helpers/wait.js';
import type { DnsNode } from '../../edge/geo/dns-node.js';

const euEdges = ['192.0.2.10', '192.0.2.11', '2001:db8::10'];
const usEdges = ['198.51.100.10', '198.51.100.11', '2001:db8:100::10'];
/** Enough IPv6 edges that their AAAA answer needs TCP. */
const apV6 = Array.from({ length: 40 }, (_, i) => `2001:db8:200::${(i + 1).toString(16)}`);
const apEdges = ['203.0.113.10', '203.0.113.11', ...apV6];

interface World {
  dns: DnsNode;
  port: number;
  /** Stops the us region's edges (real Strata edges). */
  stopUs(): Promise<void>;
  metrics(): Promise<string>;
}

/**
 * eu (Europe, near: us), us (the Americas, near: eu) and ap (Asia and Oceania, near: us); the
 * resolver's own address (127.0.0.1) is placed in ap by an override. us's edges are two real
 * edges; the other regions' probes go to an origin that answers 200 (one probe for them all).
 * Probes run every `probeInterval` (1s: only the test that stops edges needs them sooner).
 */
async function world(t: TestContext, probeInterval = '1s'): Promise<World> {
  const healthy = await startOrigin(t);
  const origin = await startOrigin(t);
  const us = [await startEdge(t, origin.url), await startEdge(t, origin.url)];
  const probe = `${healthy.url}/.well-known/strata/health`;
  const usProbes = [us[0], us[1], us[0]].map((e) => `${e.url}/.well-known/strata/health`);
  const dns = await startDns(t, {
    geo: {
      database: await testGeoDatabase(t, 'cc0'),
      regions: {
        eu: { continents: ['EU', 'AF'], edges: euEdges.map((address) => ({ address, probe })), near: ['us'] },
        us: {
          continents: ['NA', 'SA'],
          edges: usEdges.map((address, i) => ({ address, probe: usProbes[i] })),
          near: ['eu'],
        },
        ap: { continents: ['AS', 'OC'], edges: apEdges.map((address) => ({ address, probe })), near: ['us'] },
      },
      defaultRegion: 'eu',
      overrides: [{ cidr: '127.0.0.0/8', region: 'ap' }],
    },
    dns: {
      zone: 'cdn.example',
      names: ['www.cdn.example', 'img.sub.cdn.example'],
      ttl: 30,
      maxAnswers: 64,
      nameservers: [
        { name: 'ns1.cdn.example', addresses: ['192.0.2.53', '2001:db8::53'] },
        { name: 'ns.other.example' },
      ],
      probe: { interval: probeInterval, timeout: '1s' },
    },
  });
  return {
    dns,
    port: dns.dnsPort,
    stopUs: async () => void (await Promise.all(us.map((e) => e.stop()))),
    metrics: () => dns.registry.metrics(),
  };
}

function resolver(port: number): Resolver {
  const r = new Resolver({ timeout: 2000, tries: 2 });
  r.setServers([`127.0.0.1:${port}`]);
  return r;
}

const v4 = (list: string[]) => list.filter((a) => a.includes('.')).sort();
const v6 = (list: string[]) => list.filter((a) => a.includes(':')).sort();

test('queries with different client subnets get the edges of their regions, with the scope of the network', async (t) => {
  const w = await world(t);
  const eu = await udpQuery(w.port, query('www.cdn.example', 'A', { subnet: '192.0.2.0/24' }));
  assert.deepEqual(addressesOf(eu), v4(euEdges));
  assert.deepEqual(ecsOf(eu), [24, 24]);
  assert.ok(eu.packet.flag_aa);
  assert.equal((eu.packet.answers![0] as { ttl: number }).ttl, 30);
  const us = await udpQuery(w.port, query('www.cdn.example', 'A', { subnet: '198.51.100.0/24' }));
  assert.deepEqual(addressesOf(us), v4(usEdges));
  // A /20 of a /24 network: the answer holds for the /24 only, and says so.
  const wide = await udpQuery(w.port, query('www.cdn.example', 'A', { subnet: '198.51.96.0/20' }));
  assert.deepEqual(ecsOf(wide)?.[0], 20);
  const usV6 = await udpQuery(w.port, query('www.cdn.example', 'AAAA', { subnet: '2001:db8:100::/48' }));
  assert.deepEqual(addressesOf(usV6), v6(usEdges));
  assert.deepEqual(ecsOf(usV6), [48, 40]);
  // Source prefix 0: the client's address is not to be used (RFC 7871 §7.1.2): the resolver's is.
  const zero = await udpQuery(w.port, query('www.cdn.example', 'A', { subnet: '0.0.0.0/0' }));
  assert.deepEqual(addressesOf(zero), v4(apEdges));
  assert.deepEqual(ecsOf(zero), [0, 0]);
  // No ECS: the resolver's address (127.0.0.1, overridden to ap); no ECS option in the answer.
  const plain = await udpQuery(w.port, query('www.cdn.example', 'A'));
  assert.deepEqual(addressesOf(plain), v4(apEdges));
  assert.equal(ecsOf(plain), undefined);
  const metrics = await w.metrics();
  assert.equal(
    metricSum(metrics, 'strata_dns_answers_total', { client_region: 'us', answer_region: 'us' }),
    2,
  );
  assert.equal(metricSum(metrics, 'strata_dns_edge_up', { region: 'us' }), 3);
});

test("stopping a region's edges moves its clients' answers to the next region in nearness order", async (t) => {
  const w = await world(t, '100ms');
  const ask = () => udpQuery(w.port, query('www.cdn.example', 'A', { subnet: '198.51.100.0/24' }));
  assert.deepEqual(addressesOf(await ask()), v4(usEdges));
  await w.stopUs();
  await until(async () => addressesOf(await ask()).includes(euEdges[0]));
  assert.deepEqual(addressesOf(await ask()), v4(euEdges));
  const metrics = await w.metrics();
  assert.ok(
    metricSum(metrics, 'strata_dns_answers_total', { client_region: 'us', answer_region: 'eu' }) >= 1,
  );
  assert.equal(metricSum(metrics, 'strata_dns_edge_up', { region: 'us' }), 0);
  // European clients are not affected.
  assert.deepEqual(
    addressesOf(await udpQuery(w.port, query('www.cdn.example', 'A', { subnet: '192.0.2.0/24' }))),
    v4(euEdges),
  );
});

test('node:dns (c-ares) gets A, AAAA (over TCP after truncation), SOA, NS, NXDOMAIN, NODATA and REFUSED', async (t) => {
  const w = await world(t);
  const r = resolver(w.port);
  assert.deepEqual((await r.resolve4('www.cdn.example')).sort(), v4(apEdges));
  // 40 AAAA records do not fit a UDP answer: TC, then the same query over TCP.
  assert.deepEqual((await r.resolve6('www.cdn.example')).sort(), [...apV6].sort());
  const metrics = await w.metrics();
  assert.ok(metricSum(metrics, 'strata_dns_truncated_total', { transport: 'udp' }) >= 1);
  assert.ok(metricSum(metrics, 'strata_dns_queries_total', { transport: 'tcp', rcode: 'NOERROR' }) >= 1);
  const soa = await r.resolveSoa('cdn.example');
  assert.equal(soa.nsname, 'ns1.cdn.example');
  assert.equal(soa.hostmaster, 'hostmaster.cdn.example');
  assert.equal(soa.minttl, 30);
  assert.deepEqual((await r.resolveNs('cdn.example')).sort(), ['ns.other.example', 'ns1.cdn.example']);
  assert.deepEqual(await r.resolve4('ns1.cdn.example'), ['192.0.2.53']);
  assert.deepEqual((await r.resolve4('IMG.Sub.CDN.example')).sort(), v4(apEdges));
  await assert.rejects(r.resolve4('nope.cdn.example'), { code: 'ENOTFOUND' });
  await assert.rejects(r.resolveMx('www.cdn.example'), { code: 'ENODATA' });
  // An empty non-terminal (RFC 8020): the name exists, with no records.
  await assert.rejects(r.resolve4('sub.cdn.example'), { code: 'ENODATA' });
  await assert.rejects(r.resolve4('www.example.org'), { code: 'EREFUSED' });
});

test('negative answers carry the SOA for caching; names outside the zone are refused without authority', async (t) => {
  const w = await world(t);
  const nx = await udpQuery(w.port, query('nope.cdn.example', 'A'));
  assert.equal(rcodeOf(nx), 3);
  assert.ok(nx.packet.flag_aa);
  assert.deepEqual(
    nx.packet.authorities!.map((a) => [a.type, a.name, (a as { ttl: number }).ttl]),
    [['SOA', 'cdn.example', 30]],
  );
  const nodata = await udpQuery(w.port, query('www.cdn.example', 'TXT'));
  assert.equal(rcodeOf(nodata), 0);
  assert.equal(nodata.packet.answers!.length, 0);
  assert.equal(nodata.packet.authorities![0].type, 'SOA');
  const refused = await udpQuery(w.port, query('example.org', 'A'));
  assert.equal(rcodeOf(refused), 5);
  assert.equal(refused.packet.flag_aa, false);
  // The apex's NS answer brings the in-zone name server's addresses as glue.
  const ns = await udpQuery(w.port, query('cdn.example', 'NS'));
  assert.deepEqual(ns.packet.additionals!.map((a) => a.type).sort(), ['A', 'AAAA']);
});

test('truncation: an answer never exceeds what the query allows over UDP; TCP carries it whole', async (t) => {
  const w = await world(t);
  const ask = (udpPayloadSize?: number) =>
    udpQuery(w.port, query('www.cdn.example', 'AAAA', { subnet: '203.0.113.0/24', udpPayloadSize }));
  // Without EDNS: 512 bytes at most.
  const classic = await udpQuery(w.port, query('www.cdn.example', 'AAAA'));
  assert.ok(classic.packet.flag_tc);
  assert.equal(classic.packet.answers!.length, 0);
  assert.ok(classic.bytes.length <= 512);
  // A payload size below 512 counts as 512; above the server's 1232 counts as 1232.
  for (const [size, limit] of [
    [100, 512],
    [1232, 1232],
    [4096, 1232],
  ] as const) {
    const reply = await ask(size);
    assert.ok(reply.packet.flag_tc, `payload ${size}`);
    assert.ok(reply.bytes.length <= limit, `payload ${size}: ${reply.bytes.length} bytes`);
    assert.deepEqual(ecsOf(reply), [24, 24]);
  }
  const [whole] = await tcpQuery(w.port, [query('www.cdn.example', 'AAAA', { subnet: '203.0.113.0/24' })]);
  assert.equal(whole.packet.flag_tc, false);
  assert.deepEqual(addressesOf(whole), [...apV6].sort());
  // Small answers are not truncated.
  const small = await ask(512);
  const a = await udpQuery(
    w.port,
    query('www.cdn.example', 'A', { subnet: '203.0.113.0/24', udpPayloadSize: 512 }),
  );
  assert.ok(small.packet.flag_tc);
  assert.equal(a.packet.flag_tc, false);
  assert.deepEqual(addressesOf(a), v4(apEdges));
});

test('TCP: pipelined queries are answered in order on one connection', async (t) => {
  const w = await world(t);
  const replies = await tcpQuery(w.port, [
    query('www.cdn.example', 'A', { id: 1, subnet: '192.0.2.0/24' }),
    query('cdn.example', 'SOA', { id: 2 }),
    query('nope.cdn.example', 'A', { id: 3 }),
  ]);
  assert.deepEqual(
    replies.map((r) => r.packet.id),
    [1, 2, 3],
  );
  assert.deepEqual(addressesOf(replies[0]), v4(euEdges));
  assert.deepEqual(replies.map(rcodeOf), [0, 0, 3]);
});

/** Sends each packet in turn from one socket; resolves with the first reply (dropped packets get none). */
function firstReply(port: number, packets: Buffer[]): Promise<DnsReply> {
  const socket = createSocket('udp4');
  return new Promise((resolve) => {
    socket.once('message', (bytes) => {
      socket.close();
      resolve({ packet: dnsPacket.decode(bytes), bytes });
    });
    socket.connect(port, '127.0.0.1', () => {
      for (const p of packets) socket.send(p);
    });
  });
}

test('malformed packets are dropped and counted; the server answers the next query', async (t) => {
  const w = await world(t);
  const valid = dnsPacket.encode(query('www.cdn.example', 'A', { id: 777 }));
  const asResponse = Buffer.from(valid);
  asResponse[2] |= 0x80;
  const claimsQuestions = Buffer.from(valid.subarray(0, 12));
  const pointerLoop = Buffer.concat([valid.subarray(0, 12), Buffer.from([0xc0, 0x0c, 0, 1, 0, 1])]);
  const garbage = [
    Buffer.from('hello'),
    Buffer.alloc(12, 0xff),
    claimsQuestions,
    pointerLoop,
    valid.subarray(0, valid.length - 3),
  ];
  const reply = await firstReply(w.port, [...garbage, asResponse, valid]);
  assert.equal(reply.packet.id, 777);
  const metrics = await w.metrics();
  assert.equal(
    metricSum(metrics, 'strata_dns_dropped_total', { transport: 'udp', reason: 'malformed' }),
    garbage.length,
  );
  assert.equal(metricSum(metrics, 'strata_dns_dropped_total', { transport: 'udp', reason: 'response' }), 1);
  // Over TCP, a frame shorter than a header closes the connection, as does an unreadable message.
  const short = Buffer.from([0, 2, 0, 0]);
  assert.deepEqual(await tcpQuery(w.port, [short]), []);
  assert.deepEqual(await tcpQuery(w.port, [Buffer.alloc(20, 0xff)]), []);
  assert.equal(metricSum(await w.metrics(), 'strata_dns_dropped_total', { transport: 'tcp' }), 2);
  // And the server still answers.
  assert.deepEqual(
    addressesOf(await udpQuery(w.port, query('www.cdn.example', 'A', { subnet: '192.0.2.0/24' }))),
    v4(euEdges),
  );
});

test('queries that break the protocol get FORMERR, NOTIMP or BADVERS', async (t) => {
  const w = await world(t);
  const two = dnsPacket.encode({
    ...query('www.cdn.example', 'A'),
    questions: [
      { name: 'a.cdn.example', type: 'A' },
      { name: 'b.cdn.example', type: 'A' },
    ],
  });
  assert.equal(rcodeOf(await udpQuery(w.port, two)), 1);
  const badEcs = query('www.cdn.example', 'A', { subnet: '192.0.2.0/24' });
  const opt = badEcs.additionals![0] as { options: { code: number; data: Buffer }[] };
  opt.options[0].data[3] = 8; // a scope in a query
  assert.equal(rcodeOf(await udpQuery(w.port, badEcs)), 1);
  const notify = Buffer.from(dnsPacket.encode(query('cdn.example', 'SOA')));
  notify[2] |= 4 << 3; // opcode 4, NOTIFY
  const notimp = await udpQuery(w.port, notify);
  assert.equal(rcodeOf(notimp), 4);
  assert.equal((notimp.bytes[2] >> 3) & 0xf, 4, 'the opcode is echoed');
  const v1 = query('www.cdn.example', 'A', { udpPayloadSize: 1232 });
  (v1.additionals![0] as { ednsVersion: number }).ednsVersion = 1;
  assert.equal(rcodeOf(await udpQuery(w.port, v1)), 16);
  const metrics = await w.metrics();
  assert.equal(metricSum(metrics, 'strata_dns_queries_total', { rcode: 'FORMERR' }), 2);
  assert.equal(metricSum(metrics, 'strata_dns_queries_total', { rcode: 'BADVERS' }), 1);
});
