#!/usr/bin/env node
// npm run bench:disk: disk-tier hits against memory-tier hits, in one run (docs/benchmarks.md).
// Starts the bench origin and an edge whose memory tier (16 MiB) is far too small for the working
// set (10x: 1600 x 100 KiB, 160 x 1 MiB), warms every object onto disk, then loads in interleaved
// rounds, per object size:
//   memory: a hot set that fits in memory (every request a memory hit);
//   disk:   uniformly random paths over the whole working set (most requests miss memory,
//           are read from disk, verified and promoted, evicting others).
// Prints req/s, p50 and p99 for both and their ratio, the disk-hit share the edge counted, and the
// edge's peak RSS while it serves the working set. Every load is bounded (-d, --timeout) and
// targets 127.0.0.1 only.

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { stringify } from 'yaml';
import { detectPinning, startChild, stopAll, stopChildrenOnExit } from './processes.js';
import { checkWrk, wrkDone } from './wrk.js';
import { readBenchResult, runGeneratorProcess } from './generator-process.js';
import { fetchRaw } from './edge-under-test.js';

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = resolve(here, '../..');
const MiB = 1024 * 1024;

const { values: args } = parseArgs({
  options: {
    duration: { type: 'string', default: '5' },
    rounds: { type: 'string', default: '3' },
    connections: { type: 'string', default: '32' },
    keep: { type: 'boolean', default: false },
  },
  strict: true,
});
const durationSec = Number(args.duration);
const rounds = Number(args.rounds);
const connections = Number(args.connections);

const memoryTierBytes = 16 * MiB;
/** Per object size: the working set is ten times the memory tier; the hot set fits in it. */
const sizes = [
  { label: '100 KiB', bytes: 100 * 1024, workingSet: 1600, hotSet: 16 },
  { label: '1 MiB', bytes: MiB, workingSet: 160, hotSet: 4 },
] as const;

