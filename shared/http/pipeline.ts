// The proxy pipeline, used by the edge and the shield. Phases run in order and each ends by
// naming the next action (a Decision): route -> recv -> lookup (hit | stale | miss) -> fetch -> deliver.
// Errors from any phase end in respondError(), the one place a status is chosen for a failure.

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import type { StrataConfig } from '../config/config.js';
import { StrataError, catalog } from '../errors.js';
import type { Logger } from '../log.js';
import type { AccessLog } from '../access-log.js';
import type { Metrics } from '../metrics.js';
import { Fill, FillRegistry, type FillConsumer, type FillHead } from '../cache/fill.js';
import { completeObject, describeResponse, refreshObject } from '../cache/object.js';
import { cacheStatus, outcomeLabel, type CacheOutcome, type Forward } from '../cache/outcome.js';
import {
  currentAge,
  noRequestDirectives,
  requestDirectives,
  reuse,
  usableOnError,
  type PolicyOptions,
} from '../cache/policy.js';
import type { CacheStore, CachedObject, ObjectMeta } from '../cache/store.js';
import { absentValue, selectVariant, variantKey, varyValue } from '../cache/vary.js';
import type { RequestContext } from './context.js';
import { limitBody } from './body-limit.js';
import { Deliverer } from './deliver.js';
import { clientResponseHeaders } from './headers.js';
import type { Router, Site } from './router.js';
import { upstreamError, type UpstreamResponse } from './upstream.js';
import { UpstreamClient } from './upstream-client.js';
import { pump } from './pump.js';
import { maxStorableBytes } from '../cache/build-store.js';

/** What a phase decided to do next. */
export type Decision =
  { action: 'lookup' } | { action: 'pass'; fwd: Forward } | { action: 'respond'; error: StrataError };

export interface PipelineOptions {
  config: StrataConfig;
  router: Router;
  store: CacheStore;
  log: Logger;
  metrics: Metrics;
  scheme: 'http' | 'https';
  /** Injectable clock (ms since epoch) for tests; default Date.now. */
  clock?: () => number;
  /** Where one line per request goes; absent when the access log is off. */
  accessLog?: AccessLog;
}

// Decisions without data are shared constants: the hit path allocates none.
const lookupDecision: Decision = { action: 'lookup' };
const passMethod: Decision = { action: 'pass', fwd: 'method' };
const passBypass: Decision = { action: 'pass', fwd: 'bypass' };

/** RFC 9110 §9.2.1 safe methods; any other method's success invalidates (RFC 9111 §4.4). */
const safeMethods: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE']);
const idempotentMethods: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);
/** Client preconditions and ranges are answered by Strata, never forwarded on a fill. */
const fillStrips = [
  'if-none-match',
  'if-modified-since',
  'if-match',
  'if-unmodified-since',
  'if-range',
  'range',
];

export class Pipeline {
  private readonly config: StrataConfig;
  private readonly router: Router;
  private readonly store: CacheStore;
  private readonly log: Logger;
  private readonly metrics: Metrics;
  private readonly scheme: 'http' | 'https';
  private readonly clock: () => number;
  private readonly nodeId: string;
  private readonly via: string;
  private readonly policy: PolicyOptions;
  private readonly deliver: Deliverer;
  private readonly upstream: UpstreamClient;
  private readonly accessLog: AccessLog | undefined;
  /** Larger responses pass through uncached (the larger of the memory and disk limits). */
  private readonly maxStorableBytes: number;
  readonly fills: FillRegistry;
  private seq = 0;
  private readonly idPrefix = `${Date.now().toString(36)}-`;

