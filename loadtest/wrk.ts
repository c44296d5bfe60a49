// The load generator: wrk (C, one thread, pinned to its own CPU), driven by a Lua script that
// prints its summary as one JSON line and, for the miss path, makes every request path unique.

import { spawn, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pinned, track } from './processes.js';

/** One bounded load run, as wrk measured it. */
export interface LoadResult {
  requests: number;
  durationSec: number;
  requestsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  /** Socket errors, timeouts and responses that were not 2xx/3xx. */
  errors: number;
}

export interface LoadOptions {
  url: string;
  connections: number;
  durationSec: number;
  cpu: number | undefined;
  /** When set, request i of thread t goes to `${uniquePrefix}${t}-${i}` (every request a new path). */
  uniquePrefix?: string;
  /** Extra request fields ("Name: value"), sent with every request. */
  headers?: readonly string[];
}

/** What a desktop browser sends on a navigation, besides Host (--request-headers browser). */
export const browserHeaders: readonly string[] = [
  'User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36',
  'Accept: text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8',
  'Accept-Language: en-US,en;q=0.9',
  'Accept-Encoding: gzip, deflate, br',
  'Connection: keep-alive',
  'Upgrade-Insecure-Requests: 1',
  'Sec-Fetch-Dest: document',
  'Sec-Fetch-Mode: navigate',
  'Sec-Fetch-Site: none',
  'Sec-Fetch-User: ?1',
  'Cookie: session=abc123; theme=dark; _ga=GA1.2.1234567890.1700000000',
  'Referer: https://www.example.test/',
];

/** wrk's done(): prints the one BENCH_RESULT JSON line that runWrk() (and disk-bench) read. */
export const wrkDone = `function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests":%d,"durationUs":%d,"p50Us":%.1f,"p99Us":%.1f,"errors":%d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.status + e.timeout))
end
`;

// wrk runs setup() once per thread in the main Lua state, then request() per request and done()
// once in the main state. Latencies are in microseconds.
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

/** Fails with an install hint when wrk is not on PATH. */
export function checkWrk(): void {
  const r = spawnSync('wrk', ['--version'], { encoding: 'utf8' });
  if (r.error) {
    throw new Error('wrk is not installed: apt-get install -y wrk (Debian), then run the bench again');
  }
}

/** Writes the Lua script into `dir`; returns its path. */
export function writeWrkScript(dir: string): string {
  const path = join(dir, 'bench.lua');
  writeFileSync(path, script);
  return path;
}

/** Runs wrk once (one thread, bounded by durationSec) and parses its summary. */
export async function runWrk(scriptPath: string, options: LoadOptions): Promise<LoadResult> {
  const wrkArgs = [
    '-t1',
    `-c${options.connections}`,
    `-d${Math.max(1, Math.round(options.durationSec))}s`,
    '--timeout',
    '10s',
    '-s',
    scriptPath,
    ...(options.headers ?? []).flatMap((h) => ['-H', h]),
    options.url,
  ];
  const [command, args] = pinned(options.cpu, 'wrk', wrkArgs);
  const child = spawn(command, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, BENCH_UNIQUE_PREFIX: options.uniquePrefix ?? '' },
  });
  track(child);
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
  child.stderr.setEncoding('utf8').on('data', (s: string) => (out += s));
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (c) => resolve(c));
  });
  return readWrkResult(out, code, options.url);
}

/** Reads the BENCH_RESULT line that wrkDone prints; throws with wrk's output when there is none. */
export function readWrkResult(out: string, code: number | null, url: string): LoadResult {
  const line = /^BENCH_RESULT (\{.*\})$/m.exec(out)?.[1];
  if (code !== 0 || !line) throw new Error(`wrk failed (exit ${code}) on ${url}:\n${out.trim()}`);
  const r = JSON.parse(line) as {
    requests: number;
    durationUs: number;
    p50Us: number;
    p99Us: number;
    errors: number;
  };
  const durationSec = r.durationUs / 1e6;
  return {
    requests: r.requests,
    durationSec,
    requestsPerSec: r.requests / durationSec,
    p50Ms: r.p50Us / 1000,
    p99Ms: r.p99Us / 1000,
    errors: r.errors,
  };
}
