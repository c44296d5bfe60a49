// LineWriter: one buffered, ordered writer of log lines to a file descriptor. Lines collect in
// memory and go out in large writes (when 64 KiB are waiting, or every 100 ms), so logging a
// request costs a string append, not a system call. One write is in flight at a time, which
// keeps lines whole and in order. It never blocks the event loop: past the buffer limit, lines
// are dropped and counted.

import { write, writeSync } from 'node:fs';

export interface LineWriterOptions {
  /** Write as soon as this many bytes wait (default 64 KiB). */
  flushBytes?: number;
  /** Write what waits at least this often (default 100 ms). */
  flushMs?: number;
  /** Drop lines while this much is waiting (default 16 MiB): a stuck reader must not eat memory. */
  maxBufferedBytes?: number;
  /**
   * Write whole lines in writes of at most PIPE_BUF (4 KiB), which the kernel never interleaves
   * with another process's writes to the same pipe: for worker processes sharing stdout.
   */
  atomicWrites?: boolean;
}

/** Writes up to this size to a pipe are atomic (POSIX PIPE_BUF on Linux). */
const pipeBufBytes = 4096;

export class LineWriter {
  /** Lines are encoded straight into this buffer; no per-line strings are kept. */
  private current: Buffer;
  private used = 0;
  /** Filled buffers waiting for the write in flight. */
  private sealed: Buffer[] = [];
  private sealedBytes = 0;
  private inFlight = false;
  private readonly timer: NodeJS.Timeout;
  private readonly flushBytes: number;
  private readonly maxBufferedBytes: number;
  private idle: (() => void)[] = [];
  private readonly atomicWrites: boolean;
  /** Lines dropped because the reader could not keep up. */
  dropped = 0;

  constructor(
    private readonly fd: number,
    options: LineWriterOptions = {},
  ) {
    this.atomicWrites = options.atomicWrites ?? false;
    this.flushBytes = this.atomicWrites ? pipeBufBytes : (options.flushBytes ?? 64 * 1024);
    this.maxBufferedBytes = options.maxBufferedBytes ?? 16 * 1024 * 1024;
    this.current = Buffer.allocUnsafeSlow(this.flushBytes);
    this.timer = setInterval(() => this.flush(), options.flushMs ?? 100);
    this.timer.unref();
  }

  /** Queues one or more whole lines (each ending in "\n"). */
  write(lines: string): boolean {
    if (this.sealedBytes + this.used >= this.maxBufferedBytes) {
      this.dropped++;
      return false;
    }
    // A UTF-16 unit is at most 3 bytes of UTF-8: with that much room the line fits whole.
    if (lines.length * 3 > this.current.length - this.used) {
      this.seal();
      if (lines.length * 3 > this.current.length) {
        const big = Buffer.from(lines);
        this.sealed.push(big);
        this.sealedBytes += big.length;
        this.flush();
        return true;
      }
    }
    this.used += this.current.write(lines, this.used);
    if (this.used + this.sealedBytes >= this.flushBytes) this.flush();
    return true;
  }

  /** Moves the current buffer's bytes to the queue of buffers to write. */
  private seal(): void {
    if (this.used === 0) return;
    this.sealed.push(this.current.subarray(0, this.used));
    this.sealedBytes += this.used;
    this.current = Buffer.allocUnsafeSlow(this.flushBytes);
    this.used = 0;
  }

  /** Takes everything waiting as one buffer (atomic writes: one sealed buffer), or undefined. */
  private take(): Buffer | undefined {
    this.seal();
    if (this.sealed.length === 0) return undefined;
    if (this.atomicWrites) {
      const one = this.sealed.shift()!;
      this.sealedBytes -= one.length;
      return one;
    }
    const data = this.sealed.length === 1 ? this.sealed[0] : Buffer.concat(this.sealed, this.sealedBytes);
    this.sealed = [];
    this.sealedBytes = 0;
    return data;
  }

  /** Starts writing what waits, unless a write is already in flight (it continues when done). */
  flush(): void {
    if (this.inFlight) return;
    const data = this.take();
    if (!data) return;
    this.inFlight = true;
    this.writeOut(data, 0);
  }

  private writeOut(data: Buffer, offset: number): void {
    write(this.fd, data, offset, data.length - offset, null, (err, written) => {
      if (err && err.code === 'EAGAIN') {
        // A non-blocking pipe is full: try again shortly, keeping the data.
        setTimeout(() => this.writeOut(data, offset), 10).unref();
        return;
      }
      if (!err && offset + written < data.length) return this.writeOut(data, offset + written);
      // Any other error: the lines are lost; logging must never take the node down.
      this.inFlight = false;
      if (this.sealed.length > 0 || this.used + this.sealedBytes >= this.flushBytes) this.flush();
      if (!this.inFlight) for (const resolve of this.idle.splice(0)) resolve();
    });
  }

  /** Writes everything that waits and stops the timer; used when the node stops. */
  async close(): Promise<void> {
    clearInterval(this.timer);
    if (this.inFlight) await new Promise<void>((resolve) => this.idle.push(resolve));
    this.flushSync();
  }

  /** Writes what waits synchronously (for exit). */
  flushSync(): void {
    if (this.inFlight) return;
    for (let data = this.take(); data; data = this.take()) {
      for (let offset = 0; offset < data.length;) {
        try {
          offset += writeSync(this.fd, data, offset);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') return;
        }
      }
    }
  }
}
