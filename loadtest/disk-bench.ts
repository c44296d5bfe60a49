#!/usr/bin/env node
// npm run bench:disk: disk-tier hits against nginx's disk cache (proxy_cache), in one run
// (docs/benchmarks.md "Disk tier"). Starts the bench origin, nginx (one worker, cache in a temp
// dir) and an edge whose memory tier (1 MiB) is far too small for the working set, warms every
// object onto both disks (page cache warm), then loads in interleaved rounds, per object size:
//   nginx: uniformly random paths over the working set, every request an nginx cache HIT;
//   disk:  the same paths against the edge, answered by its disk tier;
//   fills: disk hits again while a second client makes paced misses that fill the disk tier.
// Prints req/s, p50 and p99 of each, the edge's ratios to nginx, the CPU each server spent per
// request (/proc), the disk-hit share the edge counted and its peak RSS while many large objects
// stream from disk at once. Every load is bounded (-d, --timeout) and targets 127.0.0.1 only.

import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { stringify } from 'yaml';
import { detectPinning, startChild, stopAll, stopChildrenOnExit } from './processes.js';
import { checkWrk, wrkDone } from './wrk.js';
import { checkNginx, startNginx } from './nginx-reference.js';
import { processTicks, ticksPerSecond } from './cpu-usage.js';
import { formatProfile, summarizeProfile } from './cpu-profile.js';
import { readBenchResult, runGeneratorProcess } from './generator-process.js';
import { fetchRaw, header } from './edge-under-test.js';

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = resolve(here, '../..');
const MiB = 1024 * 1024;

const { values: args } = parseArgs({
  options: {
    duration: { type: 'string', default: '5' },
    rounds: { type: 'string', default: '3' },
    /** Paced misses per second during the `fills` runs. */
    'fill-rate': { type: 'string', default: '10' },
    keep: { type: 'boolean', default: false },
    /** Run the edge under --cpu-prof and print its hottest functions (its figures are then lower). */
    profile: { type: 'boolean', default: false },
  },
  strict: true,
});
const durationSec = Number(args.duration);
const rounds = Number(args.rounds);
const fillRate = Number(args['fill-rate']);

/** As in the measurement: the memory tier far too small, so the disk tier answers. */
const memoryTierBytes = MiB;
/** Per object size: the working set and the connections of the measurement. */
const sizes = [
  { label: '100 KiB', bytes: 100 * 1024, workingSet: 500, connections: 64 },
  { label: '1 MiB', bytes: MiB, workingSet: 100, connections: 16 },
] as const;

type Target = 'nginx' | 'disk' | 'fills';

// One wrk thread; each request picks a path uniformly among BENCH_COUNT paths.
const hitScript = `
local prefix = os.getenv("BENCH_PREFIX")
local count = tonumber(os.getenv("BENCH_COUNT"))
math.randomseed(os.time())
function request()
  return wrk.format(nil, prefix .. math.random(0, count - 1))
end
${wrkDone}`;

// One connection, a new path per request (a miss that fills the disk tier), BENCH_DELAY_MS apart.
const fillScript = `
local prefix = os.getenv("BENCH_PREFIX")
local pause = tonumber(os.getenv("BENCH_DELAY_MS"))
local n = 0
function request()
  n = n + 1
  return wrk.format(nil, prefix .. n)
end
function delay()
  return pause
end
${wrkDone}`;

interface Load {
  rps: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
  requests: number;
}

async function wrk(
  scriptPath: string,
  url: string,
  connections: number,
  env: Record<string, string>,
  cpu?: number,
): Promise<Load> {
  const args = ['-t1', `-c${connections}`, `-d${durationSec}s`, '--timeout', '10s', '-s', scriptPath, url];
  const { out, code } = await runGeneratorProcess('wrk', args, cpu, env);
  const r = readBenchResult('wrk', out, code, url);
  return { rps: r.requestsPerSec, p50Ms: r.p50Ms, p99Ms: r.p99Ms, errors: r.errors, requests: r.requests };
}

/** Samples of a metric from the edge's Prometheus text. */
async function counters(adminUrl: string): Promise<Record<string, number>> {
  const res = await fetchRaw(`${adminUrl}/metrics`);
  if (res.status !== 200) throw new Error(`the edge's /metrics answered ${res.status}`);
  const text = res.body.toString('utf8');
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const m = /^((?:strata|nodejs)_[a-z_]+(?:\{[^}]*\})?) (\S+)$/.exec(line);
    if (m) out[m[1]] = Number(m[2]);
  }
  return out;
}

