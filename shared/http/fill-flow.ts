// FillFlow: what happens on a miss. Concurrent misses for one key collapse into one Fill; the
// fill fetches from upstream (conditionally when revalidating a stale object), streams the body
// to every waiting client while it is stored, and ends in a stored object, a stale one served on
// error, or a pass-through. Also serves stored objects, since a damaged one turns into a miss.

import { StrataError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import { Fill, type FillConsumer, type FillHead, type FillRegistry } from '../cache/fill.js';
import { completeObject, describeResponse, refreshObject } from '../cache/object.js';
import type { Detail } from '../cache/outcome.js';
import {
  currentAge,
  noRequestDirectives,
  usableOnError,
  type PolicyOptions,
  type RequestDirectives,
} from '../cache/policy.js';
import type { CacheStore, CachedObject, ObjectMeta } from '../cache/store.js';
import { admittedCodings, variantKey, varyValue } from '../cache/vary.js';
import type { RequestContext } from './context.js';
import { upstreamFields, type Deliverer } from './deliver.js';
import { firstValue } from './headers.js';
import { upstreamError, type UpstreamResponse } from './upstream.js';
import type { UpstreamClient } from './upstream-client.js';
import { interimTo } from './interim.js';

/** Client preconditions and ranges are answered by Strata, never forwarded on a fill. */
const fillStrips = [
  'if-none-match',
  'if-modified-since',
  'if-match',
  'if-unmodified-since',
  'if-range',
  'range',
];

/** Reasons not to store that are about this request or this node, not the URL: no hit-for-pass. */
const saysNothingOfTheResponse: ReadonlySet<Detail> = new Set([
  'request-no-store',
  'authorization',
  'fill-budget',
  'heap-pressure',
]);

export interface FillFlowOptions {
  fills: FillRegistry;
  store: CacheStore;
  deliver: Deliverer;
  upstream: UpstreamClient;
  policy: PolicyOptions;
  metrics: Metrics;
  log: Logger;
  clock: () => number;
  /** Larger responses pass through uncached (the larger of the memory and disk limits). */
  maxStorableBytes: number;
  /** Bodies up to this size are kept as one buffer for the memory tier. */
  memoryMaxObjectBytes: number;
  /** Most body bytes all fills being stored may hold at once (cache.maxFillBytes). */
  maxFillBytes: number;
  /** Whether the JavaScript heap is near its limit (shared/heap.ts): new fills are then not stored. */
  heapTight?: () => boolean;
  /** Runs an async phase for a request; its failure ends the request with an error response. */
  run(ctx: RequestContext, work: Promise<void>): void;
}

export class FillFlow {
  private readonly fills: FillRegistry;
  private readonly store: CacheStore;
  private readonly deliver: Deliverer;
  private readonly upstream: UpstreamClient;
  private readonly policy: PolicyOptions;
  private readonly metrics: Metrics;
  private readonly log: Logger;
  private readonly clock: () => number;
  private readonly maxStorableBytes: number;
  /** Body bytes held by the fills being stored, at most options.maxFillBytes. */
  private fillBytes = 0;

  constructor(private readonly options: FillFlowOptions) {
    this.fills = options.fills;
    this.store = options.store;
    this.deliver = options.deliver;
    this.upstream = options.upstream;
    this.policy = options.policy;
    this.metrics = options.metrics;
    this.log = options.log;
    this.clock = options.clock;
    this.maxStorableBytes = options.maxStorableBytes;
  }

  /** Phase deliver for a stored object; a body found damaged before anything was sent becomes a miss. */
  serve(ctx: RequestContext, object: CachedObject, ageSec: number): void {
    this.deliver.object(ctx, object, ageSec, this.unreadable);
  }

  /** Made once (not a closure per hit): a stored body found damaged before sending becomes a miss. */
  private readonly unreadable = (ctx: RequestContext, err: StrataError): void => {
    this.log.warn({ code: err.code, key: ctx.key, reqId: ctx.id }, 'stored body unreadable, fetching again');
    ctx.outcome.refetch();
    this.miss(ctx, undefined);
  };

  /** Phase miss: joins the fill in progress for the key, or starts one. */
  miss(ctx: RequestContext, stale: CachedObject | undefined): void {
    if (this.fills.isPass(ctx.key)) {
      ctx.outcome.pass('bypass', 'hit-for-pass');
      this.metrics.hitForPass.inc();
      return this.options.run(ctx, this.fetch(ctx, new Fill(ctx.key), stale, ctx));
    }
    const existing = this.fills.get(ctx.key);
    if (existing) return this.options.run(ctx, this.join(ctx, existing, stale));
    this.options.run(ctx, this.fetch(ctx, this.fills.begin(ctx.key), stale, ctx));
  }

  /** A collapsed request: waits for another request's fill and streams from it. */
  private async join(ctx: RequestContext, fill: Fill, stale: CachedObject | undefined): Promise<void> {
    ctx.outcome.collapse();
    this.metrics.collapsed.inc();
    let head: FillHead;
    try {
      head = await fill.head;
    } catch (err) {
      // The fill failed: this request may still have a stale object it is allowed to use.
      if (!stale || !this.staleOnError(ctx, stale, ctx.reqCc, this.clock())) throw err;
      ctx.outcome.settled('stale-if-error', 0);
      return this.serve(ctx, stale, currentAge(stale.meta, this.clock()));
    }
    // A fill answers for one variant; a request for another goes upstream on its own.
    const meta = head.kind === 'object' ? head.object.meta : head.meta;
    if (!meta || (meta.vary.length > 0 && variantKey(ctx.req.headers, meta.vary) !== meta.variant)) {
      ctx.outcome.ownFetch();
      return this.fetch(ctx, new Fill(ctx.key), stale, ctx);
    }
    if (head.kind === 'object') {
      ctx.outcome.settled(head.how, head.status);
      return this.serve(ctx, head.object, currentAge(head.object.meta, this.clock()));
    }
    // Found too large to store after all: this request goes upstream on its own.
    if (!fill.joinable) {
      ctx.outcome.ownFetch();
      return this.fetch(ctx, new Fill(ctx.key), stale, ctx);
    }
    ctx.outcome.answered(head.status, true);
    ctx.upstreamMs = head.upstreamMs;
    const consumer = this.deliver.stream(
      ctx,
      head.status,
      head.headers,
      ctx.outcome,
      meta,
      head.siblingStatus,
    );
    this.attach(ctx, fill, consumer, false);
  }

  /** RFC 5861 §3: one background revalidation per key while stale responses are served. */
  revalidateInBackground(ctx: RequestContext, stale: CachedObject): void {
    if (this.fills.get(ctx.key)) return;
    this.fetch(ctx, this.fills.begin(ctx.key), stale, undefined).catch((err: unknown) => {
      this.log.warn({ err, key: ctx.key }, 'background revalidation failed');
    });
  }

  /**
   * Phase fetch: one upstream GET for a fill, conditional when a stale object is given; ends in
   * a stored object (304, stale-if-error) or a response streamed to the fill's clients.
   * `client` is the request that started it (undefined for background revalidation).
   */
  private async fetch(
    ctx: RequestContext,
    fill: Fill,
    stale: CachedObject | undefined,
    client: RequestContext | undefined,
  ): Promise<void> {
    // A background revalidation is shared: one client's directives must not shape it.
    const reqCc = client ? ctx.reqCc : noRequestDirectives;
    const requestTimeMs = this.clock();
    const sentAt = performance.now();
    const up = await this.send(ctx, fill, stale, reqCc, client);
    if (!up) return;
    const times = { requestTimeMs, responseTimeMs: this.clock() };
    const upstreamMs = this.upstream.observe(ctx, up.status, sentAt);
    if (stale && this.answeredFromStale(ctx, fill, stale, up, { reqCc, upstreamMs, ...times }, client))
      return;
    const { meta, reason } = this.storable(ctx, up, reqCc, times);
    if (reason) this.notCacheable(ctx, fill, reason);
    else this.fills.clearPass(ctx.key);
    const headers = upstreamFields(up.headers);
    const siblingStatus = up.siblingStatus;
    fill.setHead({ kind: 'stream', status: up.status, headers, meta, upstreamMs, siblingStatus });
    if (client) {
      client.outcome.answered(up.status, meta !== undefined, reason);
      const consumer = this.deliver.stream(client, up.status, headers, client.outcome, meta, siblingStatus);
      this.attach(client, fill, consumer, true);
    }
    await this.fillBody(ctx, fill, up, meta);
  }

  /**
   * Sends a fill's request. When it fails: settles the fill with `stale` where stale-if-error
   * allows (undefined is returned), else fails the fill and throws.
   */
  private async send(
    ctx: RequestContext,
    fill: Fill,
    stale: CachedObject | undefined,
    reqCc: RequestDirectives,
    client: RequestContext | undefined,
  ): Promise<UpstreamResponse | undefined> {
    try {
      // Interim responses go to the client that started the fill; collapsed ones join later.
      const onInterim = client && interimTo(client);
      return await this.upstream.send(
        ctx,
        { method: 'GET', path: ctx.target, headers: this.fillHeaders(ctx, stale), onInterim },
        true,
        true,
      );
    } catch (e) {
      const err = StrataError.from(e);
      if (stale && this.staleOnError(ctx, stale, reqCc, this.clock())) {
        this.log.warn({ code: err.code, key: ctx.key, reqId: ctx.id }, 'upstream failed, serving stale');
        const head = {
          kind: 'object',
          object: stale,
          how: 'stale-if-error',
          status: 0,
          upstreamMs: 0,
        } as const;
        this.settle(fill, head, client);
        return undefined;
      }
      this.fills.release(fill);
      fill.fail(err);
      throw err;
    }
  }

  /**
   * A revalidation's answer that settles the fill with the stored object: a 304 refreshes it
   * (RFC 9111 §4.3.4), a 5xx leaves it served stale where stale-if-error allows. Returns whether
   * it did; otherwise the response replaces the stored object.
   */
  private answeredFromStale(
    ctx: RequestContext,
    fill: Fill,
    stale: CachedObject,
    up: UpstreamResponse,
    exchange: { reqCc: RequestDirectives; upstreamMs: number; requestTimeMs: number; responseTimeMs: number },
    client: RequestContext | undefined,
  ): boolean {
    const { upstreamMs, requestTimeMs, responseTimeMs } = exchange;
    if (up.status === 304) {
      up.body.discard();
      const object = refreshObject(
        stale,
        { headers: up.headers, requestHeaders: ctx.req.headers, requestTimeMs, responseTimeMs },
        this.policy,
      );
      this.store
        .updateMeta(object.meta)
        .catch((err: unknown) => this.log.error({ err, key: ctx.key }, 'store update failed'));
      this.settle(fill, { kind: 'object', object, how: 'revalidated', status: 304, upstreamMs }, client);
      return true;
    }
    if (up.status >= 500 && this.staleOnError(ctx, stale, exchange.reqCc, responseTimeMs)) {
      up.body.discard();
      const head = {
        kind: 'object',
        object: stale,
        how: 'stale-if-error',
        status: up.status,
        upstreamMs,
      } as const;
      this.settle(fill, head, client);
      return true;
    }
    return false;
  }

  /**
   * Whether a response is stored (its meta) and if not, why. A body announced larger than what
   * the fill budget has left is not stored (and the client is told so), rather than given up on
   * mid-way.
   */
  private storable(
    ctx: RequestContext,
    up: UpstreamResponse,
    reqCc: RequestDirectives,
    times: { requestTimeMs: number; responseTimeMs: number },
  ): { meta?: ObjectMeta; reason?: Detail } {
    const described = describeResponse(
      {
        key: ctx.key,
        requestHeaders: ctx.req.headers,
        requestNoStore: reqCc.noStore,
        status: up.status,
        headers: up.headers,
        ...times,
      },
      this.policy,
      this.maxStorableBytes,
    );
    const length = Number(firstValue(up.headers['content-length']));
    if (described.meta && length > this.options.maxFillBytes - this.fillBytes)
      return { meta: undefined, reason: 'fill-budget' };
    if (described.meta && this.options.heapTight?.()) return { meta: undefined, reason: 'heap-pressure' };
    return described;
  }

  /** The upstream request headers of a fill: conditional when revalidating `stale`. */
  private fillHeaders(ctx: RequestContext, stale: CachedObject | undefined): Record<string, string> {
    const headers = this.upstream.headers(ctx);
    for (const name of fillStrips) delete headers[name];
    // The origin is asked for exactly the codings the variant key stands for, so what is
    // stored under a key is what every request with that key accepts (see vary.ts).
    headers['accept-encoding'] = admittedCodings(varyValue(ctx.req.headers, 'accept-encoding')).join(', ');
    if (stale?.meta.etag) headers['if-none-match'] = stale.meta.etag;
    if (stale?.meta.lastModified) headers['if-modified-since'] = stale.meta.lastModified;
    return headers;
  }

  /** Subscribes a client to a fill's body until the client goes away. */
  private attach(
    ctx: RequestContext,
    fill: Fill,
    consumer: FillConsumer | undefined,
    starter: boolean,
  ): void {
    if (!consumer) return;
    fill.subscribe(consumer, starter);
    ctx.onClose = () => fill.unsubscribe(consumer);
  }

  /**
   * Reads a fill's body from upstream, broadcasting it, and stores it when it is complete and
   * still storable (`meta`); past the storable size it passes through without being kept.
   */
  private async fillBody(
    ctx: RequestContext,
    fill: Fill,
    up: UpstreamResponse,
    stored: ObjectMeta | undefined,
  ): Promise<void> {
    let meta = stored;
    let size = 0;
    /** This fill's share of the fill budget: the body bytes it holds to store them. */
    let held = 0;
    const stopStoring = (reason: 'too-large' | 'fill-budget') => {
      meta = undefined;
      this.fillBytes -= held;
      held = 0;
      this.notCacheable(ctx, fill, reason);
    };
    try {
      await up.body.read((chunk) => {
        size += chunk.length;
        if (meta && size > this.maxStorableBytes) stopStoring('too-large');
        else if (meta && this.fillBytes + chunk.length > this.options.maxFillBytes)
          stopStoring('fill-budget');
        else if (meta) {
          held += chunk.length;
          this.fillBytes += chunk.length;
        }
        // Nobody to send it to and nothing to store: stop reading.
        if (!meta && !fill.hasConsumers) return false;
        return fill.push(chunk);
      });
    } catch (e) {
      // An aborted upstream body is never stored; clients see a cut connection.
      this.fillBytes -= held;
      const err = upstreamError(e, up.origin);
      this.metrics.upstreamErrors.inc({ code: err.code });
      this.fills.release(fill);
      fill.fail(err);
      this.log.warn({ code: err.code, key: ctx.key, reqId: ctx.id, peer: up.origin }, 'upstream body failed');
      return;
    }
    // From here the body is the store's (or nobody's).
    this.fillBytes -= held;
    const body = fill.finish(this.options.memoryMaxObjectBytes);
    this.fills.release(fill);
    if (meta && body) {
      this.store
        .put(completeObject(meta, body))
        .catch((err: unknown) => this.log.error({ err, key: ctx.key }, 'store put failed'));
    }
  }

  /** Body bytes held by the fills being stored (strata_fill_bytes). */
  get bytesInFills(): number {
    return this.fillBytes;
  }

  /** Whether `stale` may answer for a failed origin at `nowMs` (RFC 5861 and the site's staleIfError). */
  private staleOnError(
    ctx: RequestContext,
    stale: CachedObject,
    reqCc: RequestDirectives,
    nowMs: number,
  ): boolean {
    const siteSec = ctx.site.config.staleIfError / 1000;
    return usableOnError(stale.meta, reqCc, currentAge(stale.meta, nowMs), siteSec);
  }

  /** Records why a response is not stored; the key skips collapsing for a while. */
  private notCacheable(ctx: RequestContext, fill: Fill, reason: Detail): void {
    // Counted per fill, as documented: a hit-for-pass bypass, there because a fill found the URL
    // uncacheable, is counted in strata_cache_hit_for_pass_total instead of again here.
    if (ctx.outcome.fwd !== 'bypass') this.metrics.notStored.inc({ reason });
    // Only the response makes a URL uncacheable; one request's own headers (no-store,
    // Authorization) or a full fill budget must not switch collapsing off for everyone.
    if (!saysNothingOfTheResponse.has(reason)) this.fills.markPass(fill.key);
    this.fills.release(fill);
    fill.pass();
  }

  /** Ends a fill with a whole stored object (revalidated or stale-if-error). */
  private settle(
    fill: Fill,
    head: Extract<Parameters<Fill['setHead']>[0], { kind: 'object' }>,
    client: RequestContext | undefined,
  ): void {
    this.fills.release(fill);
    fill.setHead(head);
    if (!client) return;
    client.outcome.settled(head.how, head.status);
    client.upstreamMs = head.upstreamMs;
    this.serve(client, head.object, currentAge(head.object.meta, this.clock()));
  }
}
