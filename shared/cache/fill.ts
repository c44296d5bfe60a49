// Fill: one upstream fetch whose body is broadcast to every client waiting on it while it is
// stored. FillRegistry collapses concurrent misses for one key into one fill, and remembers
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
    }
  /** A stored object to serve whole: revalidated by a 304, or stale because the origin failed. */
  | {
      kind: 'object';
      object: CachedObject;
      how: 'revalidated' | 'stale-if-error';
      status: number;
      upstreamMs: number;
    };

export class Fill {
  private chunks: Buffer[] = [];
  private readonly consumers = new Set<FillConsumer>();
  private finished = false;
  private failure: StrataError | undefined;
  /** Once true, chunks are no longer retained and no consumer may join (too large to store). */
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

  setHead(head: FillHead): void {
    this.resolveHead(head);
  }

  /** Fails the fill: before the head, every waiter gets the error; after, consumers are cut off. */
  fail(err: StrataError): void {
    this.failure = err;
    this.rejectHead(err);
    for (const c of this.consumers) c.fail(err);
    this.consumers.clear();
    this.chunks = [];
  }

  /**
   * Joins the body stream: replays what arrived so far, then follows live. False if too late.
   * The request that started the fill always gets its body, even when it is not stored.
   */
  subscribe(consumer: FillConsumer, starter = false): boolean {
    if (this.failure || (this.passing && !starter)) return false;
    for (const chunk of this.chunks) consumer.write(chunk);
    if (this.finished) consumer.end();
    else this.consumers.add(consumer);
    return true;
  }

  unsubscribe(consumer: FillConsumer): void {
    this.consumers.delete(consumer);
  }

  /**
   * Broadcasts a chunk. Returns true, or in pass mode a promise that settles when the slowest
   * consumer has drained (backpressure; a stored body is bounded and read at full speed).
   */
  push(chunk: Buffer): true | Promise<void> {
    if (!this.passing) this.chunks.push(chunk);
    let slow: FillConsumer[] | undefined;
    for (const c of this.consumers) if (!c.write(chunk)) (slow ??= []).push(c);
    if (slow && this.passing) return Promise.all(slow.map((c) => c.drained())).then(() => undefined);
    return true;
  }

  /** Stops retaining the body (it will not be stored); consumers already attached keep streaming. */
  pass(): void {
    this.passing = true;
    this.chunks = [];
  }

  /**
   * Ends the body for every consumer and returns the retained body (undefined in pass mode).
   * A body up to `copyUpToBytes` becomes one exact-size buffer (a chunk is often a view into a
   * larger socket or pool buffer that a small cached object would otherwise keep alive); a
   * larger one, bound for disk, stays the list of chunks it arrived in.
   */
  finish(copyUpToBytes: number): StoredBody | undefined {
    this.finished = true;
    for (const c of this.consumers) c.end();
    this.consumers.clear();
    if (this.passing) return undefined;
    let size = 0;
    for (const chunk of this.chunks) size += chunk.length;
    if (size > copyUpToBytes) return chunkListBody(this.chunks, size);
    const body = Buffer.allocUnsafeSlow(size);
    let offset = 0;
    for (const chunk of this.chunks) offset += chunk.copy(body, offset);
    this.chunks = [body];
    return bufferBody(body);
  }

  /** Whether a new consumer may still subscribe (not failed, not passing through). */
  get joinable(): boolean {
    return !this.passing && !this.failure;
  }

  get hasConsumers(): boolean {
    return this.consumers.size > 0;
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
