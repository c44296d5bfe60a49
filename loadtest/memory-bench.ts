#!/usr/bin/env node
// npm run bench:memory: what a stored object costs the process, against what the memory tier
// accounts for it (issue 15: RSS growth per object at most 1.3x the tier's count). Per object
// size, in rounds: starts the bench origin and a fresh edge (strata edge, workers: 1, a memory
// tier large enough that nothing is evicted), stores a warm-up set, then N objects of unique
// URLs, and compares the edge's RSS growth (/proc) with the growth of strata_cache_bytes. Also
// prints the V8 heap and external (Buffer) memory at the end, which say where the growth went.
// Every load is bounded by a count, and targets 127.0.0.1 only.

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Pool, request } from 'undici';
import { stringify } from 'yaml';
import { median } from './report.js';
import { startChild, stopAll, stopChildrenOnExit, type BenchChild } from './processes.js';

const here = dirname(fileURLToPath(import.meta.url));
const cliPath = resolve(here, '../shared/cli/strata.js');

const usage = `Usage: npm run bench:memory -- [options]

Options:
  --sizes LIST         object sizes in bytes (default 1024,102400)
  --objects LIST       objects stored per size, in the same order (default 60000,1500)
  --rounds N           fresh edges per size; medians are shown (default 3)
  --concurrency N      requests in flight (default 32)
  --settle-ms N        wait after the fill before measuring (default 2000)
  --node-args=ARGS     Node.js options for the edge process (e.g. --node-args=--max-semi-space-size=32)
  -h, --help           show this help`;

interface Options {
  sizes: number[];
  objects: number[];
  rounds: number;
  concurrency: number;
  settleMs: number;
  nodeArgs: string[];
}

