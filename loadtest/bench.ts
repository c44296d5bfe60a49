#!/usr/bin/env node
// npm run bench: the edge against references, in one run (see docs/benchmarks.md).
// Starts an origin, an edge and a bare node:http server as child processes (the servers under test
// pinned to one CPU, the load generator (wrk, or autocannon with --quick) and the origin to the
// other), warms the cache, then loads in interleaved rounds:
//   hit-1k, hit-100k: edge cache hits vs the bare server answering the same bytes and headers;
//   miss: unique URLs through the edge (miss + store) vs the same 5 ms origin reached directly.
// Prints the median of the rounds per scenario, its ratio to the reference and the goal.

import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir, loadavg, cpus as osCpus } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { detectPinning, stopAll, stopChildrenOnExit, type Pinning } from './processes.js';
import { openLoadGenerator, type LoadGenerator } from './load.js';
import { snapshot, usageBetween } from './cpu-usage.js';
import type { EdgeUnderTest } from './edge-under-test.js';
import { formatRounds, formatTable, summarize, worstForeign, type ScenarioResult } from './report.js';
import { formatProfile, summarizeProfile } from './cpu-profile.js';
import { parseOptions, usage, type BenchOptions } from './options.js';
import { Runner } from './runner.js';
import { repoRoot, startServers } from './servers.js';
import { buildScenarios } from './scenarios.js';

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
async function machineLines(pinning: Pinning, generator: LoadGenerator, sampleMs: number): Promise<string[]> {
  const model = osCpus()[0]?.model ?? 'unknown CPU';
  const [l1, l5] = loadavg();
  const idle = await foreignShare(sampleMs);
  return [
    `machine: ${osCpus().length} x ${model}; node ${process.version}; ${generator.label}`,
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
  generator: LoadGenerator,
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
      `${options.connections} connections, ${generator.label}, ${options.requestHeaders === 'browser' ? 'twelve browser request fields' : 'Host only'}; ` +
      `edge access log ${options.accessLog ? 'on' : 'OFF'} (${edge.logFile})`,
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
  const dir = mkdtempSync(join(tmpdir(), 'strata-bench-'));
  const cleanup = () => {
    if (options.keep) console.error(`bench: kept ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  };
  stopChildrenOnExit(cleanup);
  try {
    const generator = openLoadGenerator(options.generator, dir);
    const pinning = detectPinning();
    if (options.waitQuietSec > 0) await waitQuiet(options.waitQuietSec);
    const machine = await machineLines(pinning, generator, options.quick ? 250 : 1000);
    const servers = await startServers(options, pinning, dir);
    const runner = new Runner(options, pinning, generator, servers.pids);
    const results: ScenarioResult[] = [];
    for (const s of buildScenarios(options, servers)) results.push(await runner.scenario(s));
    // Stopped before the report: a profiled edge writes its profile on exit.
    await stopAll();
    console.log(report(options, pinning, machine, servers.edge, generator, results));
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
