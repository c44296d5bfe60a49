// HttpListener: the client-facing HTTP/1.1 server with timeouts and limits, and graceful drain.

import {
  STATUS_CODES,
  createServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { Socket } from 'node:net';
import type { StrataConfig } from '../config/config.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import type { Service } from '../service.js';
import { listen } from './listen.js';
import type { ListenerInfo } from './context.js';
import {
  guardFraming,
  transferCodings,
  transferEncodingFault,
  type FramingFault,
  type FramingLimits,
} from './framing.js';

/** What this listener is to the requests it takes. */
const plainHttp: ListenerInfo = { name: 'http', scheme: 'http' };

/** How long a refused connection may stay half-open after its answer, waiting for the client to close. */
const refusedLingerMs = 2_000;

/** What the send-timeout sweep last saw of a connection with response bytes waiting. */
interface SendProgress {
  /** Bytes handed to the socket so far (socket.bytesWritten). */
  written: number;
  /** Bytes still waiting to reach the kernel. */
  waiting: number;
  /** When these figures were first seen unchanged (ms, monotonic). */
  sinceMs: number;
}

export class HttpListener implements Service {
  readonly name = 'http-listener';
  readonly server: Server;
  port = 0;
  private draining = false;
  /** Open client connections, for the send-timeout sweep. */
  private readonly sockets = new Map<Socket, SendProgress | undefined>();
  private readonly sendTimeoutMs: number;
  private sendSweep: NodeJS.Timeout | undefined;
  private readonly maxHeaderBytes: number;
  private readonly malformedStatus: string;
  private readonly connectStatus: string;
  private readonly framing: FramingLimits;
  /** Whether this Node lets RequestFraming guard connections (checked on the first one). */
  private framingGuarded: boolean | undefined;
  /** Connections with a refused request: they close after the refusal. */
  private readonly refused = new WeakSet<Socket>();

  constructor(
    private readonly address: string,
    config: StrataConfig,
    handler: (req: IncomingMessage, res: ServerResponse, listener: ListenerInfo) => void,
    private readonly log: Logger,
    private readonly metrics: Metrics,
  ) {
    const s = config.server;
    this.maxHeaderBytes = s.maxHeaderBytes;
    this.sendTimeoutMs = s.sendTimeout;
    // RFC 9211: every response says what this cache did, refusals included.
    this.malformedStatus = `${config.node.id}; fwd=bypass; detail=malformed-request`;
    this.connectStatus = `${config.node.id}; fwd=bypass; detail=connect-refused`;
    this.server = createServer(
      {
        // Reject what RFC 9112 §6.3 calls request smuggling: llhttp in strict mode refuses
        // Content-Length with Transfer-Encoding, differing Content-Lengths and invalid bytes.
        insecureHTTPParser: false,
        maxHeaderSize: s.maxHeaderBytes,
        requestTimeout: s.requestTimeout,
        // Node checks both timeouts on this interval (default 30 s): make them mean what they say.
        connectionsCheckingInterval: Math.min(1000, s.headersTimeout / 2),
        headersTimeout: s.headersTimeout,
        keepAliveTimeout: s.keepAliveTimeout,
        requireHostHeader: false,
        joinDuplicateHeaders: false,
      },
      (req, res) => {
        // Requests pipelined behind a refused one were parsed already, with framing the refused
        // one may have made up: none of them is answered or sent upstream. The connection
        // closes after the refusal.
        if (this.refused.has(req.socket)) return;
        const invalid = invalidRequest(req);
        if (invalid) return this.reject(req, res, invalid);
        if (this.draining) res.shouldKeepAlive = false;
        handler(req, res, plainHttp);
      },
    );
    this.framing = { maxBodyBytes: s.maxBodyBytes, maxHeadBytes: s.maxHeaderBytes };
    // A client that half-closes after sending a request (nc, some health checkers) still gets
    // its answer; the connection closes after it. Node's default aborts the request at the FIN.
    // (An http.Server property since Node 0.x that its typings do not declare.)
    (this.server as Server & { httpAllowHalfOpen: boolean }).httpAllowHalfOpen = true;
    this.server.maxConnections = s.maxConnections;
    // Node drops fields past maxHeadersCount silently; one more than the limit is enough for
    // the pipeline to see the request has too many and answer 431.
    this.server.maxHeadersCount = s.maxHeaders + 1;
    this.server.on('clientError', (err, socket) => this.clientError(err, socket as Socket));
    // Per connection, not per request: the hit path pays nothing for the send timeout.
    this.server.on('connection', (socket: Socket) => {
      this.sockets.set(socket, undefined);
      socket.once('close', () => this.sockets.delete(socket));
      if (s.checkFraming) this.guard(socket);
    });
    // A reverse proxy opens no tunnels (RFC 9110 §9.3.6): CONNECT gets an answer, then the close.
    this.server.on('connect', (_req: IncomingMessage, socket: Socket) => {
      this.metrics.clientErrors.inc({ code: 'CONNECT_REFUSED' });
      this.refuse(
        socket,
        '405 Method Not Allowed',
        `Allow: GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS\r\nCache-Status: ${this.connectStatus}\r\n`,
      );
    });
  }

  /** Malformed requests get a 4xx and the connection closes; they never reach the pipeline. */
  private clientError(err: NodeJS.ErrnoException, socket: Socket): void {
    const code = err.code ?? 'UNKNOWN';
    this.metrics.clientErrors.inc({ code });
    if (!socket.writable || code === 'ECONNRESET') {
      socket.destroy();
      return;
    }
    const status =
      code === 'HPE_HEADER_OVERFLOW'
        ? requestLineOverflowed(err, this.maxHeaderBytes)
          ? '414 URI Too Long'
          : '431 Request Header Fields Too Large'
        : code === 'ERR_HTTP_REQUEST_TIMEOUT'
          ? '408 Request Timeout'
          : '400 Bad Request';
    this.refuse(socket, status, `Cache-Status: ${this.malformedStatus}\r\n`);
    this.log.debug({ code, reason: err.message }, 'rejected malformed request');
  }

  /** Puts RequestFraming in front of Node's parser on a new connection (framing.ts). */
  private guard(socket: Socket): void {
    const guarded = guardFraming(socket, this.framing, (fault) => this.framingFault(socket, fault));
    if (this.framingGuarded === undefined && !guarded)
      this.log.error(
        { code: 'FRAMING_UNGUARDED', node: process.version },
        'this Node version cannot put request framing checks before its parser: only llhttp checks framing',
      );
    this.framingGuarded = guarded;
  }

  /**
   * Request framing RFC 9112 rejects (framing.ts): the answer, then the close. Nothing sent after
   * the faulty message is parsed. A response already under way on the connection is cut instead:
   * an answer written into it would corrupt it.
   */
  private framingFault(socket: Socket, fault: FramingFault): void {
    this.metrics.clientErrors.inc({ code: fault.code });
    this.log.debug({ code: fault.code, reason: fault.reason }, 'rejected request framing');
    const inFlight = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
    if (!socket.writable || inFlight?.headersSent) {
      socket.destroy();
      return;
    }
    const status = `${fault.status} ${STATUS_CODES[fault.status]}`;
    this.refuse(socket, status, `Cache-Status: ${this.malformedStatus}\r\n`);
  }

  /**
   * Answers on the raw socket (no request object to answer with) and closes it. Node has taken
   * its own listeners off a CONNECT socket: a client resetting it mid-answer must not become an
   * uncaught error, and one that keeps its side open must not hold the socket past a short linger.
   */
  private refuse(socket: Socket, status: string, fields: string): void {
    const body = `${status}\n`;
    socket.on('error', () => socket.destroy());
    socket.setTimeout(refusedLingerMs, () => socket.destroy());
    socket.end(
      `HTTP/1.1 ${status}\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\n${fields}Connection: close\r\n\r\n${body}`,
    );
  }

  /** A request llhttp parsed but RFC 9112 still calls malformed: 400 (or 501), close, never the pipeline. */
  private reject(
    req: IncomingMessage,
    res: ServerResponse,
    invalid: { code: string; reason: string; status: number },
  ): void {
    this.refused.add(req.socket);
    this.metrics.clientErrors.inc({ code: invalid.code });
    const body = `${invalid.status} ${STATUS_CODES[invalid.status]}: ${invalid.reason}\n`;
    res.shouldKeepAlive = false;
    res.writeHead(invalid.status, {
      'content-type': 'text/plain; charset=utf-8',
      'content-length': Buffer.byteLength(body),
      'cache-control': 'no-store',
      'cache-status': this.malformedStatus,
    });
    res.end(body);
    this.log.debug({ code: invalid.code, reason: invalid.reason }, 'rejected malformed request');
  }

  async start(): Promise<void> {
    this.port = await listen(this.server, this.address);
    const every = Math.min(1000, Math.max(50, this.sendTimeoutMs / 2));
    this.sendSweep = setInterval(() => this.closeStalledSenders(performance.now()), every);
    this.sendSweep.unref();
  }

  /**
   * Slow-read protection (server.sendTimeout): a connection whose response bytes have waited
   * that long without the client taking any is closed, with the memory its response holds. Only
   * progress counts, not the whole transfer: a slow client that keeps reading is never cut.
   */
  private closeStalledSenders(nowMs: number): void {
    for (const [socket, seen] of this.sockets) {
      if (socket.writableLength === 0) {
        if (seen) this.sockets.set(socket, undefined);
        continue;
      }
      // A pending write counts whole in writableLength until the kernel took all of it; libuv's
      // queue size (not in Node's typings) shows a large write going out bit by bit.
      const queued = (socket as unknown as { _handle?: { writeQueueSize?: unknown } })._handle
        ?.writeQueueSize;
      const waiting = typeof queued === 'number' ? queued : socket.writableLength;
      const written = socket.bytesWritten;
      if (!seen || seen.written !== written || seen.waiting !== waiting) {
        this.sockets.set(socket, { written, waiting, sinceMs: nowMs });
      } else if (nowMs - seen.sinceMs >= this.sendTimeoutMs) {
        this.metrics.clientErrors.inc({ code: 'SEND_TIMEOUT' });
        this.log.debug(
          { code: 'SEND_TIMEOUT', peer: socket.remoteAddress, waiting },
          'client stopped reading',
        );
        socket.destroy();
      }
    }
  }

  /**
   * Stops accepting, lets in-flight requests finish until the deadline, then cuts the rest.
   * Responses that start during the drain say Connection: close; keep-alive connections close once idle.
   */
  async stop(deadlineMs: number): Promise<void> {
    if (!this.server.listening) return clearInterval(this.sendSweep);
    this.draining = true;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    // A keep-alive connection becomes idle once its response is done: close it then, not at its
    // keep-alive timeout. Sweeping idle connections costs the hit path nothing, unlike a
    // per-response 'close' listener.
    this.server.closeIdleConnections();
    const sweep = setInterval(() => this.server.closeIdleConnections(), 20);
    const timer = setTimeout(() => this.server.closeAllConnections(), Math.max(0, deadlineMs - Date.now()));
    await closed;
    clearInterval(sweep);
    clearInterval(this.sendSweep);
    clearTimeout(timer);
  }
}

/**
 * llhttp reports a request line that alone passes maxHeaderBytes as a header overflow; it is a
 * URI too long (RFC 9110 §15.5.15) when the first line of what arrived is longer than the limit.
 */
function requestLineOverflowed(err: Error, maxHeaderBytes: number): boolean {
  const raw = (err as Error & { rawPacket?: Buffer }).rawPacket;
  if (raw === undefined) return false;
  const end = raw.indexOf('\r\n');
  return end === -1 || end > maxHeaderBytes;
}

/**
 * RFC 9110 §4.2.3 / RFC 3986 §3.2.2: uri-host [ ":" port ], where uri-host is an IP-literal
 * or a reg-name (unreserved / pct-encoded / sub-delims). No "/", "@", "?", "#" or spaces.
 */
const validHost = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-._~!$&'()*+,;=%]*)(:\d*)?$/;

/**
 * What llhttp lets through but a proxy must refuse. RFC 9112 §3.2: "A server MUST respond with
 * a 400 (Bad Request) status code to any HTTP/1.1 request message that lacks a Host header
 * field and to any request message that contains more than one Host header field line or a
 * Host header field with an invalid field value." A Host such as "victim.test/admin" would
 * otherwise make the cache key of another URL (cache poisoning). A missing Host is the
 * pipeline's 400: whether it is needed depends on the request target's form.
 */
function invalidRequest(req: IncomingMessage): { code: string; reason: string; status: number } | undefined {
  // Checked by the byte scanner first where it runs (framing.ts); here for where it does not.
  const te = req.headers['transfer-encoding'];
  if (te !== undefined) {
    const found = transferEncodingFault(req.httpVersion === '1.0', transferCodings(te));
    if (found) return found;
  }
  const raw = req.rawHeaders;
  let hosts = 0;
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i].length !== 4 || raw[i].toLowerCase() !== 'host') continue;
    if (++hosts > 1) return { code: 'DUPLICATE_HOST', reason: 'more than one Host field', status: 400 };
    if (!validHost.test(raw[i + 1]))
      return { code: 'INVALID_HOST', reason: 'invalid Host field value', status: 400 };
  }
  const url = req.url ?? '';
  if (url.charCodeAt(0) !== 47 /* '/' */ && url !== '*') {
    // Absolute-form (RFC 9112 §3.2.2): its authority stands in for Host and is checked alike;
    // userinfo is not allowed in http(s) URIs (RFC 9110 §4.2.4).
    const authority = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/([^/?#]*)/.exec(url)?.[1];
    if (authority !== undefined && (authority === '' || !validHost.test(authority)))
      return { code: 'INVALID_HOST', reason: 'invalid authority in the request target', status: 400 };
  }
  return undefined;
}
