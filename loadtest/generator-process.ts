// A load generator's process: spawned pinned to its CPU, stopped with the bench on a signal, run
// to its end; its one BENCH_RESULT line is the result.

import { spawn } from 'node:child_process';
import type { LoadResult } from './load.js';
import { pinned, track } from './processes.js';

/** The line every generator prints at its end (latencies in µs, duration in µs). */
export interface BenchResultLine {
  requests: number;
  durationUs: number;
  p50Us: number;
  p99Us: number;
  errors: number;
}

/** Runs `command args` on `cpu` to its end; its stdout and stderr together, and its exit code. */
export async function runGeneratorProcess(
  command: string,
  args: string[],
  cpu: number | undefined,
  env: Record<string, string> = {},
): Promise<{ out: string; code: number | null }> {
  const [cmd, cmdArgs] = pinned(cpu, command, args);
  const child = spawn(cmd, cmdArgs, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  track(child);
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
  child.stderr.setEncoding('utf8').on('data', (s: string) => (out += s));
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (c) => resolve(c));
  });
  return { out, code };
}

/** Reads the BENCH_RESULT line; throws with the generator's output when there is none. */
export function readBenchResult(
  generator: string,
  out: string,
  code: number | null,
  url: string,
): LoadResult {
  const line = /^BENCH_RESULT (\{.*\})$/m.exec(out)?.[1];
  if (code !== 0 || !line) throw new Error(`${generator} failed (exit ${code}) on ${url}:\n${out.trim()}`);
  const r = JSON.parse(line) as BenchResultLine;
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
