#!/usr/bin/env node
// npm run bench:relay: TCP relay throughput (MiB/s over 1 and 64 connections) and UDP relay
// datagrams per second, each against the backend reached directly in the same run (and, for
// a bare Node.js relay), printed as ratios (goal: relay >= 0.8x direct), with the CPU time the
// relaying process spent per GiB or per 1,000 datagrams (robust to a busy machine, where
// throughput is not). The backend, the
// edge (strata edge with relays, as operators run it), the bare pipe and each load run are
// processes of their own; every run is bounded by --duration and targets 127.0.0.1 only.

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { request } from 'undici';
import { processTicks, snapshot, ticksPerSecond, usageBetween } from './cpu-usage.js';
import { detectPinning, pinned, startChild, stopAll, stopChildrenOnExit } from './processes.js';

const here = dirname(fileURLToPath(import.meta.url));
const cliPath = resolve(here, '../shared/cli/strata.js');

const usage = `Usage: npm run bench:relay -- [options]

Options:
  --duration MS      measured time per run (default 3000; 500 ms of warm-up come first)
  --rounds N         runs per target, interleaved (default 3; the median is shown)
  --udp-clients N    UDP sockets (default 64), each with --udp-window datagrams in flight
  --udp-window N     datagrams in flight per socket (default 8)
  --udp-bytes N      datagram size (default 512)
  --keep             keep the temp dir with configs and logs
  -h, --help         show this help`;

interface Options {
  durationMs: number;
  rounds: number;
  udpClients: number;
  udpWindow: number;
  udpBytes: number;
  keep: boolean;
}

