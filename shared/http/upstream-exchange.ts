// One upstream request and its response, as an undici dispatch handler. The response head
// resolves a promise; the body is pushed to one reader with backpressure. There is no Readable
// stream and no promise per chunk: on a small miss the head, the body and the end arrive in one
// socket read and are handled in one pass, which is most of what a miss costs in Node.js.

import { errors as undiciErrors, type Dispatcher } from 'undici';
import type { IncomingHttpHeaders } from 'node:http';
import { upstreamError } from './upstream-errors.js';
import { StrataError } from '../errors.js';
import type { InterimListener } from './interim.js';

/** Called per body chunk: true goes on, false stops reading (and aborts), a promise pauses until it settles. */
export type OnChunk = (chunk: Buffer) => boolean | Promise<void>;

/** A response body from upstream. Read it once, or discard it. */
export interface UpstreamBody {
  /** Resolves when the body has ended (or the reader stopped it); rejects with a StrataError. */
  read(onChunk: OnChunk): Promise<void>;
  /** Reads the rest and drops it, so a small body leaves the connection reusable. */
  discard(): void;
}

export interface UpstreamResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: UpstreamBody;
  /** Which origin answered. */
  origin: string;
  /**
   * When a sibling worker of this node answered (UpstreamClient): its Cache-Status member, taken
   * out of the response's Cache-Status, since it speaks for this node (shared/cluster/siblings.ts).
   */
  siblingStatus?: string;
}

type Controller = Dispatcher.DispatchController;

/** Body bytes kept while nobody reads yet (the head is still on its way to the caller); past it undici stops reading the socket. */
const unreadLimit = 64 * 1024;

const discardChunk: OnChunk = () => true;
const ignore = (): void => undefined;

export class UpstreamExchange implements Dispatcher.DispatchHandler, UpstreamBody {
  /** Settles with the response head (final status, not 1xx) or the mapped error. */
  readonly response: Promise<UpstreamResponse>;
  private resolveHead!: (res: UpstreamResponse) => void;
  private rejectHead!: (err: Error) => void;
  private controller: Controller | undefined;
  private headDone = false;

  private onChunk: OnChunk | undefined;
  private resolveBody: (() => void) | undefined;
  private rejectBody: ((err: Error) => void) | undefined;
  /** Chunks that arrived while no reader was attached or while the reader waited. */
  private unread: Buffer[] = [];
  private unreadBytes = 0;
  /** The reader returned a promise and undici is paused until it settles. */
  private waiting = false;
  private ended = false;
  private error: Error | undefined;
  private settled = false;

  /** Bounds the wait for the final head once interim responses come (see onResponseStart). */
  private interimTimer: NodeJS.Timeout | undefined;
  /**
   * Bounds the wait for a free connection: undici queues a request while all of the pool's
   * connections are busy, and no undici timeout runs until it is sent.
   */
  private queueTimer: NodeJS.Timeout | undefined;
  /** Gave up waiting in the queue: the request must not go out once a connection frees. */
  private abandoned = false;

  constructor(
    private readonly origin: string,
    private readonly signal: AbortSignal | undefined,
    private readonly timeouts: { queueMs: number; headersMs: number },
    private readonly onInterim?: InterimListener,
  ) {
    this.response = new Promise((resolve, reject) => {
      this.resolveHead = resolve;
      this.rejectHead = reject;
    });
    signal?.addEventListener('abort', this.onAbort, { once: true });
    this.queueTimer = setTimeout(this.onQueueTimeout, timeouts.queueMs);
  }

  // --- undici's side ---

  /** The request has a connection and is about to be written. */
  onRequestStart(controller: Controller): void {
    clearTimeout(this.queueTimer);
    this.controller = controller;
    if (this.abandoned)
      controller.abort(new undiciErrors.RequestAbortedError('waited too long for a connection'));
    else if (this.signal?.aborted) this.onAbort();
  }

