#!/usr/bin/env node
// npm run bench:tls: what TLS, HTTP/2 and the WebSocket tunnel cost the edge, each against a
// reference in the same run:
//   handshakes  new TLS connections per second to the edge's HTTPS listener: full handshakes,
//               and resumed ones (session ticket); the reference is the full handshake.
//   hits        1 KiB cache hits per second: HTTPS/1.1 and HTTP/2 against plain HTTP/1.1.
//   websocket   echo round trips per second through the edge (ws://) against the echo server
//               reached directly.
// The edge (strata edge, as operators run it) is pinned to one CPU; the origin, the echo server
// and the load generator (loadtest/tls-load.ts, one child process per run) to the other.
// Targets are interleaved over rounds and the median is reported, with the edge's CPU seconds
// per 1,000 operations and its own counters as checks. Loopback only.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { generate } from 'selfsigned';
import { Agent, request } from 'undici';
import { stringify } from 'yaml';
import { processTicks, ticksPerSecond } from './cpu-usage.js';
import { detectPinning, startChild, stopAll, stopChildrenOnExit, type BenchChild } from './processes.js';
import { median } from './report.js';
import { Wrk } from './wrk.js';

const here = dirname(fileURLToPath(import.meta.url));
const cliPath = resolve(here, '../shared/cli/strata.js');

const usage = `Usage: npm run bench:tls -- [options]

Options:
  --seconds S        length of one run (default 5)
  --rounds N         rounds; each runs every target once, in alternating order (default 3)
  --concurrency N    connections (HTTP/1.1, handshakes, WebSockets) or streams (HTTP/2) (default 32)
  --key rsa|ec       the edge's certificate key: RSA 2048 or ECDSA P-256 (default rsa)
  --quick            one round of 2 s (a smoke run)
  -h, --help         show this help`;

interface Options {
  seconds: number;
  rounds: number;
  concurrency: number;
  key: 'rsa' | 'ec';
}

