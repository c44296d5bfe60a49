// The proxy pipeline, used by every role. Phases run in order and each ends by naming the next
// action (a Decision, phases.ts): route -> filter -> recv -> lookup (hit | stale | miss) -> fetch
// -> deliver.
// Misses and fills are FillFlow's (fill-flow.ts); talking to origins is UpstreamClient's.
// Errors from any phase end in respondError(), the one place a status is chosen for a failure.

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import type { StrataConfig } from '../config/config.js';
import { StrataError, catalog } from '../errors.js';
import type { Logger } from '../log.js';
import type { AccessLog } from '../access-log.js';
import type { Metrics } from '../metrics.js';
import { maxStorableBytes } from '../cache/build-store.js';
import { FillRegistry } from '../cache/fill.js';
import { Outcome, cacheStatus } from '../cache/outcome.js';
import {
  currentAge,
  noRequestDirectives,
  requestDirectives,
  reuse,
  type PolicyOptions,
} from '../cache/policy.js';
import type { CacheStore, CachedObject } from '../cache/store.js';
import { selectVariant } from '../cache/vary.js';
import { limitBody } from './body-limit.js';
import type { ListenerInfo, RequestContext } from './context.js';
import { Deliverer, upstreamFields } from './deliver.js';
import { FillFlow } from './fill-flow.js';
import type { Router, Site } from './router.js';
import type { UpstreamResponse } from './upstream.js';
import type { UpstreamClient } from './upstream-client.js';
import { healthPath } from './upstreams.js';
import { interimTo } from './interim.js';
import {
  healthy,
  lookupDecision,
  passBypass,
  passMethod,
  unhealthy,
  type Decision,
  type RequestFilter,
} from './phases.js';
import type { HopTrust } from './trust.js';

export interface PipelineOptions {
  config: StrataConfig;
  router: Router;
  store: CacheStore;
  log: Logger;
  metrics: Metrics;
  /** How requests reach the upstream peers. */
  upstream: UpstreamClient;
  /** Whether the node is ready (the health answer on the proxy listener). */
  ready: () => boolean;
  /** Which previous hops are trusted (proxy.trustForwarded, proxy.trustedProxies). */
  trust: HopTrust;
  /** Checks after route and before recv, in order (phases.ts); default none. */
  filters?: readonly RequestFilter[];
  /** Injectable clock (ms since epoch) for tests; default Date.now. */
  clock?: () => number;
  /** Where one line per request goes; absent when the access log is off. */
  accessLog?: AccessLog;
  /** Lowercase names of response fields never sent downstream (Strata's own targeted field on an edge). */
  hiddenFields?: readonly string[];
  /** Whether the heap is near its limit (shared/heap.ts): fills are then not stored. */
  heapTight?: () => boolean;
  /** WebSocket upgrades (websocket.ts): recv's decision for them, and the pipe phase. */
  websocket?: {
    decide(ctx: RequestContext): Decision | undefined;
    pipe(ctx: RequestContext): Promise<void>;
  };
}

/** RFC 9110 §9.2.1 safe methods; any other method's success invalidates (RFC 9111 §4.4). */
const safeMethods: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE']);
const idempotentMethods: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);

export class Pipeline {
  private readonly config: StrataConfig;
  private readonly router: Router;
  private readonly store: CacheStore;
  private readonly log: Logger;
  private readonly metrics: Metrics;
  private readonly ready: () => boolean;
  private readonly filters: readonly RequestFilter[];
  private readonly clock: () => number;
  private readonly nodeId: string;
  private readonly via: string;
  private readonly policy: PolicyOptions;
  private readonly deliver: Deliverer;
  private readonly upstream: UpstreamClient;
  private readonly accessLog: AccessLog | undefined;
  private readonly websocket: PipelineOptions['websocket'];
  /** Misses, fills and serving stored objects. */
  private readonly flow: FillFlow;
  readonly fills: FillRegistry;
  private seq = 0;
  private readonly idPrefix = `${Date.now().toString(36)}-`;
  /** Which hops' X-Request-Id is taken as the request's id (proxy.trustForwarded, trustedProxies). */
  private readonly trust: HopTrust;