// One wrk thread; each request picks a path uniformly among BENCH_COUNT paths.
const wrkScript = `
local prefix = os.getenv("BENCH_PREFIX")
local count = tonumber(os.getenv("BENCH_COUNT"))
math.randomseed(os.time())
function request()
  return wrk.format(nil, prefix .. math.random(0, count - 1))
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
  prefix: string,
  count: number,
  cpu?: number,
): Promise<Load> {
  const args = ['-t1', `-c${connections}`, `-d${durationSec}s`, '--timeout', '10s', '-s', scriptPath, url];
  const { out, code } = await runGeneratorProcess('wrk', args, cpu, {
    BENCH_PREFIX: prefix,
    BENCH_COUNT: String(count),
  });
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
 * file-backed (LevelDB mmaps its table files: page cache the kernel can reclaim at any time).
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

/** Requests every object of the working set once, in order (fills memory, then disk). */
async function warm(url: string, prefix: string, count: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    const r = await fetchRaw(`${url}${prefix}${i}`);
    if (r.status !== 200) throw new Error(`warm-up: ${prefix}${i} answered ${r.status}`);
  }
}

const fmt = (n: number, digits = 0) => n.toLocaleString('en-US', { maximumFractionDigits: digits });
const mib = (r: Rss) =>
  `${fmt(r.total / MiB)} MiB (anonymous ${fmt(r.anon / MiB)}, file-backed ${fmt(r.file / MiB)})`;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main(): Promise<void> {
  checkWrk();
  const dir = mkdtempSync(join(tmpdir(), 'strata-disk-bench-'));
  stopChildrenOnExit(() => args.keep || rmSync(dir, { recursive: true, force: true }));
  const pinning = detectPinning();
  const workingSetBytes = sizes.reduce((n, s) => n + s.workingSet * s.bytes, 0);
  const scriptPath = join(dir, 'disk-bench.lua');
  writeFileSync(scriptPath, wrkScript);
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
        // One process per node: the bench measures a node, not the machine's cores (bench:workers does).
        workers: 1,
        listen: { http: '127.0.0.1:0', admin: '127.0.0.1:0' },
        sites: [{ hosts: ['*'], origins: [originUrl] }],
        log: { level: 'info', access: false },
        cache: {
          memory: { maxBytes: memoryTierBytes, maxObjectBytes: 2 * MiB },
          disk: { path: join(dir, 'disk'), maxBytes: '2GiB' },
        },
      }),
    );
    const edge = await startChild({
      name: 'edge',
      command: process.execPath,
      args: [join(repoRoot, 'dist/shared/cli/strata.js'), 'edge', '--config', configFile],
      cpu: pinning.serverCpu,
      logFile: join(dir, 'edge.log'),
      ready: (l) => l.msg === 'edge started',
    });
    const url = `http://127.0.0.1:${Number(edge.ready.httpPort)}`;
    const adminUrl = `http://127.0.0.1:${Number(edge.ready.adminPort)}`;
    const pid = edge.process.pid!;

    const warmStart = performance.now();
    for (const s of sizes) {
      await warm(url, `/obj/${s.bytes}/k`, s.workingSet);
      await warm(url, `/obj/${s.bytes}/k`, s.workingSet); // a second pass stores any write the queue skipped
    }
    const warmed = await counters(adminUrl);
    const onDisk = warmed['strata_cache_objects{tier="disk"}'];
    const total = sizes.reduce((n, s) => n + s.workingSet, 0);
    console.log(
      `warm-up: ${total} objects (${fmt(sizes.reduce((n, s) => n + s.workingSet * s.bytes, 0) / MiB)} MiB) in ` +
        `${fmt((performance.now() - warmStart) / 1000, 1)} s; on disk: ${onDisk}, in memory: ` +
        `${warmed['strata_cache_objects{tier="memory"}']} (${fmt(warmed['strata_cache_bytes{tier="memory"}'] / MiB, 1)} MiB); ` +
        `disk writes skipped: ${sum(warmed, 'strata_disk_writes_skipped_total')}`,
    );
    if (!(onDisk >= total)) throw new Error(`only ${onDisk} of ${total} objects reached the disk`);
    console.log(
      `pinning: ${pinning.note}; ${connections} connections, ${rounds} rounds of ${durationSec} s\n`,
    );

    const rows: string[] = [];
    const afterWarm = rssOf(pid);
    const peakRss: Record<'memory' | 'disk', Rss> = { memory: afterWarm, disk: afterWarm };
    for (const s of sizes) {
      const results: Record<'memory' | 'disk', Load[]> = { memory: [], disk: [] };
      let diskHits = 0;
      let diskRequests = 0;
      for (let round = 0; round < rounds; round++) {
        const order: ('memory' | 'disk')[] = round % 2 === 0 ? ['memory', 'disk'] : ['disk', 'memory'];
        for (const target of order) {
          const prefix = `/obj/${s.bytes}/k`;
          const count = target === 'memory' ? s.hotSet : s.workingSet;
          if (target === 'memory') await warm(url, prefix, count); // bring the hot set back into memory
          const before = await counters(adminUrl);
          const { result, peak } = await withRss(pid, () =>
            wrk(scriptPath, url, prefix, count, pinning.generatorCpu),
          );
          const after = await counters(adminUrl);
          peakRss[target] = maxRss(peakRss[target], peak);
          // Requests wrk abandons at the end of its run (499) are not misses: count answered ones.
          const missed = 'strata_requests_total{outcome="miss",status="200"}';
          const misses = (after[missed] ?? 0) - (before[missed] ?? 0);
          if (result.errors > 0 || misses > 0)
            throw new Error(
              `${s.label} ${target}: ${result.errors} errors, ${misses} misses (expected all hits)`,
            );
          results[target].push(result);
          if (target === 'disk') {
            diskHits += after.strata_disk_hits_total - before.strata_disk_hits_total;
            diskRequests += result.requests;
          }
        }
      }
      const mem = results.memory;
      const disk = results.disk;
      const memRps = median(mem.map((r) => r.rps));
      const diskRps = median(disk.map((r) => r.rps));
      rows.push(
        [
          s.label.padEnd(8),
          fmt(memRps).padStart(8),
          `${fmt(median(mem.map((r) => r.p50Ms)), 2)} / ${fmt(median(mem.map((r) => r.p99Ms)), 2)}`.padStart(
            13,
          ),
          fmt(diskRps).padStart(8),
          `${fmt(median(disk.map((r) => r.p50Ms)), 2)} / ${fmt(median(disk.map((r) => r.p99Ms)), 2)}`.padStart(
            13,
          ),
          `${(diskRps / memRps).toFixed(2)}x`.padStart(7),
          `${((100 * diskHits) / diskRequests).toFixed(0)}%`.padStart(6),
          `${fmt((diskRps * s.bytes) / MiB)} MiB/s`.padStart(12),
        ].join('  '),
      );
    }
    console.log('object    mem req/s  mem p50/p99 ms  disk req/s  disk p50/p99 ms  ratio  disk%  disk MiB/s');
    for (const row of rows) console.log(row);
    const end = await counters(adminUrl);
    console.log(
      `\nedge RSS (${fmt(workingSetBytes / MiB)} MiB working set, ${memoryTierBytes / MiB} MiB memory tier): ` +
        `after warm-up ${mib(afterWarm)}; peak in memory-hit runs ${mib(peakRss.memory)}; ` +
        `peak in disk-hit runs ${mib(peakRss.disk)}`,
    );
    console.log(
      `live at the end: V8 heap used ${fmt(end.nodejs_heap_size_used_bytes / MiB)} MiB, external (Buffers) ` +
        `${fmt(end.nodejs_external_memory_bytes / MiB)} MiB; corrupt objects: ` +
        `${end.strata_disk_corrupt_objects_total}, disk write errors: ${end.strata_disk_write_errors_total}`,
    );
    console.log('(disk% = share of the disk-run requests that memory missed and the disk answered)');
  } finally {
    await stopAll();
    if (args.keep) console.log(`kept ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(`bench:disk: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
});
