#!/usr/bin/env node
// npm run bench:purge: the purge bus on loopback. Starts redis-server, the bench origin, S
// shields and E edges (strata shield / strata edge processes, purge.redis set), then:
//   propagation: N purges one after another through edge-1's API (POST /purge?wait=5s); for
//                each, the time from the API accepting it to the last node's acknowledgement
//                (allAppliedMs, node clocks on one machine) and the API call's round trip.
//   hits:        edge-1's hit throughput (wrk, one hot object) idle, then while 100 purges a
//                second (tags no object carries) go through edge-2's API, in alternating rounds.
//   slices:      in this process, a memory tier of 100,000 objects purged by prefix, host, tag
//                and all (hard and soft); the longest the event loop was held (monitorEventLoopDelay).
// Every load is bounded, and targets 127.0.0.1 only.

import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { request } from 'undici';
import { stringify } from 'yaml';
import { startChild, stopAll, stopChildrenOnExit, track, type BenchChild } from './processes.js';
import { MemoryStore } from '../shared/cache/memory-store.js';
import { bufferBody, type CachedObject, type PurgeSelector } from '../shared/cache/store.js';
import { slicing } from '../shared/cache/slices.js';
import { DiskStore } from '../shared/cache/disk-store.js';

const here = dirname(fileURLToPath(import.meta.url));
const cliPath = resolve(here, '../shared/cli/strata.js');
const token = 'bench-token-0123456789abcdef';

const usage = `Usage: npm run bench:purge -- [options]

Options:
  --edges N        edges (default 10)
  --shields N      shields (default 2)
  --purges N       purges in the propagation phase (default 1000)
  --rounds N       idle/purging rounds of the hit phase (default 3)
  --seconds N      seconds per hit round (default 5)
  --objects N      objects in the slices phase (default 100000)
  --disk-objects N objects in the disk phase (default 100000)
  --phases LIST    which phases to run (default slices,disk,propagation,hits)
  -h, --help       show this help`;

interface Options {
  edges: number;
  shields: number;
  purges: number;
  rounds: number;
  seconds: number;
  objects: number;
  phases: string[];
  diskObjects: number;
}

