// HttpListener: the client-facing HTTP/1.1 server with timeouts and limits, and graceful drain.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { StrataConfig } from '../config/config.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import type { Service } from '../service.js';
import { listen } from './listen.js';
import type { ListenerInfo } from './context.js';
import { guardFraming, releaseFraming, type FramingLimits } from './framing.js';
import { invalidRequest, Refusals } from './request-checks.js';
import { SendWatch } from './send-watch.js';

/** What this listener is to the requests it takes. */
const plainHttp: ListenerInfo = { name: 'http', scheme: 'http' };

/** Takes over a connection whose request asked to switch protocols (WebSocket, shared/http/websocket.ts). */
export type UpgradeHandler = (
  req: IncomingMessage,
  socket: Socket,
  head: Buffer,
  listener: ListenerInfo,
) => void;

/** The HTTP/1.1 parser's limits and timeouts from `server`, for every listener that speaks it. */
export function http1Options(s: StrataConfig['server']) {
  return {
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
  };
}

export class HttpListener implements Service {
  readonly name = 'http-listener';
  readonly server: Server;
  port = 0;
  private draining = false;
  private readonly refusals: Refusals;
  /** Slow-read protection (server.sendTimeout). */
  private readonly sendWatch: SendWatch;
  private readonly framing: FramingLimits;
  /** Whether this Node lets the framing scanner guard connections (checked on the first one). */
  private framingGuarded: boolean | undefined;
  /** Connections with a refused request: they close after the refusal. */
  private readonly refused = new WeakSet<Socket>();

  /** Without `upgrade`, requests with Upgrade are served as plain HTTP (the field is hop-by-hop). */
  constructor(
    private readonly address: string,
    config: StrataConfig,
    handler: (req: IncomingMessage, res: ServerResponse, listener: ListenerInfo) => void,
    private readonly log: Logger,
    metrics: Metrics,
    upgrade?: UpgradeHandler,
  ) {
    const s = config.server;
    this.refusals = new Refusals(config.node.id, s.maxHeaderBytes, log, metrics);
    this.sendWatch = new SendWatch(s.sendTimeout, log, metrics);
    this.server = createServer(http1Options(s), (req, res) => {
      // Requests pipelined behind a refused one were parsed already, with framing the refused
      // one may have made up: none of them is answered or sent upstream. The connection
      // closes after the refusal.
      if (this.refused.has(req.socket)) return;
      const invalid = invalidRequest(req);
      if (invalid) {
        this.refused.add(req.socket);
        return this.refusals.reject(res, invalid);
      }
      if (this.draining) res.shouldKeepAlive = false;
      handler(req, res, plainHttp);
    });
    this.framing = { maxBodyBytes: s.maxBodyBytes, maxHeadBytes: s.maxHeaderBytes };
    // A client that half-closes after sending a request (nc, some health checkers) still gets
    // its answer; the connection closes after it. Node's default aborts the request at the FIN.
    // (An http.Server property since Node 0.x that its typings do not declare.)
    (this.server as Server & { httpAllowHalfOpen: boolean }).httpAllowHalfOpen = true;
    this.server.maxConnections = s.maxConnections;
    // Node drops fields past maxHeadersCount silently; one more than the limit is enough for
    // the pipeline to see the request has too many and answer 431.
    this.server.maxHeadersCount = s.maxHeaders + 1;
    this.server.on('clientError', (err, socket) => this.refusals.clientError(err, socket as Socket));
    // Per connection, not per request: the hit path pays nothing for the send timeout.
    this.server.on('connection', (socket: Socket) => {
      this.sendWatch.watch(socket);
      if (s.checkFraming) this.guard(socket);
    });
    this.server.on('connect', (_req: IncomingMessage, socket: Socket) => this.refusals.connect(socket));
    if (upgrade)
      this.server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
        // What follows the upgrade request is not HTTP: the framing scanner lets go.
        releaseFraming(socket);
        upgrade(req, socket, head, plainHttp);
      });
  }

  /** Puts the framing scanner in front of Node's parser on a new connection (framing.ts). */
  private guard(socket: Socket): void {
    const guarded = guardFraming(socket, this.framing, (fault) => this.refusals.framingFault(socket, fault));
    if (this.framingGuarded === undefined && !guarded)
      this.log.error(
        { code: 'FRAMING_UNGUARDED', node: process.version },
        'this Node version cannot put request framing checks before its parser: only llhttp checks framing',
      );
    this.framingGuarded = guarded;
  }

  async start(): Promise<void> {
    this.port = await listen(this.server, this.address);
    this.sendWatch.start();
  }

  /**
   * Stops accepting, lets in-flight requests finish until the deadline, then cuts the rest.
   * Responses that start during the drain say Connection: close; keep-alive connections close once idle.
   */
  async stop(deadlineMs: number): Promise<void> {
    if (!this.server.listening) return this.sendWatch.stop();
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
    this.sendWatch.stop();
    clearTimeout(timer);
  }
}
