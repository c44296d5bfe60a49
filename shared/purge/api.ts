// PurgeApi: the purge endpoints of the admin listener (docs/admin-api.md):
//   POST /purge[?wait=5s]  accept a purge (bearer token); with wait, answer once every live node applied it
//   GET  /purge/{id}       which nodes applied a purge, when, and how long it took
//   GET  /nodes            the live nodes' heartbeats
// Errors are JSON { error: CODE, message } with the catalog's status (errors.ts).

import type { IncomingMessage, ServerResponse } from 'node:http';
import { sendJson } from '../admin-server.js';
import { BearerToken } from '../bearer-token.js';
import { StrataError } from '../errors.js';
import type { Logger } from '../log.js';
import { parseDuration } from '../config/units.js';
import type { PurgeLog } from './log.js';
import { idPattern, parseSpec, type Heartbeat, type PurgeAck, type PurgeSpec } from './message.js';
import type { PurgeMetrics } from './metrics.js';

export interface PurgeApiOptions {
  log: PurgeLog;
  /** The bearer token purges need; undefined: purges are refused (PURGE_DISABLED). */
  token: string | undefined;
  maxBodyBytes: number;
  /** Purge requests per second (token bucket) and the burst above it. */
  ratePerSec: number;
  burst: number;
  /** The longest ?wait accepted. */
  maxWaitMs: number;
  logger: Logger;
  metrics: PurgeMetrics;
  clock?: () => number;
}

/** One node's part in a purge, as the API reports it. */
export interface NodeResult {
  node: string;
  applied: boolean;
  /** From the API accepting the purge to the node having applied it. */
  lagMs?: number;
  appliedAt?: string;
  objects?: number;
  /** Workers that did not apply it in time (a node with workers). */
  missingWorkers?: number[];
}

export interface PurgeReport {
  id: string;
  nodes: number;
  applied: number;
  /** Every expected node applied it (and none reported a worker missing). */
  complete: boolean;
  /** From acceptance to the last expected node's acknowledgement, when complete. */
  allAppliedMs?: number;
  results: NodeResult[];
}

export class PurgeApi {
  private tokens: number;
  private refilledMs: number;
  private readonly clock: () => number;
  private readonly token: BearerToken;

  constructor(private readonly options: PurgeApiOptions) {
    this.clock = options.clock ?? Date.now;
    this.tokens = options.burst;
    this.refilledMs = this.clock();
    this.token = new BearerToken(options.token);
  }

  /** Handles the request if its path is the API's; false lets the admin listener go on. */
  handle(req: IncomingMessage, res: ServerResponse): boolean {
    const url = new URL(req.url ?? '/', 'http://admin');
    const path = url.pathname;
    if (path !== '/purge' && !path.startsWith('/purge/') && path !== '/nodes') return false;
    this.route(req, url).then(
      ({ status, body }) => sendJson(res, status, body),
      (err: unknown) => {
        const e = StrataError.from(err);
        if (e.source === 'internal' && e.code === 'INTERNAL')
          this.options.logger.error({ err }, 'purge API failed');
        if (req.method === 'POST') this.options.metrics.refused.inc({ code: e.code });
        sendJson(res, e.code === 'INTERNAL' ? 500 : e.status, { error: e.code, message: e.message });
        // A body left unread (too large, refused before reading) is not worth reading.
        if (!req.complete) res.once('finish', () => req.destroy());
      },
    );
    return true;
  }

  private async route(req: IncomingMessage, url: URL): Promise<{ status: number; body: unknown }> {
    const method = req.method ?? 'GET';
    if (url.pathname === '/nodes') {
      if (method !== 'GET') throw methodNotAllowed('GET');
      return { status: 200, body: { nodes: await this.nodes() } };
    }
    if (url.pathname === '/purge') {
      if (method !== 'POST') throw methodNotAllowed('POST');
      return this.purge(req, url);
    }
    if (method !== 'GET') throw methodNotAllowed('GET');
    const id = decodeURIComponent(url.pathname.slice('/purge/'.length));
    if (!idPattern.test(id))
      throw new StrataError('PURGE_NOT_FOUND', `no purge "${id}": ids look like 1733140000000-0`);
    this.available();
    const purge = await this.options.log.read(id);
    const expected = await this.options.log.expected(id);
    if (!purge && !expected)
      throw new StrataError('PURGE_NOT_FOUND', `no purge ${id} (unknown, or trimmed from the log)`);
    const report = this.report(id, purge?.atMs ?? 0, expected ?? [], await this.options.log.acks(id));
    return {
      status: 200,
      body: {
        ...report,
        purge: purge && specOf(purge),
        acceptedAt: purge && new Date(purge.atMs).toISOString(),
      },
    };
  }

