// One autocannon run, in a process of its own (see autocannon.ts): argv[2] is an AutocannonRun as
// JSON; prints the BENCH_RESULT line that readBenchResult() reads, as wrk's script does.

import autocannon from 'autocannon';
import type { AutocannonRun } from './autocannon.js';
import type { BenchResultLine } from './generator-process.js';

const run = JSON.parse(process.argv[2]) as AutocannonRun;
const headers = Object.fromEntries(
  (run.headers ?? []).map((h) => [h.slice(0, h.indexOf(':')), h.slice(h.indexOf(':') + 1).trim()]),
);
// idReplacement puts a new id in place of [<id>] in every request: every path a new one.
const result = await autocannon({
  url: run.uniquePrefix ? `${new URL(run.url).origin}${run.uniquePrefix}[<id>]` : run.url,
  idReplacement: run.uniquePrefix !== undefined,
  connections: run.connections,
  duration: Math.max(1, Math.round(run.durationSec)),
  timeout: 10,
  headers,
});
const line: BenchResultLine = {
  requests: result.requests.total,
  durationUs: Math.round(result.duration * 1e6),
  p50Us: result.latency.p50 * 1000,
  p99Us: result.latency.p99 * 1000,
  // errors counts timeouts too; like wrk, a 4xx or 5xx response is an error.
  errors: result.errors + result['4xx'] + result['5xx'],
};
console.log(`BENCH_RESULT ${JSON.stringify(line)}`);
