#!/usr/bin/env node
// npm run bench: the edge against references, in one run (see docs/benchmarks.md).
// Starts an origin, an edge and a bare node:http server as child processes (servers pinned to one
// CPU, wrk and the origin to the other), warms the cache, then loads in interleaved rounds:
//   hit 1 KiB / 100 KiB: edge cache hits vs the bare server answering the same bytes and headers;
//   miss 1 KiB: unique URLs through the edge (miss + store) vs the same 5 ms origin reached directly.
// Prints the median of the rounds per scenario with the ratio and the goal.

import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, loadavg, cpus as osCpus } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { spawnSync } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { detectPinning, startChild, stopAll, stopChildrenOnExit, type Pinning } from './processes.js';
import { checkWrk, runWrk, writeWrkScript, type LoadResult } from './wrk.js';
import { snapshot, usageBetween } from './cpu-usage.js';
import {
  countersDelta,
  fetchRaw,
  header,
  readCounters,
  startEdgeUnderTest,
  type EdgeUnderTest,
} from './edge-under-test.js';
import type { BareSpec } from './bare-server.js';
import {
  formatRounds,
  formatTable,
  summarize,
  worstForeign,
  type Round,
  type ScenarioResult,
} from './report.js';
import { formatProfile, summarizeProfile } from './cpu-profile.js';

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = resolve(here, '../..');

const usage = `Usage: npm run bench -- [options]

Options:
  --quick              smoke run: 1 round of 2 s, no warm-up load (numbers are not for comparison)
  --duration SEC       seconds per measured run (default 5)
  --rounds N           interleaved edge/reference rounds per scenario; the median is reported (default 3)
  --warmup SEC         unmeasured load on each target before its rounds (default 2)
  --connections N      concurrent connections (default 64)
  --scenarios LIST     comma-separated: hit, miss (default hit,miss; hit only with --profile)
  --origin-delay MS    origin delay for the miss path (default 5)
  --profile            run the edge with --cpu-prof and print its hottest functions
  --keep               keep the temp dir (configs, logs, profile)
  -h, --help           show this help`;

interface BenchOptions {
  durationSec: number;
  rounds: number;
  warmupSec: number;
  connections: number;
  scenarios: Set<'hit' | 'miss'>;
  originDelayMs: number;
  profile: boolean;
  keep: boolean;
  quick: boolean;
}