  constructor(options: PipelineOptions) {
    this.config = options.config;
    this.router = options.router;
    this.store = options.store;
    this.log = options.log;
    this.metrics = options.metrics;
    this.ready = options.ready;
    this.filters = options.filters ?? [];
    this.clock = options.clock ?? Date.now;
    this.trust = options.trust;
    this.nodeId = options.config.node.id;
    this.via = `1.1 ${this.nodeId} (strata)`;
    this.policy = {
      heuristicFraction: options.config.cache.heuristicFraction,
      heuristicMaxSec: options.config.cache.heuristicMax / 1000,
      targetedField: options.config.cache.targetedField?.toLowerCase(),
    };
    this.deliver = new Deliverer(this.nodeId, this.via, options.hiddenFields);
    this.upstream = options.upstream;
    this.accessLog = options.accessLog;
    this.websocket = options.websocket;
    this.fills = new FillRegistry(options.config.cache.hitForPass);
    this.flow = new FillFlow({
      fills: this.fills,
      store: this.store,
      deliver: this.deliver,
      upstream: this.upstream,
      policy: this.policy,
      metrics: this.metrics,
      log: this.log,
      clock: this.clock,
      maxStorableBytes: maxStorableBytes(options.config),
      memoryMaxObjectBytes: options.config.cache.memory.maxObjectBytes,
      maxFillBytes: options.config.cache.maxFillBytes,
      heapTight: options.heapTight,
      run: (ctx, work) => this.run(ctx, work),
    });
    this.metrics.countFillBytes(() => this.flow.bytesInFills);
  }

  /** The request listener of every listener (it says which). Synchronous on the memory-hit path. */
  handle = (req: IncomingMessage, res: ServerResponse, listener: ListenerInfo): void => {
    const ctx = this.context(req, res, listener);
    try {
      // A sibling worker's fill went through that worker's filters already.
      const decision = this.route(ctx) ?? (ctx.listener.hop ? undefined : this.filter(ctx)) ?? this.recv(ctx);
      switch (decision.action) {
        case 'lookup':
          this.lookup(ctx);
          break;
        case 'pass':
          ctx.outcome.pass(decision.fwd);
          this.run(ctx, this.pass(ctx));
          break;
        case 'pipe':
          // A tunnel is never looked up or stored.
          ctx.outcome.pass('bypass');
          this.run(ctx, this.websocket!.pipe(ctx));
          break;
        case 'respond':
          this.respondError(ctx, decision.error);
          break;
        case 'synth':
          this.synth(ctx, decision.status, decision.body, decision.fields);
          // Health probes (every edge, every probeInterval) are not client traffic: kept out
          // of the access log and the request metrics, as the admin /healthz is.
          if (decision.probe) return;
      }
    } catch (err) {
      this.respondError(ctx, StrataError.from(err));
    }
    // A response answered synchronously (a memory hit, a refusal) is accounted for now; any
    // other when it closes. Sparing hits a 'close' listener is worth 5% of a small hit.
    if (res.writableEnded) this.finish(ctx);
    else
      res.once('close', () => {
        ctx.onClose?.();
        this.finish(ctx);
      });
  };

  private context(req: IncomingMessage, res: ServerResponse, listener: ListenerInfo): RequestContext {
    return {
      req,
      res,
      listener,
      scheme: listener.scheme,
      id:
        ((listener.hop || (this.trust.any && this.trust.trusts(req.socket.remoteAddress))) &&
          trustedRequestId(req)) ||
        this.idPrefix + (++this.seq).toString(36),
      startMs: performance.now(),
      method: req.method ?? 'GET',
      site: undefined as unknown as Site,
      host: '',
      target: '',
      key: '',
      reqCc: noRequestDirectives,
      outcome: new Outcome(),
      bytes: 0,
      addFields: undefined,
    };
  }

