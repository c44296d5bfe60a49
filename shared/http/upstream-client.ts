// UpstreamClient: how the pipeline talks to its peers (shields, origins): the request headers
// it sends, walking the site's candidates while a failure is retryable (within
// upstream.attempts), the peers' passive health, and timing.

import { StrataError, catalog, type ErrorCode } from '../errors.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import { surrogateDevice } from '../cache/policy.js';
import type { RequestContext } from './context.js';
import { isPeerFault } from './health.js';
import { addVary, hopRequestHeaders, upstreamRequestHeaders } from './headers.js';
import { hopSchemeField, type Siblings } from '../cluster/siblings.js';
import type { HopTrust } from './trust.js';
import type { Peer, UpstreamRequest, UpstreamResponse } from './upstream.js';

const surrogateCapability = `${surrogateDevice}="Surrogate/1.0"`;

export interface UpstreamClientOptions {
  /** This node's id: its Via name and its CDN-Loop entry. */
  nodeId: string;
  /** This node's Via value, e.g. `1.1 edge-1 (strata)`. */
  via: string;
  trust: HopTrust;
  /** Most peers one request tries (upstream.attempts). */
  attempts: number;
  metrics: Metrics;
  /** Counts a request sent to the next candidate after `kind` failed. */
  retried(kind: Peer['kind']): void;
  log: Logger;
  /** In a worker of a node with several: the workers that own other keys. */
  siblings?: Siblings;
}

export class UpstreamClient {
  constructor(private readonly options: UpstreamClientOptions) {}

  /** The request headers sent upstream for a client request (hop-by-hop removed, forwarding added). */
  headers(ctx: RequestContext): Record<string, string> {
    const { req } = ctx;
    // A sibling worker sent what it would have sent upstream: passed on as it is.
    if (ctx.listener.hop) return hopRequestHeaders(req.rawHeaders, ctx.host, hopSchemeField);
    const headers = upstreamRequestHeaders(req.rawHeaders, {
      clientIp: req.socket.remoteAddress ?? '',
      proto: ctx.scheme,
      host: ctx.host,
      trustForwarded: this.options.trust.any && this.options.trust.trusts(req.socket.remoteAddress),
      via: this.options.via,
      cdnLoop: this.options.nodeId,
      allowedOverride: ctx.site.config.allowOverrideField?.toLowerCase(),
    });
    // The id of the request's access-log line and error responses, for the origin's logs.
    headers['x-request-id'] = ctx.id;
    // Edge Architecture 1.0: announce Strata as a surrogate so origins can target it.
    const prior = headers['surrogate-capability'];
    headers['surrogate-capability'] = prior ? `${prior}, ${surrogateCapability}` : surrogateCapability;
    return headers;
  }

