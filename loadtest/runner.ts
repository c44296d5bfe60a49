// Runs one scenario: warm both targets, then interleaved rounds (edge/ref, ref/edge, ...) so that
// drift in the machine's state falls on both alike, each round one bounded load-generator run with
// the CPU accounting around it.

import type { BenchOptions } from './options.js';
import type { Pinning } from './processes.js';
import { snapshot, syscallCount, usageBetween } from './cpu-usage.js';
import { browserHeaders, type LoadGenerator } from './load.js';
import type { Round, ScenarioResult } from './report.js';

/** Something the load generator loads; `run` numbers its every run in the bench (1, 2, ...). */
export interface Target {
  url: (run: number) => string;
  /** For unique paths per request (see LoadOptions.uniquePrefix). */
  uniquePrefix?: (run: number) => string;
  /** The process that answers (its system calls are counted). */
  pid: number;
}

export interface Scenario {
  name: string;
  /** What the edge is compared with, for the table: 'bare' or 'origin'. */
  reference: string;
  /** Least edge/reference throughput ratio that meets the goal; undefined: for information. */
  goal: number | undefined;
  /** Connections for this scenario; default: --connections. */
  connections?: number;
  edge: Target;
  ref: Target;
  /** Runs before the measured rounds (after warm-up): e.g. reads the edge's counters. */
  before(): Promise<void>;
  /** Runs after them: findings from the edge's counters, one line each; gets every edge run
   *  since before(), the discarded noisy ones too. */
  check(edgeRuns: Round[]): Promise<string[]>;
}

/** Share of all CPU that other processes may use during a run before it counts as noisy. */
export const noisyShare = 0.05;

export class Runner {
  private run = 0;

  constructor(
    private readonly options: BenchOptions,
    private readonly pinning: Pinning,
    private readonly generator: LoadGenerator,
    /** The long-running children (their CPU time is the bench's, not foreign). */
    private readonly serverPids: readonly number[],
  ) {}

  private async load(target: Target, durationSec: number, connections: number): Promise<Round> {
    const run = ++this.run;
    const before = snapshot(this.serverPids);
    const syscallsBefore = syscallCount(target.pid);
    const load = await this.generator.run({
      url: target.url(run),
      connections,
      durationSec,
      cpu: this.pinning.generatorCpu,
      uniquePrefix: target.uniquePrefix?.(run),
      headers: this.options.requestHeaders === 'browser' ? browserHeaders : undefined,
    });
    const syscallsAfter = syscallCount(target.pid);
    return {
      load,
      cpu: usageBetween(before, snapshot(this.serverPids)),
      syscalls: syscallsBefore &&
        syscallsAfter && {
          reads: syscallsAfter.reads - syscallsBefore.reads,
          writes: syscallsAfter.writes - syscallsBefore.writes,
        },
    };
  }

  async scenario(s: Scenario): Promise<ScenarioResult> {
    process.stderr.write(`bench: ${s.name} `);
    const connections = s.connections ?? this.options.connections;
    if (this.options.warmupSec > 0) {
      await this.load(s.edge, this.options.warmupSec, connections);
      await this.load(s.ref, this.options.warmupSec, connections);
      process.stderr.write('(warm) ');
    }
    await s.before();
    const result: ScenarioResult = {
      name: s.name,
      reference: s.reference,
      goal: s.goal,
      connections,
      edge: [],
      ref: [],
      discarded: 0,
      checks: [],
    };
    const edgeRuns: Round[] = [];
    for (let r = 0; r < this.options.rounds; r++) {
      const order: ('edge' | 'ref')[] = r % 2 === 0 ? ['edge', 'ref'] : ['ref', 'edge'];
      for (const which of order) {
        const round = await this.measured(s[which], connections, (noisy) => {
          result.discarded++;
          if (which === 'edge') edgeRuns.push(noisy);
        });
        result[which].push(round);
        if (which === 'edge') edgeRuns.push(round);
      }
    }
    process.stderr.write('\n');
    result.checks = await s.check(edgeRuns);
    return result;
  }

  /**
   * One measured run. A run in which other processes used more than `noisyShare` of all CPU is
   * done again, at most --retry-noisy times; the last attempt is kept whatever it shows.
   */
  private async measured(target: Target, connections: number, discard: (r: Round) => void): Promise<Round> {
    for (let attempt = 0; ; attempt++) {
      const round = await this.load(target, this.options.durationSec, connections);
      if (attempt >= this.options.retryNoisy || (round.cpu?.foreign ?? 0) <= noisyShare) {
        process.stderr.write('.');
        return round;
      }
      process.stderr.write('x');
      discard(round);
    }
  }
}
