// Upstream requests through undici pools (keep-alive, connect/header/body timeouts).
// Errors are mapped to StrataError in upstream-errors.ts.

import { Pool } from 'undici';
import type { Readable } from 'node:stream';
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import type { StrataConfig } from '../config/config.js';
import { StrataError } from '../errors.js';
import { UpstreamExchange, type UpstreamResponse } from './upstream-exchange.js';

export type { UpstreamBody, UpstreamResponse } from './upstream-exchange.js';
export { upstreamError } from './upstream-errors.js';

export interface UpstreamOptions {
  connectTimeout: number;
  queueTimeout: number;
  headersTimeout: number;
  bodyTimeout: number;
  keepAliveTimeout: number;
  connections: number;
  /** Extra trusted CA certificates (PEM) for https origins. */
  ca?: string;
}

/** Upstream options from config, with upstream.caFile read; runs once at start. */
export function upstreamOptions(config: StrataConfig['upstream']): UpstreamOptions {
  if (!config.caFile) return config;
  try {
    return { ...config, ca: readFileSync(config.caFile, 'utf8') };
  } catch (err) {
    throw new StrataError(
      'CONFIG_INVALID',
      `upstream.caFile: cannot read ${config.caFile}: ${(err as Error).message}`,
      {
        path: 'upstream.caFile',
      },
    );
  }
}

export interface UpstreamRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: Readable | null;
  signal?: AbortSignal;
}

/** One origin server with its connection pool and passive health. */
export class Origin {
  readonly pool: Pool;
  private readonly servername: string | undefined;
  private readonly timeouts: { queueMs: number; headersMs: number };
  /** Until this time (ms) the origin is skipped unless no other candidate is left. */
  downUntilMs = 0;

  constructor(
    readonly url: string,
    options: UpstreamOptions,
  ) {
    // TLS names the origin by its own host name (SNI and the certificate check), not by the
    // Host header a request carries; an IP address sends no SNI.
    const { protocol, hostname } = new URL(url);
    this.servername = protocol === 'https:' && !isIP(hostname.replace(/^\[|\]$/g, '')) ? hostname : undefined;
    this.timeouts = { queueMs: options.queueTimeout, headersMs: options.headersTimeout };
    this.pool = new Pool(url, {
      connections: options.connections,
      connect: { timeout: options.connectTimeout, ...(options.ca ? { ca: options.ca } : {}) },
      headersTimeout: options.headersTimeout,
      bodyTimeout: options.bodyTimeout,
      keepAliveTimeout: options.keepAliveTimeout,
      keepAliveMaxTimeout: Math.max(options.keepAliveTimeout, 1000),
      pipelining: 1,
    });
  }

  /** Sends one request; the promise settles with the response head or a StrataError. */
  request(req: UpstreamRequest): Promise<UpstreamResponse> {
    const exchange = new UpstreamExchange(this.url, req.signal, this.timeouts);
    const options = {
      method: req.method,
      path: req.path,
      headers: req.headers,
      body: req.body ?? null,
      // Without this undici derives the TLS name from the Host header, and reconnects
      // whenever consecutive requests carry different Host values.
      servername: this.servername,
    };
    this.pool.dispatch(options as Parameters<Pool['dispatch']>[0], exchange);
    return exchange.response;
  }
}

const downForMs = 2_000;

/** The origins of one site, offered in preference order: "if the first cannot be used, continue". */
export class OriginSet {
  private next = 0;

  constructor(readonly origins: readonly Origin[]) {}

  /** Healthy origins first (rotating for balance), then the ones marked down. */
  candidates(nowMs: number): Origin[] {
    const n = this.origins.length;
    const start = this.next++ % n;
    const healthy: Origin[] = [];
    const down: Origin[] = [];
    for (let i = 0; i < n; i++) {
      const o = this.origins[(start + i) % n];
      (o.downUntilMs > nowMs ? down : healthy).push(o);
    }
    return healthy.concat(down);
  }

  markDown(origin: Origin, nowMs: number): void {
    origin.downUntilMs = nowMs + downForMs;
  }

  /**
   * Lets requests in flight finish until the deadline (ms since epoch), then destroys the pools,
   * so a fill still reading a slow origin cannot hold a stopping node past its drain timeout.
   */
  async close(deadlineMs: number): Promise<void> {
    const destroy = () => {
      for (const o of this.origins) o.pool.destroy().catch(() => undefined); // closing anyway
    };
    const timer = setTimeout(destroy, Math.max(0, deadlineMs - Date.now()));
    try {
      await Promise.all(this.origins.map((o) => o.pool.close()));
    } finally {
      clearTimeout(timer);
    }
  }
}
