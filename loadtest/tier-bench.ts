#!/usr/bin/env node
// npm run bench:tier: origin offload through the shield tier, and the cost of its extra hop.
// Starts the bench origin, S shields (strata shield) and E edges (strata edge, shields: all of
// them) as processes on loopback, then loads the edges from this process with undici:
//   zipf:  R requests over N URLs drawn from a Zipf distribution (rank k with weight 1/k^s),
//          each to an edge picked at random, as DNS spreads clients. Prints origin requests
//          per unique object (ideal 1.00), edge and shield hit ratios, and p50/p99 latency by
//          outcome (edge hit, shield hit through an edge, origin).
//   hop:   the same objects two ways, interleaved in rounds: a hit at the edge, and a hit at the
//          shield reached through an edge (objects put on the shields first, new to the edges).
// Every load is bounded by a count and a deadline, and targets 127.0.0.1 only.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Pool, request } from 'undici';
import { stringify } from 'yaml';
import { startChild, stopAll, stopChildrenOnExit, type BenchChild } from './processes.js';

const here = dirname(fileURLToPath(import.meta.url));
const cliPath = resolve(here, '../shared/cli/strata.js');

const usage = `Usage: npm run bench:tier -- [options]

Options:
  --edges N            edges (default 3)
  --shields N          shields (default 2)
  --objects N          distinct URLs (default 10000)
  --zipf S             Zipf exponent (default 1.0)
  --requests N         requests in the Zipf phase (default 60000)
  --concurrency N      requests in flight (default 32)
  --bytes N            object size (default 1024)
  --origin-delay-ms N  origin delay per response (default 5)
  --hop-objects N      objects per round of the hop phase (default 2000)
  --rounds N           hop-phase rounds (default 3)
  --seed N             random seed (default 1)
  -h, --help           show this help`;

interface Options {
  edges: number;
  shields: number;
  objects: number;
  zipf: number;
  requests: number;
  concurrency: number;
  bytes: number;
  originDelayMs: number;
  hopObjects: number;
  rounds: number;
  seed: number;
}

