// Starts real Strata nodes (edges, shields) on ephemeral loopback ports, with a manual clock.

import type { TestContext } from 'node:test';
import { request } from 'undici';
import { pino } from 'pino';
import { validateConfig } from '../../shared/config/config.js';
import { StrataNode } from '../../shared/node.js';
import { edgeRole } from '../../edge/edge-role.js';
import type { NodeRole } from '../../shared/node-role.js';

export class ManualClock {
  constructor(public nowMs = Date.now()) {}
  now = (): number => this.nowMs;
  advance(seconds: number): void {
    this.nowMs += seconds * 1000;
  }
}

export interface TestEdge {
  node: StrataNode;
  url: string;
  adminUrl: string;
  clock: ManualClock;
  /** Stops the node (once; later calls wait for the same stop). */
  stop(): Promise<void>;
  get(path: string, headers?: Record<string, string>, method?: string): Promise<TestResponse>;
  metrics(): Promise<string>;
}

export interface TestResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  /** Shortcut for the Cache-Status header. */
  cacheStatus: string;
}

/** Config overrides use the YAML shape (sizes and durations as strings are fine). */
export async function startEdge(
  t: TestContext,
  originUrl: string | string[],
  overrides: Record<string, unknown> = {},
): Promise<TestEdge> {
  const { sites, ...rest } = overrides as { sites?: unknown[] };
  return startNode(t, {
    sites: sites ?? [{ hosts: ['*'], origins: Array.isArray(originUrl) ? originUrl : [originUrl] }],
    ...rest,
  });
}

export interface NodeSpec {
  /** Default: the edge role. */
  role?: NodeRole;
  /** Default: a new clock; nodes of one tiered test share one. */
  clock?: ManualClock;
}

/**
 * Starts a node from a config in the YAML shape: loopback ports 0, silent logs and node id
 * `edge-test` unless the config says otherwise. Stopped after the test (again, if stopped already).
 */
export async function startNode(
  t: TestContext,
  input: Record<string, unknown>,
  spec: NodeSpec = {},
): Promise<TestEdge> {
  const { config, problems } = validateConfig({
    node: { id: 'edge-test' },
    listen: { http: '127.0.0.1:0', admin: '127.0.0.1:0' },
    log: { level: 'silent', access: false },
    ...input,
  });
  if (!config) throw new Error(`test config invalid: ${JSON.stringify(problems)}`);
  const clock = spec.clock ?? new ManualClock();
  const node = new StrataNode(config, {
    role: spec.role ?? edgeRole,
    log: pino({ level: 'silent' }),
    clock: clock.now,
  });
  await node.start();
  let stopped: Promise<void> | undefined;
  const stop = () => (stopped ??= node.stop(1000));
  t.after(stop);
  const url = `http://127.0.0.1:${node.http.port}`;
  const adminUrl = `http://127.0.0.1:${node.admin.port}`;
  return {
    node,
    url,
    adminUrl,
    clock,
    stop,
    async get(path, headers = {}, method = 'GET') {
      const res = await request(url + path, { method: method as 'GET', headers });
      const body = await res.body.text();
      const headersOut = res.headers as Record<string, string | string[] | undefined>;
      return {
        status: res.statusCode,
        headers: headersOut,
        body,
        cacheStatus: String(headersOut['cache-status'] ?? ''),
      };
    },
    async metrics() {
      const res = await request(`${adminUrl}/metrics`);
      return res.body.text();
    },
  };
}

/** Reads one sample from Prometheus text, e.g. metric(text, 'strata_requests_total{outcome="hit",status="200"}'). */
export function metric(text: string, sample: string): number {
  const line = text.split('\n').find((l) => l.startsWith(sample + ' '));
  return line ? Number(line.slice(sample.length + 1)) : 0;
}
