// H2Guard: per-connection protection of the HTTP/2 listener. Counts the streams a client resets
// and closes a connection that resets more than server.http2.maxResets within resetWindow with
// GOAWAY ENHANCE_YOUR_CALM (rapid reset, CVE-2023-44487); closes idle connections and streams
// that move no bytes; turns session and stream errors into counts, never a crash. nghttp2
// itself refuses CONTINUATION floods (more than 8 CONTINUATION frames per header block, or a
// header list over SETTINGS_MAX_HEADER_LIST_SIZE) by ending the connection.

import { constants, Http2ServerResponse, type Http2Stream, type ServerHttp2Session } from 'node:http2';
import { Counter } from 'prom-client';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';

export interface H2Rules {
  maxResets: number;
  resetWindowMs: number;
  /** A connection with no frames either way this long is closed. */
  idleTimeoutMs: number;
  /** A stream that moves no bytes this long is reset (server.sendTimeout). */
  streamIdleMs: number;
}

/** Why the guard closed a connection, the label of strata_http2_connections_closed_total. */
export type H2CloseReason = 'rapid-reset' | 'idle' | 'protocol-error';

/** Sessions the guard is closing (GOAWAY sent, the close comes on the next turn). */
const closing = new WeakSet<ServerHttp2Session>();

/** Streams this node reset or destroyed itself: their RST_STREAM is not the client's. */
const resetHere = new WeakSet<Http2Stream>();

/**
 * The HTTP/2 response of the listener (its Http2ServerResponse option): a response the
 * pipeline destroys (an upstream failing mid-body) marks its stream as reset here.
 */
export class GuardedHttp2Response extends Http2ServerResponse {
  override destroy(err?: Error): this {
    resetHere.add(this.stream);
    super.destroy(err);
    return this;
  }
}

export class H2Guard {
  private readonly closed: Counter<'reason'>;
  private readonly resets: Counter;
  private readonly errors: Counter<'code'>;

  constructor(
    private readonly rules: H2Rules,
    private readonly log: Logger,
    metrics: Metrics,
  ) {
    const registers = [metrics.registry];
    this.closed = new Counter({
      name: 'strata_http2_connections_closed_total',
      help: 'HTTP/2 connections the node closed: rapid-reset (too many client resets), idle, protocol-error.',
      labelNames: ['reason'] as const,
      registers,
    });
    this.resets = new Counter({
      name: 'strata_http2_client_resets_total',
      help: 'HTTP/2 streams the client reset (RST_STREAM) before they ended.',
      registers,
    });
    this.errors = new Counter({
      name: 'strata_http2_errors_total',
      help: 'HTTP/2 session and stream errors, by code (a CONTINUATION flood shows as ERR_HTTP2_ERROR).',
      labelNames: ['code'] as const,
      registers,
    });
  }

  /** Counts a session or stream error (the listener's sessionError and streamError events too). */
  readonly error = (err: NodeJS.ErrnoException): void => {
    this.errors.inc({ code: err.code ?? 'UNKNOWN' });
  };

  /**
   * Whether a new stream is to be left alone: its client reset it already, or its connection is
   * being closed by the guard. Runs for every HTTP/2 request, before the pipeline.
   */
  refuses(stream: Http2Stream): boolean {
    return stream.closed || closing.has(stream.session as ServerHttp2Session);
  }

  /** Runs once per HTTP/2 connection, when the session starts. */
  attach(session: ServerHttp2Session): void {
    let resets = 0;
    let windowStartMs = performance.now();
    session.setTimeout(this.rules.idleTimeoutMs, () =>
      this.close(session, 'idle', constants.NGHTTP2_NO_ERROR),
    );
    session.on('error', (err: NodeJS.ErrnoException) => {
      this.error(err);
      this.closed.inc({ reason: 'protocol-error' });
      this.log.debug({ code: err.code, peer: session.socket?.remoteAddress }, 'HTTP/2 connection error');
    });
    session.on('stream', (stream: Http2Stream) => {
      stream.setTimeout(this.rules.streamIdleMs, () => {
        resetHere.add(stream);
        stream.close(constants.NGHTTP2_CANCEL);
      });
      // Stream errors (a reset in mid-write) are counted here and never reach the process.
      stream.on('error', this.error);
      // 'aborted' comes synchronously while nghttp2 reads the RST_STREAM (so a flood of them in
      // one read is stopped in that read), for a stream whose response was still being made.
      stream.once('aborted', () => clientReset(stream));
      // A stream whose response was complete (a memory hit) is reset without 'aborted'.
      stream.once('close', () => {
        if (!stream.aborted && stream.rstCode !== undefined && stream.rstCode !== constants.NGHTTP2_NO_ERROR)
          clientReset(stream);
      });
    });
    const clientReset = (stream: Http2Stream) => {
      if (resetHere.has(stream) || session.destroyed || closing.has(session)) return;
      this.resets.inc();
      const now = performance.now();
      if (now - windowStartMs > this.rules.resetWindowMs) {
        windowStartMs = now;
        resets = 0;
      }
      if (++resets <= this.rules.maxResets) return;
      this.log.warn(
        { peer: session.socket?.remoteAddress, resets, windowMs: this.rules.resetWindowMs },
        'HTTP/2 client reset too many streams: connection closed (rapid reset)',
      );
      this.close(session, 'rapid-reset', constants.NGHTTP2_ENHANCE_YOUR_CALM);
    };
  }

  /** Sends GOAWAY with `code` and closes the connection at once; its open streams end with it. */
  private close(session: ServerHttp2Session, reason: H2CloseReason, code: number): void {
    if (session.destroyed || closing.has(session)) return;
    closing.add(session);
    this.closed.inc({ reason });
    // GOAWAY first, then the close once nghttp2 has written it: destroy() alone can cut the
    // socket before the frame leaves. New streams are refused from the GOAWAY on.
    session.goaway(code);
    setImmediate(() => session.destroy());
  }
}