  constructor(options: PipelineOptions) {
    this.config = options.config;
    this.router = options.router;
    this.store = options.store;
    this.log = options.log;
    this.metrics = options.metrics;
    this.scheme = options.scheme;
    this.clock = options.clock ?? Date.now;
    this.nodeId = options.config.node.id;
    this.via = `1.1 ${this.nodeId} (strata)`;
    this.policy = {
      heuristicFraction: options.config.cache.heuristicFraction,
      heuristicMaxSec: options.config.cache.heuristicMax / 1000,
    };
    this.deliver = new Deliverer(this.nodeId, this.via);
    this.upstream = new UpstreamClient({
      scheme: this.scheme,
      via: this.via,
      trustForwarded: options.config.proxy.trustForwarded,
      metrics: this.metrics,
      log: this.log,
      clock: this.clock,
    });
    this.accessLog = options.accessLog;
    this.maxStorableBytes = maxStorableBytes(options.config);
    this.fills = new FillRegistry(options.config.cache.hitForPass);
  }

  /** The request listener. Synchronous on the memory-hit path. */
  handle = (req: IncomingMessage, res: ServerResponse): void => {
    const ctx = this.context(req, res);
    try {
      const decision = this.route(ctx) ?? this.recv(ctx);
      if (decision.action === 'respond') this.respondError(ctx, decision.error);
      else if (decision.action === 'pass') this.run(ctx, this.pass(ctx, decision.fwd));
      else this.lookup(ctx);
    } catch (err) {
      this.respondError(ctx, StrataError.from(err));
    }
    // A response answered synchronously (a memory hit, a refusal) is accounted for now; any
    // other when it closes. Sparing hits a 'close' listener is worth 5% of a small hit.
    if (res.writableEnded) this.finish(ctx);
    else res.once('close', () => this.finish(ctx));
  };

  private context(req: IncomingMessage, res: ServerResponse): RequestContext {
    return {
      req,
      res,
      id: this.idPrefix + (++this.seq).toString(36),
      startMs: performance.now(),
      method: req.method ?? 'GET',
      site: undefined as unknown as Site,
      host: '',
      target: '',
      key: '',
      reqCc: noRequestDirectives,
      outcome: { hit: false },
      bytes: 0,
    };
  }