  private async purge(req: IncomingMessage, url: URL): Promise<{ status: number; body: unknown }> {
    this.authorize(req);
    this.limit();
    const waitMs = this.waitOf(url);
    const body = await readJson(req, this.options.maxBodyBytes);
    const parsed = parseSpec(body);
    if ('problem' in parsed) throw new StrataError('PURGE_INVALID', parsed.problem);
    this.available();
    const { log, metrics, logger } = this.options;
    const nowMs = this.clock();
    const nodes = (await this.nodes()).map((n) => n.node);
    // Listening before appending: no acknowledgement can slip between the two.
    const waiter = waitMs > 0 ? new AckWaiter(log, nodes) : undefined;
    let message;
    try {
      // Not past the wait: a subscription that cannot complete (Redis going away) leaves the
      // final read of the recorded acknowledgements to answer.
      if (waiter) await Promise.race([log.acksReady(), delay(Math.min(waitMs, 1000))]);
      message = await log.append(parsed.spec, nowMs);
    } catch (err) {
      waiter?.close();
      throw err;
    }
    metrics.accepted.inc();
    logger.info({ id: message.id, nodes: nodes.length, ...selectorCounts(parsed.spec) }, 'purge accepted');
    await log
      .expect(message.id, nodes)
      .catch((err: unknown) => logger.warn({ err: (err as Error).message }, 'purge nodes not recorded'));
    if (!waiter) return { status: 202, body: { id: message.id, nodes: nodes.length } };
    const acks = await waiter.until(message.id, waitMs);
    const report = this.report(message.id, message.atMs, nodes, acks);
    return { status: report.complete ? 200 : 202, body: report };
  }

  private report(
    id: string,
    atMs: number,
    expected: readonly string[],
    acks: readonly PurgeAck[],
  ): PurgeReport {
    const byNode = new Map(acks.map((a) => [a.node, a]));
    const names = [...new Set([...expected, ...byNode.keys()])].sort();
    const results: NodeResult[] = names.map((node) => {
      const a = byNode.get(node);
      if (!a) return { node, applied: false };
      return {
        node,
        applied: true,
        lagMs: a.lagMs,
        appliedAt: new Date(a.appliedMs).toISOString(),
        objects: a.objects,
        ...(a.missing ? { missingWorkers: a.missing } : {}),
      };
    });
    const pending = expected.filter((n) => !byNode.has(n));
    const complete = pending.length === 0 && acks.every((a) => !a.missing?.length);
    const last = Math.max(0, ...expected.map((n) => byNode.get(n)?.appliedMs ?? 0));
    return {
      id,
      nodes: expected.length,
      applied: expected.length - pending.length,
      complete,
      ...(complete && expected.length > 0 && atMs > 0 ? { allAppliedMs: Math.max(0, last - atMs) } : {}),
      results,
    };
  }

  private async nodes(): Promise<Heartbeat[]> {
    this.available();
    return this.options.log.liveNodes(this.clock());
  }

  private authorize(req: IncomingMessage): void {
    const check = this.token.check(req.headers.authorization);
    if (check === 'disabled') throw new StrataError('PURGE_DISABLED');
    if (check === 'missing')
      throw new StrataError(
        'PURGE_UNAUTHORIZED',
        'missing bearer token (Authorization: Bearer <purge.token>)',
      );
    if (check === 'wrong') throw new StrataError('PURGE_UNAUTHORIZED', 'wrong bearer token');
  }

