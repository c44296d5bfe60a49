#!/usr/bin/env node
// npm run bench:ab -- --base REF: the edge built from git REF against this working tree, side by
// side in one run. Builds REF into .ab/<commit>/ (a git worktree inside the repository, so the
// build finds this checkout's node_modules), starts one origin and two edges pinned to the same
// CPU, and alternates bounded load runs between them (base, this; this, base; ...), for 1 KiB hits
// and for misses of unique URLs. It reports the CPU time each edge process spent per response:
// on a noisy machine that compares two builds far better than req/s of separate bench runs.

import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { processTicks, ticksPerSecond } from './cpu-usage.js';
import { fetchRaw, startEdgeUnderTest, type EdgeUnderTest } from './edge-under-test.js';
import { detectPinning, startChild, stopAll, stopChildrenOnExit } from './processes.js';
import { median } from './report.js';
import { repoRoot } from './servers.js';
import { openLoadGenerator, parseGeneratorName, type GeneratorName } from './load.js';

const usage = `Usage: npm run bench:ab -- --base REF [options]

Compares the edge built from git REF (a commit, branch or tag) with this working tree's build.

Options:
  --base REF           what to compare against (required); built once into .ab/<commit>/
  --scenarios LIST     hit, miss or both (default hit,miss)
  --rounds N           runs per edge and scenario, alternating (default 4, at most 20)
  --duration SEC       seconds per run (default 4, at most 60)
  --access-log on|off  the edges' access log (default on)
  --generator wrk|autocannon
                       the load generator (default wrk; autocannon is installed by npm ci)
  -h, --help           show this help

REF is built with this checkout's node_modules: compare builds whose dependencies match.`;

interface AbOptions {
  base: string;
  scenarios: ('hit' | 'miss')[];
  rounds: number;
  durationSec: number;
  accessLog: boolean;
  generator: GeneratorName;
}