function sum(c: Record<string, number>, prefix: string): number {
  let n = 0;
  for (const [k, v] of Object.entries(c)) if (k.startsWith(prefix)) n += v;
  return n;
}

/**
 * Resident memory of a process (bytes), from /proc: total, anonymous (heap, buffers) and
 * file-backed (LevelDB maps its table files: page cache the kernel can reclaim at any time).
 */
interface Rss {
  total: number;
  anon: number;
  file: number;
}

function rssOf(pid: number): Rss {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (name: string) =>
    Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0) * 1024;
  return { total: kb('VmRSS'), anon: kb('RssAnon'), file: kb('RssFile') };
}

function maxRss(a: Rss, b: Rss): Rss {
  return {
    total: Math.max(a.total, b.total),
    anon: Math.max(a.anon, b.anon),
    file: Math.max(a.file, b.file),
  };
}

/** Runs `work` while sampling the edge's RSS every 100 ms; returns its result and the peaks. */
async function withRss<T>(pid: number, work: () => Promise<T>): Promise<{ result: T; peak: Rss }> {
  let peak = rssOf(pid);
  const timer = setInterval(() => (peak = maxRss(peak, rssOf(pid))), 100);
  try {
    const result = await work();
    return { result, peak: maxRss(peak, rssOf(pid)) };
  } finally {
    clearInterval(timer);
  }
}

/** CPU ticks used so far by processes (nginx: its master and its worker, the master's children). */
function ticksOf(pids: readonly number[]): number {
  let n = 0;
  for (const pid of pids) n += processTicks(pid, false);
  return n;
}

/** The nginx master's children (its worker), from /proc/<pid>/task/<pid>/children. */
function childrenOf(pid: number): number[] {
  try {
    const text = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim();
    return text ? text.split(' ').map(Number) : [];
  } catch {
    return []; // no /proc: CPU per request is not reported.
  }
}

/** Requests every object of the working set once, in order; returns how many said `hit`. */
async function warm(url: string, prefix: string, count: number): Promise<number> {
  let hits = 0;
  for (let i = 0; i < count; i++) {
    const r = await fetchRaw(`${url}${prefix}${i}`);
    if (r.status !== 200) throw new Error(`warm-up: ${url}${prefix}${i} answered ${r.status}`);
    if (/HIT|hit/.test(`${header(r, 'x-cache-status')} ${header(r, 'cache-status')}`)) hits++;
  }
  return hits;
}

const fmt = (n: number, digits = 0) => n.toLocaleString('en-US', { maximumFractionDigits: digits });
const mib = (r: Rss) =>
  `${fmt(r.total / MiB)} MiB (anonymous ${fmt(r.anon / MiB)}, file-backed ${fmt(r.file / MiB)})`;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

interface Run {
  load: Load;
  /** Server CPU per request, ms. */
  cpuMs: number;
  /** fills only: paced misses made meanwhile. */
  fills: number;
}

