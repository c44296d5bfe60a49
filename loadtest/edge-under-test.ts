// The edge as the bench runs it: `strata edge --config FILE` in its own process with the config
// below (access logging on, its JSON lines going to a file), plus readers of its counters.

import { request } from 'node:http';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { startChild, type BenchChild } from './processes.js';

export interface EdgeUnderTest {
  child: BenchChild;
  url: string;
  adminUrl: string;
  configFile: string;
  logFile: string;
}

/**
 * The bench's edge config. Everything not named here is the default (shared/config/config.ts):
 * memory tier 256 MiB with objects up to 16 MiB, 128 upstream connections per origin.
 */
export function benchEdgeConfig(originUrl: string, accessLog = true, workers = 1): Record<string, unknown> {
  return {
    node: { id: 'edge-bench' },
    workers,
    listen: { http: '127.0.0.1:0', admin: '127.0.0.1:0' },
    sites: [{ hosts: ['*'], origins: [originUrl] }],
    log: { level: 'info', access: accessLog },
  };
}

export interface EdgeStartOptions {
  dir: string;
  cliPath: string;
  originUrl: string;
  cpu: number | undefined;
  accessLog: boolean;
  /** When set, the edge runs with --cpu-prof and writes its profile here on exit. */
  profileDir?: string;
  /** The node's `workers` (default 1). */
  workers?: number;
}

/** Starts the edge and waits for its 'edge started' log line (which carries both ports). */
export async function startEdgeUnderTest(options: EdgeStartOptions): Promise<EdgeUnderTest> {
  const configFile = join(options.dir, 'edge.yaml');
  writeFileSync(
    configFile,
    stringify(benchEdgeConfig(options.originUrl, options.accessLog, options.workers ?? 1)),
  );
  const logFile = join(options.dir, 'edge.log');
  const nodeArgs = options.profileDir ? ['--cpu-prof', `--cpu-prof-dir=${options.profileDir}`] : [];
  const child = await startChild({
    name: 'edge',
    command: process.execPath,
    args: [...nodeArgs, options.cliPath, 'edge', '--config', configFile],
    cpu: options.cpu,
    logFile,
    // With workers, the primary's line (the one with the worker count) says all are ready.
    ready: (line) =>
      line.msg === 'edge started' && (options.workers ?? 1) === ((line.workers as number) ?? 1),
  });
  return {
    child,
    url: `http://127.0.0.1:${Number(child.ready.httpPort)}`,
    adminUrl: `http://127.0.0.1:${Number(child.ready.adminPort)}`,
    configFile,
    logFile,
  };
}

export interface RawResponse {
  status: number;
  /** Header names and values in wire order, as node:http's rawHeaders. */
  rawHeaders: string[];
  body: Buffer;
}

/** One GET on a fresh connection. */
export function fetchRaw(url: string): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, rawHeaders: res.rawHeaders, body: Buffer.concat(chunks) }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

export function header(r: RawResponse, name: string): string | undefined {
  for (let i = 0; i < r.rawHeaders.length; i += 2)
    if (r.rawHeaders[i].toLowerCase() === name) return r.rawHeaders[i + 1];
  return undefined;
}

/** The edge's own counters that say what it did. */
export interface EdgeCounters {
  /** strata_requests_total summed over status, by outcome label. */
  requests: Record<string, number>;
  objects: number;
  notStored: number;
}

export async function readCounters(adminUrl: string): Promise<EdgeCounters> {
  let text: string;
  try {
    text = (await fetchRaw(`${adminUrl}/metrics`)).body.toString('utf8');
  } catch (err) {
    throw new Error(`cannot read the edge's counters at ${adminUrl}/metrics (did the edge exit?)`, {
      cause: err,
    });
  }
  const requests: Record<string, number> = {};
  let objects = 0;
  let notStored = 0;
  for (const line of text.split('\n')) {
    let m = /^strata_requests_total\{outcome="([^"]+)",status="\d+"\} (\S+)$/.exec(line);
    if (m) requests[m[1]] = (requests[m[1]] ?? 0) + Number(m[2]);
    m = /^strata_cache_objects\{tier="memory"\} (\S+)$/.exec(line);
    if (m) objects = Number(m[1]);
    m = /^strata_cache_not_stored_total\{[^}]*\} (\S+)$/.exec(line);
    if (m) notStored += Number(m[1]);
  }
  return { requests, objects, notStored };
}

/** Counter increases between two readings, e.g. { requests: { hit: 1200 }, objects: 0 }. */
export function countersDelta(a: EdgeCounters, b: EdgeCounters): EdgeCounters {
  const requests: Record<string, number> = {};
  for (const [k, v] of Object.entries(b.requests)) {
    const d = v - (a.requests[k] ?? 0);
    if (d !== 0) requests[k] = d;
  }
  return { requests, objects: b.objects - a.objects, notStored: b.notStored - a.notStored };
}