function options(): Options | undefined {
  const spec = {
    edges: '3',
    shields: '2',
    objects: '10000',
    zipf: '1.0',
    requests: '60000',
    concurrency: '32',
    bytes: '1024',
    'origin-delay-ms': '5',
    'hop-objects': '2000',
    rounds: '3',
    seed: '1',
  };
  const { values } = parseArgs({
    options: {
      ...Object.fromEntries(
        Object.entries(spec).map(([k, v]) => [k, { type: 'string' as const, default: v }]),
      ),
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) return undefined;
  const given = values as Record<string, string | boolean | undefined>;
  const num = (name: keyof typeof spec, min: number, max: number): number => {
    const n = Number(given[name]);
    if (!(n >= min && n <= max))
      throw new Error(`--${name}: expected ${min} to ${max}, got "${String(given[name])}"`);
    return n;
  };
  return {
    edges: num('edges', 1, 8),
    shields: num('shields', 1, 8),
    objects: num('objects', 1, 1_000_000),
    zipf: num('zipf', 0, 3),
    requests: num('requests', 1, 1_000_000),
    concurrency: num('concurrency', 1, 512),
    bytes: num('bytes', 0, 1024 * 1024),
    originDelayMs: num('origin-delay-ms', 0, 1000),
    hopObjects: num('hop-objects', 1, 100_000),
    rounds: num('rounds', 1, 20),
    seed: num('seed', 0, 2 ** 31),
  };
}

/** mulberry32: a small seeded PRNG, so that a run can be repeated exactly. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Draws ranks 0..n-1 with P(k) proportional to 1/(k+1)^s (inverse CDF, binary search). */
function zipf(n: number, s: number, rand: () => number): () => number {
  const cdf = new Float64Array(n);
  let sum = 0;
  for (let k = 0; k < n; k++) cdf[k] = sum += 1 / Math.pow(k + 1, s);
  return () => {
    const u = rand() * sum;
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (cdf[mid] < u) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
}

type Outcome = 'edge hit' | 'shield hit' | 'origin' | 'error';

/** Which tier answered, from Cache-Status: the first member is the tier furthest from the client. */
function outcomeOf(status: number, cacheStatus: string): Outcome {
  if (status !== 200) return 'error';
  const first = cacheStatus.split(',')[0];
  if (first.startsWith('edge-')) return first.includes('; hit') ? 'edge hit' : 'origin';
  return first.includes('; hit') ? 'shield hit' : 'origin';
}

const host = 'bench.test';

class Latencies {
  private readonly byOutcome = new Map<Outcome, number[]>();
  add(outcome: Outcome, ms: number): void {
    let list = this.byOutcome.get(outcome);
    if (!list) this.byOutcome.set(outcome, (list = []));
    list.push(ms);
  }
  count(outcome: Outcome): number {
    return this.byOutcome.get(outcome)?.length ?? 0;
  }
  percentile(outcome: Outcome, p: number): number {
    const list = [...(this.byOutcome.get(outcome) ?? [])].sort((a, b) => a - b);
    return list.length === 0 ? NaN : list[Math.min(list.length - 1, Math.floor((p / 100) * list.length))];
  }
}

async function get(pool: Pool, path: string): Promise<{ outcome: Outcome; ms: number }> {
  const start = performance.now();
  const res = await pool.request({ method: 'GET', path, headers: { host } });
  await res.body.dump();
  return {
    outcome: outcomeOf(res.statusCode, String(res.headers['cache-status'] ?? '')),
    ms: performance.now() - start,
  };
}

/** Runs `count` requests, `concurrency` at a time, within `deadlineMs`; returns the seconds taken. */
async function load(
  count: number,
  concurrency: number,
  next: (i: number) => Promise<void>,
  deadlineMs: number,
): Promise<number> {
  let issued = 0;
  const start = performance.now();
  const worker = async () => {
    while (issued < count && Date.now() < deadlineMs) await next(issued++);
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return (performance.now() - start) / 1000;
}

async function startNode(
  dir: string,
  role: 'edge' | 'shield',
  id: string,
  config: object,
): Promise<BenchChild> {
  const file = join(dir, `${id}.yaml`);
  writeFileSync(
    file,
    stringify({
      node: { id },
      // One process per node: the bench measures a node, not the machine's cores (bench:workers does).
      workers: 1,
      listen: { http: '127.0.0.1:0', admin: '127.0.0.1:0' },
      log: { level: 'info', access: false },
      ...config,
    }),
  );
  return startChild({
    name: id,
    command: process.execPath,
    args: [cliPath, role, '--config', file],
    cpu: undefined,
    logFile: join(dir, `${id}.log`),
    ready: (line) => line.msg === `${role} started`,
  });
}

const url = (child: BenchChild, port = 'httpPort') => `http://127.0.0.1:${Number(child.ready[port])}`;
const fmt = (n: number, digits = 2) => (Number.isNaN(n) ? '-' : n.toFixed(digits));

async function main(): Promise<number> {
  const o = options();
  if (!o) {
    console.log(usage);
    return 0;
  }
  const dir = mkdtempSync(join(tmpdir(), 'strata-tier-bench-'));
  stopChildrenOnExit(() => rmSync(dir, { recursive: true, force: true }));
  try {
    const origin = await startChild({
      name: 'origin',
      command: process.execPath,
      args: [join(here, 'origin-server.js'), '--delay-ms', String(o.originDelayMs)],
      cpu: undefined,
      logFile: join(dir, 'origin.log'),
      ready: (line) => line.msg === 'listening',
    });
    const originUrl = `http://127.0.0.1:${Number(origin.ready.port)}`;
    const site = { hosts: ['*'], origins: [originUrl] };
    const shields = await Promise.all(
      Array.from({ length: o.shields }, (_, i) =>
        startNode(dir, 'shield', `shield-${i + 1}`, {
          sites: [site],
          proxy: { trustedProxies: ['127.0.0.1'] },
        }),
      ),
    );
    const edges = await Promise.all(
      Array.from({ length: o.edges }, (_, i) =>
        startNode(dir, 'edge', `edge-${i + 1}`, {
          sites: [site],
          shields: shields.map((s) => ({ url: url(s) })),
        }),
      ),
    );
    const edgePools = edges.map((e) => new Pool(url(e), { connections: o.concurrency }));
    const shieldPools = shields.map((s) => new Pool(url(s), { connections: o.concurrency }));
    const deadline = Date.now() + 10 * 60_000;
    const rand = random(o.seed);
    const draw = zipf(o.objects, o.zipf, rand);
    const originCount = async () => {
      const res = await request(`${originUrl}/__count`);
      return ((await res.body.json()) as { requests: number }).requests;
    };

    // Phase zipf.
    console.log(
      `tier bench: ${o.edges} edges, ${o.shields} shields, ${o.objects} URLs of ${o.bytes} B, Zipf s=${o.zipf}, ` +
        `${o.requests} requests, ${o.concurrency} in flight, origin +${o.originDelayMs} ms (processes unpinned)`,
    );
    const seen = new Set<number>();
    const zipfLatency = new Latencies();
    const before = await originCount();
    const sec = await load(
      o.requests,
      o.concurrency,
      async () => {
        const rank = draw();
        seen.add(rank);
        const pool = edgePools[Math.floor(rand() * edgePools.length)];
        const r = await get(pool, `/obj/${o.bytes}/z${rank}`);
        zipfLatency.add(r.outcome, r.ms);
      },
      deadline,
    );
    const originRequests = (await originCount()) - before;
    const total = o.requests;
    const edgeHits = zipfLatency.count('edge hit');
    const shieldHits = zipfLatency.count('shield hit');
    const toShields = total - edgeHits - zipfLatency.count('error');
    console.log(`\nZipf phase: ${total} requests in ${fmt(sec, 1)} s (${fmt(total / sec, 0)} req/s)`);
    console.log(`  unique objects requested            ${seen.size}`);
    console.log(`  origin requests                     ${originRequests}`);
    console.log(`  origin requests per unique object   ${fmt(originRequests / seen.size)}   (ideal 1.00)`);
    console.log(`  edge hit ratio                      ${fmt(edgeHits / total, 3)}`);
    console.log(`  shield hit ratio (of edge misses)   ${fmt(shieldHits / toShields, 3)}`);
    console.log(`  errors                              ${zipfLatency.count('error')}`);
    console.log('\n  outcome        requests    p50 ms   p99 ms');
    for (const outcome of ['edge hit', 'shield hit', 'origin', 'error'] as const) {
      if (zipfLatency.count(outcome) === 0) continue;
      console.log(
        `  ${outcome.padEnd(12)} ${String(zipfLatency.count(outcome)).padStart(10)} ${fmt(zipfLatency.percentile(outcome, 50)).padStart(9)} ${fmt(zipfLatency.percentile(outcome, 99)).padStart(8)}`,
      );
    }

    // Phase hop: per round, new objects put on every shield directly, then fetched through the
    // edges (edge miss, shield hit), then again (edge hit); interleaved so both see the same machine.
    const hop = { edge: [] as number[], shield: [] as number[] };
    const hopLatency = new Latencies();
    for (let round = 0; round < o.rounds; round++) {
      const paths = Array.from({ length: o.hopObjects }, (_, i) => `/obj/${o.bytes}/hop-${round}-${i}`);
      for (const pool of shieldPools)
        await load(paths.length, o.concurrency, (i) => get(pool, paths[i]).then(() => {}), deadline);
      const through = async (expect: Outcome) =>
        load(
          paths.length,
          o.concurrency,
          async (i) => {
            const r = await get(edgePools[i % edgePools.length], paths[i]);
            hopLatency.add(r.outcome === expect ? expect : 'error', r.ms);
          },
          deadline,
        );
      hop.shield.push(paths.length / (await through('shield hit')));
      hop.edge.push(paths.length / (await through('edge hit')));
    }
    const median = (list: number[]) => [...list].sort((a, b) => a - b)[Math.floor(list.length / 2)];
    console.log(`\nExtra hop: ${o.rounds} rounds of ${o.hopObjects} objects, ${o.concurrency} in flight`);
    console.log('  path                          req/s    p50 ms   p99 ms');
    for (const [label, outcome, rates] of [
      ['hit at the edge', 'edge hit', hop.edge],
      ['hit at the shield via edge', 'shield hit', hop.shield],
    ] as const) {
      console.log(
        `  ${label.padEnd(27)} ${fmt(median(rates), 0).padStart(8)} ${fmt(hopLatency.percentile(outcome, 50)).padStart(9)} ${fmt(hopLatency.percentile(outcome, 99)).padStart(8)}`,
      );
    }
    const extra = hopLatency.percentile('shield hit', 50) - hopLatency.percentile('edge hit', 50);
    console.log(
      `  the extra hop: +${fmt(extra)} ms at p50; shield-hit req/s / edge-hit req/s = ${fmt(median(hop.shield) / median(hop.edge))}`,
    );
    if (hopLatency.count('error') > 0)
      console.log(`  ${hopLatency.count('error')} hop-phase responses were not the expected outcome`);
    await Promise.all([...edgePools, ...shieldPools].map((p) => p.close()));
    return zipfLatency.count('error') + hopLatency.count('error') > 0 ? 1 : 0;
  } finally {
    await stopAll();
    rmSync(dir, { recursive: true, force: true });
  }
}

process.exitCode = await main();