function options(): Options | undefined {
  const { values } = parseArgs({
    options: {
      duration: { type: 'string', default: '3000' },
      rounds: { type: 'string', default: '3' },
      'udp-clients': { type: 'string', default: '64' },
      'udp-window': { type: 'string', default: '8' },
      'udp-bytes': { type: 'string', default: '512' },
      keep: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    console.log(usage);
    return undefined;
  }
  return {
    durationMs: Math.min(60_000, Number(values.duration)),
    rounds: Math.min(10, Number(values.rounds)),
    udpClients: Math.min(1024, Number(values['udp-clients'])),
    udpWindow: Math.min(64, Number(values['udp-window'])),
    udpBytes: Math.min(65_507, Number(values['udp-bytes'])),
    keep: values.keep,
  };
}

interface Scenario {
  name: string;
  unit: 'MiB/s' | 'pkt/s';
  mode: 'tcp' | 'udp';
  connections: number;
  /** `pid`: the process that relays for this target, whose CPU time is measured (not for direct). */
  targets: { name: string; port: number; pid?: number }[];
}

interface Run {
  /** MiB/s (TCP) or replies/s (UDP), measured after the warm-up. */
  value: number;
  /** CPU of the relaying process per GiB (TCP) or per 1,000 datagrams relayed each way (UDP), in ms. */
  cpuMs?: number;
  /** Share (0..1) of both CPUs' time that processes outside the bench used during the run. */
  otherLoad?: number;
}

/** What the CPU figure is per: a GiB relayed (TCP), or 1,000 datagrams each way (UDP). */
const cpuUnit = (scenario: Scenario) => (scenario.mode === 'tcp' ? 'GiB' : '1k pkt');

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

async function load(
  o: Options,
  cpu: number | undefined,
  scenario: Scenario,
  target: Scenario['targets'][number],
): Promise<Run> {
  const script = join(here, 'relay-load.js');
  const args = [
    script,
    scenario.mode,
    String(target.port),
    String(scenario.connections),
    String(o.durationMs),
    String(o.udpWindow),
    String(o.udpBytes),
  ];
  const [command, argv] = pinned(cpu, process.execPath, args);
  const before = target.pid === undefined ? 0 : processTicks(target.pid, false);
  const machineBefore = snapshot(benchPids);
  const { stdout } = await promisify(execFile)(command, argv, { timeout: o.durationMs + 30_000 });
  const ticks = target.pid === undefined ? 0 : processTicks(target.pid, false) - before;
  const otherLoad = usageBetween(machineBefore, snapshot(benchPids))?.foreign;
  const result = JSON.parse(stdout.trim().split('\n').at(-1)!) as Record<string, number>;
  // CPU time over everything the run moved, warm-up included (the ticks cover it too).
  const units = scenario.mode === 'tcp' ? result.total / 1024 ** 3 : result.total / 1000;
  return {
    value: scenario.mode === 'tcp' ? result.mibPerSecond : result.packetsPerSecond,
    cpuMs: target.pid === undefined ? undefined : (ticks * (1000 / ticksPerSecond)) / units,
    otherLoad,
  };
}

/** The bench's long-running children (backend, edge, bare relay): their CPU is not other load. */
const benchPids: number[] = [];

async function main(): Promise<number> {
  const o = options();
  if (!o) return 0;
  const dir = mkdtempSync(join(tmpdir(), 'strata-relay-bench-'));
  stopChildrenOnExit(() => o.keep || rmSync(dir, { recursive: true, force: true }));
  const pin = detectPinning();
  try {
    const backend = await startChild({
      name: 'backend',
      command: process.execPath,
      args: [join(here, 'relay-backend.js')],
      cpu: pin.generatorCpu,
      logFile: join(dir, 'backend.log'),
      ready: (l) => l.msg === 'backend ready',
    });
    const { tcpPort, udpPort } = backend.ready as { tcpPort: number; udpPort: number };
    const config = join(dir, 'edge.yaml');
    writeFileSync(
      config,
      `node: { id: edge-relay-bench }
workers: 1
listen: { http: "127.0.0.1:0", admin: "127.0.0.1:0" }
sites: [{ hosts: ["*"], origins: ["http://127.0.0.1:9"] }]
relays:
  tcp: [{ name: bench, listen: "127.0.0.1:0", backends: ["127.0.0.1:${tcpPort}"] }]
  udp:
    - name: bench
      listen: "127.0.0.1:0"
      backends: ["127.0.0.1:${udpPort}"]
      # Every bench client is 127.0.0.1: per-address limits off, so the relay is what is measured.
      maxPerClient: 100000
      rateLimit: { packetsPerSecond: 0 }
`,
    );
    const edge = await startChild({
      name: 'edge',
      command: process.execPath,
      args: [cliPath, 'edge', '--config', config],
      cpu: pin.serverCpu,
      logFile: join(dir, 'edge.log'),
      ready: (l) => l.msg === 'edge started',
    });
    const edgeLog = readFileSync(join(dir, 'edge.log'), 'utf8');
    const relayPort = (protocol: string) =>
      Number(
        (
          edgeLog
            .split('\n')
            .filter((l) => l.startsWith('{'))
            .map((l) => JSON.parse(l) as Record<string, unknown>)
            .find((l) => l.msg === 'relay listening' && l.protocol === protocol) as { port: number }
        ).port,
      );
    const bare = await startChild({
      name: 'bare relay',
      command: process.execPath,
      args: [join(here, 'bare-relay.js'), String(tcpPort), String(udpPort)],
      cpu: pin.serverCpu,
      logFile: join(dir, 'bare.log'),
      ready: (l) => l.msg === 'bare relay ready',
    });
    benchPids.push(...[backend, edge, bare].map((c) => c.process.pid!));
    const tcpTargets = [
      { name: 'direct', port: tcpPort },
      { name: 'relay', port: relayPort('tcp'), pid: edge.process.pid },
      { name: 'bare relay', port: Number(bare.ready.tcpPort), pid: bare.process.pid },
    ];
    const scenarios: Scenario[] = [
      { name: 'tcp, 1 connection', unit: 'MiB/s', mode: 'tcp', connections: 1, targets: tcpTargets },
      { name: 'tcp, 64 connections', unit: 'MiB/s', mode: 'tcp', connections: 64, targets: tcpTargets },
      {
        name: `udp, ${o.udpClients} clients x ${o.udpWindow}, ${o.udpBytes} B`,
        unit: 'pkt/s',
        mode: 'udp',
        connections: o.udpClients,
        targets: [
          { name: 'direct', port: udpPort },
          { name: 'relay', port: relayPort('udp'), pid: edge.process.pid },
          { name: 'bare relay', port: Number(bare.ready.udpPort), pid: bare.process.pid },
        ],
      },
    ];
    console.log(`relay bench: ${o.rounds} rounds of ${o.durationMs} ms per target; ${pin.note}`);
    const rows: string[][] = [];
    for (const scenario of scenarios) {
      const results = new Map<string, Run[]>(scenario.targets.map((t) => [t.name, []]));
      for (let round = 0; round < o.rounds; round++) {
        // Interleaved, and reversed every other round, so drift hurts no target more than another.
        const order = round % 2 ? [...scenario.targets].reverse() : scenario.targets;
        for (const target of order) {
          const run = await load(o, pin.generatorCpu, scenario, target);
          results.get(target.name)!.push(run);
          const cpuText =
            run.cpuMs === undefined ? '' : `, CPU ${run.cpuMs.toFixed(0)} ms per ${cpuUnit(scenario)}`;
          const otherText = run.otherLoad === undefined ? '' : `, other load ${percent(run.otherLoad)}`;
          console.log(
            `  ${scenario.name}, round ${round + 1}: ${target.name} ${run.value.toFixed(0)} ${scenario.unit}${cpuText}${otherText}`,
          );
        }
      }
      const value = (name: string) => median(results.get(name)!.map((r) => r.value));
      const cpu = (name: string) => median(results.get(name)!.map((r) => r.cpuMs!));
      const ratio = value('relay') / value('direct');
      rows.push([
        scenario.name,
        `${value('direct').toFixed(0)} ${scenario.unit}`,
        `${value('relay').toFixed(0)} ${scenario.unit}`,
        `${value('bare relay').toFixed(0)} ${scenario.unit}`,
        `${ratio.toFixed(2)}x`,
        `${(value('relay') / value('bare relay')).toFixed(2)}x`,
        `${cpu('relay').toFixed(0)} / ${cpu('bare relay').toFixed(0)} ms per ${cpuUnit(scenario)}`,
        otherLoad(scenario, results),
        ratio >= 0.8 ? 'PASS' : 'MISS',
      ]);
    }
    const metrics = await (
      await request(`http://127.0.0.1:${Number(edge.ready.adminPort)}/metrics`)
    ).body.text();
    const errors = metrics
      .split('\n')
      .filter((l) => /^strata_relay_(errors_total|refused_total|dropped_packets_total)\{/.test(l))
      .filter((l) => !/ 0$/.test(l));
    printTable(
      [
        'scenario',
        'direct',
        'relay',
        'bare relay',
        'relay/direct',
        'relay/bare',
        'CPU relay / bare',
        'other load',
        'goal 0.8x',
      ],
      rows,
    );
    console.log(
      errors.length === 0
        ? 'relay counters: no errors, refusals or drops'
        : `relay counters (the load generator closes its connections and sockets at the end of each run):\n  ${errors.join('\n  ')}`,
    );
    // A missed goal is reported in the table, not as a failure: the bench measures.
    return 0;
  } finally {
    await stopAll();
    if (!o.keep) rmSync(dir, { recursive: true, force: true });
  }
}

const percent = (share: number) => `${(share * 100).toFixed(0)}%`;

/**
 * The median share of the machine's CPU time other processes took during the scenario's runs
 * (all targets): above a few percent, throughput through a relay (one more process to schedule)
 * says more about the machine than the relay; the CPU figures hold.
 */
function otherLoad(scenario: Scenario, results: Map<string, Run[]>): string {
  const shares = scenario.targets.flatMap((t) => results.get(t.name)!.map((r) => r.otherLoad ?? NaN));
  return shares.some(Number.isNaN) ? 'n/a' : percent(median(shares));
}

function printTable(header: string[], rows: string[][]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  console.log(`\n${line(header)}`);
  for (const r of rows) console.log(line(r));
}

process.exitCode = await main();
