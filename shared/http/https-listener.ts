// HttpsListener: the client-facing TLS listener. TLS 1.2 and 1.3 with modern AEAD suites, the
// certificate picked by SNI (certificates.ts), session tickets under keys that rotate, HTTP/2
// by ALPN next to HTTP/1.1 (Node's http2 with allowHTTP1) through the same pipeline, the same
// limits as the HTTP listener, HTTP/2 flood protection (h2-guard.ts), and graceful drain.

import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  createSecureServer,
  type Http2SecureServer,
  type Http2ServerRequest,
  type Http2ServerResponse,
  type ServerHttp2Session,
} from 'node:http2';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { Socket } from 'node:net';
import type { SecureContextOptions, TLSSocket } from 'node:tls';
import { Counter } from 'prom-client';
import type { StrataConfig } from '../config/config.js';
import { StrataError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import type { Service } from '../service.js';
import { Certificates, type CertificateSet } from './certificates.js';
import type { ListenerInfo } from './context.js';
import { GuardedHttp2Response, H2Guard } from './h2-guard.js';
import { http1Options, type UpgradeHandler } from './http-listener.js';
import { listen } from './listen.js';
import { invalidHttp2Request, invalidRequest, Refusals } from './request-checks.js';
import { SendWatch } from './send-watch.js';

type HttpsConfig = NonNullable<StrataConfig['listen']['https']>;

/** What this listener is to the requests it takes. */
const tlsListener: ListenerInfo = { name: 'https', scheme: 'https' };

/**
 * TLS 1.3 suites, then TLS 1.2 ECDHE with AEAD only (Mozilla's "intermediate" profile without
 * DHE): forward secrecy everywhere, and nothing on HTTP/2's list of forbidden suites (RFC 9113
 * Appendix A). Every suite is strong, so the client's order is honored (it knows whether it
 * has AES in hardware).
 */
export const modernCiphers = [
  'TLS_AES_128_GCM_SHA256',
  'TLS_AES_256_GCM_SHA384',
  'TLS_CHACHA20_POLY1305_SHA256',
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
].join(':');

/** The request handler of every listener (the pipeline's); HTTP/2 requests come as the compat API. */
type Handler = (req: IncomingMessage, res: ServerResponse, listener: ListenerInfo) => void;

export class HttpsListener implements Service {
  readonly name = 'https-listener';
  readonly server: Http2SecureServer | HttpsServer;
  readonly certificates: Certificates;
  port = 0;
  private draining = false;
  private readonly secure: SecureContextOptions;
  private readonly refusals: Refusals;
  private readonly sendWatch: SendWatch;
  private readonly guard: H2Guard;
  /** Open HTTP/2 connections, closed with GOAWAY on drain. */
  private readonly sessions = new Set<ServerHttp2Session>();
  /** Every open TLS connection, cut at the drain deadline. */
  private readonly sockets = new Set<TLSSocket>();
  private ticketRotation: NodeJS.Timeout | undefined;
  private readonly handshakes: Counter<'protocol' | 'resumed' | 'alpn'>;
  private readonly handshakeErrors: Counter<'code'>;

  constructor(
    private readonly https: HttpsConfig,
    config: StrataConfig,
    handler: Handler,
    private readonly log: Logger,
    metrics: Metrics,
    upgrade?: UpgradeHandler,
  ) {
    const s = config.server;
    this.refusals = new Refusals(config.node.id, s.maxHeaderBytes, log, metrics);
    this.sendWatch = new SendWatch(s.sendTimeout, log, metrics);
    this.guard = new H2Guard(
      {
        maxResets: s.http2.maxResets,
        resetWindowMs: s.http2.resetWindow,
        idleTimeoutMs: s.http2.idleTimeout,
        streamIdleMs: s.sendTimeout,
      },
      log,
      metrics,
    );
    this.secure = { minVersion: https.minVersion, maxVersion: 'TLSv1.3', ciphers: modernCiphers };
    this.certificates = new Certificates({
      certificates: https.certificates,
      defaultCertificate: https.defaultCertificate,
      secure: this.secure,
      reloadCheckMs: https.reloadCheck,
      log,
      metrics,
      onReload: (set) => this.useDefault(set),
    });
    const tlsOptions = {
      ...this.secure,
      honorCipherOrder: false,
      SNICallback: this.certificates.sni,
      handshakeTimeout: https.handshakeTimeout,
      // The lifetime hint of a ticket: no longer than the key that encrypts it stays in use.
      sessionTimeout: Math.floor(https.ticketRotation / 1000),
      ticketKeys: randomBytes(48),
    };
    // HTTP/1.1 limits, the same as the HTTP listener's (Node reads them from the server object).
    const http1 = http1Options(s);
    const onRequest = (req: IncomingMessage, res: ServerResponse) => {
      const h2 = req.httpVersionMajor === 2;
      // nghttp2 goes on through the rest of a socket read after the guard sent GOAWAY: those
      // requests get no work (above all no cache fill), as the connection is going away.
      if (h2 && this.guard.refuses((req as unknown as Http2ServerRequest).stream)) return;
      const invalid = h2 ? invalidHttp2Request(req) : invalidRequest(req);
      if (invalid) return this.refusals.reject(res, invalid);
      if (this.draining && !h2) res.shouldKeepAlive = false;
      handler(req, res, tlsListener);
    };
    if (https.http2) {
      const server = createSecureServer(
        {
          ...tlsOptions,
          allowHTTP1: true,
          Http2ServerResponse: GuardedHttp2Response as unknown as typeof Http2ServerResponse,
          settings: {
            maxConcurrentStreams: s.http2.maxConcurrentStreams,
            maxHeaderListSize: s.maxHeaderBytes,
            enablePush: false,
          },
          // One more than the limit (and the four pseudo-fields), so the pipeline answers 431.
          maxHeaderListPairs: s.maxHeaders + 5,
        },
        onRequest as unknown as (req: Http2ServerRequest, res: Http2ServerResponse) => void,
      );
      Object.assign(server, http1);
      (server as unknown as { maxHeadersCount: number }).maxHeadersCount = s.maxHeaders + 1;
      server.on('session', (session: ServerHttp2Session) => {
        this.sessions.add(session);
        session.once('close', () => this.sessions.delete(session));
        this.guard.attach(session);
        if (this.draining) session.close();
      });
      server.on('sessionError', this.guard.error);
      server.on('streamError', this.guard.error);
      this.server = server;
    } else {
      const server = createHttpsServer({ ...tlsOptions, ...http1 }, onRequest);
      server.maxHeadersCount = s.maxHeaders + 1;
      this.server = server;
    }
    this.server.maxConnections = s.maxConnections;
    const registers = [metrics.registry];
    this.handshakes = new Counter({
      name: 'strata_tls_handshakes_total',
      help: 'Completed TLS handshakes, by protocol version, whether the session was resumed, and ALPN protocol.',
      labelNames: ['protocol', 'resumed', 'alpn'] as const,
      registers,
    });
    this.handshakeErrors = new Counter({
      name: 'strata_tls_handshake_errors_total',
      help: 'TLS handshakes that failed (unsupported version, no shared cipher, timeout, ...), by code.',
      labelNames: ['code'] as const,
      registers,
    });
    this.server.on('secureConnection', (socket: TLSSocket) => this.connected(socket));
    this.server.on('tlsClientError', (err: NodeJS.ErrnoException, socket: TLSSocket) => {
      this.handshakeErrors.inc({ code: err.code ?? 'UNKNOWN' });
      this.log.debug(
        { code: err.code, peer: socket.remoteAddress, reason: err.message },
        'TLS handshake failed',
      );
      socket.destroy();
    });
    this.server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) =>
      this.refusals.clientError(err, socket),
    );
    this.server.on('connect', (_req: IncomingMessage, socket: Socket) => this.refusals.connect(socket));
    if (upgrade)
      this.server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) =>
        upgrade(req, socket, head, tlsListener),
      );
  }

  /** Runs once per TLS connection, after its handshake. */
  private connected(socket: TLSSocket): void {
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
    const alpn = socket.alpnProtocol || 'none';
    this.handshakes.inc({
      protocol: socket.getProtocol() ?? 'unknown',
      resumed: socket.isSessionReused() ? 'yes' : 'no',
      alpn,
    });
    // HTTP/1.1 responses are watched for stalled readers; HTTP/2 streams time out in H2Guard.
    if (alpn !== 'h2') this.sendWatch.watch(socket);
  }

  /** The context for clients without SNI (or with a name no certificate holds). */
  private useDefault(set: CertificateSet): void {
    // Replaces the server's default context for new handshakes; the ticket keys stay.
    this.server.setSecureContext({ ...this.secure, ...set.fallback.pem });
  }

  /** Loads the certificates (a bad one stops start-up, naming it), then listens. */
  async start(): Promise<void> {
    try {
      await this.certificates.start();
    } catch (err) {
      throw new StrataError(
        'CONFIG_INVALID',
        `listen.https.certificates: ${(err as Error).message}`,
        { path: 'listen.https.certificates' },
        err,
      );
    }
    this.useDefault(this.certificates.set);
    this.port = await listen(this.server, this.https.address);
    this.sendWatch.start();
    // Tickets sealed under a replaced key no longer resume: those clients make a full handshake.
    this.ticketRotation = setInterval(
      () => this.server.setTicketKeys(randomBytes(48)),
      this.https.ticketRotation,
    );
    this.ticketRotation.unref();
  }

  /**
   * Stops accepting; HTTP/2 connections get GOAWAY and finish their open streams, HTTP/1.1
   * connections close once idle (responses started during the drain say Connection: close);
   * whatever is still open at the deadline is cut.
   */
  async stop(deadlineMs: number): Promise<void> {
    this.certificates.stop();
    clearInterval(this.ticketRotation);
    this.sendWatch.stop();
    if (!this.server.listening) return;
    this.draining = true;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const session of this.sessions) session.close();
    const closeIdle = () => (this.server as { closeIdleConnections?: () => void }).closeIdleConnections?.();
    closeIdle();
    const sweep = setInterval(closeIdle, 20);
    const timer = setTimeout(
      () => {
        for (const session of this.sessions) session.destroy();
        for (const socket of this.sockets) socket.destroy();
      },
      Math.max(0, deadlineMs - Date.now()),
    );
    await closed;
    clearInterval(sweep);
    clearTimeout(timer);
  }
}