  /**
   * Sends to the site's candidates in order. The next one is tried when a peer failed before
   * the request could have been processed (a retryable error, or a shield's own 5xx) and
   * `retryable` allows it (nothing streamed from the client's body). A fill (`fill`) of a key
   * another worker of this node owns asks that worker first (siblings.ts); that hop is not one
   * of upstream.attempts.
   */
  async send(
    ctx: RequestContext,
    request: UpstreamRequest,
    retryable: boolean,
    fill = false,
  ): Promise<UpstreamResponse> {
    // Peer health runs on wall-clock time, not the cache's clock (which tests move by hand).
    const now = Date.now();
    let candidates = ctx.site.upstream.candidates(ctx.key, now);
    if (candidates.length === 0) throw new StrataError('SHIELD_UNAVAILABLE');
    let last = Math.min(this.options.attempts, candidates.length) - 1;
    const owner = fill ? this.options.siblings?.fillFrom(ctx.key, ctx.listener.hop === true) : undefined;
    if (owner?.health.usable(now)) {
      candidates = [owner, ...candidates];
      last++;
    }
    for (let i = 0; ; i++) {
      const peer = candidates[i];
      // A shield routes by the client's Host; an origin gets the site's originHost when set.
      request.headers.host = (peer.kind === 'origin' && ctx.site.config.originHost) || ctx.host;
      if (peer.kind === 'worker') request.headers[hopSchemeField] = ctx.scheme;
      else delete request.headers[hopSchemeField];
      let up: UpstreamResponse;
      try {
        up = await peer.request(request);
      } catch (e) {
        const err = StrataError.from(e);
        // A client leaving, or its body over the limit, is not the peer's fault.
        if (err.source === 'upstream') this.options.metrics.upstreamErrors.inc({ code: err.code });
        if (isPeerFault(err)) peer.health.failed(Date.now());
        // A sibling that failed before answering a fill (a GET) leaves nothing half done.
        const retry = err.retry || (peer.kind === 'worker' && err.source === 'upstream');
        if (retry && retryable && i < last) {
          this.tryNext(peer, err.code, ctx);
          continue;
        }
        // The walk ends at a shield that was never reached: say so, not "the origin".
        if (err.retry && peer.kind === 'shield')
          throw new StrataError('SHIELD_UNAVAILABLE', undefined, { peer: peer.url }, err);
        throw err;
      }
      // A worker handing over has only what it stored (siblings.ts): the rest comes from upstream.
      if (peer.kind === 'worker' && up.headers['strata-error'] === 'ONLY_IF_CACHED_MISS') {
        up.body.discard();
        continue;
      }
      const fault = peer.kind === 'origin' ? undefined : nodeFault(up);
      if (!fault) {
        peer.health.succeeded();
        if (peer.kind === 'worker') takeSiblingStatus(up);
        // The override field the site lets through changes what the origin serves: its value
        // selects the stored variant, as if the origin had said so in Vary.
        const allowed = ctx.site.config.allowOverrideField;
        if (allowed) addVary(up.headers, allowed.toLowerCase());
        return up;
      }
      peer.health.failed(Date.now());
      if (!retryable || i >= last) return up;
      up.body.discard();
      this.tryNext(peer, fault, ctx);
    }
  }

  private tryNext(peer: Peer, code: ErrorCode, ctx: RequestContext): void {
    this.options.retried(peer.kind);
    this.options.log.warn(
      { code, peer: peer.url, kind: peer.kind, reqId: ctx.id },
      `${peer.kind} failed, trying next candidate`,
    );
  }

  /** Records the time to upstream headers (a duration: monotonic clock, not the cache clock). */
  observe(ctx: RequestContext, status: number, sentAt: number): number {
    const ms = performance.now() - sentAt;
    ctx.upstreamMs = ms;
    this.options.metrics.observeUpstream(status, ms / 1000);
    return ms;
  }
}

/**
 * The code of a 5xx a Strata node (a shield, a sibling worker) made because it is unwell itself
 * (Strata-Error names an internal failure), or undefined: a node passing on its origin's
 * failure, or answering 502/504 for it, is healthy, and another would meet the same origin.
 */
function nodeFault(up: UpstreamResponse): ErrorCode | undefined {
  if (up.status < 500) return undefined;
  const code = up.headers['strata-error'];
  if (typeof code !== 'string' || !Object.hasOwn(catalog, code)) return undefined;
  return catalog[code as ErrorCode].source === 'internal' ? (code as ErrorCode) : undefined;
}

/** Moves the last Cache-Status member (the sibling worker's own) to up.siblingStatus. */
function takeSiblingStatus(up: UpstreamResponse): void {
  const status = up.headers['cache-status'];
  const text = Array.isArray(status) ? status.join(', ') : status;
  if (text === undefined) return;
  const comma = text.lastIndexOf(',');
  up.siblingStatus = text.slice(comma + 1).trim();
  if (comma === -1) delete up.headers['cache-status'];
  else up.headers['cache-status'] = text.slice(0, comma).trim();
}