  /** Phase route: request-target form, limits, loops, the node's own health path, and the site for the host. */
  private route(ctx: RequestContext): Decision | undefined {
    const { req } = ctx;
    const url = req.url ?? '';
    // What the client asked for, as sent, so that every refusal's access-log line names it;
    // an absolute-form target is split into its authority and path below.
    ctx.host = req.headers.host ?? '';
    ctx.target = url;
    if (req.rawHeaders.length > this.config.server.maxHeaders * 2) {
      return {
        action: 'respond',
        error: new StrataError('REQUEST_HEADERS_TOO_LARGE', 'too many header fields'),
      };
    }
    const loop = req.headers['cdn-loop'];
    // A sibling worker's fill carries this node's entry, added by that worker.
    if (loop !== undefined && !ctx.listener.hop && listsNode(String(loop), this.nodeId)) {
      this.log.warn({ reqId: ctx.id, cdnLoop: loop, host: req.headers.host }, 'request loop refused');
      return { action: 'respond', error: new StrataError('LOOP_DETECTED') };
    }
    if (url === healthPath) {
      return this.ready() ? healthy : unhealthy;
    }
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
      // RFC 9112 §3.2.1: an empty path is "/", also before a query ("http://h?q" is "/?q").
      target = m[3].startsWith('/') ? m[3] : `/${m[3]}`;
      absolute = true;
    }
    ctx.target = target;
    if (!host) return { action: 'respond', error: new StrataError('REQUEST_INVALID', 'missing Host header') };
    ctx.host = host;
    const site = this.router.route(host);
    if (!site)
      return { action: 'respond', error: new StrataError(absolute ? 'PROXY_REFUSED' : 'SITE_UNKNOWN') };
    ctx.site = site;
    ctx.key = site.key(ctx.scheme, host, target);
    return undefined;
  }

  /** Phase filter: the first request filter with a decision ends the chain. */
  private filter(ctx: RequestContext): Decision | undefined {
    for (let i = 0; i < this.filters.length; i++) {
      const decision = this.filters[i].onRequest(ctx);
      if (decision) return decision;
    }
    return undefined;
  }

  /** Phase recv: GET and HEAD look up the cache; every other method passes to the origin. */
  private recv(ctx: RequestContext): Decision {
    const { req } = ctx;
    // A request that may have asked to switch protocols (websocket.ts tells).
    if (req.headers.upgrade !== undefined && this.websocket) {
      const decision = this.websocket.decide(ctx);
      if (decision) return decision;
    }
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
      const use = reuse(object.meta, reqCc, age, ctx.site.config.staleWhileRevalidate / 1000);
      if (use !== 'revalidate') {
        if (use === 'stale-while-revalidate') {
          ctx.outcome.staleWhileRevalidate();
          this.flow.revalidateInBackground(ctx, object);
        } else ctx.outcome.hitFresh();
        this.flow.serve(ctx, object, age);
        return;
      }
      if (reqCc.onlyIfCached) return this.respondError(ctx, new StrataError('ONLY_IF_CACHED_MISS'));
      ctx.outcome.forward(
        reqCc.noCache || reqCc.maxAgeSec !== undefined || reqCc.minFreshSec ? 'request' : 'stale',
      );
      return this.flow.miss(ctx, object);
    }
    // RFC 9111 §5.2.1.7 only-if-cached: respond with a stored response or 504.
    if (reqCc.onlyIfCached) return this.respondError(ctx, new StrataError('ONLY_IF_CACHED_MISS'));
    ctx.outcome.forward(variants ? 'vary-miss' : 'uri-miss');
    // A range of an object not stored goes upstream as it is; the partial response is not stored.
    if (ctx.req.headers.range !== undefined) return this.run(ctx, this.pass(ctx));
    this.flow.miss(ctx, undefined);
  }

  /** Phase pass: forwards the request as it is (with its body) and streams the answer back. */
  private async pass(ctx: RequestContext): Promise<void> {
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
    // carries on for the cache). Its FIN before the answer counts as leaving here, as in Node's
    // default: a half-closed client looks the same, but a pass holds an upstream request for
    // this one client (the listener keeps half-closed connections open for hits and misses).
    const abort = new AbortController();
    const fin = (): void => {
      if (!ctx.res.headersSent) ctx.res.destroy();
    };
    req.socket.once('end', fin);
    ctx.onClose = () => {
      req.socket.off('end', fin);
      if (!ctx.res.writableFinished) abort.abort();
    };
    const sentAt = performance.now();
    const up = await this.upstream.send(
      ctx,
      {
        method: ctx.method,
        path: ctx.target,
        headers,
        body,
        signal: abort.signal,
        onInterim: interimTo(ctx),
      },
      idempotentMethods.has(ctx.method) && !hasBody,
    );
    this.upstream.observe(ctx, up.status, sentAt);
    ctx.outcome.answered(up.status, false);
    // RFC 9111 §4.4: a cache MUST invalidate the target URI when it receives a non-error status
    // code in response to an unsafe request method; it MAY invalidate Location and Content-Location.
    if (!safeMethods.has(ctx.method) && up.status < 400) this.invalidate(ctx, up.headers);
    const consumer = this.deliver.stream(ctx, up.status, upstreamFields(up.headers), ctx.outcome);
    if (!consumer) {
      up.body.discard();
      return;
    }
    try {
      await up.body.read((chunk) => !ctx.res.destroyed && (consumer.write(chunk) || consumer.drained()));
      consumer.end();
    } catch (e) {
      consumer.fail(StrataError.from(e));
    }
  }

  private invalidate(ctx: RequestContext, headers: UpstreamResponse['headers']): void {
    const keys = new Set([ctx.key]);
    const base = `${ctx.scheme}://${ctx.host}${ctx.target}`;
    for (const name of ['location', 'content-location'] as const) {
      const value = headers[name];
      if (typeof value !== 'string') continue;
      try {
        const url = new URL(value, base);
        // Only same-origin URIs, to keep one origin from purging another's objects.
        if (url.origin === new URL(base).origin)
          keys.add(ctx.site.key(ctx.scheme, ctx.host, url.pathname + url.search));
      } catch {
        // An unparseable Location names nothing we store.
      }
    }
    for (const key of keys) {
      this.fills.invalidate(key);
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
    ctx.outcome.madeHere();
    const headers = this.madeHere(ctx, body);
    // Which failure this was, for the tier below (an edge tells a shield's own faults from its
    // origin's by it) and for operators.
    headers['strata-error'] = err.code;
    res.writeHead(err.status === 499 ? 400 : err.status, headers);
    res.end(ctx.method === 'HEAD' ? undefined : body);
  }

  /** Answers with a response made here (the health path, a redirect to HTTPS). */
  private synth(ctx: RequestContext, status: number, body: string, fields?: Record<string, string>): void {
    ctx.outcome.madeHere();
    const headers = this.madeHere(ctx, body);
    ctx.res.writeHead(status, fields ? { ...headers, ...fields } : headers);
    ctx.res.end(ctx.method === 'HEAD' ? undefined : body);
  }

  /** The fields of a short text response made by this node, never stored by anyone. */
  private madeHere(ctx: RequestContext, body: string): Record<string, string | number> {
    const headers: Record<string, string | number> = {
      'content-type': 'text/plain; charset=utf-8',
      'content-length': Buffer.byteLength(body),
      'cache-control': 'no-store',
      'cache-status': cacheStatus(this.nodeId, ctx.outcome),
      'x-request-id': ctx.id,
      via: this.via,
    };
    const added = ctx.addFields;
    if (added) for (let i = 0; i < added.length; i += 2) headers[added[i]] = added[i + 1];
    // A request body left unread (say, over the size limit) is not worth reading: close instead
    // (HTTP/1.1; HTTP/2 has no Connection field, and resets the stream's unread body).
    if (!ctx.req.complete && ctx.req.httpVersionMajor < 2) headers.connection = 'close';
    return headers;
  }

  /** Runs when the response is done or the client went away: metrics and the access log. */
  private finish(ctx: RequestContext): void {
    // A client that left before any response is counted as 499 (nginx's "client closed request").
    const status = ctx.res.headersSent ? ctx.res.statusCode : 499;
    const label = ctx.outcome.label;
    // A sibling worker's fill is its client's request, counted and logged by that worker.
    if (ctx.listener.hop) return void this.metrics.siblingFills.inc({ outcome: label });
    this.metrics.countRequest(label, status, ctx.bytes);
    this.accessLog?.record(ctx, status, label);
  }
}

/**
 * An X-Request-Id from a trusted hop (a load balancer, another Strata tier), so that one id
 * follows the request through every log. Only ids safe to log and forward as they are.
 */
const requestIdPattern = /^[A-Za-z0-9._~:+/=-]{1,128}$/;

/** RFC 8586 §2: whether a CDN-Loop value lists `id` (each entry is cdn-id, then parameters). */
function listsNode(value: string, id: string): boolean {
  for (const entry of value.split(',')) {
    const semi = entry.indexOf(';');
    if ((semi === -1 ? entry : entry.slice(0, semi)).trim().toLowerCase() === id.toLowerCase()) return true;
  }
  return false;
}

function trustedRequestId(req: IncomingMessage): string | undefined {
  const id = req.headers['x-request-id'];
  return typeof id === 'string' && requestIdPattern.test(id) ? id : undefined;
}