function options(): Options | undefined {
  const { values } = parseArgs({
    strict: true,
    options: {
      edges: { type: 'string', default: '10' },
      shields: { type: 'string', default: '2' },
      purges: { type: 'string', default: '1000' },
      rounds: { type: 'string', default: '3' },
      seconds: { type: 'string', default: '5' },
      objects: { type: 'string', default: '100000' },
      phases: { type: 'string', default: 'slices,disk,propagation,hits' },
      'disk-objects': { type: 'string', default: '100000' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(usage);
    return undefined;
  }
  return {
    edges: Number(values.edges),
    shields: Number(values.shields),
    purges: Number(values.purges),
    rounds: Number(values.rounds),
    seconds: Number(values.seconds),
    objects: Number(values.objects),
    phases: values.phases.split(','),
    diskObjects: Number(values['disk-objects']),
  };
}

/** redis-server as the tests find it: $STRATA_REDIS_SERVER, PATH, or the copy npm test's pretest fetched. */
function redisBinary(): { file: string; env: NodeJS.ProcessEnv } {
  if (process.env.STRATA_REDIS_SERVER) return { file: process.env.STRATA_REDIS_SERVER, env: process.env };
  for (const dir of (process.env.PATH ?? '').split(delimiter))
    if (dir && existsSync(join(dir, 'redis-server')))
      return { file: join(dir, 'redis-server'), env: process.env };
  const fetched = resolve(here, '../../node_modules/.cache/strata/redis');
  const file = join(fetched, 'usr/bin/redis-server');
  if (!existsSync(file)) throw new Error('no redis-server: install one or run `bash test/setup/redis.sh`');
  const libs = execFileSync('ls', [join(fetched, 'usr/lib')], { encoding: 'utf8' })
    .split('\n')
    .filter((d) => d.endsWith('-linux-gnu'))
    .map((d) => join(fetched, 'usr/lib', d));
  return { file, env: { ...process.env, LD_LIBRARY_PATH: libs.join(delimiter) } };
}

async function startRedis(port: number): Promise<void> {
  const { file, env } = redisBinary();
  const child = spawn(
    file,
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    {
      env,
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  track(child);
  await new Promise<void>((ready, failed) => {
    let out = '';
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      if (out.includes('Ready to accept connections')) ready();
    });
    child.once('exit', (code) => failed(new Error(`redis-server exited (${code})`)));
  });
}

async function startNode(
  dir: string,
  role: 'edge' | 'shield',
  id: string,
  config: Record<string, unknown>,
): Promise<BenchChild> {
  const file = join(dir, `${id}.yaml`);
  writeFileSync(
    file,
    stringify({
      node: { id },
      // One process per node: the bench measures a node, not the machine's cores (bench:workers does).
      workers: 1,
      listen: { http: '127.0.0.1:0', admin: '127.0.0.1:0' },
      log: { level: 'warn', access: false },
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
    readyTimeoutMs: 30_000,
  });
}

const port = (child: BenchChild, name: 'httpPort' | 'adminPort') => Number(child.ready[name]);

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

async function post(admin: string, body: object, wait: string): Promise<Record<string, unknown>> {
  const res = await request(`${admin}/purge${wait ? `?wait=${wait}` : ''}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return (await res.body.json()) as Record<string, unknown>;
}

async function propagation(o: Options, admin: string, nodes: number): Promise<void> {
  const applied: number[] = [];
  const roundTrip: number[] = [];
  let incomplete = 0;
  // Warm-up, not measured: connections opened, code compiled in every node.
  for (let i = 0; i < 50; i++) await post(admin, { tags: [`warm-${i}`] }, '5s');
  for (let i = 0; i < o.purges; i++) {
    const started = performance.now();
    const answer = await post(admin, { tags: [`bench-${i}`] }, '5s');
    roundTrip.push(performance.now() - started);
    if (answer.complete !== true || answer.nodes !== nodes) incomplete++;
    else applied.push(Number(answer.allAppliedMs));
  }
  applied.sort((a, b) => a - b);
  roundTrip.sort((a, b) => a - b);
  const row = (name: string, v: number[]) =>
    `| ${name} | ${v.length} | ${percentile(v, 50).toFixed(1)} | ${percentile(v, 99).toFixed(1)} | ${v.at(-1)!.toFixed(1)} |`;
  console.log(
    `\nPropagation: ${o.purges} purges, ${nodes} nodes (${o.edges} edges, ${o.shields} shields), one at a time`,
  );
  console.log('| measure | purges | p50 ms | p99 ms | max ms |');
  console.log('|---|---|---|---|---|');
  console.log(row('accepted -> last node acknowledged', applied));
  console.log(row('API call with ?wait (client round trip)', roundTrip));
  if (incomplete > 0) console.log(`(${incomplete} purges not acknowledged by every node within 5 s)`);
}

/** wrk's Requests/sec against one URL for `seconds`. */
function wrk(url: string, seconds: number): Promise<number> {
  return new Promise((done, failed) => {
    const child = spawn('wrk', ['-t1', '-c32', `-d${seconds}s`, url], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    track(child);
    let out = '';
    child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
    child.once('exit', () => {
      const m = /Requests\/sec:\s+([\d.]+)/.exec(out);
      if (m) done(Number(m[1]));
      else failed(new Error(`wrk printed no rate:\n${out}`));
    });
  });
}

async function hits(o: Options, edgeUrl: string, edgePid: number, otherAdmin: string): Promise<void> {
  // Stored on edge-1 already (main() fetched it while the shields ran).
  const url = `${edgeUrl}/obj/1024/hot`;
  const idle: number[] = [];
  const busy: number[] = [];
  let sent = 0;
  for (let r = 0; r < o.rounds; r++) {
    idle.push(await wrk(url, o.seconds));
    let stop = false;
    sent = 0;
    const purging = (async () => {
      const startedMs = performance.now();
      while (!stop) {
        await post(otherAdmin, { tags: [`nothing-${sent++}`] }, '');
        // 100 a second: the n-th purge goes out n * 10 ms after the start.
        const due = startedMs + (sent % 1_000_000) * 10;
        const wait = due - performance.now();
        if (wait > 0) await new Promise((res) => setTimeout(res, wait));
      }
    })();
    busy.push(await wrk(url, o.seconds));
    stop = true;
    await purging;
  }
  const cost = await purgeCost(o, edgePid, otherAdmin);
  const med = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];
  console.log(
    `\nHit throughput of edge-1 (wrk -t1 -c32, one 1 KiB object), ${o.rounds} rounds of ${o.seconds} s`,
  );
  console.log('| edge-1 | median req/s | rounds |');
  console.log('|---|---|---|');
  console.log(`| idle | ${med(idle).toFixed(0)} | ${idle.map((v) => v.toFixed(0)).join(', ')} |`);
  console.log(
    `| applying 100 purges/s | ${med(busy).toFixed(0)} | ${busy.map((v) => v.toFixed(0)).join(', ')} |`,
  );
  console.log(`| ratio | ${(med(busy) / med(idle)).toFixed(3)} | |`);
  console.log(
    `\nedge-1's own CPU time per purge applied (no load, 100 purges/s for ${o.seconds} s, /proc/PID/stat): ` +
      `${cost.toFixed(0)} µs, ${((cost * 100) / 10_000).toFixed(2)}% of one core at 100 purges/s`,
  );
}

/** CPU seconds (user + system) a process has used, from /proc/PID/stat (Linux). */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  // utime and stime are fields 14 and 15 of the whole line: 12 and 13 after "pid (comm) ".
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** edge-1's CPU microseconds per purge, while it does nothing else. */
async function purgeCost(o: Options, pid: number, otherAdmin: string): Promise<number> {
  const idleBefore = cpuSeconds(pid);
  await new Promise((res) => setTimeout(res, o.seconds * 1000));
  const idleCpu = cpuSeconds(pid) - idleBefore;
  const before = cpuSeconds(pid);
  const startedMs = performance.now();
  const count = o.seconds * 100;
  for (let i = 0; i < count; i++) {
    await post(otherAdmin, { tags: [`cost-${i}`] }, '');
    const wait = startedMs + (i + 1) * 10 - performance.now();
    if (wait > 0) await new Promise((res) => setTimeout(res, wait));
  }
  // Let the last purges be applied before reading the clock.
  await new Promise((res) => setTimeout(res, 200));
  const busyCpu = cpuSeconds(pid) - before;
  return ((busyCpu - idleCpu) / count) * 1e6;
}

/** Object i of the slices phase: every one on one host, under one prefix, with one tag. */
function object(i: number): CachedObject {
  const key = `http://bench.test/dir${i % 100}/obj${i}`;
  return {
    meta: {
      v: 2,
      key,
      variant: '',
      vary: [],
      status: 200,
      headers: ['content-length', '16'],
      requestTimeMs: 0,
      responseTimeMs: 0,
      initialAgeSec: 0,
      lifetimeSec: 3600,
      staleWhileRevalidateSec: 0,
      staleIfErrorSec: 0,
      mustRevalidate: false,
      invalidated: false,
      tags: ['bench'],
      size: 16,
    },
    body: bufferBody(Buffer.alloc(16)),
  };
}

async function slices(o: Options): Promise<void> {
  console.log(
    `\nOne purge of a memory tier of ${o.objects} objects, in slices of work between two turns of the`,
  );
  console.log(
    'event loop (each ends at 2 ms of wall time). Per slice: the CPU time the process used (the work)',
  );
  console.log(
    'and the wall time (the work, plus any wait for a core on a busy machine); and the longest delay',
  );
  console.log('of the loop itself (monitorEventLoopDelay)');
  console.log(
    '| purge | soft | objects | total ms | slices | CPU p50 ms | CPU p99 ms | CPU max ms | wall p50 ms | wall p99 ms | loop delay max ms |',
  );
  console.log('|---|---|---|---|---|---|---|---|---|---|---|');
  const all: [string, PurgeSelector][] = [
    ['prefix http://bench.test/dir', { kind: 'prefix', prefix: 'http://bench.test/dir' }],
    ['host bench.test', { kind: 'host', host: 'bench.test' }],
    ['tag bench', { kind: 'tag', tag: 'bench' }],
    ['all', { kind: 'all' }],
  ];
  for (const soft of [false, true]) {
    for (const [name, selector] of all) {
      const store = new MemoryStore({ maxBytes: 4 * 1024 ** 3, maxObjectBytes: 1024 ** 2, maxVariants: 4 });
      for (let i = 0; i < o.objects; i++) await store.put(object(i));
      // Started from a collected heap when node runs with --expose-gc (npm run bench:purge does).
      (globalThis as { gc?: () => void }).gc?.();
      slicing.slices = [];
      const h = monitorEventLoopDelay({ resolution: 1 });
      h.enable();
      const started = performance.now();
      const n = await store.purge(selector, soft);
      const total = performance.now() - started;
      // Let the monitor take one more sample after the purge.
      await new Promise((res) => setTimeout(res, 5));
      h.disable();
      const delay = (h.max / 1e6).toFixed(1);
      const recorded = slicing.slices;
      slicing.slices = undefined;
      const cpu = recorded.map((r) => r.cpuMs).sort((a, b) => a - b);
      const wall = recorded.map((r) => r.wallMs).sort((a, b) => a - b);
      const f = (v: number) => (Number.isNaN(v) ? '-' : v.toFixed(1));
      const cells = [name, soft, n, total.toFixed(1), cpu.length];
      cells.push(f(percentile(cpu, 50)), f(percentile(cpu, 99)), f(cpu.at(-1) ?? NaN));
      cells.push(f(percentile(wall, 50)), f(percentile(wall, 99)), delay);
      console.log(`| ${cells.join(' | ')} |`);
    }
  }
}

/**
 * The disk tier: N objects in a DiskStore (LevelDB in a temp dir), purged by prefix, host and
 * tag, soft then hard (all last): the longest turn of the event loop while each purge ran, and
 * the process CPU time in it. The disk tier purges in batches of 256 with an await between.
 */
async function diskSlices(o: Options, dir: string): Promise<void> {
  const objects = o.diskObjects;
  const store = new DiskStore({
    path: join(dir, 'disk-slices'),
    maxBytes: 4 * 1024 ** 3,
    maxObjectBytes: 1024 ** 2,
    maxVariants: 4,
  });
  await store.open();
  const filled = performance.now();
  for (let i = 0; i < objects; i += 500) {
    const puts: Promise<void>[] = [];
    for (let j = i; j < Math.min(objects, i + 500); j++) puts.push(store.put(object(j)));
    await Promise.all(puts);
  }
  console.log(
    `\nThe disk tier: ${objects} objects written in ${((performance.now() - filled) / 1000).toFixed(1)} s, then purged`,
  );
  console.log('(turns of the event loop while the purge ran: the one that used the most CPU time, which is');
  console.log(
    'the work; and the longest in wall time, with its CPU time: on a busy machine, mostly a wait for a core)',
  );
  console.log(
    '| purge | soft | objects | total ms | turns | most CPU in a turn ms | longest turn ms | its CPU ms |',
  );
  console.log('|---|---|---|---|---|---|---|---|');
  const cases: [string, PurgeSelector, boolean][] = [
    ['prefix http://bench.test/dir', { kind: 'prefix', prefix: 'http://bench.test/dir' }, true],
    ['host bench.test', { kind: 'host', host: 'bench.test' }, true],
    ['tag bench', { kind: 'tag', tag: 'bench' }, true],
    ['all', { kind: 'all' }, true],
    ['all', { kind: 'all' }, false],
  ];
  for (const [name, selector, soft] of cases) {
    let turns = 0;
    let longest = { wallMs: 0, cpuMs: 0 };
    let busiest = 0;
    let last = performance.now();
    let lastCpu = process.cpuUsage();
    let on = true;
    const tick = () => {
      const now = performance.now();
      const cpu = process.cpuUsage(lastCpu);
      const cpuMs = (cpu.user + cpu.system) / 1000;
      if (now - last > longest.wallMs) longest = { wallMs: now - last, cpuMs };
      busiest = Math.max(busiest, cpuMs);
      turns++;
      last = now;
      lastCpu = process.cpuUsage();
      if (on) setImmediate(tick);
    };
    setImmediate(tick);
    const started = performance.now();
    const n = await store.purge(selector, soft);
    const total = performance.now() - started;
    on = false;
    const cells = [name, soft, n, total.toFixed(0), turns, busiest.toFixed(1)];
    cells.push(longest.wallMs.toFixed(1), longest.cpuMs.toFixed(1));
    console.log(`| ${cells.join(' | ')} |`);
  }
  await store.close();
}

async function main(): Promise<number> {
  const o = options();
  if (!o) return 0;
  const dir = mkdtempSync(join(tmpdir(), 'strata-purge-bench-'));
  stopChildrenOnExit(() => rmSync(dir, { recursive: true, force: true }));
  try {
    if (o.phases.includes('slices')) await slices(o);
    if (o.phases.includes('disk')) await diskSlices(o, dir);
    if (!o.phases.includes('propagation') && !o.phases.includes('hits')) return 0;
    const redisPort = 20_000 + Math.floor(Math.random() * 20_000);
    await startRedis(redisPort);
    const origin = await startChild({
      name: 'origin',
      command: process.execPath,
      args: [join(here, 'origin-server.js')],
      cpu: undefined,
      logFile: join(dir, 'origin.log'),
      ready: (line) => line.msg === 'listening',
    });
    const site = { hosts: ['*'], origins: [`http://127.0.0.1:${Number(origin.ready.port)}`] };
    const purge = {
      redis: `redis://127.0.0.1:${redisPort}`,
      token,
      heartbeat: '500ms',
      api: { ratePerSec: 100_000, burst: 100_000 },
    };
    const shields = await Promise.all(
      Array.from({ length: o.shields }, (_, i) =>
        startNode(dir, 'shield', `shield-${i + 1}`, { sites: [site], purge }),
      ),
    );
    const shieldList = shields.map((s) => ({ url: `http://127.0.0.1:${port(s, 'httpPort')}` }));
    const edges: BenchChild[] = [];
    for (let i = 0; i < o.edges; i++)
      edges.push(
        await startNode(dir, 'edge', `edge-${i + 1}`, { sites: [site], shields: shieldList, purge }),
      );
    const admin = (c: BenchChild) => `http://127.0.0.1:${port(c, 'adminPort')}`;
    const total = o.edges + o.shields;
    for (;;) {
      const res = await request(`${admin(edges[0])}/nodes`);
      const body = (await res.body.json()) as { nodes: unknown[] };
      if (body.nodes.length === total) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    if (o.phases.includes('propagation')) await propagation(o, admin(edges[0]), total);
    if (!o.phases.includes('hits')) return 0;
    // The hit phase on a 2-core machine: the other nodes stop, so that edge-1 (and edge-2,
    // whose API takes the purges) do not compete with ten other processes applying them too.
    const hot = `http://127.0.0.1:${port(edges[0], 'httpPort')}/obj/1024/hot`;
    await request(hot).then((r) => r.body.text());
    await Promise.all([...shields, ...edges.slice(2)].map((c) => c.stop()));
    await hits(
      o,
      `http://127.0.0.1:${port(edges[0], 'httpPort')}`,
      edges[0].process.pid!,
      admin(edges[1] ?? edges[0]),
    );
  } finally {
    await stopAll();
    rmSync(dir, { recursive: true, force: true });
  }
  return 0;
}

main().then(
  (code) => (process.exitCode = code),
  (err: unknown) => {
    console.error(`bench:purge: ${(err as Error).stack ?? String(err)}`);
    process.exitCode = 1;
  },
);
