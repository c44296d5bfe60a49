// The bench's results: the median of interleaved rounds per scenario, the ratio to the reference
// and the goal, formatted as the table that `npm run bench` prints and docs/benchmarks.md quotes.

import type { LoadResult } from './load.js';
import type { CpuUsage, SyscallCount } from './cpu-usage.js';

/** One measured run of one target, with what the CPUs and the answering server did meanwhile. */
export interface Round {
  load: LoadResult;
  cpu: CpuUsage | undefined;
  /** System calls of the server that answered, during the run. */
  syscalls: SyscallCount | undefined;
}

export interface ScenarioResult {
  name: string;
  /** What the edge is compared with: 'bare' (in-memory node:http server) or 'origin' (direct). */
  reference: string;
  /** Least edge/reference throughput ratio that meets the goal; undefined: for information. */
  goal: number | undefined;
  connections: number;
  edge: Round[];
  ref: Round[];
  /** Runs done again because other processes used the CPUs meanwhile (--retry-noisy). */
  discarded: number;
  /** Findings from the edge's own counters, e.g. "hit=123456 other=0". */
  checks: string[];
}

export type Verdict = 'PASS' | 'MISS' | 'ERR' | '-';

export interface Summary {
  name: string;
  reference: string;
  edge: LoadResult;
  ref: LoadResult;
  connections: number;
  ratio: number;
  goal: number | undefined;
  verdict: Verdict;
}

export function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** Medians of each figure over the rounds (each figure on its own). */
function medianLoad(rounds: Round[]): LoadResult {
  const loads = rounds.map((r) => r.load);
  const m = (f: (l: LoadResult) => number) => median(loads.map(f));
  return {
    requests: m((l) => l.requests),
    durationSec: m((l) => l.durationSec),
    requestsPerSec: m((l) => l.requestsPerSec),
    p50Ms: m((l) => l.p50Ms),
    p99Ms: m((l) => l.p99Ms),
    errors: loads.reduce((a, l) => a + l.errors, 0),
  };
}

export function summarize(s: ScenarioResult): Summary {
  const edge = medianLoad(s.edge);
  const ref = medianLoad(s.ref);
  const ratio = ref.requestsPerSec > 0 ? edge.requestsPerSec / ref.requestsPerSec : 0;
  const verdict: Verdict =
    edge.errors + ref.errors > 0 ? 'ERR' : s.goal === undefined ? '-' : ratio >= s.goal ? 'PASS' : 'MISS';
  return {
    name: s.name,
    reference: s.reference,
    connections: s.connections,
    edge,
    ref,
    ratio,
    goal: s.goal,
    verdict,
  };
}

const num = (n: number) => Math.round(n).toLocaleString('en-US');
const ms = (n: number) => (n >= 10 ? n.toFixed(1) : n.toFixed(2));

/** The results table, fixed-width text (also valid inside a Markdown code block). */
export function formatTable(summaries: Summary[]): string {
  const header = [
    'scenario',
    'reference',
    'conns',
    'edge req/s',
    'ref req/s',
    'ratio',
    'edge p50/p99 ms',
    'ref p50/p99 ms',
    'goal',
    'result',
  ];
  const rows = summaries.map((s) => [
    s.name,
    s.reference,
    String(s.connections),
    num(s.edge.requestsPerSec),
    num(s.ref.requestsPerSec),
    `${s.ratio.toFixed(2)}x`,
    `${ms(s.edge.p50Ms)} / ${ms(s.edge.p99Ms)}`,
    `${ms(s.ref.p50Ms)} / ${ms(s.ref.p99Ms)}`,
    s.goal === undefined ? '-' : `>= ${s.goal.toFixed(2)}x`,
    s.verdict,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === 0 || i === 1 || i === 9 ? c.padEnd(widths[i]) : c.padStart(widths[i])))
      .join('  ')
      .trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

const pct = (x: number | undefined) => (x === undefined ? '?' : `${Math.round(x * 100)}%`);

/** Per-round figures, so the spread behind each median is visible. */
export function formatRounds(
  results: ScenarioResult[],
  cpus: { server?: number; generator?: number },
): string {
  const out: string[] = [];
  const round = (r: Round) => {
    const serverBusy = cpus.server === undefined ? undefined : r.cpu?.busy.get(cpus.server);
    // CPU time of the server's CPU per response: steadier across runs than req/s. (Not for
    // the origin reference, whose server CPU stays idle.)
    const perRequest =
      serverBusy !== undefined && serverBusy >= 0.05 && r.load.requestsPerSec > 0
        ? `, ${((serverBusy * 1e6) / r.load.requestsPerSec).toFixed(0)} µs/req`
        : '';
    const cpu = r.cpu
      ? ` (cpu server ${pct(serverBusy)}${perRequest}` +
        ` gen ${pct(cpus.generator === undefined ? undefined : r.cpu.busy.get(cpus.generator))}` +
        ` foreign ${(r.cpu.foreign * 100).toFixed(1)}%)`
      : '';
    // Reads and writes per response: the edge's I/O next to the reference's (a hit is one read
    // and one writev in both; a miss adds the upstream request and response).
    const n = r.load.requests;
    const io =
      r.syscalls && n > 0
        ? ` syscalls/req ${(r.syscalls.reads / n).toFixed(2)} r ${(r.syscalls.writes / n).toFixed(2)} w`
        : '';
    const err = r.load.errors > 0 ? ` ${r.load.errors} errors` : '';
    return `${num(r.load.requestsPerSec)}${cpu}${io}${err}`;
  };
  for (const s of results) {
    out.push(`${s.name}, ${s.connections} connections, edge vs ${s.reference}`);
    out.push(`  edge:   ${s.edge.map(round).join(', ')}`);
    out.push(`  ${s.reference.padEnd(6)}: ${s.ref.map(round).join(', ')}`);
    if (s.discarded > 0)
      out.push(`  noisy:  ${s.discarded} run(s) done again (other processes used the CPUs)`);
    for (const c of s.checks) out.push(`  check:  ${c}`);
  }
  return out.join('\n');
}

/** The largest share of CPU time taken by other processes during any measured round. */
export function worstForeign(results: ScenarioResult[]): number {
  let worst = 0;
  for (const s of results)
    for (const r of [...s.edge, ...s.ref]) worst = Math.max(worst, r.cpu?.foreign ?? 0);
  return worst;
}
