// Tunnel: one proxied WebSocket connection, two sockets piped both ways. Backpressure: a side
// that is not read pauses the other (neither direction buffers more than the socket's high
// water mark and one read). Idle timeout, half-close passed on, and shutdown in WebSocket terms
// (a Close frame 1001 to each side between two frames, their Close awaited, then the end).

import type { Socket } from 'node:net';
import { closeFrame, FrameScanner, goingAway } from './ws-frames.js';

/** One direction of a tunnel: what is read from `from` is written to `to`. */
class Direction {
  readonly scanner = new FrameScanner();
  /** Bytes passed on. */
  bytes = 0;
  /** Shutting down: the next frame boundary gets our Close frame, then nothing more passes. */
  stopping = false;
  /** Our Close frame went out on `to`: what `from` sends now is read and dropped. */
  closed = false;
  private waiting = false;

  constructor(
    readonly from: Socket,
    readonly to: Socket,
    /** Frames towards the origin are masked (we are its client). */
    private readonly masked: boolean,
    private readonly counted: (n: number) => void,
  ) {
    from.on('data', (chunk: Buffer) => this.data(chunk));
  }

  private data(chunk: Buffer): void {
    if (this.closed) {
      // After our Close: only looking for theirs.
      this.scanner.scan(chunk);
      return;
    }
    let upTo = chunk.length;
    if (this.stopping) upTo = this.scanner.scan(chunk, 0, true);
    else this.scanner.scan(chunk);
    if (upTo > 0) this.write(upTo === chunk.length ? chunk : chunk.subarray(0, upTo));
    if (this.stopping && this.scanner.atBoundary) {
      this.sendClose();
      if (upTo < chunk.length) this.scanner.scan(chunk, upTo);
    }
  }

  private write(chunk: Buffer): void {
    this.bytes += chunk.length;
    this.counted(chunk.length);
    if (this.to.write(chunk) || this.waiting) return;
    // The reader is slower: stop reading until its buffer drains.
    this.waiting = true;
    this.from.pause();
    this.to.once('drain', () => {
      this.waiting = false;
      if (!this.closed) this.from.resume();
    });
  }

  /** Starts shutting this direction down: at once when between frames, else at the frame's end. */
  stop(): void {
    if (this.stopping) return;
    this.stopping = true;
    if (this.scanner.atBoundary) this.sendClose();
    // A paused reader would hold back the rest of the current frame and the peer's Close.
    this.from.resume();
  }

  private sendClose(): void {
    if (this.closed) return;
    this.closed = true;
    this.to.write(closeFrame(goingAway, 'server shutting down', this.masked));
    // From now on the other side's Close is what we wait for; this side's reads are dropped.
    this.from.resume();
  }
}

export interface TunnelOptions {
  /** Closes a tunnel with no bytes either way for this long (websocket.idleTimeout). */
  idleMs: number;
  /** Counts bytes passed to the client (toClient) or the origin (toUpstream). */
  counted(toClient: boolean, n: number): void;
  /** Runs once, when both sockets are closed. */
  ended(tunnel: Tunnel): void;
}

export class Tunnel {
  private readonly toUpstream: Direction;
  private readonly toClient: Direction;
  private finished = false;
  private shutdown: { resolve: () => void; timer: NodeJS.Timeout } | undefined;

  constructor(
    readonly client: Socket,
    readonly upstream: Socket,
    /** Bytes the client sent after its request head / the origin after its 101, already read. */
    clientHead: Buffer,
    upstreamHead: Buffer,
    private readonly options: TunnelOptions,
  ) {
    this.toUpstream = new Direction(client, upstream, true, (n) => options.counted(false, n));
    this.toClient = new Direction(upstream, client, false, (n) => options.counted(true, n));
    for (const [socket, other] of [
      [client, upstream],
      [upstream, client],
    ] as const) {
      // A side that ends (TCP FIN after the Close handshake) ends the other; one that fails
      // takes the other down.
      socket.on('end', () => other.end());
      socket.on('error', () => other.destroy());
      socket.on('close', () => {
        if (!other.destroyed) other.destroySoon();
        this.maybeEnded();
      });
    }
    // Activity in either direction touches both sockets, so one timer sees it all.
    client.setTimeout(options.idleMs, () => {
      client.destroy();
      upstream.destroy();
    });
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    if (upstreamHead.length > 0) upstream.unshift(upstreamHead);
    if (clientHead.length > 0) client.unshift(clientHead);
    client.resume();
    upstream.resume();
  }

  /** Bytes held in this tunnel's buffers (both sockets, both ways), for the buffered-bytes gauge. */
  get bufferedBytes(): number {
    return (
      this.client.writableLength +
      this.client.readableLength +
      this.upstream.writableLength +
      this.upstream.readableLength
    );
  }

  /** Bytes passed to the client so far. */
  get bytesToClient(): number {
    return this.toClient.bytes;
  }

  /**
   * Shutdown: a Close frame 1001 to each side at the next frame boundary, their Close frames
   * awaited, then both ends closed; at the deadline (ms since epoch) both are cut.
   */
  close(deadlineMs: number): Promise<void> {
    if (this.finished) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer = setTimeout(
        () => {
          this.client.destroy();
          this.upstream.destroy();
        },
        Math.max(0, deadlineMs - Date.now()),
      );
      this.shutdown = { resolve, timer };
      this.toClient.stop();
      this.toUpstream.stop();
      this.checkClosed();
      this.client.on('data', () => this.checkClosed());
      this.upstream.on('data', () => this.checkClosed());
    });
  }

  /** Once each side answered our Close with its own, the tunnel ends. */
  private checkClosed(): void {
    if (this.toClient.closed && this.toUpstream.closed) {
      // The client's Close travels in client -> upstream bytes; the origin's the other way.
      if (this.toUpstream.scanner.sawClose) this.client.end();
      if (this.toClient.scanner.sawClose) this.upstream.end();
    }
  }

  private maybeEnded(): void {
    if (this.finished || !this.client.destroyed || !this.upstream.destroyed) return;
    this.finished = true;
    if (this.shutdown) {
      clearTimeout(this.shutdown.timer);
      this.shutdown.resolve();
    }
    this.options.ended(this);
  }
}
