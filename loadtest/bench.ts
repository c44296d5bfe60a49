#!/usr/bin/env node
// npm run bench: the edge against references, in one run (see docs/benchmarks.md).
// Starts an origin, an edge and a bare node:http server as child processes (the servers under test
// pinned to one CPU, wrk and the origin to the other), warms the cache, then loads in interleaved
// rounds:
//   hit-1k, hit-100k: edge cache hits vs the bare server answering the same bytes and headers;
//   miss: unique URLs through the edge (miss + store) vs the same 5 ms origin reached directly.
// Prints the median of the rounds per scenario, its ratio to the reference and the goal.

import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, loadavg, cpus as osCpus } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnSync } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { detectPinning, startChild, stopAll, stopChildrenOnExit, type Pinning } from './processes.js';
import { checkWrk, writeWrkScript } from './wrk.js';
import { snapshot, usageBetween } from './cpu-usage.js';
import {
  countersDelta,
  fetchRaw,
  header,
  readCounters,
  startEdgeUnderTest,
  type EdgeCounters,
  type EdgeUnderTest,
  type RawResponse,
} from './edge-under-test.js';
import type { BareSpec } from './bare-server.js';
import { formatRounds, formatTable, summarize, worstForeign, type ScenarioResult } from './report.js';
import { formatProfile, summarizeProfile } from './cpu-profile.js';
import { parseOptions, usage, type BenchOptions } from './options.js';
import { Runner, type Scenario } from './runner.js';

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = resolve(here, '../..');

/** The hit objects: path, size and the goal for hits (issue 2). */
const hitObjects = [
  { scenario: 'hit-1k', label: '1 KiB', bytes: 1024, goal: 0.85 },
  { scenario: 'hit-100k', label: '100 KiB', bytes: 100 * 1024, goal: 0.95 },
] as const;
const missGoal = 0.9;

interface Servers {
  originUrl: string;
  edge: EdgeUnderTest;
  bareUrl: string;
  /** The bare proxy in front of the origin, when miss-proxy runs. */
  proxyUrl: string | undefined;
  pids: number[];
}

/** Starts origin, edge (warmed) and the bare server built from the edge's own hit responses. */
async function startServers(options: BenchOptions, pinning: Pinning, dir: string): Promise<Servers> {
  const listening = (line: Record<string, unknown>) => line.msg === 'listening';
  const origin = await startChild({
    name: 'origin',
    command: process.execPath,
    args: [join(here, 'origin-server.js'), '--delay-ms', String(options.originDelayMs)],
    cpu: pinning.generatorCpu,
    logFile: join(dir, 'origin.log'),
    ready: listening,
  });
  const originUrl = `http://127.0.0.1:${Number(origin.ready.port)}`;
  const edge = await startEdgeUnderTest({
    dir,
    cliPath: join(repoRoot, 'dist/edge/cli.js'),
    originUrl,
    cpu: pinning.serverCpu,
    accessLog: options.accessLog,
    profileDir: options.profile ? join(dir, 'profile') : undefined,
  });
  const hits: { path: string; raw: RawResponse }[] = [];
  for (const o of hitObjects) {
    const path = `/obj/${o.bytes}`;
    hits.push({ path, raw: await warmHit(edge, path, o.bytes) });
  }
  const bare = await startChild({
    name: 'bare',
    command: process.execPath,
    args: [join(here, 'bare-server.js'), '--spec', writeBareSpec(dir, hits)],
    cpu: pinning.serverCpu,
    logFile: join(dir, 'bare.log'),
    ready: listening,
  });
  const proxy = options.scenarios.has('miss-proxy')
    ? await startChild({
        name: 'bare-proxy',
        command: process.execPath,
        args: [join(here, 'bare-proxy.js'), '--origin', originUrl],
        cpu: pinning.serverCpu,
        logFile: join(dir, 'bare-proxy.log'),
        ready: listening,
      })
    : undefined;
  const pids = [origin, edge.child, bare, proxy].map((c) => c?.process.pid ?? 0).filter((p) => p > 0);
  return {
    originUrl,
    edge,
    bareUrl: `http://127.0.0.1:${Number(bare.ready.port)}`,
    proxyUrl: proxy && `http://127.0.0.1:${Number(proxy.ready.port)}`,
    pids,
  };
}

