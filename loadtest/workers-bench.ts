#!/usr/bin/env node
// npm run bench:workers: what a node gains from its workers (issue 17). In one run, against the
// same origin and objects, with wrk on loopback:
//   hits (1 KiB, 100 KiB): a bare node:http server as 1 and 2 processes (node:cluster), the edge
//     with workers: 1 and workers: 2, each loaded in turn, interleaved over rounds;
//   misses (unique cacheable 1 KiB URLs, origin +N ms): the bare undici proxy as 1 and 2
//     processes, and the edge with workers: 1 and 2.
// Prints req/s and p99 per target, and each as a ratio of the single bare process (the
// platform's one-core ceiling). Not pinned: the workers need both cores, and wrk and the origin
// share them, as they did when ATS and nginx were measured with their multi-core settings.

import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { startEdgeUnderTest, fetchRaw } from './edge-under-test.js';
import { startChild, stopAll, stopChildrenOnExit, type BenchChild } from './processes.js';
import { warmHit, writeBareSpec } from './servers.js';
import { median } from './report.js';
import type { LoadOptions, LoadResult } from './load.js';
import { processTicks, ticksPerSecond } from './cpu-usage.js';
import { Wrk } from './wrk.js';

const here = dirname(fileURLToPath(import.meta.url));
const cliPath = resolve(here, '../shared/cli/strata.js');

const usage = `Usage: npm run bench:workers -- [options]

Options:
  --duration S         seconds per load (default 6)
  --connections N      wrk connections (default 64)
  --rounds N           rounds, targets interleaved in each (default 2)
  --origin-delay-ms N  origin delay per miss (default 5)
  -h, --help           show this help`;

const { values } = parseArgs({
  options: {
    duration: { type: 'string', default: '6' },
    connections: { type: 'string', default: '64' },
    rounds: { type: 'string', default: '2' },
    'origin-delay-ms': { type: 'string', default: '5' },
    help: { type: 'boolean', short: 'h', default: false },
  },
  strict: true,
});
if (values.help) {
  console.log(usage);
  process.exit(0);
}
const durationSec = Number(values.duration);
const connections = Number(values.connections);
const rounds = Number(values.rounds);
const originDelayMs = Number(values['origin-delay-ms']);
for (const [name, v, min, max] of [
  ['--duration', durationSec, 1, 120],
  ['--connections', connections, 1, 1024],
  ['--rounds', rounds, 1, 20],
  ['--origin-delay-ms', originDelayMs, 0, 1000],
] as const) {
  if (!Number.isFinite(v) || v < min || v > max)
    throw new Error(`${name}: expected ${min} to ${max}, got ${v}`);
}

const dir = mkdtempSync(join(tmpdir(), 'strata-bench-workers-'));
stopChildrenOnExit(() => rmSync(dir, { recursive: true, force: true }));
const wrk = Wrk.open(dir);
const listening = (line: Record<string, unknown>) => line.msg === 'listening';
const objects = [
  { name: '1 KiB hits', path: '/obj/1024', bytes: 1024 },
  { name: '100 KiB hits', path: '/obj/102400', bytes: 102400 },
] as const;

/** A server under test: how to start it (and warm it), and the URL it serves. */
interface Target {
  name: string;
  start(): Promise<{ url: string; child: BenchChild }>;
}

const origin = await startChild({
  name: 'origin',
  command: process.execPath,
  args: [join(here, 'origin-server.js'), '--delay-ms', String(originDelayMs)],
  cpu: undefined,
  logFile: join(dir, 'origin.log'),
  ready: listening,
});
const originUrl = `http://127.0.0.1:${Number(origin.ready.port)}`;

let edgeRuns = 0;
const startEdge = (workers: number) => {
  const run = join(dir, `edge-${++edgeRuns}`);
  mkdirSync(run);
  return startEdgeUnderTest({ dir: run, cliPath, originUrl, cpu: undefined, accessLog: true, workers });
};
const edge = (workers: number): Target => ({
  name: `edge, workers: ${workers}`,
  async start() {
    const e = await startEdge(workers);
    // Each worker gets every object (new connections go round-robin): hits from then on.
    for (let i = 0; i < 4 * workers; i++) for (const o of objects) await fetchRaw(e.url + o.path);
    return { url: e.url, child: e.child };
  },
});

const cluster = (name: string, script: string, args: string[], processes: number): Target => ({
  name,
  async start() {
    const child = await startChild({
      name,
      command: process.execPath,
      args: [
        join(here, 'cluster-child.js'),
        '--workers',
        String(processes),
        '--',
        join(here, script),
        ...args,
      ],
      cpu: undefined,
      logFile: join(dir, `${name.replace(/\W+/g, '-')}.log`),
      ready: listening,
    });
    return { url: `http://127.0.0.1:${Number(child.ready.port)}`, child };
  },
});

