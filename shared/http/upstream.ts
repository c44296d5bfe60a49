// Upstream requests through undici pools (keep-alive, connect/header/body timeouts).
// undici errors are converted to StrataError here and nowhere else.

import { Pool, errors as undiciErrors } from 'undici';
import type { Readable } from 'node:stream';
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import type { StrataConfig } from '../config/config.js';
import { StrataError, type ErrorCode } from '../errors.js';

export interface UpstreamOptions {
  connectTimeout: number;
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

export interface UpstreamResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Readable;
  /** Which origin answered. */
  origin: string;
}

/** One origin server with its connection pool and passive health. */
export class Origin {
  readonly pool: Pool;
  private readonly servername: string | undefined;
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

  /** Sends one request; throws StrataError with the upstream cause. */
  async request(req: UpstreamRequest): Promise<UpstreamResponse> {
    try {
      const options = {
        method: req.method as 'GET',
        path: req.path,
        headers: req.headers,
        body: req.body ?? null,
        signal: req.signal,
        // Without this undici derives the TLS name from the Host header, and reconnects
        // whenever consecutive requests carry different Host values. (A dispatch option undici
        // reads at run time; its request types do not list it.)
        servername: this.servername,
      };
      const res = await this.pool.request(options as Parameters<Pool['request']>[0]);
      return { status: res.statusCode, headers: res.headers, body: res.body, origin: this.url };
    } catch (err) {
      throw upstreamError(err, this.url);
    }
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

/** Certificate and handshake failures (Node's ERR_TLS_* and OpenSSL's verification codes). */
const tlsCodes =
  /^(ERR_TLS_|ERR_SSL_|CERT_|UNABLE_TO_|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|ERR_OSSL_)/;

const networkCodes: Record<string, ErrorCode> = {
  ECONNREFUSED: 'UPSTREAM_CONNECT_FAILED',
  ENOTFOUND: 'UPSTREAM_CONNECT_FAILED',
  EHOSTUNREACH: 'UPSTREAM_CONNECT_FAILED',
  ENETUNREACH: 'UPSTREAM_CONNECT_FAILED',
  EAI_AGAIN: 'UPSTREAM_CONNECT_FAILED',
  ECONNRESET: 'UPSTREAM_RESET',
  EPIPE: 'UPSTREAM_RESET',
};

/** Maps an undici or socket error to the catalog. */
export function upstreamError(err: unknown, origin: string): StrataError {
  if (err instanceof StrataError) return err;
  const context = { origin };
  if (err instanceof undiciErrors.ConnectTimeoutError)
    return StrataError.because('UPSTREAM_CONNECT_TIMEOUT', err, context);
  if (err instanceof undiciErrors.HeadersTimeoutError)
    return StrataError.because('UPSTREAM_HEADERS_TIMEOUT', err, context);
  if (err instanceof undiciErrors.BodyTimeoutError)
    return StrataError.because('UPSTREAM_BODY_TIMEOUT', err, context);
  // The client's abort signal (pass requests), as undici's error or the DOM AbortError.
  if (err instanceof undiciErrors.RequestAbortedError || (err as Error | undefined)?.name === 'AbortError')
    return StrataError.because('CLIENT_ABORTED', err, context);
  if (err instanceof undiciErrors.SocketError) return StrataError.because('UPSTREAM_RESET', err, context);
  if (
    err instanceof undiciErrors.HTTPParserError ||
    err instanceof undiciErrors.ResponseContentLengthMismatchError ||
    err instanceof undiciErrors.InvalidArgumentError
  )
    return StrataError.because('UPSTREAM_PROTOCOL', err, context);
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (code && tlsCodes.test(code)) return StrataError.because('UPSTREAM_TLS', err, context);
  const mapped = code ? networkCodes[code] : undefined;
  return StrataError.because(mapped ?? 'UPSTREAM_RESET', err, context);
}