/** Fills the cache with `path` and returns the edge's hit response (it must be a hit). */
async function warmHit(edge: EdgeUnderTest, path: string, size: number): Promise<RawResponse> {
  const first = await fetchRaw(edge.url + path);
  const hit = await fetchRaw(edge.url + path);
  const status = header(hit, 'cache-status') ?? '';
  if (first.status !== 200 || hit.status !== 200 || !/; hit/.test(status) || hit.body.length !== size) {
    throw new Error(
      `warming ${path} did not give a ${size}-byte cache hit: ${hit.status} cache-status "${status}" ` +
        `(${hit.body.length} bytes); see ${edge.logFile}`,
    );
  }
  return hit;
}

/** What the bare server answers: the edge's hit responses, bytes and header fields as sent. */
function writeBareSpec(dir: string, hits: { path: string; raw: RawResponse }[]): string {
  // node:http writes its own connection-management fields; every other field is copied.
  const own = new Set(['connection', 'keep-alive', 'transfer-encoding']);
  const spec: BareSpec = { v: 1, responses: [] };
  hits.forEach((h, i) => {
    const bodyFile = join(dir, `bare-${i}.body`);
    writeFileSync(bodyFile, h.raw.body);
    const headers: string[] = [];
    for (let j = 0; j < h.raw.rawHeaders.length; j += 2)
      if (!own.has(h.raw.rawHeaders[j].toLowerCase()))
        headers.push(h.raw.rawHeaders[j], h.raw.rawHeaders[j + 1]);
    spec.responses.push({ path: h.path, status: 200, headers, bodyFile });
  });
  const file = join(dir, 'bare.json');
  writeFileSync(file, JSON.stringify(spec));
  return file;
}

/** The scenarios asked for, each checking the edge's counters over its measured rounds. */
function scenarios(options: BenchOptions, servers: Servers): Scenario[] {
  const { edge } = servers;
  let base: EdgeCounters = { requests: {}, objects: 0, notStored: 0 };
  const before = async () => {
    base = await readCounters(edge.adminUrl);
  };
  /** "edge counted N <expected> for M responses wrk saw", plus any other outcome. */
  const counted = async (expected: string, served: number) => {
    const d = countersDelta(base, await readCounters(edge.adminUrl));
    const others = Object.entries(d.requests).filter(([k]) => k !== expected);
    const line =
      `edge counted ${d.requests[expected] ?? 0} ${expected} for ${served} responses wrk saw; ` +
      (others.length
        ? `OTHER OUTCOMES ${others.map(([k, v]) => `${k}=${v}`).join(' ')}`
        : 'no other outcome');
    return { d, line };
  };
  const served = (rounds: { load: { requests: number } }[]) =>
    rounds.reduce((a, r) => a + r.load.requests, 0);
  const list: Scenario[] = [];
  for (const o of hitObjects) {
    if (!options.scenarios.has(o.scenario)) continue;
    const path = `/obj/${o.bytes}`;
    list.push({
      name: `hit ${o.label}`,
      reference: 'bare',
      goal: o.goal,
      edge: { url: () => edge.url + path },
      ref: { url: () => servers.bareUrl + path },
      before,
      check: async (rounds) => [(await counted('hit', served(rounds))).line],
    });
  }
  // Every request a new path: /obj/1024/u<run>-<thread>-<n>. The origin answers all of them
  // with the same cacheable 1 KiB body, so each one is a miss that the edge stores.
  const prefix = (run: number) => `/obj/1024/u${run}-`;
  const unique = (base: string) => ({ url: (run: number) => `${base}${prefix(run)}0`, uniquePrefix: prefix });
  const miss = (
    name: string,
    reference: string,
    refUrl: string,
    connections: number,
    goal?: number,
  ): Scenario => ({
    name: `${name} 1 KiB (origin +${options.originDelayMs} ms)`,
    reference,
    goal,
    connections,
    edge: unique(edge.url),
    ref: unique(refUrl),
    before,
    check: async (rounds) => {
      const { d, line } = await counted('miss', served(rounds));
      const stored = `objects stored: ${d.objects >= 0 ? '+' : ''}${d.objects} net of evictions, not stored: ${d.notStored}`;
      return [line, stored];
    },
  });
  if (options.scenarios.has('miss'))
    list.push(miss('miss', 'origin', servers.originUrl, options.connections, missGoal));
  if (options.scenarios.has('miss-c8')) list.push(miss('miss', 'origin', servers.originUrl, 8, missGoal));
  if (servers.proxyUrl) list.push(miss('miss', 'proxy', servers.proxyUrl, options.connections));
  return list;
}

/** Share (0..1) of all CPU used by other processes over `ms` while the bench is idle. */
async function foreignShare(ms: number): Promise<number | undefined> {
  const a = snapshot([]);
  await sleep(ms);
  return usageBetween(a, snapshot([]))?.foreign;
}

