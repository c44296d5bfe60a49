// TcpConnection: one client connection through a TcpRelay. It connects to the backends in
// order (each within connectTimeout; the client has been sent nothing yet, so the next one can
// be tried), writes the PROXY header if the relay sends one, then pipes both ways with
// backpressure: a side that ends (FIN) ends the other's writing only, so the other side may go
// on sending (half-close). It ends when both sockets have closed. The backend's bytes are read
// into buffers the relay reuses (read-buffers.ts) and written to the client at once; the
// backend is not read again until the client's socket has taken them all.

import { connect, type Socket } from 'node:net';
import type { TcpRelayConfig } from '../../shared/config/config.js';
import type { RelayBackend } from './backends.js';
import { encodeProxyHeader, type Endpoint } from './proxy-protocol.js';
import { readBuffers } from './read-buffers.js';
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
  /** The buffer lent to this connection while it is busy (read-buffers.ts). */
  private own: Buffer | undefined;
  /** A write to the client is not yet wholly in the kernel: the backend is paused until it is. */
  private writePending = false;
  /** Writes to the client, and those completed (in order: a Writable calls back in order). */
  private writes = 0;
  private writesDone = 0;

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
    const upstream = connect({
      host: backend.host,
      port: backend.port,
      allowHalfOpen: true,
      noDelay: true,
      onread: { buffer: this.readBuffer, callback: this.fromBackend },
    });
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
    // The backend's FIN ends the client's side once what it sent is written (writes are in order).
    upstream.once('end', () => this.socket.end());
  }

  /** Where the backend's next read goes: this connection's own buffer while busy, else the shared one. */
  private readonly readBuffer = (): Buffer => this.own ?? readBuffers.shared;

  /**
   * Runs for every read from the backend, with the bytes in `buffer`: writes them to the client
   * at once (a copy, from the shared buffer). Returns false, pausing the backend, while the
   * client's socket holds some of them; written() resumes it.
   */
  private readonly fromBackend = (bytes: number, buffer: Buffer): boolean => {
    const shared = buffer !== this.own;
    const chunk = shared ? Buffer.from(buffer.subarray(0, bytes)) : buffer.subarray(0, bytes);
    if (shared && bytes === buffer.length) this.own = readBuffers.take();
    this.writes++;
    this.socket.write(chunk, this.written);
    if (this.socket.writableLength > 0) {
      this.writePending = true;
      return false;
    }
    if (!shared && bytes < buffer.length / 4) this.returnBuffer();
    return true;
  };

  /** Runs when a write to the client has completed (or failed: then both sockets are closing). */
  private readonly written = (): void => {
    // Resumes once the last write is done: the earlier ones' callbacks come first.
    if (++this.writesDone !== this.writes || !this.writePending) return;
    this.writePending = false;
    if (!this.socket.destroyed) this.upstream?.resume();
  };

  /** Gives the busy buffer back, unless a write of its bytes is still pending. */
  private returnBuffer(): void {
    if (!this.own || this.writePending) return;
    readBuffers.give(this.own);
    this.own = undefined;
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
    this.returnBuffer();
    if (this.backend) this.backend.active--;
    this.hooks.ended(this);
  }
}
