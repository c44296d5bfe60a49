// Upstream peers (origins and shields): requests through undici pools (keep-alive,
// connect/header/body timeouts).
// Errors are mapped to StrataError in upstream-errors.ts.

import { Pool } from 'undici';
import type { Readable } from 'node:stream';
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { rootCertificates } from 'node:tls';
import type { StrataConfig } from '../config/config.js';
import { StrataError } from '../errors.js';
import { UpstreamExchange, type UpstreamResponse } from './upstream-exchange.js';
import type { PeerHealth } from './health.js';
import type { InterimListener } from './interim.js';

export type { UpstreamBody, UpstreamResponse } from './upstream-exchange.js';
export { upstreamError } from './upstream-errors.js';

export interface UpstreamOptions {
  connectTimeout: number;
  queueTimeout: number;
  headersTimeout: number;
  bodyTimeout: number;
  keepAliveTimeout: number;
  connections: number;
  /** Trusted CA certificates (PEM) for https peers: Node's bundled CAs and upstream.caFile's. */
  ca?: string[];
  /** tls.insecure: the peer's certificate is not verified. */
  insecure?: boolean;
  /** Connect over this Unix socket instead of the URL's host and port (a sibling worker). */
  socketPath?: string;
}

/** Upstream options from config, with upstream.caFile read; runs once at start. */
export function upstreamOptions(config: StrataConfig['upstream']): UpstreamOptions {
  if (!config.caFile) return config;
  try {
    // Node's `ca` replaces the CAs it trusts: keep its bundled ones, so the file adds to them.
    return { ...config, ca: [...rootCertificates, readFileSync(config.caFile, 'utf8')] };
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
  /** Called with each interim (1xx) response before the final one; absent: they are dropped. */
  onInterim?: InterimListener;
}

/**
 * What a peer is to this node: an origin server, an origin shield (another Strata node), or
 * another worker process of this node that owns the request's key (shared/cluster/siblings.ts).
 */
export type PeerKind = 'origin' | 'shield' | 'worker';

/** One upstream server (origin or shield) with its connection pool and health. */
export class Peer {
  readonly pool: Pool;
  private readonly servername: string | undefined;
  private readonly timeouts: { queueMs: number; headersMs: number };
  /** tls.insecure: this peer's certificate is not verified. */
  readonly insecure: boolean;
  /** How to open TLS to an https peer outside the pool (WebSocket tunnels); undefined for http. */
  readonly tls: { servername?: string; ca?: string[]; rejectUnauthorized: boolean } | undefined;
  /** Connect timeout (upstream.connectTimeout), for connections made outside the pool. */
  readonly connectTimeoutMs: number;

  constructor(
    /** The peer's URL without a trailing slash; also its id in logs and metrics. */
    readonly url: string,
    readonly kind: PeerKind,
    readonly health: PeerHealth,
    options: UpstreamOptions,
    /** A shield's region, for preferring shields near the edge. */
    readonly region?: string,
  ) {
    // TLS names the origin by its own host name (SNI and the certificate check), not by the
    // Host header a request carries; an IP address sends no SNI.
    const { protocol, hostname } = new URL(url);
    this.servername = protocol === 'https:' && !isIP(hostname.replace(/^\[|\]$/g, '')) ? hostname : undefined;
    this.timeouts = { queueMs: options.queueTimeout, headersMs: options.headersTimeout };
    this.insecure = options.insecure === true;
    this.connectTimeoutMs = options.connectTimeout;
    this.tls =
      protocol === 'https:'
        ? { servername: this.servername, ca: options.ca, rejectUnauthorized: !this.insecure }
        : undefined;
    this.pool = new Pool(url, {
      connections: options.connections,
      connect: {
        timeout: options.connectTimeout,
        ...(options.ca ? { ca: options.ca } : {}),
        ...(this.insecure ? { rejectUnauthorized: false } : {}),
      },
      headersTimeout: options.headersTimeout,
      bodyTimeout: options.bodyTimeout,
      keepAliveTimeout: options.keepAliveTimeout,
      keepAliveMaxTimeout: Math.max(options.keepAliveTimeout, 1000),
      pipelining: 1,
      ...(options.socketPath ? { socketPath: options.socketPath } : {}),
    });
  }

  /** Sends one request; the promise settles with the response head or a StrataError. */
  request(req: UpstreamRequest): Promise<UpstreamResponse> {
    const exchange = new UpstreamExchange(this.url, req.signal, this.timeouts, req.onInterim);
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

  /**
   * Lets requests in flight finish until the deadline (ms since epoch), then destroys the pool,
   * so a fill still reading a slow peer cannot hold a stopping node past its drain timeout.
   */
  async close(deadlineMs: number): Promise<void> {
    const timer = setTimeout(
      () => this.pool.destroy().catch(() => undefined), // closing anyway
      Math.max(0, deadlineMs - Date.now()),
    );
    try {
      await this.pool.close();
    } finally {
      clearTimeout(timer);
    }
  }
}