function parseOptions(argv: string[]): BenchOptions | undefined {
  const { values } = parseArgs({
    args: argv,
    options: {
      quick: { type: 'boolean', default: false },
      duration: { type: 'string' },
      rounds: { type: 'string' },
      warmup: { type: 'string' },
      connections: { type: 'string', default: '64' },
      scenarios: { type: 'string' },
      'origin-delay': { type: 'string', default: '5' },
      profile: { type: 'boolean', default: false },
      keep: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) return undefined;
  const count = (name: string, v: string | undefined, fallback: number, min: number, max: number) => {
    const n = v === undefined ? fallback : Number(v);
    if (!Number.isInteger(n) || n < min || n > max)
      throw new Error(`--${name}: expected an integer from ${min} to ${max}, got ${v}`);
    return n;
  };
  const scenarioList = (values.scenarios ?? (values.profile ? 'hit' : 'hit,miss')).split(',');
  for (const s of scenarioList)
    if (s !== 'hit' && s !== 'miss') throw new Error(`--scenarios: unknown scenario "${s}" (hit, miss)`);
  return {
    quick: values.quick,
    // Bounded: every run is at most a minute, so a full bench always ends.
    durationSec: count('duration', values.duration, values.quick ? 2 : 5, 1, 60),
    rounds: count('rounds', values.rounds, values.quick ? 1 : 3, 1, 9),
    warmupSec: count('warmup', values.warmup, values.quick ? 0 : 2, 0, 30),
    connections: count('connections', values.connections, 64, 1, 1024),
    scenarios: new Set(scenarioList as ('hit' | 'miss')[]),
    originDelayMs: count('origin-delay', values['origin-delay'], 5, 0, 1000),
    profile: values.profile,
    keep: values.keep || values.profile,
  };
}

/** What the machine is, and how busy it is before we start. */
function machineLines(pinning: Pinning): string[] {
  const model = osCpus()[0]?.model ?? 'unknown CPU';
  const wrk = spawnSync('wrk', ['--version'], { encoding: 'utf8' });
  const wrkVersion = /wrk (\S+)/.exec(`${wrk.stdout}${wrk.stderr}`)?.[1] ?? '?';
  const [l1, l5] = loadavg();
  return [
    `machine: ${osCpus().length} x ${model}; node ${process.version}; wrk ${wrkVersion}`,
    `pinning: ${pinning.note}`,
    `load average before: ${l1.toFixed(2)} (1 min), ${l5.toFixed(2)} (5 min)`,
  ];
}

/** Busy share of all CPUs over `ms`, taken before any load (other people's work on the box). */
async function idleCheck(ms: number): Promise<number | undefined> {
  const a = snapshot([]);
  await sleep(ms);
  const u = usageBetween(a, snapshot([]));
  return u?.foreign;
}

interface Target {
  name: 'edge' | 'ref';
  url: (run: number) => string;
  uniquePrefix?: (run: number) => string;
}

class Bench {
  private run = 0;
  private readonly servers: number[] = [];

  constructor(
    private readonly options: BenchOptions,
    private readonly pinning: Pinning,
    private readonly wrkScript: string,
  ) {}

  addServerPid(pid: number | undefined): void {
    if (pid !== undefined) this.servers.push(pid);
  }

  private async load(target: Target, durationSec: number): Promise<Round> {
    const run = ++this.run;
    const before = snapshot(this.servers);
    const load: LoadResult = await runWrk(this.wrkScript, {
      url: target.url(run),
      connections: this.options.connections,
      durationSec,
      cpu: this.pinning.generatorCpu,
      uniquePrefix: target.uniquePrefix?.(run),
    });
    return { load, cpu: usageBetween(before, snapshot(this.servers)) };
  }

  /**
   * Warms both targets, then runs `rounds` rounds alternating which goes first (edge/ref,
   * ref/edge, ...) so that drift in the machine's state falls on both alike.
   */
  async scenario(
    name: string,
    reference: string,
    goal: number,
    edge: Target,
    ref: Target,
    check: (edgeRounds: Round[]) => Promise<string[]>,
    counters: () => Promise<void>,
  ): Promise<ScenarioResult> {
    process.stderr.write(`bench: ${name} `);
    if (this.options.warmupSec > 0) {
      await this.load(edge, this.options.warmupSec);
      await this.load(ref, this.options.warmupSec);
      process.stderr.write('(warm) ');
    }
    await counters();
    const result: ScenarioResult = { name, reference, goal, edge: [], ref: [], checks: [] };
    for (let r = 0; r < this.options.rounds; r++) {
      for (const t of r % 2 === 0 ? [edge, ref] : [ref, edge]) {
        const round = await this.load(t, this.options.durationSec);
        (t.name === 'edge' ? result.edge : result.ref).push(round);
        process.stderr.write('.');
      }
    }
    process.stderr.write('\n');
    result.checks = await check(result.edge);
    return result;
  }
}

/** Warms the cache for `path` and returns the edge's hit response (asserted to be a hit). */
async function warmHit(edge: EdgeUnderTest, path: string, size: number) {
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

/** Writes what the bare server answers: the edge's hit responses, byte for byte, headers as sent. */
function writeBareSpec(dir: string, hits: { path: string; raw: Awaited<ReturnType<typeof warmHit>> }[]) {
  // Node adds its own connection handling fields; every other field is sent as the edge sent it.
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

async function main(argv: string[]): Promise<number> {
  const options = parseOptions(argv);
  if (!options) {
    console.log(usage);
    return 0;
  }
  checkWrk();
  stopChildrenOnExit();
  const pinning = detectPinning();
  const dir = mkdtempSync(join(tmpdir(), 'strata-bench-'));
  const profileDir = options.profile ? join(dir, 'profile') : undefined;
  const header0 = machineLines(pinning);
  const foreignBefore = await idleCheck(1000);
  header0.push(
    `other work on the box before the run: ${foreignBefore === undefined ? '?' : (foreignBefore * 100).toFixed(1)}% of all CPU`,
  );
  const listening = (line: Record<string, unknown>) => line.msg === 'listening';
  try {
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
      profileDir,
    });
    const sizes = [
      { label: '1 KiB', bytes: 1024, goal: 0.85 },
      { label: '100 KiB', bytes: 100 * 1024, goal: 0.95 },
    ];
    const hits = [];
    for (const s of sizes)
      hits.push({ path: `/obj/${s.bytes}`, raw: await warmHit(edge, `/obj/${s.bytes}`, s.bytes) });
    const bare = await startChild({
      name: 'bare',
      command: process.execPath,
      args: [join(here, 'bare-server.js'), '--spec', writeBareSpec(dir, hits)],
      cpu: pinning.serverCpu,
      logFile: join(dir, 'bare.log'),
      ready: listening,
    });
    const bareUrl = `http://127.0.0.1:${Number(bare.ready.port)}`;
    const bench = new Bench(options, pinning, writeWrkScript(dir));
    for (const c of [origin, edge.child, bare]) bench.addServerPid(c.process.pid);

    let base = await readCounters(edge.adminUrl);
    const resetCounters = async () => {
      base = await readCounters(edge.adminUrl);
    };
    const results: ScenarioResult[] = [];
    if (options.scenarios.has('hit')) {
      for (const s of sizes) {
        const path = `/obj/${s.bytes}`;
        results.push(
          await bench.scenario(
            `hit ${s.label}`,
            'bare',
            s.goal,
            { name: 'edge', url: () => edge.url + path },
            { name: 'ref', url: () => bareUrl + path },
            async (rounds) => {
              const d = countersDelta(base, await readCounters(edge.adminUrl));
              const served = rounds.reduce((a, r) => a + r.load.requests, 0);
              const other = Object.entries(d.requests).filter(([k]) => k !== 'hit');
              return [
                `edge counted ${d.requests.hit ?? 0} hits for ${served} responses wrk saw` +
                  (other.length
                    ? `; NOT hits: ${other.map(([k, v]) => `${k}=${v}`).join(' ')}`
                    : '; no other outcome'),
              ];
            },
            resetCounters,
          ),
        );
      }
    }
    if (options.scenarios.has('miss')) {
      const prefix = (run: number) => `/obj/1024/u${run}-`;
      results.push(
        await bench.scenario(
          `miss 1 KiB (origin +${options.originDelayMs} ms)`,
          'origin',
          0.9,
          { name: 'edge', url: (run) => `${edge.url}${prefix(run)}0`, uniquePrefix: prefix },
          { name: 'ref', url: (run) => `${originUrl}${prefix(run)}0`, uniquePrefix: prefix },
          async (rounds) => {
            const d = countersDelta(base, await readCounters(edge.adminUrl));
            const served = rounds.reduce((a, r) => a + r.load.requests, 0);
            const other = Object.entries(d.requests).filter(([k]) => k !== 'miss');
            return [
              `edge counted ${d.requests.miss ?? 0} misses for ${served} responses wrk saw` +
                (other.length ? `; NOT misses: ${other.map(([k, v]) => `${k}=${v}`).join(' ')}` : '') +
                `; objects stored ${d.objects >= 0 ? '+' : ''}${d.objects} (net of evictions), not stored ${d.notStored}`,
            ];
          },
          resetCounters,
        ),
      );
    }
    await stopAll();
    const [l1] = loadavg();
    const worst = worstForeign(results);
    const lines = [
      ...header0,
      `load average after: ${l1.toFixed(2)} (1 min); most CPU taken by other processes in any round: ${(worst * 100).toFixed(1)}%`,
      `runs: ${options.rounds} round(s) x ${options.durationSec} s per target, warm-up ${options.warmupSec} s, ` +
        `${options.connections} connections, wrk -t1; edge access log on (to ${edge.logFile})`,
      '',
      formatTable(results.map(summarize)),
      '',
      'rounds (req/s):',
      formatRounds(results, { server: pinning.serverCpu, generator: pinning.generatorCpu }),
    ];
    if (worst > 0.05)
      lines.push(
        '',
        `WARNING: other processes took up to ${(worst * 100).toFixed(0)}% of the CPUs: numbers are noisy.`,
      );
    if (options.quick) lines.push('', 'quick run: a smoke check, not a measurement.');
    if (options.profile)
      lines.push('', 'profiled run: the edge ran under --cpu-prof, its numbers are slower.');
    console.log(lines.join('\n'));
    if (profileDir) {
      for (const f of readdirSync(profileDir).filter((f) => f.endsWith('.cpuprofile'))) {
        const file = join(profileDir, f);
        console.log(`\nedge CPU profile ${file}\n${formatProfile(summarizeProfile(file, repoRoot + '/'))}`);
      }
    }
    return 0;
  } finally {
    await stopAll();
    if (options.keep) console.error(`bench: kept ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    console.error(`bench: ${err instanceof Error ? err.message : String(err)}`);
    void stopAll(3_000).finally(() => {
      process.exitCode = 1;
    });
  },
);