function parseOptions(argv: string[]): AbOptions | undefined {
  const { values } = parseArgs({
    args: argv,
    options: {
      base: { type: 'string' },
      scenarios: { type: 'string', default: 'hit,miss' },
      rounds: { type: 'string', default: '4' },
      duration: { type: 'string', default: '4' },
      'access-log': { type: 'string', default: 'on' },
      generator: { type: 'string', default: 'wrk' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) return undefined;
  if (!values.base) throw new Error('--base REF is required (for example --base HEAD~1)');
  const int = (name: string, v: string, max: number) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1 || n > max)
      throw new Error(`--${name}: expected an integer from 1 to ${max}, got ${v}`);
    return n;
  };
  const scenarios = values.scenarios.split(',');
  for (const s of scenarios)
    if (s !== 'hit' && s !== 'miss')
      throw new Error(`--scenarios: unknown scenario "${s}" (known: hit, miss)`);
  const accessLog = values['access-log'];
  if (accessLog !== 'on' && accessLog !== 'off')
    throw new Error(`--access-log: expected on or off, got ${accessLog}`);
  return {
    base: values.base,
    scenarios: scenarios as AbOptions['scenarios'],
    rounds: int('rounds', values.rounds, 20),
    durationSec: int('duration', values.duration, 60),
    accessLog: accessLog === 'on',
    generator: parseGeneratorName(values.generator),
  };
}

function git(args: string[]): string {
  const r = spawnSync('git', args, { cwd: repoRoot, encoding: 'utf8' });
  if (r.error || r.status !== 0)
    throw new Error(`git ${args.join(' ')} failed: ${r.stderr || r.error?.message}`);
  return r.stdout.trim();
}

/** Where the CLI is in a build: shared/cli/strata.js now, edge/cli.js before the node roles. */
const cliPaths = [join('shared', 'cli', 'strata.js'), join('edge', 'cli.js')];

/** The CLI of the build in `dist`, or undefined when it has none. */
function builtCli(dist: string): string | undefined {
  return cliPaths.map((p) => join(dist, p)).find((p) => existsSync(p));
}

/** Builds `ref` once into .ab/<commit>/dist and returns the path of its edge CLI. */
function buildBase(ref: string): { commit: string; cliPath: string } {
  const commit = git(['rev-parse', '--verify', `${ref}^{commit}`]);
  const dir = join(repoRoot, '.ab', commit);
  const built = builtCli(join(dir, 'dist'));
  if (built) return { commit, cliPath: built };
  const src = join(dir, 'src');
  let cliPath: string | undefined;
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  // A build interrupted earlier leaves its worktree registered: forget it first.
  git(['worktree', 'prune']);
  git(['worktree', 'add', '--detach', src, commit]);
  try {
    const tsc = join(repoRoot, 'node_modules', 'typescript', 'bin', 'tsc');
    const r = spawnSync(process.execPath, [tsc, '-p', src, '--outDir', join(dir, 'dist')], {
      encoding: 'utf8',
    });
    cliPath = builtCli(join(dir, 'dist'));
    if (!cliPath) throw new Error(`building ${ref} (${commit}) failed:\n${r.stdout}${r.stderr}`);
    // tsc emits despite type errors: say so, since they usually mean REF needs other dependencies.
    if (r.status !== 0)
      process.stderr.write(
        `bench:ab: ${ref} built with type errors (compare with care):\n${r.stdout}${r.stderr}\n`,
      );
  } finally {
    git(['worktree', 'remove', '--force', src]);
  }
  return { commit, cliPath };
}

interface Side {
  label: string;
  edge: EdgeUnderTest;
  /** µs of the edge process's CPU time per response, one entry per run. */
  usPerResponse: number[];
}

async function main(argv: string[]): Promise<number> {
  const options = parseOptions(argv);
  if (!options) {
    console.log(usage);
    return 0;
  }
  const dir = mkdtempSync(join(tmpdir(), 'strata-ab-'));
  stopChildrenOnExit(() => rmSync(dir, { recursive: true, force: true }));
  try {
    const generator = openLoadGenerator(options.generator, dir);
    const base = buildBase(options.base);
    const pinning = detectPinning();
    const origin = await startChild({
      name: 'origin',
      command: process.execPath,
      args: [join(repoRoot, 'dist/loadtest/origin-server.js'), '--delay-ms', '5'],
      cpu: pinning.generatorCpu,
      logFile: join(dir, 'origin.log'),
      ready: (line) => line.msg === 'listening',
    });
    const originUrl = `http://127.0.0.1:${Number(origin.ready.port)}`;
    const start = (label: string, cliPath: string): Promise<Side> => {
      const sideDir = join(dir, label);
      mkdirSync(sideDir);
      return startEdgeUnderTest({
        dir: sideDir,
        cliPath,
        originUrl,
        cpu: pinning.serverCpu,
        accessLog: options.accessLog,
      }).then((edge) => ({ label, edge, usPerResponse: [] }));
    };
    const sides = [
      await start(`base ${base.commit.slice(0, 7)}`, base.cliPath),
      await start('this tree', join(repoRoot, 'dist', cliPaths[0])),
    ];
    let run = 0;
    const load = async (side: Side, scenario: 'hit' | 'miss', durationSec: number): Promise<number> => {
      const pid = side.edge.child.process.pid ?? 0;
      const before = processTicks(pid, false);
      const prefix = `/obj/1024/ab${++run}-`;
      const result = await generator.run({
        url: `${side.edge.url}${scenario === 'hit' ? '/obj/1024' : `${prefix}0`}`,
        connections: 64,
        durationSec,
        cpu: pinning.generatorCpu,
        uniquePrefix: scenario === 'miss' ? prefix : undefined,
      });
      if (result.errors > 0) throw new Error(`${side.label}: ${result.errors} errors in a ${scenario} run`);
      return (((processTicks(pid, false) - before) / ticksPerSecond) * 1e6) / result.requests;
    };
    const lines = [
      `pinning: ${pinning.note}; load generator: ${generator.label}`,
      `base: ${options.base} = ${base.commit}`,
      '',
    ];
    for (const scenario of options.scenarios) {
      process.stderr.write(`ab: ${scenario} `);
      for (const side of sides) {
        side.usPerResponse = [];
        if (scenario === 'hit') await fetchRaw(`${side.edge.url}/obj/1024`); // fills the cache
        await load(side, scenario, 2); // warm-up, not counted
      }
      for (let r = 0; r < options.rounds; r++) {
        for (const side of r % 2 === 0 ? sides : [...sides].reverse()) {
          side.usPerResponse.push(await load(side, scenario, options.durationSec));
          process.stderr.write('.');
        }
      }
      process.stderr.write('\n');
      const [a, b] = sides.map((s) => median(s.usPerResponse));
      lines.push(
        `${scenario === 'hit' ? '1 KiB hits' : 'misses (origin +5 ms)'}, 64 connections, µs of edge CPU per response:`,
      );
      for (const side of sides)
        lines.push(
          `  ${side.label.padEnd(14)} median ${median(side.usPerResponse).toFixed(1).padStart(6)}   runs ${side.usPerResponse.map((x) => x.toFixed(1)).join(', ')}`,
        );
      lines.push(`  this tree / base: ${(b / a).toFixed(3)} (below 1: this tree is cheaper)`, '');
    }
    await stopAll();
    console.log(lines.join('\n'));
    return 0;
  } finally {
    await stopAll();
    rmSync(dir, { recursive: true, force: true });
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    console.error(`bench:ab: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 1;
  },
);
