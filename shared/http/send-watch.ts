// SendWatch: slow-read protection for HTTP/1.1 connections (server.sendTimeout). A sweep over
// the watched sockets once a second (or every half timeout), so the request path pays nothing.

import type { Socket } from 'node:net';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';

/** What the sweep last saw of a connection with response bytes waiting. */
interface SendProgress {
  /** Bytes handed to the socket so far (socket.bytesWritten). */
  written: number;
  /** Bytes still waiting to reach the kernel. */
  waiting: number;
  /** When these figures were first seen unchanged (ms, monotonic). */
  sinceMs: number;
}

export class SendWatch {
  /** Open client connections and what the sweep saw of them. */
  private readonly sockets = new Map<Socket, SendProgress | undefined>();
  private sweep: NodeJS.Timeout | undefined;

  constructor(
    private readonly sendTimeoutMs: number,
    private readonly log: Logger,
    private readonly metrics: Metrics,
  ) {}

  /** Watches a connection until it closes; runs once per connection, not per request. */
  watch(socket: Socket): void {
    this.sockets.set(socket, undefined);
    socket.once('close', () => this.sockets.delete(socket));
  }

  start(): void {
    const every = Math.min(1000, Math.max(50, this.sendTimeoutMs / 2));
    this.sweep = setInterval(() => this.closeStalledSenders(performance.now()), every);
    this.sweep.unref();
  }

  stop(): void {
    clearInterval(this.sweep);
  }

  /**
   * A connection whose response bytes have waited sendTimeout without the client taking any is
   * closed, with the memory its response holds. Only progress counts, not the whole transfer: a
   * slow client that keeps reading is never cut.
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
}
