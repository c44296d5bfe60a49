// UpstreamClient: how the pipeline talks to origins: the request headers it sends, sending with
// one retry on another origin when the connection failed before anything was sent, and timing.

import { StrataError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import { surrogateDevice } from '../cache/policy.js';
import type { RequestContext } from './context.js';
import { upstreamRequestHeaders } from './headers.js';
import type { Site } from './router.js';
import type { UpstreamRequest, UpstreamResponse } from './upstream.js';

const surrogateCapability = `${surrogateDevice}="Surrogate/1.0"`;

export interface UpstreamClientOptions {
  scheme: 'http' | 'https';
  /** This node's Via value, e.g. `1.1 edge-1 (strata)`. */
  via: string;
  trustForwarded: boolean;
  metrics: Metrics;
  log: Logger;
  clock: () => number;
}

export class UpstreamClient {
  constructor(private readonly options: UpstreamClientOptions) {}

  /** The request headers sent upstream for a client request (hop-by-hop removed, forwarding added). */
  headers(ctx: RequestContext): Record<string, string> {
    const headers = upstreamRequestHeaders(ctx.req.rawHeaders, {
      clientIp: ctx.req.socket.remoteAddress ?? '',
      proto: this.options.scheme,
      host: ctx.host,
      trustForwarded: this.options.trustForwarded,
      via: this.options.via,
      originHost: ctx.site.config.originHost,
    });
    // The id of the request's access-log line and error responses, for the origin's logs.
    headers['x-request-id'] = ctx.id;
    // Edge Architecture 1.0: announce Strata as a surrogate so origins can target it.
    const prior = headers['surrogate-capability'];
    headers['surrogate-capability'] = prior ? `${prior}, ${surrogateCapability}` : surrogateCapability;
    return headers;
  }

  /** Sends upstream, trying the next origin once when the connection failed before anything was sent. */
  async send(site: Site, request: UpstreamRequest, retryable: boolean): Promise<UpstreamResponse> {
    const now = this.options.clock();
    const candidates = site.origins.candidates(now);
    for (let i = 0; ; i++) {
      try {
        return await candidates[i].request(request);
      } catch (e) {
        const err = StrataError.from(e);
        // A client leaving, or its body over the limit, is not the origin's fault.
        if (err.source === 'upstream') this.options.metrics.upstreamErrors.inc({ code: err.code });
        if (err.retry) site.origins.markDown(candidates[i], now);
        if (!err.retry || !retryable || i >= 1 || i + 1 >= candidates.length) throw err;
        this.options.log.warn(
          { code: err.code, peer: candidates[i].url },
          'origin failed, trying next candidate',
        );
      }
    }
  }

  /** Records the time to upstream headers (a duration: monotonic clock, not the cache clock). */
  observe(ctx: RequestContext, status: number, sentAt: number): number {
    const ms = performance.now() - sentAt;
    ctx.upstreamMs = ms;
    this.options.metrics.observeUpstream(status, ms / 1000);
    return ms;
  }
}
