// TcpConnection: one client connection through a TcpRelay. It connects to the backends in
// order (each within connectTimeout; the client has been sent nothing yet, so the next one can
// be tried), writes the PROXY header if the relay sends one, then pipes both ways with
// backpressure: a side that ends (FIN) ends the other's writing only, so the other side may go
// on sending (half-close). It ends when both sockets have closed.

import { connect, type Socket } from 'node:net';
import type { TcpRelayConfig } from '../../shared/config/config.js';
import type { RelayBackend } from './backends.js';
import { encodeProxyHeader, type Endpoint } from './proxy-protocol.js';
import type { RelayErrorCode } from './relay.js';

/** How a connection ended: both sides closed cleanly, no backend, or a failure. */
export type TcpEnd = 'closed' | 'no-backend' | Exclude<RelayErrorCode, 'connect-failed' | 'connect-timeout'>;

export interface TcpConnectionHooks {
  /** The backends to try, in order. */
  candidates: RelayBackend[];
  now: () => number;
  /** A backend could not be connected to; the next is tried. */
  failed(backend: RelayBackend, code: 'connect-failed' | 'connect-timeout'): void;
  /** Runs once, when both sockets have closed. */
  ended(connection: TcpConnection): void;
}

export class TcpConnection {
  backend: RelayBackend | undefined;
  end: TcpEnd = 'closed';
  private upstream: Socket | undefined;
  private readonly startMs = performance.now();
  private endMs: number | undefined;
  private clientClosed = false;
  private upstreamClosed = false;
  private finished = false;
  private next = 0;

  constructor(
    private readonly socket: Socket,
    /** The client, as its PROXY header named it if a trusted load balancer sent one. */
    readonly client: Endpoint,
    /** The address the client connected to (the PROXY header's destination). */
    private readonly local: Endpoint,
    private readonly config: TcpRelayConfig,
    private readonly hooks: TcpConnectionHooks,
  ) {}

  /** Bytes read from the client (passed on to the backend). */
  get bytesToBackend(): number {
    return this.socket.bytesRead;
  }

  /** Bytes written to the client (from the backend). */
  get bytesToClient(): number {
    return this.socket.bytesWritten;
  }

  durationMs(): number {
    return Math.round(((this.endMs ?? performance.now()) - this.startMs) * 10) / 10;
  }

  start(): void {
    this.socket.once('close', (hadError) => {
      this.clientClosed = true;
      if (hadError) this.fail('client-reset');
      this.settle();
    });
    this.tryNext();
  }

  /** Ends the connection now (idle timeout, drain deadline). */
  abort(code: TcpEnd): void {
    if (this.end === 'closed') this.end = code;
    this.socket.destroy();
    this.upstream?.destroy();
  }

  private tryNext(): void {
    if (this.socket.destroyed) return;
    const backend = this.hooks.candidates[this.next++];
    if (!backend) {
      this.end = 'no-backend';
      this.socket.destroy();
      return;
    }
    const upstream = connect({ host: backend.host, port: backend.port, allowHalfOpen: true, noDelay: true });
    const failed = (code: 'connect-failed' | 'connect-timeout') => {
      clearTimeout(timer);
      upstream.removeAllListeners('connect');
      // A late error of the abandoned attempt has nobody to tell.
      upstream.on('error', () => {}).destroy();
      this.hooks.failed(backend, code);
      this.tryNext();
    };
    const timer = setTimeout(() => failed('connect-timeout'), this.config.connectTimeout);
    upstream.once('error', () => failed('connect-failed'));
    upstream.once('connect', () => {
      clearTimeout(timer);
      upstream.removeAllListeners('error');
      backend.health.succeeded();
      this.relay(upstream, backend);
    });
  }

  /** Connected: PROXY header, then both directions piped; idle timeout over both. */
  private relay(upstream: Socket, backend: RelayBackend): void {
    if (this.socket.destroyed) {
      // The client left while this backend was being connected to; the end is already reported.
      upstream.destroy();
      return;
    }
    this.upstream = upstream;
    this.backend = backend;
    backend.active++;
    upstream.on('error', () => this.fail('backend-reset'));
    upstream.once('close', () => {
      this.upstreamClosed = true;
      this.settle();
    });
    if (this.config.proxyProtocol !== 'off')
      upstream.write(encodeProxyHeader(this.config.proxyProtocol, this.client, this.local));
    // The client socket sees every byte either way: its timer measures idleness of both.
    this.socket.setTimeout(this.config.idleTimeout, () => this.abort('idle-timeout'));
    this.socket.pipe(upstream);
    upstream.pipe(this.socket);
  }

  /** A side failed: the other is closed too (a half-open relay would hang its peer). */
  private fail(code: 'client-reset' | 'backend-reset'): void {
    if (this.end === 'closed') this.end = code;
    this.socket.destroy();
    this.upstream?.destroy();
  }

  /** Reports the end once both sockets have closed. */
  private settle(): void {
    if (this.finished || !this.clientClosed) return;
    if (this.upstream && !this.upstreamClosed) return;
    this.finished = true;
    this.endMs = performance.now();
    if (this.backend) this.backend.active--;
    this.hooks.ended(this);
  }
}
