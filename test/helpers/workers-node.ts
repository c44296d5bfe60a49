// A node with workers: 2 run as operators run it (strata edge as a real process), for the
// workers and admin-reload tests.

import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { runCli, type CliRun } from './cli.js';
import { until } from './wait.js';

export const config = (originUrl: string, id = 'edge-workers', extra = '') => `
node: { id: ${id} }
listen: { http: "127.0.0.1:0", admin: "127.0.0.1:0" }
workers: 2
sites:
  - hosts: ["*"]
    origins: ["${originUrl}"]
cache:
  memory: { maxBytes: 16MiB, maxObjectBytes: 1MiB }
shutdown: { drainTimeout: 5s }
${extra}`;

export interface Node {
  run: CliRun;
  file: string;
  url: string;
  admin: string;
}

export async function startNode(t: TestContext, text: string): Promise<Node> {
  const dir = await mkdtemp(join(tmpdir(), 'strata-workers-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'edge.yaml');
  await writeFile(file, text);
  const run = runCli(t, ['edge', '--config', file]);
  const started = await run.logLine('edge started');
  // The primary's line is the one with the worker count (each worker logs its own start).
  await until(() => /"workers":2,"msg":"edge started"/.test(run.stdout()), 20_000);
  const primary = JSON.parse(
    run
      .stdout()
      .split('\n')
      .find((l) => l.includes('"workers":2'))!,
  ) as {
    httpPort: number;
    adminPort: number;
  };
  assert.ok(started);
  return {
    run,
    file,
    url: `http://127.0.0.1:${primary.httpPort}`,
    admin: `http://127.0.0.1:${primary.adminPort}`,
  };
}

/** A GET on a new connection, so that the primary hands it to the next worker. */
export async function get(url: string, host?: string): Promise<{ status: number; cacheStatus: string }> {
  // A connection nobody answers (lost between the primary and a worker) fails, not hangs.
  const res = await request(url, {
    reset: true,
    headers: host ? { host } : {},
    headersTimeout: 10_000,
    bodyTimeout: 10_000,
  });
  await res.body.dump();
  return { status: res.statusCode, cacheStatus: String(res.headers['cache-status'] ?? '') };
}
