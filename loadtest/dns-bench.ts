#!/usr/bin/env node
// npm run bench:dns: GeoDNS answers per second over UDP, and GeoIP lookups per second.
//   dns:   strata dns as a process (pinned to one CPU when taskset allows) with the default CC0
//          database and three regions, loaded from this process by a loader of our own
//          (dgram + dns-packet): W queries in flight on one socket, each answered query replaced
//          by the next, for at most --seconds and --queries per run. Kinds of query, interleaved
//          in --rounds: A with an ECS subnet (a random public /24, so every answer is a lookup),
//          A without ECS, and a name that does not exist (NXDOMAIN). Prints answers/s (median of
//          rounds), latency p50/p99, lost queries, and the server's CPU time per 1,000 answers.
//   geoip: GeoIp.lookup in this process over random IPv4 and IPv6 addresses, CC0 database.
// Everything is on 127.0.0.1, bounded in time and count.

import { createSocket, type Socket } from 'node:dgram';
import { createServer } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import dnsPacket, { type PacketOpt } from 'dns-packet';
import { pino } from 'pino';
import { stringify } from 'yaml';
import { GeoIp } from '../edge/geo/geoip.js';
import { processTicks, snapshot, ticksPerSecond, usageBetween } from './cpu-usage.js';
import { detectPinning, startChild, stopAll, stopChildrenOnExit } from './processes.js';
import { median } from './report.js';

const here = dirname(fileURLToPath(import.meta.url));
const cliPath = resolve(here, '../shared/cli/strata.js');

const usage = `Usage: npm run bench:dns -- [options]

Options:
  --seconds N        most seconds per run (default 5)
  --queries N        most queries per run (default 200000)
  --window N         queries in flight (default 64)
  --rounds N         rounds of every kind of query (default 3)
  --lookups N        GeoIP lookups per address family (default 1000000)
  -h, --help         show this help`;

interface Options {
  seconds: number;
  queries: number;
  window: number;
  rounds: number;
  lookups: number;
}