  onResponseStart(controller: Controller, status: number, headers: IncomingHttpHeaders): void {
    // Interim 1xx responses go to onInterim (the client), never into the response; the final
    // response follows on the same exchange. undici starts its headers timeout again at each one, so an origin sending 1xx forever
    // would hold the request (and every request collapsed on it) forever: the final head must
    // come within headersTimeout of the first interim response.
    if (status < 200) {
      this.interimTimer ??= setTimeout(
        () => controller.abort(new undiciErrors.HeadersTimeoutError()),
        this.timeouts.headersMs,
      );
      this.onInterim?.(status, headers);
      return;
    }
    clearTimeout(this.interimTimer);
    this.headDone = true;
    this.resolveHead({ status, headers, body: this, origin: this.origin });
  }

  onResponseData(controller: Controller, chunk: Buffer): void {
    if (this.settled) return;
    if (this.onChunk && !this.waiting && this.unread.length === 0) {
      this.give(chunk);
      return;
    }
    this.unread.push(chunk);
    this.unreadBytes += chunk.length;
    if (this.unreadBytes > unreadLimit || this.waiting) controller.pause();
  }

  onResponseEnd(): void {
    this.ended = true;
    this.flush();
  }

  onResponseError(_controller: Controller, err: Error): void {
    clearTimeout(this.interimTimer);
    clearTimeout(this.queueTimer);
    const mapped = upstreamError(err, this.origin);
    if (!this.headDone) {
      this.headDone = true;
      this.cleanup();
      this.rejectHead(mapped);
      return;
    }
    this.error ??= mapped;
    this.unread = [];
    this.waiting = false;
    this.flush();
  }

  // --- the reader's side ---

  read(onChunk: OnChunk): Promise<void> {
    if (this.onChunk) return Promise.reject(new Error('upstream body read twice'));
    this.onChunk = onChunk;
    const done = new Promise<void>((resolve, reject) => {
      this.resolveBody = resolve;
      this.rejectBody = reject;
    });
    this.flush();
    return done;
  }

  discard(): void {
    this.read(discardChunk).catch(ignore); // a failing body being dropped concerns nobody
  }

  /** Hands queued chunks to the reader, then settles the body or lets undici read on. */
  private flush(): void {
    if (!this.onChunk || this.settled) return;
    if (this.error) return this.settle(this.error);
    while (!this.waiting && this.unread.length > 0 && !this.settled) {
      const chunk = this.unread.shift() as Buffer;
      this.unreadBytes -= chunk.length;
      this.give(chunk);
    }
    if (this.waiting || this.settled) return;
    if (this.ended) return this.settle(undefined);
    this.controller?.resume();
  }

  private give(chunk: Buffer): void {
    const next = (this.onChunk as OnChunk)(chunk);
    if (next === true) return;
    if (next === false) {
      // The reader wants no more: the connection cannot be reused with a body half read.
      this.settle(undefined);
      this.controller?.abort(new undiciErrors.RequestAbortedError('body no longer wanted'));
      return;
    }
    this.waiting = true;
    this.controller?.pause();
    next.then(
      () => {
        this.waiting = false;
        this.flush();
      },
      (err: Error) => {
        this.settle(err);
        this.controller?.abort(err);
      },
    );
  }

  private settle(err: Error | undefined): void {
    if (this.settled) return;
    this.settled = true;
    this.unread = [];
    this.cleanup();
    if (err) this.rejectBody?.(err);
    else this.resolveBody?.();
  }

  private readonly onQueueTimeout = (): void => {
    this.abandon(new StrataError('UPSTREAM_BUSY', undefined, { origin: this.origin }));
  };

  /** Gives up on a request still waiting for a connection; it is aborted before it is sent. */
  private abandon(err: StrataError): void {
    if (this.headDone) return;
    clearTimeout(this.queueTimer);
    this.abandoned = true;
    this.headDone = true;
    this.cleanup();
    this.rejectHead(err);
  }

  private readonly onAbort = (): void => {
    const err = new undiciErrors.RequestAbortedError();
    // Sent already: undici cancels it. Still queued: the client need not wait for a connection.
    if (this.controller) this.controller.abort(err);
    else this.abandon(upstreamError(err, this.origin));
  };

  private cleanup(): void {
    this.signal?.removeEventListener('abort', this.onAbort);
  }
}
