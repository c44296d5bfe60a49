// The one error type of Strata: every failure has a stable code from this catalog,
// a source, a retry decision and its cause. Only the pipeline turns it into a status.

export type ErrorSource = 'upstream' | 'downstream' | 'internal' | 'config';

interface CatalogEntry {
  source: ErrorSource;
  /** HTTP status sent to the client when this error ends a request. */
  status: number;
  /** Whether the request may be retried on another upstream candidate. */
  retry: boolean;
  message: string;
}

export const catalog = {
  CONFIG_INVALID: { source: 'config', status: 500, retry: false, message: 'invalid configuration' },
  REQUEST_INVALID: { source: 'downstream', status: 400, retry: false, message: 'bad request' },
  REQUEST_HEADERS_TOO_LARGE: {
    source: 'downstream',
    status: 431,
    retry: false,
    message: 'request header fields too large',
  },
  REQUEST_BODY_TOO_LARGE: {
    source: 'downstream',
    status: 413,
    retry: false,
    message: 'request body too large',
  },
  SITE_UNKNOWN: {
    source: 'downstream',
    status: 421,
    retry: false,
    message: 'no site is configured for this host',
  },
  PROXY_REFUSED: {
    source: 'downstream',
    status: 403,
    retry: false,
    message: 'absolute-form requests are only accepted for configured sites',
  },
  ONLY_IF_CACHED_MISS: {
    source: 'downstream',
    status: 504,
    retry: false,
    message: 'only-if-cached: no stored response',
  },
  LOOP_DETECTED: {
    source: 'downstream',
    status: 508,
    retry: false,
    message: 'this request has already passed through this node (CDN-Loop)',
  },
  CLIENT_ABORTED: {
    source: 'downstream',
    status: 499,
    retry: false,
    message: 'client closed the connection',
  },
  WEBSOCKET_NOT_ALLOWED: {
    source: 'downstream',
    status: 403,
    retry: false,
    message: 'WebSocket is not enabled for this site',
  },
  WEBSOCKET_LIMIT: {
    source: 'downstream',
    status: 503,
    retry: false,
    message: 'too many WebSocket connections on this node',
  },
  WEBSOCKET_CLIENT_LIMIT: {
    source: 'downstream',
    status: 429,
    retry: false,
    message: 'too many WebSocket connections from this address',
  },
  UPSTREAM_CONNECT_FAILED: {
    source: 'upstream',
    status: 502,
    retry: true,
    message: 'could not connect to the origin',
  },
  UPSTREAM_CONNECT_TIMEOUT: {
    source: 'upstream',
    status: 504,
    retry: true,
    message: 'timed out connecting to the origin',
  },
  UPSTREAM_HEADERS_TIMEOUT: {
    source: 'upstream',
    status: 504,
    retry: false,
    message: 'the origin did not answer in time',
  },
  UPSTREAM_BODY_TIMEOUT: {
    source: 'upstream',
    status: 504,
    retry: false,
    message: 'the origin stopped sending the body',
  },
  UPSTREAM_TLS: {
    source: 'upstream',
    status: 502,
    retry: true,
    message: 'TLS with the origin failed (certificate or handshake)',
  },
  UPSTREAM_BUSY: {
    source: 'upstream',
    status: 503,
    // Never sent: another origin of the site may take it.
    retry: true,
    message: 'no connection to the origin was free in time',
  },
  SHIELD_UNAVAILABLE: {
    source: 'upstream',
    status: 503,
    retry: false,
    message: 'no origin shield could be reached',
  },
  UPSTREAM_RESET: {
    source: 'upstream',
    status: 502,
    retry: false,
    message: 'the origin closed the connection',
  },
  UPSTREAM_PROTOCOL: {
    source: 'upstream',
    status: 502,
    retry: false,
    message: 'invalid response from the origin',
  },
  GEO_DENIED: {
    source: 'downstream',
    status: 403,
    retry: false,
    message: 'this site is not available in your country',
  },
  GEO_DATABASE_INVALID: {
    source: 'config',
    status: 500,
    retry: false,
    message: 'the GeoIP database cannot be read',
  },
  STORE_FAILED: { source: 'internal', status: 500, retry: false, message: 'cache store failure' },
  STORE_CORRUPT: {
    source: 'internal',
    status: 500,
    retry: false,
    message: 'stored object failed its checksum',
  },
  INTERNAL: { source: 'internal', status: 500, retry: false, message: 'internal error' },
  PURGE_INVALID: { source: 'downstream', status: 400, retry: false, message: 'malformed purge request' },
  PURGE_UNAUTHORIZED: {
    source: 'downstream',
    status: 401,
    retry: false,
    message: 'a purge needs Authorization: Bearer <purge.token>',
  },
  PURGE_DISABLED: {
    source: 'config',
    status: 403,
    retry: false,
    message: 'purges are off on this node: no purge.token or purge.tokenFile is configured',
  },
  PURGE_METHOD_REFUSED: {
    source: 'downstream',
    status: 405,
    retry: false,
    message: 'PURGE is not allowed from this address (purge.methodFrom)',
  },
  PURGE_NOT_FOUND: { source: 'downstream', status: 404, retry: false, message: 'no such purge' },
  PURGE_BODY_TOO_LARGE: {
    source: 'downstream',
    status: 413,
    retry: false,
    message: 'purge request body too large',
  },
  PURGE_RATE_LIMITED: {
    source: 'downstream',
    status: 429,
    retry: true,
    message: 'too many purge requests: try again shortly',
  },
  PURGE_UNAVAILABLE: {
    source: 'internal',
    status: 503,
    retry: true,
    message: 'the purge bus (Redis) is unreachable: the purge was not accepted',
  },
  PURGE_NOT_DURABLE: {
    source: 'internal',
    status: 503,
    retry: true,
    message: 'the purge was not confirmed by enough Redis replicas (purge.replicas)',
  },
  ADMIN_UNAUTHORIZED: {
    source: 'downstream',
    status: 401,
    retry: false,
    message: 'this admin call needs Authorization: Bearer <purge.token>',
  },
  ADMIN_DISABLED: {
    source: 'config',
    status: 403,
    retry: false,
    message: 'admin calls are off on this node: no purge.token or purge.tokenFile is configured',
  },
  ADMIN_METHOD_NOT_ALLOWED: {
    source: 'downstream',
    status: 405,
    retry: false,
    message: 'method not allowed on this admin path',
  },
  RELOAD_REFUSED: {
    source: 'config',
    status: 409,
    retry: false,
    message: 'the config file was refused: the node keeps the running config',
  },
  RELOAD_FAILED: {
    source: 'internal',
    status: 500,
    retry: true,
    message: 'a new worker failed to start: the node keeps the running config',
  },
} as const satisfies Record<string, CatalogEntry>;

export type ErrorCode = keyof typeof catalog;

export class StrataError extends Error {
  readonly code: ErrorCode;
  readonly source: ErrorSource;
  readonly status: number;
  readonly retry: boolean;
  readonly context: Record<string, unknown>;

  constructor(code: ErrorCode, message?: string, context: Record<string, unknown> = {}, cause?: unknown) {
    const entry: CatalogEntry = catalog[code];
    super(message ?? entry.message, cause === undefined ? undefined : { cause });
    this.name = 'StrataError';
    this.code = code;
    this.source = entry.source;
    this.status = entry.status;
    this.retry = entry.retry;
    this.context = context;
  }

  /** Wraps a library error where it happened, keeping it as the cause. */
  static because(code: ErrorCode, cause: unknown, context: Record<string, unknown> = {}): StrataError {
    const detail = cause instanceof Error ? cause.message : String(cause);
    return new StrataError(code, `${catalog[code].message}: ${detail}`, context, cause);
  }

  /** Anything thrown becomes a StrataError; unknown throws are INTERNAL. */
  static from(err: unknown): StrataError {
    return err instanceof StrataError ? err : StrataError.because('INTERNAL', err);
  }
}