function options(): Options | undefined {
  const spec = { seconds: '5', queries: '200000', window: '64', rounds: '3', lookups: '1000000' };
  const { values } = parseArgs({
    options: {
      ...Object.fromEntries(
        Object.entries(spec).map(([k, v]) => [k, { type: 'string' as const, default: v }]),
      ),
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) return undefined;
  const given = values as Record<string, string | boolean | undefined>;
  const num = (name: keyof typeof spec, min: number, max: number): number => {
    const n = Number(given[name]);
    if (!(Number.isInteger(n) && n >= min && n <= max))
      throw new Error(`--${name}: expected ${min} to ${max}, got "${String(given[name])}"`);
    return n;
  };
  return {
    seconds: num('seconds', 1, 120),
    queries: num('queries', 1, 10_000_000),
    window: num('window', 1, 1024),
    rounds: num('rounds', 1, 20),
    lookups: num('lookups', 1, 50_000_000),
  };
}

/** mulberry32: a small seeded PRNG, so that a run can be repeated exactly. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Kind = 'A, ECS /24' | 'A, no ECS' | 'NXDOMAIN';
const kinds: Kind[] = ['A, ECS /24', 'A, no ECS', 'NXDOMAIN'];

interface RunResult {
  answers: number;
  lost: number;
  seconds: number;
  p50Ms: number;
  p99Ms: number;
  serverCpuSec: number | undefined;
  /** Share of all CPUs used by processes outside the bench meanwhile (other work on the box). */
  foreign: number | undefined;
}

/** A random public-looking IPv4 /24 (first octet 1-223, not 10, 127, 172.16/12, 192.168). */
function publicSubnet(rand: () => number): Buffer {
  for (;;) {
    const a = 1 + Math.floor(rand() * 223);
    const b = Math.floor(rand() * 256);
    if (a === 10 || a === 127 || (a === 172 && b >= 16 && b < 32) || (a === 192 && b === 168)) continue;
    return Buffer.from([a, b, Math.floor(rand() * 256)]);
  }
}

function queryBytes(kind: Kind, id: number, rand: () => number): Buffer {
  const name = kind === 'NXDOMAIN' ? 'nope.cdn.example' : 'www.cdn.example';
  const options: PacketOpt[] =
    kind === 'A, ECS /24'
      ? [{ code: 8, data: Buffer.concat([Buffer.from([0, 1, 24, 0]), publicSubnet(rand)]) } as PacketOpt]
      : [];
  return dnsPacket.encode({
    type: 'query',
    id,
    flags: 0,
    questions: [{ name, type: 'A', class: 'IN' }],
    additionals: [
      {
        name: '.',
        type: 'OPT',
        udpPayloadSize: 1232,
        extendedRcode: 0,
        ednsVersion: 0,
        flags: 0,
        flag_do: false,
        options,
      },
    ],
  });
}

/**
 * Keeps `window` queries in flight on one socket until `count` are answered or `seconds` pass.
 * A query unanswered after a second is counted lost and replaced.
 */
async function run(
  port: number,
  kind: Kind,
  opts: Options,
  serverPid: number,
  seed: number,
): Promise<RunResult> {
  const rand = random(seed);
  // Encoded before the clock starts, so that the loader spends its time sending, not encoding:
  // each send copies a template and writes its id.
  const templates = Array.from({ length: 4096 }, () => queryBytes(kind, 0, rand));
  const socket: Socket = createSocket('udp4');
  await new Promise<void>((done) => socket.connect(port, '127.0.0.1', done));
  const sentAt = new Map<number, number>();
  const latencies: number[] = [];
  let nextId = 0;
  let answers = 0;
  let lost = 0;
  let sent = 0;
  const start = performance.now();
  const deadline = start + opts.seconds * 1000;
  const cpuBefore = processTicks(serverPid, false);
  const before = snapshot([serverPid]);
  const send = () => {
    if (sent >= opts.queries || performance.now() > deadline) return;
    let id = nextId;
    do id = (id + 1) & 0xffff;
    while (sentAt.has(id));
    nextId = id;
    sentAt.set(id, performance.now());
    const bytes = Buffer.from(templates[sent & 4095]);
    bytes.writeUInt16BE(id, 0);
    socket.send(bytes);
    sent++;
  };
  await new Promise<void>((finish) => {
    const check = () => {
      if (sentAt.size === 0 && (sent >= opts.queries || performance.now() > deadline)) {
        clearInterval(sweeper);
        finish();
      }
    };
    socket.on('message', (msg) => {
      const id = msg.readUInt16BE(0);
      const at = sentAt.get(id);
      if (at === undefined) return;
      sentAt.delete(id);
      answers++;
      latencies.push(performance.now() - at);
      send();
      check();
    });
    const sweeper = setInterval(() => {
      const now = performance.now();
      for (const [id, at] of sentAt) {
        if (now - at < 1000) continue;
        sentAt.delete(id);
        lost++;
        send();
      }
      check();
    }, 100);
    for (let i = 0; i < opts.window; i++) send();
  });
  const seconds = (performance.now() - start) / 1000;
  const cpuAfter = processTicks(serverPid, false);
  const foreign = usageBetween(before, snapshot([serverPid]))?.foreign;
  socket.close();
  latencies.sort((a, b) => a - b);
  const pick = (p: number) =>
    latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? NaN;
  return {
    answers,
    lost,
    seconds,
    p50Ms: pick(0.5),
    p99Ms: pick(0.99),
    serverCpuSec: cpuAfter > cpuBefore ? (cpuAfter - cpuBefore) / ticksPerSecond : undefined,
    foreign,
  };
}

/** IPv6 /32s of large networks on four continents. */
const allocatedV6 = [
  '2001:4860',
  '2a00:1450',
  '2a03:2880',
  '2600:1f18',
  '2606:4700',
  '2a02:568',
  '2400:cb00',
  '2401:4900',
  '2804:14c',
  '2c0f:fb50',
];

/** Lookups per second of `n` random addresses of one family (addresses made before the clock starts). */
function lookupsPerSecond(
  geo: GeoIp,
  n: number,
  family: 4 | 6,
  rand: () => number,
): { perSec: number; known: number } {
  const addresses = Array.from({ length: Math.min(n, 100_000) }, () => {
    if (family === 4)
      return `${1 + Math.floor(rand() * 223)}.${Math.floor(rand() * 256)}.${Math.floor(rand() * 256)}.${Math.floor(rand() * 256)}`;
    // Random hosts inside /32s that are allocated (so most have a country, as clients' addresses do).
    const group = () => Math.floor(rand() * 0x10000).toString(16);
    const prefix = allocatedV6[Math.floor(rand() * allocatedV6.length)];
    return `${prefix}:${group()}:${group()}:${group()}::${group()}`;
  });
  let known = 0;
  const start = performance.now();
  for (let i = 0; i < n; i++) if (geo.lookup(addresses[i % addresses.length]).country !== undefined) known++;
  const seconds = (performance.now() - start) / 1000;
  return { perSec: n / seconds, known: known / n };
}

const fmt = (n: number, digits = 0) => (Number.isFinite(n) ? n.toFixed(digits) : '-');

async function main(): Promise<number> {
  const opts = options();
  if (!opts) {
    console.log(usage);
    return 0;
  }
  const dir = mkdtempSync(join(tmpdir(), 'strata-dns-bench-'));
  stopChildrenOnExit(() => rmSync(dir, { recursive: true, force: true }));
  const pinning = detectPinning();
  // Every edge's probe answers 200: the bench measures answers, not health changes.
  const health = createServer((_req, res) => res.end('ok\n'));
  await new Promise<void>((done) => health.listen(0, '127.0.0.1', done));
  const probe = `http://127.0.0.1:${(health.address() as AddressInfo).port}/.well-known/strata/health`;
  const edges = (prefix: string) => [1, 2, 3, 4].map((i) => ({ address: `${prefix}${i}`, probe }));
  const file = join(dir, 'dns.yaml');
  writeFileSync(
    file,
    stringify({
      node: { id: 'dns-bench' },
      // One process per node: the bench measures a node, not the machine's cores (bench:workers does).
      workers: 1,
      listen: { admin: '127.0.0.1:0' },
      log: { level: 'warn', access: false },
      geo: {
        regions: {
          eu: { continents: ['EU', 'AF'], edges: edges('192.0.2.'), near: ['us'] },
          us: { continents: ['NA', 'SA'], edges: edges('198.51.100.'), near: ['eu'] },
          ap: { continents: ['AS', 'OC', 'AN'], edges: edges('203.0.113.'), near: ['us'] },
        },
        defaultRegion: 'us',
      },
      dns: { listen: '127.0.0.1:0', zone: 'cdn.example', names: ['www.cdn.example'], ttl: 30 },
    }),
  );
  try {
    const server = await startChild({
      name: 'strata dns',
      command: process.execPath,
      args: [cliPath, 'dns', '--config', file],
      cpu: pinning.serverCpu,
      logFile: join(dir, 'dns.log'),
      ready: (line) => line.msg === 'dns started',
    });
    const port = server.ready.dnsPort as number;
    const pid = server.process.pid!;
    console.log(`strata dns on 127.0.0.1:${port}; ${pinning.note}`);
    console.log(
      `window ${opts.window}, at most ${opts.seconds}s and ${opts.queries} queries per run, ${opts.rounds} rounds\n`,
    );
    // Warm-up: the JIT and the database's pages.
    await run(port, 'A, ECS /24', { ...opts, seconds: 1, queries: 20_000 }, pid, 99);
    const results = new Map<Kind, RunResult[]>(kinds.map((k) => [k, []]));
    for (let round = 0; round < opts.rounds; round++)
      for (const [i, kind] of kinds.entries())
        results.get(kind)!.push(await run(port, kind, opts, pid, round * 10 + i));
    console.log('GeoDNS over UDP (median of rounds)');
    console.log(
      `  ${'query'.padEnd(12)} ${'answers/s'.padStart(10)} ${'p50 ms'.padStart(8)} ${'p99 ms'.padStart(8)} ${'lost'.padStart(6)} ${'server CPU µs/answer'.padStart(21)} ${'answers per server CPU-s'.padStart(25)} ${'other load'.padStart(11)}`,
    );
    for (const kind of kinds) {
      const rs = results.get(kind)!;
      const m = (f: (r: RunResult) => number) => median(rs.map(f));
      const cpuUs = rs.every((r) => r.serverCpuSec !== undefined)
        ? m((r) => (r.serverCpuSec! * 1e6) / Math.max(1, r.answers))
        : NaN;
      const foreign = rs.every((r) => r.foreign !== undefined) ? m((r) => r.foreign!) * 100 : NaN;
      console.log(
        `  ${kind.padEnd(12)} ${fmt(m((r) => r.answers / r.seconds)).padStart(10)} ${fmt(
          m((r) => r.p50Ms),
          2,
        ).padStart(8)} ${fmt(
          m((r) => r.p99Ms),
          2,
        ).padStart(
          8,
        )} ${String(rs.reduce((a, r) => a + r.lost, 0)).padStart(6)} ${fmt(cpuUs, 1).padStart(21)} ${fmt(1e6 / cpuUs).padStart(25)} ${`${fmt(foreign)}%`.padStart(11)}`,
      );
    }
    console.log(
      '  (server CPU: utime+stime of strata dns from /proc at 100 ticks/s, under-counted when other load is high;\n   other load: CPU share of processes outside the bench)',
    );
    await server.stop();
  } finally {
    await stopAll(3_000);
    await new Promise<void>((done) => health.close(() => done()));
    rmSync(dir, { recursive: true, force: true });
  }
  const geo = new GeoIp({ log: pino({ level: 'silent' }), watch: false });
  await geo.start();
  const rand = random(7);
  console.log('\nGeoIP lookups in one process (CC0 database)');
  console.log(`  ${'addresses'.padEnd(12)} ${'lookups/s'.padStart(10)} ${'with a country'.padStart(15)}`);
  for (const family of [4, 6] as const) {
    lookupsPerSecond(geo, Math.min(opts.lookups, 100_000), family, rand); // warm-up
    const r = lookupsPerSecond(geo, opts.lookups, family, rand);
    console.log(
      `  ${`IPv${family} random`.padEnd(12)} ${fmt(r.perSec).padStart(10)} ${`${fmt(r.known * 100, 1)}%`.padStart(15)}`,
    );
  }
  await geo.stop();
  return 0;
}

main().then(
  (code) => (process.exitCode = code),
  (err: unknown) => {
    console.error(`bench:dns: ${err instanceof Error ? err.message : String(err)}`);
    void stopAll(3_000).finally(() => (process.exitCode = 1));
  },
);
