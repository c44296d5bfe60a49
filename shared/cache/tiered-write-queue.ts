// WriteBehind: the bounded queue between the memory tier and the disk tier. A response never
// waits for the disk: offer() either queues the object or says no (full), and one worker writes.

import type { CachedObject } from './store.js';

export interface WriteBehindOptions {
  maxObjects: number;
  /** Body bytes held by queued objects (they share the memory tier's buffers). */
  maxBytes: number;
  /** Writes one object; failures are the writer's to log and count. */
  write(object: CachedObject): Promise<void>;
}

export class WriteBehind {
  private queue: CachedObject[] = [];
  private queuedBytes = 0;
  private running = false;
  /** The object being written now: taken off the queue, not yet in the disk index. */
  private writing: CachedObject | undefined;
  private stopped = false;
  private idle: (() => void)[] = [];

  constructor(private readonly options: WriteBehindOptions) {}

  get length(): number {
    return this.queue.length;
  }

  /** Queues an object for the disk; false (not queued) when the queue is full or stopped. */
  offer(object: CachedObject): boolean {
    const size = object.body.size;
    if (this.stopped || this.queue.length >= this.options.maxObjects) return false;
    if (this.queuedBytes + size > this.options.maxBytes && this.queue.length > 0) return false;
    this.queue.push(object);
    this.queuedBytes += size;
    if (!this.running) void this.run();
    return true;
  }

  has(object: CachedObject): boolean {
    return this.queue.includes(object);
  }

  /**
   * Objects of a key waiting for the disk (newest first): an object too large for the memory
   * tier is only here until its write lands, and must still be found.
   */
  pending(key: string): CachedObject[] {
    const found: CachedObject[] = [];
    for (let i = this.queue.length - 1; i >= 0; i--)
      if (this.queue[i].meta.key === key) found.push(this.queue[i]);
    if (this.writing?.meta.key === key) found.push(this.writing);
    return found;
  }

  /**
   * Rewrites queued objects (a purge or a 304 update arriving before their write): `fn` returns
   * the object to write instead, or undefined to drop it. Returns how many were changed.
   */
  update(fn: (object: CachedObject) => CachedObject | undefined): number {
    let changed = 0;
    const next: CachedObject[] = [];
    for (const object of this.queue) {
      const out = fn(object);
      if (out !== object) changed++;
      if (out) next.push(out);
      else this.queuedBytes -= object.body.size;
    }
    this.queue = next;
    return changed;
  }

  /** Resolves when every queued object has been written (or dropped). */
  drained(): Promise<void> {
    if (!this.running && this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idle.push(resolve));
  }

  /** Accepts no more objects; those queued are still written (await drained()). */
  stop(): void {
    this.stopped = true;
  }

  private async run(): Promise<void> {
    this.running = true;
    for (let object = this.queue.shift(); object; object = this.queue.shift()) {
      this.queuedBytes -= object.body.size;
      this.writing = object;
      await this.options.write(object);
      this.writing = undefined;
    }
    this.running = false;
    const idle = this.idle;
    this.idle = [];
    for (const resolve of idle) resolve();
  }
}