  private limit(): void {
    const now = this.clock();
    this.tokens = Math.min(
      this.options.burst,
      this.tokens + ((now - this.refilledMs) / 1000) * this.options.ratePerSec,
    );
    this.refilledMs = now;
    if (this.tokens < 1) throw new StrataError('PURGE_RATE_LIMITED');
    this.tokens -= 1;
  }

  private available(): void {
    const { log } = this.options;
    if (log.state !== 'up')
      throw new StrataError(
        'PURGE_UNAVAILABLE',
        `the purge bus is unreachable (${log.reason ?? 'down'}): nothing was accepted`,
      );
  }

  private waitOf(url: URL): number {
    const text = url.searchParams.get('wait');
    if (text === null) return 0;
    const ms = parseDuration(text);
    if (ms === undefined)
      throw new StrataError('PURGE_INVALID', `wait=${text}: expected a duration such as 5s or 500ms`);
    if (ms > this.options.maxWaitMs)
      throw new StrataError(
        'PURGE_INVALID',
        `wait=${text}: at most ${this.options.maxWaitMs} ms (purge.api.maxWait)`,
      );
    return ms;
  }
}

/** Collects acknowledgements of one purge from the bus until every expected node has one or time is up. */
class AckWaiter {
  private readonly got = new Map<string, PurgeAck>();
  private id: string | undefined;
  private early: PurgeAck[] = [];
  private done: (() => void) | undefined;
  private readonly unsubscribe: () => void;

  constructor(
    private readonly log: PurgeLog,
    private readonly nodes: readonly string[],
  ) {
    this.unsubscribe = log.subscribe({
      ack: (ack) => {
        if (this.id === undefined) this.early.push(ack);
        else this.take(ack);
      },
    });
  }

  async until(id: string, waitMs: number): Promise<PurgeAck[]> {
    this.id = id;
    for (const a of this.early) this.take(a);
    this.early = [];
    for (const a of await this.log.acks(id).catch(() => [])) this.take(a);
    if (!this.complete()) {
      await new Promise<void>((resolve) => {
        this.done = resolve;
        const timer = setTimeout(resolve, waitMs);
        timer.unref();
      });
      // Out of time: the acknowledgements recorded in the log count too (one announcement lost).
      if (!this.complete()) for (const a of await this.log.acks(id).catch(() => [])) this.take(a);
    }
    this.close();
    return [...this.got.values()];
  }

  close(): void {
    this.unsubscribe();
  }

  private take(ack: PurgeAck): void {
    if (ack.id !== this.id) return;
    this.got.set(ack.node, ack);
    if (this.complete()) this.done?.();
  }

  private complete(): boolean {
    return this.nodes.every((n) => this.got.has(n));
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

function methodNotAllowed(allowed: string): StrataError {
  return new StrataError('PURGE_INVALID', `method not allowed here: use ${allowed}`);
}

function specOf(spec: PurgeSpec): PurgeSpec {
  const { urls, prefixes, hosts, tags, all, soft } = spec;
  return { urls, prefixes, hosts, tags, all, soft };
}

function selectorCounts(spec: PurgeSpec): Record<string, number | boolean> {
  return {
    urls: spec.urls.length,
    prefixes: spec.prefixes.length,
    hosts: spec.hosts.length,
    tags: spec.tags.length,
    all: spec.all,
    soft: spec.soft,
  };
}

/** Reads a JSON body of at most maxBytes; PURGE_BODY_TOO_LARGE past it, PURGE_INVALID when not JSON. */
async function readJson(req: IncomingMessage, maxBytes: number): Promise<unknown> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > maxBytes)
    throw new StrataError(
      'PURGE_BODY_TOO_LARGE',
      `the body is larger than ${maxBytes} bytes (purge.api.maxBodyBytes)`,
    );
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBytes)
      throw new StrataError(
        'PURGE_BODY_TOO_LARGE',
        `the body is larger than ${maxBytes} bytes (purge.api.maxBodyBytes)`,
      );
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new StrataError('PURGE_INVALID', `the body is not JSON: ${(err as Error).message}`);
  }
}