// The bare server answers with the edge's own hit responses, bytes and fields as sent.
const spec = await (async () => {
  const e = await startEdge(1);
  const hits = [];
  for (const o of objects) hits.push({ path: o.path, raw: await warmHit(e, o.path, o.bytes) });
  await e.child.stop();
  return writeBareSpec(dir, hits);
})();

const hitTargets = [
  cluster('bare node:http x1', 'bare-server.js', ['--spec', spec], 1),
  cluster('bare node:http x2', 'bare-server.js', ['--spec', spec], 2),
  edge(1),
  edge(2),
];
const missTargets = [
  cluster('bare undici proxy x1', 'bare-proxy.js', ['--origin', originUrl], 1),
  cluster('bare undici proxy x2', 'bare-proxy.js', ['--origin', originUrl], 2),
  edge(1),
  edge(2),
];

/** A process and its children (the workers), as pids. */
function tree(pid: number): number[] {
  try {
    const children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim();
    return [pid, ...(children ? children.split(' ').flatMap((c) => tree(Number(c))) : [])];
  } catch {
    return []; // gone, or not Linux
  }
}

/** RSS of the processes, MiB. */
function rssMiB(pids: number[]): number {
  let kib = 0;
  for (const p of pids) {
    try {
      kib += Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${p}/status`, 'utf8'))?.[1] ?? 0);
    } catch {
      // gone
    }
  }
  return kib / 1024;
}

/** CPU time the processes used, ms (robust to what else the machine runs, unlike req/s). */
const cpuMs = (pids: number[]) =>
  (pids.reduce((n, p) => n + processTicks(p, false), 0) * 1000) / ticksPerSecond;

/** Runs one load against a target, with its CPU per request and RSS at the end. */
async function measure(pid: number, options: LoadOptions): Promise<Measured> {
  const pids = tree(pid);
  const before = cpuMs(pids);
  const load = await wrk.run(options);
  const cpuUs = ((cpuMs(pids) - before) * 1000) / Math.max(1, load.requests);
  return { load, cpuUs, rss: rssMiB(pids) };
}

interface Measured {
  load: LoadResult;
  /** Server CPU per request, µs (all its processes). */
  cpuUs: number;
  rss: number;
}
const results = new Map<string, Measured[]>();
const record = (workload: string, target: string, m: Measured) => {
  const key = `${workload}\u0000${target}`;
  results.set(key, [...(results.get(key) ?? []), m]);
};

for (let round = 1; round <= rounds; round++) {
  for (const target of hitTargets) {
    const { url, child } = await target.start();
    for (const o of objects) {
      const m = await measure(child.process.pid!, {
        url: url + o.path,
        connections,
        durationSec,
        cpu: undefined,
      });
      record(o.name, target.name, m);
    }
    await child.stop();
  }
  for (const target of missTargets) {
    const { url, child } = await target.start();
    const prefix = `/obj/1024/r${round}-${target.name.replace(/\W+/g, '-')}-`;
    const options = {
      url: url + '/obj/1024',
      connections,
      durationSec,
      cpu: undefined,
      uniquePrefix: prefix,
    };
    record(
      `1 KiB misses, origin +${originDelayMs} ms`,
      target.name,
      await measure(child.process.pid!, options),
    );
    await child.stop();
  }
  process.stderr.write(`round ${round} of ${rounds} done\n`);
}
await stopAll();
rmSync(dir, { recursive: true, force: true });

// One table per workload: median over rounds; ratios against the single bare process.
const lines: string[] = [
  `# Workers bench: ${durationSec} s per load, ${connections} connections, ${rounds} rounds (medians), ${wrk.label}, not pinned`,
  '',
  '| workload | target | req/s | x single bare | p99 ms | CPU µs/req | errors | RSS MiB |',
  '|---|---|---|---|---|---|---|---|',
];
const workloads = [...new Set([...results.keys()].map((k) => k.split('\u0000')[0]))];
for (const workload of workloads) {
  const rows = [...results.entries()].filter(([k]) => k.startsWith(`${workload}\u0000`));
  const base = median(rows[0][1].map((m) => m.load.requestsPerSec));
  for (const [key, runs] of rows) {
    const rps = median(runs.map((m) => m.load.requestsPerSec));
    const p99 = median(runs.map((m) => m.load.p99Ms));
    const cpu = median(runs.map((m) => m.cpuUs));
    const errors = runs.reduce((n, m) => n + m.load.errors, 0);
    const rss = median(runs.map((m) => m.rss));
    lines.push(
      `| ${workload} | ${key.split('\u0000')[1]} | ${Math.round(rps)} | ${(rps / base).toFixed(2)} | ${p99.toFixed(1)} | ${Math.round(cpu)} | ${errors} | ${Math.round(rss)} |`,
    );
  }
}
console.log(lines.join('\n'));