function options(): Options | undefined {
  const { values } = parseArgs({
    strict: true,
    options: {
      seconds: { type: 'string', default: '5' },
      rounds: { type: 'string', default: '3' },
      concurrency: { type: 'string', default: '32' },
      key: { type: 'string', default: 'rsa' },
      quick: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) return undefined;
  const o = {
    seconds: values.quick ? 2 : Number(values.seconds),
    rounds: values.quick ? 1 : Number(values.rounds),
    concurrency: Number(values.concurrency),
    key: values.key as 'rsa' | 'ec',
  };
  if (!(o.seconds > 0) || !Number.isInteger(o.rounds) || o.rounds < 1 || !(o.concurrency >= 1))
    throw new Error(`bench:tls: bad options ${JSON.stringify(values)}\n\n${usage}`);
  if (o.key !== 'rsa' && o.key !== 'ec') throw new Error(`bench:tls: --key rsa or ec, got ${o.key}`);
  return o;
}

/** A throwaway CA and a certificate for bench.test signed by it, written to `dir`. */
async function certificates(dir: string, key: 'rsa' | 'ec') {
  const now = Date.now();
  const validity = { notBeforeDate: new Date(now - 3_600_000), notAfterDate: new Date(now + 86_400_000) };
  // The CA's key is of the same type (selfsigned signs with the CA's key type).
  const ca = await generate([{ name: 'commonName', value: 'Strata bench CA' }], {
    ...validity,
    keyType: key,
    keySize: 2048,
    algorithm: 'sha256',
    extensions: [
      { name: 'basicConstraints', cA: true, critical: true },
      { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    ],
  });
  const server = await generate([{ name: 'commonName', value: 'bench.test' }], {
    ...validity,
    keyType: key,
    keySize: 2048,
    algorithm: 'sha256',
    ca: { key: ca.private, cert: ca.cert },
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
      { name: 'extKeyUsage', serverAuth: true },
      {
        name: 'subjectAltName',
        altNames: [
          { type: 2, value: 'bench.test' },
          { type: 2, value: '*.bench.test' },
        ],
      },
    ],
  });
  const files = { ca: join(dir, 'ca.pem'), cert: join(dir, 'edge.pem'), key: join(dir, 'edge.key') };
  writeFileSync(files.ca, ca.cert);
  writeFileSync(files.cert, server.cert);
  writeFileSync(files.key, server.private);
  return files;
}

/** One measured run of one target: what the generator counted and the edge's CPU meanwhile. */
interface Run {
  perSecond: number;
  errors: number;
  notHit: number;
  resumed: number;
  done: number;
  /** Edge CPU seconds per 1,000 operations; NaN when the edge was not in the path. */
  edgeCpuPer1000: number;
}

interface Target {
  name: string;
  /** tls-load.js arguments. */
  args: string[];
  /** Load with wrk (C; HTTP/1.1 and HTTPS/1.1) instead: this URL, Host bench.test. */
  wrk?: string;
  /** Whether the edge answers this target (its CPU is then attributed). */
  viaEdge: boolean;
}

async function main(): Promise<number> {
  const o = options();
  if (!o) {
    console.log(usage);
    return 0;
  }
  const pin = detectPinning();
  const dir = mkdtempSync(join(tmpdir(), 'strata-tls-bench-'));
  stopChildrenOnExit(() => rmSync(dir, { recursive: true, force: true }));
  try {
    const files = await certificates(dir, o.key);
    const child = (name: string, script: string, args: string[] = []) =>
      startChild({
        name,
        command: process.execPath,
        args: [join(here, script), ...args],
        cpu: pin.generatorCpu,
        logFile: join(dir, `${name}.log`),
        ready: (line) => line.msg === 'listening',
      });
    const origin = await child('origin', 'origin-server.js');
    const echo = await child('ws-echo', 'ws-echo-server.js');
    const echoUrl = `http://127.0.0.1:${Number(echo.ready.port)}`;
    const configFile = join(dir, 'edge.yaml');
    writeFileSync(
      configFile,
      stringify({
        node: { id: 'edge-bench' },
        // One process per node: the bench measures a node, not the machine's cores (bench:workers does).
        workers: 1,
        listen: {
          http: '127.0.0.1:0',
          admin: '127.0.0.1:0',
          https: { address: '127.0.0.1:0', certificates: [{ cert: files.cert, key: files.key }] },
        },
        sites: [
          { hosts: ['bench.test'], origins: [`http://127.0.0.1:${Number(origin.ready.port)}`] },
          { hosts: ['ws.bench.test'], origins: [echoUrl], websocket: 'direct' },
        ],
        server: { http2: { maxConcurrentStreams: Math.max(100, o.concurrency) } },
        log: { level: 'info', access: true },
      }),
    );
    const edge = await startChild({
      name: 'edge',
      command: process.execPath,
      args: [cliPath, 'edge', '--config', configFile],
      cpu: pin.serverCpu,
      logFile: join(dir, 'edge.log'),
      ready: (line) => line.msg === 'edge started',
    });
    const http = `http://127.0.0.1:${Number(edge.ready.httpPort)}`;
    const httpsPort = Number(edge.ready.httpsPort);
    const https = `https://127.0.0.1:${httpsPort}`;
    const admin = `http://127.0.0.1:${Number(edge.ready.adminPort)}`;
    const tls = ['--ca', files.ca, '--servername', 'bench.test'];
    const c = ['--concurrency', String(o.concurrency), '--seconds', String(o.seconds)];
    await warm(http, https, files.ca);
    // wrk, when installed, is a load generator that the HTTPS edge (not the generator) limits.
    const wrk = hasWrk() ? Wrk.open(dir) : undefined;
    const wrkTargets: Target[] = wrk
      ? [
          { name: 'HTTP/1.1 (wrk)', args: [], wrk: `${http}/obj/1024`, viaEdge: true },
          { name: 'HTTPS/1.1 (wrk)', args: [], wrk: `${https}/obj/1024`, viaEdge: true },
        ]
      : [];

    const scenarios: { name: string; targets: Target[] }[] = [
      {
        name: 'TLS handshakes / s',
        targets: [
          { name: 'full', args: ['handshake', '--port', String(httpsPort), ...tls, ...c], viaEdge: true },
          {
            name: 'resumed',
            args: ['handshake', '--port', String(httpsPort), ...tls, '--resume', ...c],
            viaEdge: true,
          },
        ],
      },
      {
        name: '1 KiB hits / s',
        targets: [
          { name: 'HTTP/1.1', args: ['http1', '--url', http, ...c], viaEdge: true },
          { name: 'HTTPS/1.1', args: ['http1', '--url', https, ...tls, ...c], viaEdge: true },
          { name: 'HTTP/2', args: ['http2', '--url', https, ...tls, ...c], viaEdge: true },
        ],
      },
      ...(wrkTargets.length > 0 ? [{ name: '1 KiB hits / s (wrk)', targets: wrkTargets }] : []),
      {
        name: 'WebSocket echoes / s (64 B)',
        targets: [
          { name: 'direct', args: ['ws', '--url', echoUrl.replace('http', 'ws'), ...c], viaEdge: false },
          {
            name: 'through edge',
            args: ['ws', '--url', http.replace('http', 'ws'), '--host', 'ws.bench.test', ...c],
            viaEdge: true,
          },
        ],
      },
    ];
    console.log(
      `strata bench:tls: ${o.rounds} round(s) of ${o.seconds} s, concurrency ${o.concurrency}, ${o.key} key`,
    );
    console.log(`pinning: ${pin.note}`);
    // Other processes on the machine move these numbers: say how busy it was.
    console.log(`load average before: ${loadAverage()}`);
    const lines: string[] = [];
    for (const scenario of scenarios) {
      const runs = new Map<string, Run[]>(scenario.targets.map((t) => [t.name, []]));
      for (let round = 0; round < o.rounds; round++) {
        // Alternate the order, so neither target always runs on a warmer machine.
        const order = round % 2 === 0 ? scenario.targets : [...scenario.targets].reverse();
        for (const target of order)
          runs.get(target.name)!.push(await measure(dir, pin.generatorCpu, edge, target, wrk, o));
      }
      const ref = median(runs.get(scenario.targets[0].name)!.map((r) => r.perSecond));
      for (const target of scenario.targets) {
        const rs = runs.get(target.name)!;
        const rate = median(rs.map((r) => r.perSecond));
        const cpu = median(rs.map((r) => r.edgeCpuPer1000));
        const errors = rs.reduce((n, r) => n + r.errors, 0);
        const notHit = rs.reduce((n, r) => n + r.notHit, 0);
        const resumed = rs.reduce((n, r) => n + r.resumed, 0);
        const done = rs.reduce((n, r) => n + r.done, 0);
        const notes = [
          errors > 0 ? `ERR ${errors}` : '',
          notHit > 0 ? `not hits ${notHit}` : '',
          target.args[0] === 'handshake' ? `resumed ${resumed}/${done}` : '',
        ].filter(Boolean);
        lines.push(
          `| ${scenario.name} | ${target.name} | ${fmt(rate, 0)} | ${fmt(rate / ref)} | ${Number.isNaN(cpu) ? '-' : fmt(cpu, 3)} | ${notes.join(', ')} |`,
        );
      }
    }
    console.log('\n| Scenario | Target | per s (median) | vs first | edge CPU s / 1000 | checks |');
    console.log('|---|---|---|---|---|---|');
    for (const line of lines) console.log(line);
    console.log(`load average after: ${loadAverage()}`);
    console.log(`\nedge counters:\n${await counters(admin)}`);
    return 0;
  } finally {
    await stopAll();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Fills the 1 KiB object over HTTP and HTTPS (the scheme is part of the key) and checks a hit. */
async function warm(http: string, https: string, caFile: string): Promise<void> {
  const agent = new Agent({ connect: { ca: readFileSync(caFile, 'utf8'), servername: 'bench.test' } });
  for (let i = 0; i < 2; i++) {
    for (const [base, dispatcher] of [
      [http, undefined],
      [https, agent],
    ] as const) {
      const res = await request(`${base}/obj/1024`, { headers: { host: 'bench.test' }, dispatcher });
      await res.body.dump();
      if (i === 1 && !/; hit/.test(String(res.headers['cache-status'])))
        throw new Error(`warm-up: ${base} did not hit: ${String(res.headers['cache-status'])}`);
    }
  }
  await agent.close();
}

/** The 1, 5 and 15 minute load averages (Linux), or "unknown". */
function loadAverage(): string {
  try {
    return readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  } catch {
    return 'unknown';
  }
}

function hasWrk(): boolean {
  return spawnSync('wrk', ['--version'], { stdio: 'ignore' }).error === undefined;
}

async function measure(
  dir: string,
  cpu: number | undefined,
  edge: BenchChild,
  target: Target,
  wrk: Wrk | undefined,
  o: Options,
): Promise<Run> {
  const edgePid = edge.process.pid!;
  const before = processTicks(edgePid, false);
  if (target.wrk && wrk) {
    const r = await wrk.run({
      url: target.wrk,
      connections: o.concurrency,
      durationSec: o.seconds,
      cpu,
      headers: ['Host: bench.test'],
    });
    const edgeCpuSeconds = (processTicks(edgePid, false) - before) / ticksPerSecond;
    return {
      perSecond: r.requestsPerSec,
      errors: r.errors,
      notHit: 0,
      resumed: 0,
      done: r.requests,
      edgeCpuPer1000: r.requests > 0 ? (edgeCpuSeconds / r.requests) * 1000 : NaN,
    };
  }
  const load = await startChild({
    name: `load-${target.name}`,
    command: process.execPath,
    args: [join(here, 'tls-load.js'), ...target.args],
    cpu,
    logFile: join(dir, 'load.log'),
    ready: (line) => line.msg === 'result',
    readyTimeoutMs: 120_000,
  });
  const edgeCpuSeconds = (processTicks(edgePid, false) - before) / ticksPerSecond;
  await load.stop();
  const r = load.ready as unknown as Run & { done: number };
  return {
    perSecond: r.perSecond,
    errors: r.errors,
    notHit: r.notHit,
    resumed: r.resumed,
    done: r.done,
    edgeCpuPer1000: target.viaEdge && r.done > 0 ? (edgeCpuSeconds / r.done) * 1000 : NaN,
  };
}

/** The edge's own counts of what the bench did: handshakes by kind, requests by outcome, tunnels. */
async function counters(admin: string): Promise<string> {
  const res = await request(`${admin}/metrics`);
  const text = await res.body.text();
  return text
    .split('\n')
    .filter((l) =>
      /^strata_(tls_handshakes_total|tls_handshake_errors_total|requests_total|websocket_upgrades_total|http2_connections_closed_total)/.test(
        l,
      ),
    )
    .map((l) => `  ${l}`)
    .join('\n');
}

const fmt = (n: number, digits = 2) => (Number.isNaN(n) ? '-' : n.toFixed(digits));

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err instanceof Error ? err.message : String(err));
    process.exit(1);
  },
);