  /** Phase route: request-target form, limits, and the site for the host. */
  private route(ctx: RequestContext): Decision | undefined {
    const { req } = ctx;
    if (req.rawHeaders.length > this.config.server.maxHeaders * 2) {
      return {
        action: 'respond',
        error: new StrataError('REQUEST_HEADERS_TOO_LARGE', 'too many header fields'),
      };
    }
    const url = req.url ?? '';
    let host = req.headers.host;
    let target = url;
    let absolute = false;
    if (url.charCodeAt(0) !== 47 /* '/' */) {
      // RFC 9112 §3.2.2 absolute-form: the authority replaces Host. Only configured sites are
      // served this way: Strata is never an open forward proxy.
      const m = /^(https?):\/\/([^/?#]+)([^#]*)$/i.exec(url);
      if (!m)
        return { action: 'respond', error: new StrataError('REQUEST_INVALID', 'unsupported request target') };
      host = m[2];
      target = m[3] || '/';
      absolute = true;
    }
    ctx.target = target;
    if (!host) return { action: 'respond', error: new StrataError('REQUEST_INVALID', 'missing Host header') };
    // Set before the site check, so a refused host is in the access log.
    ctx.host = host;
    const site = this.router.route(host);
    if (!site)
      return { action: 'respond', error: new StrataError(absolute ? 'PROXY_REFUSED' : 'SITE_UNKNOWN') };
    ctx.site = site;
    ctx.key = site.key(this.scheme, host, target);
    return undefined;
  }

  /** Phase recv: GET and HEAD look up the cache; every other method passes to the origin. */
  private recv(ctx: RequestContext): Decision {
    const { req } = ctx;
    if (ctx.method !== 'GET' && ctx.method !== 'HEAD') return passMethod;
    const cl = req.headers['content-length'];
    if ((cl !== undefined && cl !== '0') || req.headers['transfer-encoding'] !== undefined) {
      return passBypass;
    }
    if (req.headers['cache-control'] !== undefined || req.headers.pragma !== undefined) {
      const cc = requestDirectives(req.headers);
      ctx.reqCc = ctx.site.config.ignoreClientNoCache ? { ...cc, noCache: false, maxAgeSec: undefined } : cc;
    }
    return lookupDecision;
  }

  /** Phase lookup: memory answers synchronously; slower tiers answer with a promise. */
  private lookup(ctx: RequestContext): void {
    const found = this.store.variants(ctx.key);
    if (found instanceof Promise) {
      this.run(
        ctx,
        found.then((v) => this.lookedUp(ctx, v)),
      );
    } else this.lookedUp(ctx, found);
  }

  private lookedUp(ctx: RequestContext, variants: readonly CachedObject[] | undefined): void {
    const object = variants && selectVariant(variants, ctx.req.headers);
    const reqCc = ctx.reqCc;
    if (object) {
      const age = currentAge(object.meta, this.clock());
      const use = reuse(object.meta, reqCc, age);
      if (use !== 'revalidate') {
        ctx.outcome.hit = true;
        if (use === 'stale-while-revalidate') {
          ctx.outcome.detail = 'stale-while-revalidate';
          this.revalidateInBackground(ctx, object);
        }
        this.serve(ctx, object, age);
        return;
      }
      if (reqCc.onlyIfCached) return this.respondError(ctx, new StrataError('ONLY_IF_CACHED_MISS'));
      ctx.outcome.fwd =
        reqCc.noCache || reqCc.maxAgeSec !== undefined || reqCc.minFreshSec ? 'request' : 'stale';
      return this.miss(ctx, object);
    }
    // RFC 9111 §5.2.1.7 only-if-cached: respond with a stored response or 504.
    if (reqCc.onlyIfCached) return this.respondError(ctx, new StrataError('ONLY_IF_CACHED_MISS'));
    ctx.outcome.fwd = variants ? 'vary-miss' : 'uri-miss';
    // A range of an object not stored goes upstream as it is; the partial response is not stored.
    if (ctx.req.headers.range !== undefined) return this.run(ctx, this.pass(ctx, ctx.outcome.fwd));
    this.miss(ctx, undefined);
  }

  /** Phase deliver for a stored object; a body found damaged before anything was sent becomes a miss. */
  private serve(ctx: RequestContext, object: CachedObject, ageSec: number): void {
    this.deliver.object(ctx, object, ageSec, this.unreadable);
  }

  /** Made once (not a closure per hit): a stored body found damaged before sending becomes a miss. */
  private readonly unreadable = (ctx: RequestContext, err: StrataError): void => {
    this.log.warn({ code: err.code, key: ctx.key, reqId: ctx.id }, 'stored body unreadable, fetching again');
    ctx.outcome = { hit: false, fwd: 'uri-miss' };
    this.miss(ctx, undefined);
  };

  /** Phase miss: joins the fill in progress for the key, or starts one. */
  private miss(ctx: RequestContext, stale: CachedObject | undefined): void {
    if (this.fills.isPass(ctx.key)) {
      ctx.outcome.fwd = 'bypass';
      ctx.outcome.detail = 'hit-for-pass';
      return this.run(ctx, this.fetch(ctx, new Fill(ctx.key), stale, ctx));
    }
    const existing = this.fills.get(ctx.key);
    if (existing) return this.run(ctx, this.join(ctx, existing, stale));
    this.run(ctx, this.fetch(ctx, this.fills.begin(ctx.key), stale, ctx));
  }

  /** A collapsed request: waits for another request's fill and streams from it. */
  private async join(ctx: RequestContext, fill: Fill, stale: CachedObject | undefined): Promise<void> {
    ctx.outcome.collapsed = true;
    this.metrics.collapsed.inc();
    let head: FillHead;
    try {
      head = await fill.head;
    } catch (err) {
      // The fill failed: this request may still have a stale object it is allowed to use.
      if (!stale || !usableOnError(stale.meta, ctx.reqCc, currentAge(stale.meta, this.clock()))) throw err;
      ctx.outcome.hit = true;
      ctx.outcome.detail = 'stale-if-error';
      return this.serve(ctx, stale, currentAge(stale.meta, this.clock()));
    }
    // A fill answers for one variant; a request for another goes upstream on its own.
    const meta = head.kind === 'object' ? head.object.meta : head.meta;
    if (!meta || (meta.vary.length > 0 && variantKey(ctx.req.headers, meta.vary) !== meta.variant)) {
      ctx.outcome.collapsed = false;
      return this.fetch(ctx, new Fill(ctx.key), stale, ctx);
    }
    if (head.kind === 'object') {
      ctx.outcome.fwdStatus = head.status || undefined;
      ctx.outcome.detail = head.how;
      ctx.outcome.hit = head.how === 'stale-if-error';
      return this.serve(ctx, head.object, currentAge(head.object.meta, this.clock()));
    }
    // Found too large to store after all: this request goes upstream on its own.
    if (!fill.joinable) {
      ctx.outcome.collapsed = false;
      return this.fetch(ctx, new Fill(ctx.key), stale, ctx);
    }
    ctx.outcome.fwdStatus = head.status;
    ctx.outcome.stored = true;
    ctx.upstreamMs = head.upstreamMs;
    this.attach(ctx, fill, this.deliver.stream(ctx, head.status, head.headers, ctx.outcome, meta), false);
  }

  /** RFC 5861 §3: one background revalidation per key while stale responses are served. */
  private revalidateInBackground(ctx: RequestContext, stale: CachedObject): void {
    if (this.fills.get(ctx.key)) return;
    this.fetch(ctx, this.fills.begin(ctx.key), stale, undefined).catch((err: unknown) => {
      this.log.warn({ err, key: ctx.key }, 'background revalidation failed');
    });
  }

  /**
   * Phase fetch: one upstream GET for a fill, conditional when a stale object is given.
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
    const headers = this.fillHeaders(ctx, stale);
    const requestTimeMs = this.clock();
    const sentAt = performance.now();
    let up: UpstreamResponse;
    try {
      up = await this.upstream.send(ctx.site, { method: 'GET', path: ctx.target, headers }, true);
    } catch (e) {
      const err = StrataError.from(e);
      if (stale && usableOnError(stale.meta, reqCc, currentAge(stale.meta, this.clock()))) {
        this.log.warn({ code: err.code, key: ctx.key, reqId: ctx.id }, 'origin failed, serving stale');
        return this.settle(
          fill,
          { kind: 'object', object: stale, how: 'stale-if-error', status: 0, upstreamMs: 0 },
          client,
        );
      }
      this.fills.release(fill);
      fill.fail(err);
      throw err;
    }
    const responseTimeMs = this.clock();
    const upstreamMs = this.upstream.observe(ctx, up.status, sentAt);
    if (stale && up.status === 304) {
      up.body.resume();
      const object = refreshObject(
        stale,
        { headers: up.headers, requestHeaders: ctx.req.headers, requestTimeMs, responseTimeMs },
        this.policy,
      );
      this.store
        .updateMeta(object.meta)
        .catch((err: unknown) => this.log.error({ err, key: ctx.key }, 'store update failed'));
      return this.settle(
        fill,
        { kind: 'object', object, how: 'revalidated', status: 304, upstreamMs },
        client,
      );
    }
    if (
      stale &&
      up.status >= 500 &&
      usableOnError(stale.meta, reqCc, currentAge(stale.meta, responseTimeMs))
    ) {
      up.body.resume();
      return this.settle(
        fill,
        { kind: 'object', object: stale, how: 'stale-if-error', status: up.status, upstreamMs },
        client,
      );
    }
    const described = describeResponse(
      {
        key: ctx.key,
        requestHeaders: ctx.req.headers,
        requestNoStore: reqCc.noStore,
        status: up.status,
        headers: up.headers,
        requestTimeMs,
        responseTimeMs,
      },
      this.policy,
      this.maxStorableBytes,
    );
    const meta = described.meta;
    if (described.reason) this.notCacheable(fill, described.reason);
    else this.fills.clearPass(ctx.key);
    const clientHeaders = clientResponseHeaders(up.headers);
    fill.setHead({
      kind: 'stream',
      status: up.status,
      headers: clientHeaders,
      meta,
      noStore: described.reason,
      upstreamMs,
    });
    if (client) {
      client.outcome.fwdStatus = up.status;
      client.outcome.stored = meta !== undefined;
      if (described.reason) client.outcome.detail ??= described.reason;
      this.attach(
        client,
        fill,
        this.deliver.stream(client, up.status, clientHeaders, client.outcome, meta),
        true,
      );
    }
    await this.fillBody(ctx, fill, up, meta);
  }

  /** The upstream request headers of a fill: conditional when revalidating `stale`. */
  private fillHeaders(ctx: RequestContext, stale: CachedObject | undefined): Record<string, string> {
    const headers = this.upstream.headers(ctx);
    for (const name of fillStrips) delete headers[name];
    // The origin is asked for exactly the coding the variant key stands for, so what is
    // stored under a key is what every request with that key accepts (see vary.ts).
    headers['accept-encoding'] = varyValue(ctx.req.headers, 'accept-encoding').replace(
      absentValue,
      'identity',
    );
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
    ctx.res.once('close', () => fill.unsubscribe(consumer));
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
    try {
      await pump(up.body, (chunk) => {
        size += chunk.length;
        if (meta && size > this.maxStorableBytes) {
          meta = undefined;
          this.notCacheable(fill, 'too-large');
        }
        // Nobody to send it to and nothing to store: stop reading.
        if (!meta && !fill.hasConsumers) return false;
        return fill.push(chunk);
      });
    } catch (e) {
      // An aborted upstream body is never stored; clients see a cut connection.
      const err = upstreamError(e, up.origin);
      this.metrics.upstreamErrors.inc({ code: err.code });
      this.fills.release(fill);
      fill.fail(err);
      this.log.warn({ code: err.code, key: ctx.key, reqId: ctx.id, peer: up.origin }, 'upstream body failed');
      return;
    }
    const body = fill.finish(this.config.cache.memory.maxObjectBytes);
    this.fills.release(fill);
    if (meta && body) {
      this.store
        .put(completeObject(meta, body))
        .catch((err: unknown) => this.log.error({ err, key: ctx.key }, 'store put failed'));
    }
  }

  /** Records why a response is not stored; the key skips collapsing for a while. */
  private notCacheable(fill: Fill, reason: NonNullable<CacheOutcome['detail']>): void {
    this.metrics.notStored.inc({ reason });
    // Only the response makes a URL uncacheable; one request's own headers (no-store,
    // Authorization) must not switch collapsing off for everyone.
    if (reason !== 'request-no-store' && reason !== 'authorization') this.fills.markPass(fill.key);
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
    client.outcome.fwdStatus = head.status || undefined;
    client.outcome.detail = head.how;
    client.outcome.hit = head.how === 'stale-if-error';
    client.upstreamMs = head.upstreamMs;
    this.serve(client, head.object, currentAge(head.object.meta, this.clock()));
  }

  /** Phase pass: forwards the request as it is (with its body) and streams the answer back. */
  private async pass(ctx: RequestContext, fwd: Forward): Promise<void> {
    ctx.outcome.fwd = fwd;
    const { req } = ctx;
    const headers = this.upstream.headers(ctx);
    const hasBody =
      req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;
    let body: Readable | null = null;
    if (hasBody) {
      const length = Number(req.headers['content-length'] ?? 0);
      if (length > this.config.server.maxBodyBytes) throw new StrataError('REQUEST_BODY_TOO_LARGE');
      body = limitBody(req, this.config.server.maxBodyBytes);
    }
    // A client that leaves before the answer cancels the upstream request (a fill, in contrast,
    // carries on for the cache).
    const abort = new AbortController();
    const onClose = () => {
      if (!ctx.res.writableFinished) abort.abort();
    };
    ctx.res.once('close', onClose);
    const sentAt = performance.now();
    const up = await this.upstream.send(
      ctx.site,
      { method: ctx.method, path: ctx.target, headers, body, signal: abort.signal },
      idempotentMethods.has(ctx.method) && !hasBody,
    );
    this.upstream.observe(ctx, up.status, sentAt);
    ctx.outcome.fwdStatus = up.status;
    // RFC 9111 §4.4: a cache MUST invalidate the target URI when it receives a non-error status
    // code in response to an unsafe request method; it MAY invalidate Location and Content-Location.
    if (!safeMethods.has(ctx.method) && up.status < 400) this.invalidate(ctx, up.headers);
    const consumer = this.deliver.stream(ctx, up.status, clientResponseHeaders(up.headers), ctx.outcome);
    if (!consumer) {
      up.body.resume();
      return;
    }
    try {
      await pump(up.body, (chunk) => !ctx.res.destroyed && (consumer.write(chunk) || consumer.drained()));
      consumer.end();
    } catch (e) {
      consumer.fail(StrataError.from(e));
    }
  }

  private invalidate(ctx: RequestContext, headers: UpstreamResponse['headers']): void {
    const keys = new Set([ctx.key]);
    const base = `${this.scheme}://${ctx.host}${ctx.target}`;
    for (const name of ['location', 'content-location'] as const) {
      const value = headers[name];
      if (typeof value !== 'string') continue;
      try {
        const url = new URL(value, base);
        // Only same-origin URIs, to keep one origin from purging another's objects.
        if (url.origin === new URL(base).origin)
          keys.add(ctx.site.key(this.scheme, ctx.host, url.pathname + url.search));
      } catch {
        // An unparseable Location names nothing we store.
      }
    }
    for (const key of keys) {
      // A fill already running fetched what this request just changed: it must not be stored.
      const running = this.fills.get(key);
      if (running) {
        this.fills.release(running);
        running.pass();
      }
      this.store.purge({ kind: 'url', key }, false).then(
        (n) => this.metrics.invalidations.inc(n),
        (err: unknown) => this.log.error({ err, key }, 'invalidation failed'),
      );
    }
  }

  /** Runs an async phase; its failure ends the request through respondError. */
  private run(ctx: RequestContext, work: Promise<void>): void {
    work.catch((err: unknown) => this.respondError(ctx, StrataError.from(err)));
  }

  /** The one place a failure becomes a status: short text body with the request id. */
  private respondError(ctx: RequestContext, err: StrataError): void {
    const { res } = ctx;
    if (err.source !== 'downstream')
      this.log.warn({ code: err.code, reqId: ctx.id, key: ctx.key, err: err.message }, 'request failed');
    if (res.headersSent || res.destroyed) {
      res.destroy();
      return;
    }
    // A client's own mistake is explained to it; for anything else it gets the catalog's words
    // and the detail (origin addresses, library messages) stays in the log.
    const message = err.source === 'downstream' ? err.message : catalog[err.code].message;
    const body = `${err.status} ${message}\nrequest id: ${ctx.id}\n`;
    ctx.outcome.fwd ??= 'bypass';
    ctx.outcome.detail = undefined;
    const headers: Record<string, string | number> = {
      'content-type': 'text/plain; charset=utf-8',
      'content-length': Buffer.byteLength(body),
      'cache-control': 'no-store',
      'cache-status': cacheStatus(this.nodeId, ctx.outcome),
      'x-request-id': ctx.id,
      via: this.via,
    };
    // A request body left unread (say, over the size limit) is not worth reading: close instead.
    if (!ctx.req.complete) headers.connection = 'close';
    res.writeHead(err.status === 499 ? 400 : err.status, headers);
    res.end(ctx.method === 'HEAD' ? undefined : body);
  }

  /** Runs when the response is done or the client went away: metrics and the access log. */
  private finish(ctx: RequestContext): void {
    // A client that left before any response is counted as 499 (nginx's "client closed request").
    const status = ctx.res.headersSent ? ctx.res.statusCode : 499;
    const label = outcomeLabel(ctx.outcome);
    this.metrics.countRequest(label, status, ctx.bytes);
    this.accessLog?.record(ctx, status, label);
  }
}