async function main(): Promise<void> {
  checkWrk();
  const nginxVersion = checkNginx();
  const dir = mkdtempSync(join(tmpdir(), 'strata-disk-bench-'));
  stopChildrenOnExit(() => args.keep || rmSync(dir, { recursive: true, force: true }));
  const pinning = detectPinning();
  const hitScriptPath = join(dir, 'hits.lua');
  const fillScriptPath = join(dir, 'fills.lua');
  writeFileSync(hitScriptPath, hitScript);
  writeFileSync(fillScriptPath, fillScript);
  try {
    const origin = await startChild({
      name: 'origin',
      command: process.execPath,
      args: [join(here, 'origin-server.js')],
      cpu: pinning.generatorCpu,
      logFile: join(dir, 'origin.log'),
      ready: (l) => l.msg === 'listening',
    });
    const originUrl = `http://127.0.0.1:${Number(origin.ready.port)}`;
    const configFile = join(dir, 'edge.yaml');
    writeFileSync(
      configFile,
      stringify({
        node: { id: 'edge-disk-bench' },
        // One process per node, as nginx runs one worker: the bench measures a core's worth.
        workers: 1,
        listen: { http: '127.0.0.1:0', admin: '127.0.0.1:0' },
        sites: [{ hosts: ['*'], origins: [originUrl] }],
        log: { level: 'info', access: false },
        cache: {
          memory: { maxBytes: memoryTierBytes, maxObjectBytes: memoryTierBytes },
          disk: { path: join(dir, 'disk'), maxBytes: '2GiB' },
        },
      }),
    );
    const edge = await startChild({
      name: 'edge',
      command: process.execPath,
      args: [
        ...(args.profile ? ['--cpu-prof', `--cpu-prof-dir=${join(dir, 'profile')}`] : []),
        join(repoRoot, 'dist/shared/cli/strata.js'),
        'edge',
        '--config',
        configFile,
      ],
      cpu: pinning.serverCpu,
      logFile: join(dir, 'edge.log'),
      ready: (l) => l.msg === 'edge started',
    });
    const nginxDir = join(dir, 'nginx');
    const nginx = await startNginx(nginxDir, originUrl, pinning.serverCpu);
    const nginxPids = [nginx.child.pid!, ...childrenOf(nginx.child.pid!)];
    const edgeUrl = `http://127.0.0.1:${Number(edge.ready.httpPort)}`;
    const adminUrl = `http://127.0.0.1:${Number(edge.ready.adminPort)}`;
    const pid = edge.process.pid!;

    const warmStart = performance.now();
    let nginxHits = 0;
    for (const s of sizes) {
      const prefix = `/obj/${s.bytes}/k`;
      await warm(edgeUrl, prefix, s.workingSet);
      await warm(edgeUrl, prefix, s.workingSet); // a second pass stores any write the queue skipped
      await warm(nginx.url, prefix, s.workingSet);
      nginxHits += await warm(nginx.url, prefix, s.workingSet);
    }
    const warmed = await counters(adminUrl);
    const onDisk = warmed['strata_cache_objects{tier="disk"}'];
    const total = sizes.reduce((n, s) => n + s.workingSet, 0);
    console.log(
      `warm-up: ${total} objects (${fmt(sizes.reduce((n, s) => n + s.workingSet * s.bytes, 0) / MiB)} MiB) ` +
        `in ${fmt((performance.now() - warmStart) / 1000, 1)} s; edge: on disk ${onDisk}, in memory ` +
        `${warmed['strata_cache_objects{tier="memory"}']}, disk writes skipped ` +
        `${sum(warmed, 'strata_disk_writes_skipped_total')}; nginx ${nginxVersion}: ${nginxHits} of ${total} ` +
        `second requests were cache HITs`,
    );
    if (!(onDisk >= total)) throw new Error(`only ${onDisk} of ${total} objects reached the edge's disk`);
    if (nginxHits < total)
      throw new Error(`nginx served ${total - nginxHits} warmed objects from the origin`);
    console.log(
      `pinning: ${pinning.note}; ${rounds} rounds of ${durationSec} s; fills: ${fillRate}/s paced misses\n`,
    );

    const rows: string[] = [];
    const afterWarm = rssOf(pid);
    let peakRss = afterWarm;
    let fillRound = 0;
    for (const s of sizes) {
      const prefix = `/obj/${s.bytes}/k`;
      const hitEnv = { BENCH_PREFIX: prefix, BENCH_COUNT: String(s.workingSet) };
      const results: Record<Target, Run[]> = { nginx: [], disk: [], fills: [] };
      let diskHits = 0;
      let diskRequests = 0;
      const orders: Target[][] = [
        ['nginx', 'disk', 'fills'],
        ['fills', 'disk', 'nginx'],
        ['disk', 'nginx', 'fills'],
      ];
      for (let round = 0; round < rounds; round++) {
        for (const target of orders[round % orders.length]) {
          const url = target === 'nginx' ? nginx.url : edgeUrl;
          const pids = target === 'nginx' ? nginxPids : [pid];
          const before = await counters(adminUrl);
          const ticks = ticksOf(pids);
          const fillPrefix = `/obj/${s.bytes}/fill-${fillRound++}-`;
          const { result, peak } = await withRss(pid, () =>
            Promise.all([
              wrk(hitScriptPath, url, s.connections, hitEnv, pinning.generatorCpu),
              target === 'fills'
                ? wrk(
                    fillScriptPath,
                    edgeUrl,
                    1,
                    { BENCH_PREFIX: fillPrefix, BENCH_DELAY_MS: String(Math.round(1000 / fillRate)) },
                    pinning.generatorCpu,
                  )
                : undefined,
            ]),
          );
          const [load, fill] = result;
          const cpuMs = ((ticksOf(pids) - ticks) * 1000) / ticksPerSecond / load.requests;
          const after = await counters(adminUrl);
          if (target !== 'nginx') peakRss = maxRss(peakRss, peak);
          // Requests wrk abandons at the end of its run (499) are not misses: count answered ones.
          const missed = 'strata_requests_total{outcome="miss",status="200"}';
          const misses = (after[missed] ?? 0) - (before[missed] ?? 0);
          const fills = fill?.requests ?? 0;
          // The fill client's last request may be answered after wrk stopped counting.
          if (load.errors > 0 || (fill?.errors ?? 0) > 0 || misses > (fill ? fills + 1 : 0))
            throw new Error(
              `${s.label} ${target}: ${load.errors} errors, ${misses} misses for ${fills} fills (expected hits)`,
            );
          results[target].push({ load, cpuMs, fills });
          if (target === 'disk') {
            diskHits += after.strata_disk_hits_total - before.strata_disk_hits_total;
            diskRequests += load.requests;
          }
        }
      }
      rows.push(row(s.label, results, (100 * diskHits) / diskRequests));
    }
    console.log(
      'object   nginx req/s  p50/p99 ms  cpu ms/req | disk req/s  p50/p99 ms  cpu ms/req  ' +
        'req/s ratio  p99 ratio  disk% | with fills req/s  p99 ms  fills/s  vs disk',
    );
    for (const r of rows) console.log(r);
    const end = await counters(adminUrl);
    console.log(
      `\nedge RSS (${memoryTierBytes / MiB} MiB memory tier): after warm-up ${mib(afterWarm)}; ` +
        `peak while serving from disk ${mib(peakRss)}`,
    );
    console.log(
      `live at the end: V8 heap used ${fmt(end.nodejs_heap_size_used_bytes / MiB)} MiB, external (Buffers) ` +
        `${fmt(end.nodejs_external_memory_bytes / MiB)} MiB; corrupt objects: ` +
        `${end.strata_disk_corrupt_objects_total}, disk write errors: ${end.strata_disk_write_errors_total}`,
    );
    console.log(
      '(ratios: the edge against nginx in the same run, medians of the rounds; disk% = share of the ' +
        'disk-run requests the disk tier answered; cpu ms/req from /proc, both servers on one CPU)',
    );
    if (args.profile) {
      await edge.stop();
      for (const f of readdirSync(join(dir, 'profile'))) {
        const file = join(dir, 'profile', f);
        console.log(
          `\nedge CPU profile (all runs) ${file}\n${formatProfile(summarizeProfile(file, repoRoot + '/'))}`,
        );
      }
    }
  } finally {
    await stopAll();
    if (args.keep) console.log(`kept ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  }
}

/** One table row: medians of each target's rounds and the edge's ratios to nginx. */
function row(label: string, results: Record<Target, Run[]>, diskPercent: number): string {
  const m = (t: Target, f: (r: Run) => number) => median(results[t].map(f));
  const rps = (t: Target) => m(t, (r) => r.load.rps);
  const p99 = (t: Target) => m(t, (r) => r.load.p99Ms);
  const lat = (t: Target) =>
    `${fmt(
      m(t, (r) => r.load.p50Ms),
      2,
    )} / ${fmt(p99(t), 2)}`;
  const cpu = (t: Target) =>
    fmt(
      m(t, (r) => r.cpuMs),
      3,
    );
  return [
    label.padEnd(8),
    fmt(rps('nginx')).padStart(10),
    lat('nginx').padStart(13),
    cpu('nginx').padStart(10),
    '|',
    fmt(rps('disk')).padStart(9),
    lat('disk').padStart(13),
    cpu('disk').padStart(10),
    `${(rps('disk') / rps('nginx')).toFixed(2)}x`.padStart(11),
    `${(p99('disk') / p99('nginx')).toFixed(2)}x`.padStart(10),
    `${diskPercent.toFixed(0)}%`.padStart(6),
    '|',
    fmt(rps('fills')).padStart(15),
    fmt(p99('fills'), 2).padStart(7),
    fmt(
      m('fills', (r) => r.fills / durationSec),
      1,
    ).padStart(8),
    `${(rps('fills') / rps('disk')).toFixed(2)}x`.padStart(8),
  ].join('  ');
}

main().catch((err: unknown) => {
  console.error(`bench:disk: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
});
