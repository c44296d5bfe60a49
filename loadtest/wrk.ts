// wrk as the bench's load generator: C, one thread, driven by a Lua script that prints its
// summary as one JSON line and, for the miss path, makes every request path unique.

import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { LoadGenerator, LoadOptions, LoadResult } from './load.js';
import { readBenchResult, runGeneratorProcess } from './generator-process.js';

/** wrk's done(): prints the one BENCH_RESULT JSON line that readBenchResult() (and disk-bench) read. */
export const wrkDone = `function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests":%d,"durationUs":%d,"p50Us":%.1f,"p99Us":%.1f,"errors":%d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.status + e.timeout))
end
`;

// wrk runs setup() once per thread in the main Lua state, then request() per request and done()
// once in the main state. Latencies are in microseconds. Request i of thread t goes to
// BENCH_UNIQUE_PREFIX .. t .. "-" .. i when that is set.
const script = `
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end
local prefix = os.getenv("BENCH_UNIQUE_PREFIX")
local counter = 0
if prefix ~= nil and prefix ~= "" then
  function request()
    counter = counter + 1
    return wrk.format(nil, prefix .. tid .. "-" .. counter)
  end
end
${wrkDone}`;

/**
 * Returns wrk's version; throws one line with the install hint when wrk is not on PATH
 * (`alternative`: what else the command offers, e.g. "or run with --generator autocannon").
 */
export function checkWrk(alternative?: string): string {
  const r = spawnSync('wrk', ['--version'], { encoding: 'utf8' });
  if (r.error) {
    const hint = alternative ? `, ${alternative}` : ', then run the bench again';
    throw new Error(`wrk is not installed: apt-get install -y wrk (Debian)${hint}`);
  }
  return /wrk (\S+)/.exec(`${r.stdout}${r.stderr}`)?.[1] ?? '?';
}

export class Wrk implements LoadGenerator {
  readonly name = 'wrk';
  readonly label: string;

  private constructor(
    private readonly scriptPath: string,
    version: string,
  ) {
    this.label = `wrk ${version}, one thread`;
  }

  /** Checks that wrk is installed and writes its Lua script into `dir`. */
  static open(dir: string): Wrk {
    const version = checkWrk('or run with --generator autocannon (installed by npm ci)');
    const scriptPath = join(dir, 'bench.lua');
    writeFileSync(scriptPath, script);
    return new Wrk(scriptPath, version);
  }

  /** Runs wrk once (one thread, bounded by durationSec) and parses its summary. */
  async run(options: LoadOptions): Promise<LoadResult> {
    const args = [
      '-t1',
      `-c${options.connections}`,
      `-d${Math.max(1, Math.round(options.durationSec))}s`,
      '--timeout',
      '10s',
      '-s',
      this.scriptPath,
      ...(options.headers ?? []).flatMap((h) => ['-H', h]),
      options.url,
    ];
    const { out, code } = await runGeneratorProcess('wrk', args, options.cpu, {
      BENCH_UNIQUE_PREFIX: options.uniquePrefix ?? '',
    });
    return readBenchResult('wrk', out, code, options.url);
  }
}