function options(): Options | undefined {
  const { values } = parseArgs({
    options: {
      sizes: { type: 'string', default: '1024,102400' },
      objects: { type: 'string', default: '60000,1500' },
      rounds: { type: 'string', default: '3' },
      concurrency: { type: 'string', default: '32' },
      'settle-ms': { type: 'string', default: '2000' },
      'node-args': { type: 'string', default: '' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    console.log(usage);
    return undefined;
  }
  const list = (text: string) => text.split(',').map(Number);
  const o: Options = {
    sizes: list(values.sizes),
    objects: list(values.objects),
    rounds: Number(values.rounds),
    concurrency: Number(values.concurrency),
    settleMs: Number(values['settle-ms']),
    nodeArgs: values['node-args'].split(' ').filter(Boolean),
  };
  const bad = (n: number, min: number, max: number) => !Number.isInteger(n) || n < min || n > max;
  if (o.sizes.some((n) => bad(n, 1, 16 * 1024 * 1024)) || o.objects.some((n) => bad(n, 100, 1_000_000)))
    throw new Error('--sizes: 1 byte to 16 MiB each; --objects: 100 to 1,000,000 each');
  if (o.sizes.length !== o.objects.length) throw new Error('--sizes and --objects need as many entries');
  if (bad(o.rounds, 1, 10) || bad(o.concurrency, 1, 256) || bad(o.settleMs, 0, 60_000))
    throw new Error('--rounds 1-10, --concurrency 1-256, --settle-ms 0-60000');
  return o;
}

/** Resident and anonymous memory of a process, in bytes (/proc/PID/status). */
function rssOf(pid: number): { rss: number; anon: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (name: string) =>
    Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0) * 1024;
  return { rss: kb('VmRSS'), anon: kb('RssAnon') };
}

/** Sums of the edge's metrics whose name (with labels) starts with each prefix. */
async function metrics(adminUrl: string, prefixes: string[]): Promise<number[]> {
  const res = await request(`${adminUrl}/metrics`);
  const text = await res.body.text();
  return prefixes.map((prefix) => {
    let sum = 0;
    for (const line of text.split('\n')) if (line.startsWith(prefix)) sum += Number(line.split(' ').pop());
    return sum;
  });
}

/** `count` GETs of unique paths, `concurrency` at a time; throws on any answer but a 200. */
async function fill(pool: Pool, prefix: string, count: number, concurrency: number): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const res = await pool.request({ path: `${prefix}-${next++}`, method: 'GET' });
      await res.body.dump();
      if (res.statusCode !== 200) throw new Error(`${prefix}: the edge answered ${res.statusCode}`);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}

interface RoundResult {
  stored: number;
  accountedPerObject: number;
  rssPerObject: number;
  heapMiB: number;
  heapTotalMiB: number;
  externalMiB: number;
  rssMiB: number;
}

const storedBytes = 'strata_cache_bytes{tier="memory"}';
const storedObjects = 'strata_cache_objects{tier="memory"}';

async function round(
  dir: string,
  origin: string,
  size: number,
  count: number,
  o: Options,
): Promise<RoundResult> {
  const configFile = join(dir, 'edge.yaml');
  writeFileSync(
    configFile,
    stringify({
      node: { id: 'edge-memory-bench' },
      workers: 1,
      listen: { http: '127.0.0.1:0', admin: '127.0.0.1:0' },
      sites: [{ hosts: ['*'], origins: [origin] }],
      // Room for everything: what is measured is what storing costs, not eviction.
      cache: { memory: { maxBytes: '2GiB' } },
      log: { level: 'info', access: false },
    }),
  );
  const edge = await startChild({
    name: 'edge',
    command: process.execPath,
    args: [...o.nodeArgs, cliPath, 'edge', '--config', configFile],
    cpu: undefined,
    logFile: join(dir, 'edge.log'),
    ready: (line) => line.msg === 'edge started',
  });
  const adminUrl = `http://127.0.0.1:${Number(edge.ready.adminPort)}`;
  const pool = new Pool(`http://127.0.0.1:${Number(edge.ready.httpPort)}`, { connections: o.concurrency });
  const pid = edge.process.pid!;
  try {
    // Warm-up: code compiled, pools and connections open, the LRU's arrays grown.
    await fill(pool, `/obj/${size}/warm`, Math.min(2000, count), o.concurrency);
    await sleep(o.settleMs);
    const before = rssOf(pid);
    const [bytesBefore, objectsBefore] = await metrics(adminUrl, [storedBytes, storedObjects]);
    await fill(pool, `/obj/${size}/m`, count, o.concurrency);
    await sleep(o.settleMs);
    const after = rssOf(pid);
    const [bytesAfter, objectsAfter, heap, heapTotal, external] = await metrics(adminUrl, [
      storedBytes,
      storedObjects,
      'nodejs_heap_size_used_bytes',
      'nodejs_heap_size_total_bytes',
      'nodejs_external_memory_bytes',
    ]);
    const stored = objectsAfter - objectsBefore;
    if (stored !== count)
      throw new Error(`${count} objects sent, ${stored} stored: the tier evicted or refused`);
    return {
      stored,
      accountedPerObject: (bytesAfter - bytesBefore) / stored,
      rssPerObject: (after.rss - before.rss) / stored,
      heapMiB: heap / 2 ** 20,
      heapTotalMiB: heapTotal / 2 ** 20,
      externalMiB: external / 2 ** 20,
      rssMiB: after.rss / 2 ** 20,
    };
  } finally {
    await pool.close();
    await edge.stop();
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

async function main(): Promise<number> {
  const o = options();
  if (!o) return 0;
  const dir = mkdtempSync(join(tmpdir(), 'strata-memory-bench-'));
  stopChildrenOnExit(() => rmSync(dir, { recursive: true, force: true }));
  const originChild: BenchChild = await startChild({
    name: 'origin',
    command: process.execPath,
    args: [resolve(here, 'origin-server.js')],
    cpu: undefined,
    logFile: join(dir, 'origin.log'),
    ready: (line) => line.port !== undefined,
  });
  const origin = `http://127.0.0.1:${Number(originChild.ready.port)}`;
  console.log(
    `memory tier 2 GiB (nothing evicted), workers: 1, access log off, ${o.concurrency} requests in flight, ` +
      `${o.rounds} fresh edge(s) per size, measured ${o.settleMs} ms after each fill` +
      `${o.nodeArgs.length > 0 ? `, edge run with ${o.nodeArgs.join(' ')}` : ''}\n`,
  );
  const rows: string[][] = [];
  for (const [i, size] of o.sizes.entries()) {
    const results: RoundResult[] = [];
    for (let r = 0; r < o.rounds; r++) results.push(await round(dir, origin, size, o.objects[i], o));
    const m = (pick: (x: RoundResult) => number) => median(results.map(pick));
    const ratios = results.map((x) => x.rssPerObject / x.accountedPerObject);
    rows.push([
      size >= 1024 ? `${size / 1024} KiB` : `${size} B`,
      o.objects[i].toLocaleString('en-US'),
      Math.round(m((x) => x.accountedPerObject)).toLocaleString('en-US'),
      Math.round(m((x) => x.rssPerObject)).toLocaleString('en-US'),
      `${median(ratios).toFixed(2)}x (${ratios.map((x) => x.toFixed(2)).join(', ')})`,
      `${m((x) => x.heapMiB).toFixed(0)} / ${m((x) => x.heapTotalMiB).toFixed(0)}`,
      m((x) => x.externalMiB).toFixed(0),
      m((x) => x.rssMiB).toFixed(0),
    ]);
  }
  const head = [
    'object',
    'stored',
    'accounted B/obj',
    'RSS B/obj',
    'RSS / accounted (rounds)',
    'heap used / total MiB',
    'external MiB',
    'RSS MiB',
  ];
  const widths = head.map((h, c) => Math.max(h.length, ...rows.map((row) => row[c].length)));
  for (const row of [head, ...rows]) console.log(row.map((cell, c) => cell.padEnd(widths[c])).join('  '));
  console.log('\ngoal (issue 15): RSS growth per stored object at most 1.30x what the tier accounts');
  await stopAll();
  rmSync(dir, { recursive: true, force: true });
  return 0;
}

process.exitCode = await main();