/** Waits until other processes use under 5% of all CPU over a second, for at most `maxSec`. */
async function waitQuiet(maxSec: number): Promise<void> {
  const deadline = Date.now() + maxSec * 1000;
  for (;;) {
    const share = await foreignShare(1000);
    if (share === undefined || share < 0.05) return;
    if (Date.now() >= deadline) {
      process.stderr.write(`bench: still busy after ${maxSec} s (${(share * 100).toFixed(0)}%), going on\n`);
      return;
    }
    process.stderr.write(`bench: other processes use ${(share * 100).toFixed(0)}% of all CPU, waiting\n`);
  }
}

/** What the machine is, and how busy it is before we start. */
async function machineLines(pinning: Pinning, sampleMs: number): Promise<string[]> {
  const model = osCpus()[0]?.model ?? 'unknown CPU';
  const wrk = spawnSync('wrk', ['--version'], { encoding: 'utf8' });
  const wrkVersion = /wrk (\S+)/.exec(`${wrk.stdout}${wrk.stderr}`)?.[1] ?? '?';
  const [l1, l5] = loadavg();
  const idle = await foreignShare(sampleMs);
  return [
    `machine: ${osCpus().length} x ${model}; node ${process.version}; wrk ${wrkVersion}`,
    `pinning: ${pinning.note}`,
    `before the run: load average ${l1.toFixed(2)} (1 min), ${l5.toFixed(2)} (5 min); ` +
      `other processes used ${idle === undefined ? '?' : (idle * 100).toFixed(1)}% of all CPU over ${sampleMs / 1000} s`,
  ];
}

function report(
  options: BenchOptions,
  pinning: Pinning,
  machine: string[],
  edge: EdgeUnderTest,
  results: ScenarioResult[],
): string {
  const worst = worstForeign(results);
  const discarded = results.reduce((a, r) => a + r.discarded, 0);
  const lines = [
    ...machine,
    `after the run: load average ${loadavg()[0].toFixed(2)} (1 min); ` +
      `other processes used at most ${(worst * 100).toFixed(1)}% of all CPU in any kept run` +
      (discarded > 0 ? ` (${discarded} noisy run(s) done again)` : ''),
    `runs: ${options.rounds} round(s) of ${options.durationSec} s per target, warm-up ${options.warmupSec} s, ` +
      `${options.connections} connections, wrk -t1; edge access log ${options.accessLog ? 'on' : 'OFF'} (${edge.logFile})`,
    '',
    formatTable(results.map(summarize)),
    '',
    'rounds (req/s; CPU busy share of the server and generator CPUs, and of all CPU used by other processes):',
    formatRounds(results, { server: pinning.serverCpu, generator: pinning.generatorCpu }),
  ];
  if (worst > 0.05)
    lines.push(
      '',
      `WARNING: other processes used up to ${(worst * 100).toFixed(0)}% of all CPU: the numbers are noisy.`,
    );
  if (options.quick) lines.push('', 'quick run: a smoke check, not a measurement.');
  if (options.profile)
    lines.push('', 'profiled run: the edge ran under --cpu-prof, so its numbers are lower.');
  return lines.join('\n');
}

async function main(argv: string[]): Promise<number> {
  const options = parseOptions(argv);
  if (!options) {
    console.log(usage);
    return 0;
  }
  checkWrk();
  const pinning = detectPinning();
  const dir = mkdtempSync(join(tmpdir(), 'strata-bench-'));
  const cleanup = () => {
    if (options.keep) console.error(`bench: kept ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  };
  stopChildrenOnExit(cleanup);
  try {
    if (options.waitQuietSec > 0) await waitQuiet(options.waitQuietSec);
    const machine = await machineLines(pinning, options.quick ? 250 : 1000);
    const servers = await startServers(options, pinning, dir);
    const runner = new Runner(options, pinning, writeWrkScript(dir), servers.pids);
    const results: ScenarioResult[] = [];
    for (const s of scenarios(options, servers)) results.push(await runner.scenario(s));
    // Stopped before the report: a profiled edge writes its profile on exit.
    await stopAll();
    console.log(report(options, pinning, machine, servers.edge, results));
    if (options.profile) {
      const profileDir = join(dir, 'profile');
      for (const f of readdirSync(profileDir).filter((f) => f.endsWith('.cpuprofile'))) {
        const file = join(profileDir, f);
        console.log(`\nedge CPU profile ${file}\n${formatProfile(summarizeProfile(file, repoRoot + '/'))}`);
      }
    }
    return 0;
  } finally {
    await stopAll();
    cleanup();
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    console.error(`bench: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 1;
  },
);
