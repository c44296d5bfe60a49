// Fill: one upstream fetch whose body every client waiting on it takes, each at its own pace,
// while it is stored. FillRegistry collapses concurrent misses for one key into one fill, and remembers
// "hit-for-pass" for keys that turned out uncacheable so they never serialise.

import { LRUCache } from 'lru-cache';
import type { StrataError } from '../errors.js';
import { bufferBody, chunkListBody, type CachedObject, type ObjectMeta, type StoredBody } from './store.js';

/** A client receiving a fill's body. write() returning false asks for backpressure. */
export interface FillConsumer {
  write(chunk: Buffer): boolean;
  end(): void;
  fail(err: StrataError): void;
  /** Resolves when the consumer can take more data (or has gone away). */
  drained(): Promise<void>;
}

/** What a fill learned when the upstream headers arrived. */
export type FillHead =
  /** A response streaming from upstream; `meta` is set when it will be stored. */
  | {
      kind: 'stream';
      status: number;
      headers: string[];
      meta?: ObjectMeta;
      upstreamMs: number;
      /** The Cache-Status member of the sibling worker that answered, if one did (UpstreamResponse). */
      siblingStatus?: string;
    }
  /** A stored object to serve whole: revalidated by a 304, or stale because the origin failed. */
  | {
      kind: 'object';
      object: CachedObject;
      how: 'revalidated' | 'stale-if-error';
      status: number;
      upstreamMs: number;
    };

/** Where one consumer is in a fill's body. */
interface Cursor {
  /** Bytes of the body written to it so far. */
  pos: number;
  /** It asked for backpressure: nothing more is written until it drains. */
  waiting: boolean;
}

export class Fill {
  /** The body as received: the part still needed (all of it while it is to be stored). */
  private chunks: Buffer[] = [];
  /** Body offset of chunks[0] (bytes dropped from the front while passing through). */
  private base = 0;
  /** Body bytes received so far. */
  private received = 0;
  /**
   * Each consumer takes the body at its own pace: one that asks for backpressure is skipped
   * until it drains, then catches up from the retained chunks. A slow client therefore queues
   * at most about a chunk in its socket, not the rest of the object, while the fill reads on.
   */
  private readonly cursors = new Map<FillConsumer, Cursor>();
  /** Settled when every consumer has caught up (what push() returns while passing through). */
  private caughtUp: (() => void)[] = [];
  private finished = false;
  private failure: StrataError | undefined;
  /**
   * Passing through (not stored: too large, over the fill budget, invalidated): only chunks a
   * consumer still needs are kept, and no new consumer may join.
   */
  private passing = false;
  readonly head: Promise<FillHead>;
  private resolveHead!: (head: FillHead) => void;
  private rejectHead!: (err: StrataError) => void;

  constructor(readonly key: string) {
    this.head = new Promise((resolve, reject) => {
      this.resolveHead = resolve;
      this.rejectHead = reject;
    });
    // A fill nobody waits on (background revalidation) must not raise an unhandled rejection.
    this.head.catch(() => undefined);
  }

  /** The surrogate keys of the response being stored, once its head is known (purges by tag). */
  tags: readonly string[] | undefined;

  setHead(head: FillHead): void {
    this.tags = head.kind === 'stream' ? (head.meta?.tags ?? []) : head.object.meta.tags;
    this.resolveHead(head);
  }

  /** Fails the fill: before the head, every waiter gets the error; after, consumers are cut off. */
  fail(err: StrataError): void {
    this.failure = err;
    this.rejectHead(err);
    for (const c of this.cursors.keys()) c.fail(err);
    this.cursors.clear();
    this.chunks = [];
    this.settleCaughtUp();
  }

  /**
   * Joins the body stream: gets what arrived so far, then follows live. False if too late.
   * The request that started the fill always gets its body, even when it is not stored.
   */
  subscribe(consumer: FillConsumer, starter = false): boolean {
    if (this.failure || (this.passing && !starter)) return false;
    const cursor: Cursor = { pos: this.base, waiting: false };
    this.cursors.set(consumer, cursor);
    this.feed(consumer, cursor);
    return true;
  }

  unsubscribe(consumer: FillConsumer): void {
    if (this.cursors.delete(consumer)) this.release();
  }

  /**
   * Takes a chunk from upstream and gives it to every consumer ready for it. Returns true, or
   * while passing through a promise that settles when every consumer has caught up
   * (backpressure: a body being stored is bounded and read at full speed).
   */
  push(chunk: Buffer): true | Promise<void> {
    const at = this.received;
    this.chunks.push(chunk);
    this.received += chunk.length;
    for (const [consumer, cursor] of this.cursors) {
      if (cursor.waiting) continue;
      if (cursor.pos !== at) this.feed(consumer, cursor);
      else {
        // Caught up (the usual case): just this chunk, no search.
        cursor.pos = this.received;
        if (!consumer.write(chunk)) this.wait(consumer, cursor);
      }
    }
    if (!this.passing) return true;
    this.release();
    if (this.chunks.length === 0) return true;
    return new Promise((resolve) => this.caughtUp.push(resolve));
  }

