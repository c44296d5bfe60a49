// The servers a bench run loads: the origin, the edge in front of it (warmed) and the bare
// server built from the edge's own hit responses; the bare proxy when miss-proxy runs.

import { writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startChild, type Pinning } from './processes.js';
import {
  fetchRaw,
  header,
  startEdgeUnderTest,
  type EdgeUnderTest,
  type RawResponse,
} from './edge-under-test.js';
import type { BareSpec } from './bare-server.js';
import type { BenchOptions } from './options.js';

const here = dirname(fileURLToPath(import.meta.url));
export const repoRoot = resolve(here, '../..');

/** The hit objects: path, size and the goal for hits (issue 2). */
export const hitObjects = [
  { scenario: 'hit-1k', label: '1 KiB', bytes: 1024, goal: 0.85 },
  { scenario: 'hit-100k', label: '100 KiB', bytes: 100 * 1024, goal: 0.95 },
] as const;
export interface Servers {
  originUrl: string;
  edge: EdgeUnderTest;
  bareUrl: string;
  /** The bare proxy in front of the origin, when miss-proxy runs. */
  proxyUrl: string | undefined;
  /** Process ids of the servers, by role (0 when the role does not run). */
  pid: { origin: number; edge: number; bare: number; proxy: number };
  pids: number[];
}

/** Starts origin, edge (warmed) and the bare server built from the edge's own hit responses. */
export async function startServers(options: BenchOptions, pinning: Pinning, dir: string): Promise<Servers> {
  const listening = (line: Record<string, unknown>) => line.msg === 'listening';
  const origin = await startChild({
    name: 'origin',
    command: process.execPath,
    args: [join(here, 'origin-server.js'), '--delay-ms', String(options.originDelayMs)],
    cpu: pinning.generatorCpu,
    logFile: join(dir, 'origin.log'),
    ready: listening,
  });
  const originUrl = `http://127.0.0.1:${Number(origin.ready.port)}`;
  const edge = await startEdgeUnderTest({
    dir,
    cliPath: join(repoRoot, 'dist/shared/cli/strata.js'),
    originUrl,
    cpu: pinning.serverCpu,
    accessLog: options.accessLog,
    profileDir: options.profile ? join(dir, 'profile') : undefined,
  });
  const hits: { path: string; raw: RawResponse }[] = [];
  for (const o of hitObjects) {
    const path = `/obj/${o.bytes}`;
    hits.push({ path, raw: await warmHit(edge, path, o.bytes) });
  }
  const bare = await startChild({
    name: 'bare',
    command: process.execPath,
    args: [join(here, 'bare-server.js'), '--spec', writeBareSpec(dir, hits)],
    cpu: pinning.serverCpu,
    logFile: join(dir, 'bare.log'),
    ready: listening,
  });
  const proxy = options.scenarios.has('miss-proxy')
    ? await startChild({
        name: 'bare-proxy',
        command: process.execPath,
        args: [join(here, 'bare-proxy.js'), '--origin', originUrl],
        cpu: pinning.serverCpu,
        logFile: join(dir, 'bare-proxy.log'),
        ready: listening,
      })
    : undefined;
  const [originPid, edgePid, barePid, proxyPid] = [origin, edge.child, bare, proxy].map(
    (c) => c?.process.pid ?? 0,
  );
  return {
    originUrl,
    edge,
    bareUrl: `http://127.0.0.1:${Number(bare.ready.port)}`,
    proxyUrl: proxy && `http://127.0.0.1:${Number(proxy.ready.port)}`,
    pid: { origin: originPid, edge: edgePid, bare: barePid, proxy: proxyPid },
    pids: [originPid, edgePid, barePid, proxyPid].filter((p) => p > 0),
  };
}

/** Fills the cache with `path` and returns the edge's hit response (it must be a hit). */
export async function warmHit(edge: EdgeUnderTest, path: string, size: number): Promise<RawResponse> {
  const first = await fetchRaw(edge.url + path);
  const hit = await fetchRaw(edge.url + path);
  const status = header(hit, 'cache-status') ?? '';
  if (first.status !== 200 || hit.status !== 200 || !/; hit/.test(status) || hit.body.length !== size) {
    throw new Error(
      `warming ${path} did not give a ${size}-byte cache hit: ${hit.status} cache-status "${status}" ` +
        `(${hit.body.length} bytes); see ${edge.logFile}`,
    );
  }
  return hit;
}

/** What the bare server answers: the edge's hit responses, bytes and header fields as sent. */
export function writeBareSpec(dir: string, hits: { path: string; raw: RawResponse }[]): string {
  // node:http writes its own connection-management fields; every other field is copied.
  const own = new Set(['connection', 'keep-alive', 'transfer-encoding']);
  const spec: BareSpec = { v: 1, responses: [] };
  hits.forEach((h, i) => {
    const bodyFile = join(dir, `bare-${i}.body`);
    writeFileSync(bodyFile, h.raw.body);
    const headers: string[] = [];
    for (let j = 0; j < h.raw.rawHeaders.length; j += 2)
      if (!own.has(h.raw.rawHeaders[j].toLowerCase()))
        headers.push(h.raw.rawHeaders[j], h.raw.rawHeaders[j + 1]);
    spec.responses.push({ path: h.path, status: 200, headers, bodyFile });
  });
  const file = join(dir, 'bare.json');
  writeFileSync(file, JSON.stringify(spec));
  return file;
}
