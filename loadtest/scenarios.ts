// The scenarios of a bench run, each with the check of the edge's own counters that says the
// edge did what the scenario claims (hits were hits; misses were misses and were stored).

import { countersDelta, readCounters, type EdgeCounters } from './edge-under-test.js';
import type { BenchOptions } from './options.js';
import type { Scenario, Target } from './runner.js';
import type { Round } from './report.js';
import { hitObjects, type Servers } from './servers.js';

/** Issue 2: misses at least 0.9x the direct origin's throughput. */
const missGoal = 0.9;

/** Reads the edge's counters before a scenario's rounds and compares after them. */
class EdgeCheck {
  private base: EdgeCounters = { requests: {}, objects: 0, notStored: 0 };

  constructor(
    private readonly adminUrl: string,
    private readonly generator: string,
  ) {}

  readonly before = async (): Promise<void> => {
    this.base = await readCounters(this.adminUrl);
  };

  /** "edge counted N <expected> for M responses wrk saw" (or autocannon), and any other outcome it counted. */
  async counted(expected: string, edgeRuns: Round[]): Promise<{ delta: EdgeCounters; line: string }> {
    const delta = countersDelta(this.base, await readCounters(this.adminUrl));
    const served = edgeRuns.reduce((a, r) => a + r.load.requests, 0);
    const others = Object.entries(delta.requests).filter(([k]) => k !== expected);
    const line =
      `edge counted ${delta.requests[expected] ?? 0} ${expected} for ${served} responses ${this.generator} saw; ` +
      (others.length
        ? `OTHER OUTCOMES ${others.map(([k, v]) => `${k}=${v}`).join(' ')}`
        : 'no other outcome');
    return { delta, line };
  }
}

/** Hits of one warmed object, edge vs the bare server answering the same response. */
function hitScenario(o: (typeof hitObjects)[number], servers: Servers, check: EdgeCheck): Scenario {
  const path = `/obj/${o.bytes}`;
  return {
    name: `hit ${o.label}`,
    reference: 'bare',
    goal: o.goal,
    edge: { url: () => servers.edge.url + path, pid: servers.pid.edge },
    ref: { url: () => servers.bareUrl + path, pid: servers.pid.bare },
    before: check.before,
    check: async (runs) => [(await check.counted('hit', runs)).line],
  };
}

// Every request a new path: /obj/1024/u<run>-<thread>-<n>. The origin answers all of them with
// the same cacheable 1 KiB body, so each one is a miss that the edge stores.
const missPrefix = (run: number) => `/obj/1024/u${run}-`;
const unique = (base: string, pid: number): Target => ({
  url: (run) => `${base}${missPrefix(run)}0`,
  uniquePrefix: missPrefix,
  pid,
});

/** Misses through the edge vs the same unique URLs sent to `refUrl` (the origin or the bare proxy). */
function missScenario(
  options: BenchOptions,
  servers: Servers,
  check: EdgeCheck,
  ref: { name: string; url: string; pid: number; goal: number | undefined },
  connections: number,
): Scenario {
  return {
    name: `miss 1 KiB (origin +${options.originDelayMs} ms)`,
    reference: ref.name,
    goal: ref.goal,
    connections,
    edge: unique(servers.edge.url, servers.pid.edge),
    ref: unique(ref.url, ref.pid),
    before: check.before,
    check: async (runs) => {
      const { delta, line } = await check.counted('miss', runs);
      const sign = delta.objects >= 0 ? '+' : '';
      return [
        line,
        `objects stored: ${sign}${delta.objects} net of evictions, not stored: ${delta.notStored}`,
      ];
    },
  };
}

/** The scenarios asked for, in the order they run. */
export function buildScenarios(options: BenchOptions, servers: Servers): Scenario[] {
  const check = new EdgeCheck(servers.edge.adminUrl, options.generator);
  const origin = { name: 'origin', url: servers.originUrl, pid: servers.pid.origin, goal: missGoal };
  const list: Scenario[] = [];
  for (const o of hitObjects)
    if (options.scenarios.has(o.scenario)) list.push(hitScenario(o, servers, check));
  if (options.scenarios.has('miss'))
    list.push(missScenario(options, servers, check, origin, options.connections));
  if (options.scenarios.has('miss-c8')) list.push(missScenario(options, servers, check, origin, 8));
  if (servers.proxyUrl) {
    const proxy = { name: 'proxy', url: servers.proxyUrl, pid: servers.pid.proxy, goal: undefined };
    list.push(missScenario(options, servers, check, proxy, options.connections));
  }
  return list;
}