  /** Stops storing the body; consumers already attached keep streaming, at the slowest one's pace. */
  pass(): void {
    this.passing = true;
    this.release();
  }

  /**
   * Ends the body for every consumer (a slow one once it has caught up) and returns the
   * retained body (undefined in pass mode). A body up to `copyUpToBytes` becomes one exact-size
   * buffer (a chunk is often a view into a larger socket or pool buffer that a small cached
   * object would otherwise keep alive); a larger one, bound for disk, stays the list of chunks
   * it arrived in.
   */
  finish(copyUpToBytes: number): StoredBody | undefined {
    this.finished = true;
    let body: StoredBody | undefined;
    if (!this.passing) {
      const size = this.received;
      if (size > copyUpToBytes) body = chunkListBody(this.chunks, size);
      else {
        const whole = Buffer.allocUnsafeSlow(size);
        let offset = 0;
        for (const chunk of this.chunks) offset += chunk.copy(whole, offset);
        this.chunks = [whole];
        body = bufferBody(whole);
      }
    }
    for (const [consumer, cursor] of this.cursors) if (!cursor.waiting) this.feed(consumer, cursor);
    return body;
  }

  /** Writes what a consumer has not had yet, until it asks for backpressure; ends it when done. */
  private feed(consumer: FillConsumer, cursor: Cursor): void {
    let start = this.base;
    for (const chunk of this.chunks) {
      const end = start + chunk.length;
      if (cursor.pos < end) {
        const part = cursor.pos === start ? chunk : chunk.subarray(cursor.pos - start);
        cursor.pos = end;
        if (!consumer.write(part)) {
          this.wait(consumer, cursor);
          break;
        }
      }
      start = end;
    }
    if (this.finished && !cursor.waiting) {
      this.cursors.delete(consumer);
      consumer.end();
    }
    // What it took may have been the last thing anyone needed.
    if (this.passing) this.release();
  }

  /** Resumes a consumer that asked for backpressure once it drains (if it is still subscribed). */
  private wait(consumer: FillConsumer, cursor: Cursor): void {
    cursor.waiting = true;
    void consumer.drained().then(() => {
      cursor.waiting = false;
      if (this.cursors.get(consumer) === cursor) this.feed(consumer, cursor);
    });
  }

  /** While passing through: drops the chunks every consumer has had; settles push()'s wait. */
  private release(): void {
    if (!this.passing) return;
    let needed = this.received;
    for (const cursor of this.cursors.values()) needed = Math.min(needed, cursor.pos);
    while (this.chunks.length > 0 && this.base + this.chunks[0].length <= needed) {
      this.base += (this.chunks.shift() as Buffer).length;
    }
    if (this.chunks.length === 0) this.settleCaughtUp();
  }

  private settleCaughtUp(): void {
    const waiters = this.caughtUp;
    if (waiters.length === 0) return;
    this.caughtUp = [];
    for (const resolve of waiters) resolve();
  }

  /** Whether a new consumer may still subscribe (not failed, not passing through). */
  get joinable(): boolean {
    return !this.passing && !this.failure;
  }

  get hasConsumers(): boolean {
    return this.cursors.size > 0;
  }
}

export class FillRegistry {
  private readonly fills = new Map<string, Fill>();
  private readonly passUntil: LRUCache<string, true>;

  constructor(hitForPassMs: number) {
    this.passUntil = new LRUCache<string, true>({ max: 100_000, ttl: Math.max(1, hitForPassMs) });
  }

  /** The fill in progress for a key, if any. */
  get(key: string): Fill | undefined {
    return this.fills.get(key);
  }

  /** Registers a new fill for a key; it stays registered until released. */
  begin(key: string): Fill {
    const fill = new Fill(key);
    this.fills.set(key, fill);
    return fill;
  }

  /** Removes the fill once its head is known not to be shareable, or when it ends. */
  release(fill: Fill): void {
    if (this.fills.get(fill.key) === fill) this.fills.delete(fill.key);
  }

  get size(): number {
    return this.fills.size;
  }

  /**
   * A fill running for the key fetched what has just been invalidated (an unsafe method, and
   * purges to come): it still reaches its clients but is not stored, and nobody new joins it.
   */
  invalidate(key: string): void {
    const running = this.fills.get(key);
    if (!running) return;
    this.release(running);
    running.pass();
  }

  /** Invalidates (as invalidate()) every fill in progress that `matches` (a purge). */
  invalidateWhere(matches: (fill: Fill) => boolean): void {
    for (const fill of [...this.fills.values()]) if (matches(fill)) this.invalidate(fill.key);
  }

  /** Remembers that a key is uncacheable, so requests for it skip collapsing for a while. */
  markPass(key: string): void {
    this.passUntil.set(key, true);
  }

  clearPass(key: string): void {
    this.passUntil.delete(key);
  }

  isPass(key: string): boolean {
    return this.passUntil.has(key);
  }
}
