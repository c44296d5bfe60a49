// WebSocketProxy: HTTP/1.1 `Upgrade: websocket` on every listener, proxied to the site's origins
// (or through its shield) as a byte tunnel (ws-tunnel.ts). An upgrade takes the pipeline's
// route and filter phases like any request, then recv decides `pipe` (or refuses it); it is
// never looked up or stored. The origin's refusal (any answer but 101) reaches the client as it
// was and never becomes a tunnel. A service: on stop, tunnels close in WebSocket terms.

import { ServerResponse, type IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { pipeline as pipeStreams } from 'node:stream/promises';
import { Counter, Gauge } from 'prom-client';
import type { StrataConfig } from '../config/config.js';
import { StrataError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import type { Service } from '../service.js';
import { cacheStatus } from '../cache/outcome.js';
import type { ListenerInfo, RequestContext } from './context.js';
import { clientResponseHeaders } from './headers.js';
import { isPeerFault } from './health.js';
import { pipeDecision, type Decision } from './phases.js';
import { invalidRequest, Refusals } from './request-checks.js';
import type { Site } from './router.js';
import type { OriginPool } from './select.js';
import type { Peer } from './upstream.js';
import type { UpstreamClient } from './upstream-client.js';
import { openUpstream, type UpstreamAnswer } from './ws-upstream.js';
import { Tunnel } from './ws-tunnel.js';

/** The socket and early bytes of a request that asked to switch protocols. */
interface Upgrade {
  socket: Socket;
  head: Buffer;
}

/** Why an upgrade ended as it did, the label of strata_websocket_upgrades_total. */
type UpgradeResult = 'tunnel' | 'refused-by-origin' | 'not-allowed' | 'limit' | 'failed';

export interface WebSocketProxyOptions {
  config: StrataConfig;
  /** The forwarded request headers and the upstream error metrics (the pipeline's client). */
  upstream: UpstreamClient;
  /** A site's origins alone, for `websocket: direct` on an edge with shields. */
  origins(site: Site): OriginPool;
  log: Logger;
  metrics: Metrics;
}

export class WebSocketProxy implements Service {
  readonly name = 'websocket';
  private readonly upgrades = new WeakMap<IncomingMessage, Upgrade>();
  private readonly tunnels = new Set<Tunnel>();
  private readonly perClient = new Map<string, number>();
  /** Slots taken by upgrades still connecting, so limits hold while they do. */
  private connecting = 0;
  private draining = false;
  private readonly directPools = new WeakMap<Site, OriginPool>();
  private readonly limits: StrataConfig['websocket'];
  private readonly refusals: Refusals;
  private readonly nodeId: string;
  private readonly via: string;
  private readonly attempts: number;
  private readonly headersTimeoutMs: number;
  private readonly results: Counter<'result'>;
  private readonly bytes = { toClient: 0, toUpstream: 0 };
  /** The pipeline's request handler; set by the node once the pipeline exists. */
  handle: (req: IncomingMessage, res: ServerResponse, listener: ListenerInfo) => void = () => undefined;

  constructor(private readonly options: WebSocketProxyOptions) {
    const { config, metrics } = options;
    this.limits = config.websocket;
    this.nodeId = config.node.id;
    this.via = `1.1 ${this.nodeId} (strata)`;
    this.attempts = config.upstream.attempts;
    this.headersTimeoutMs = config.upstream.headersTimeout;
    this.refusals = new Refusals(config.node.id, config.server.maxHeaderBytes, options.log, metrics);
    const registers = [metrics.registry];
    this.results = new Counter({
      name: 'strata_websocket_upgrades_total',
      help: 'WebSocket upgrade requests by result: tunnel, refused-by-origin (its non-101 answer passed on), not-allowed, limit, failed (no origin reached).',
      labelNames: ['result'] as const,
      registers,
    });
    const tunnels = this.tunnels;
    new Gauge({
      name: 'strata_websocket_connections',
      help: 'Open WebSocket tunnels.',
      registers,
      collect() {
        this.set(tunnels.size);
      },
    });
    new Gauge({
      name: 'strata_websocket_buffered_bytes',
      help: 'Bytes held in WebSocket tunnels, both directions (bounded by backpressure).',
      registers,
      collect() {
        let sum = 0;
        for (const t of tunnels) sum += t.bufferedBytes;
        this.set(sum);
      },
    });
    const bytes = this.bytes;
    const reported = { toClient: 0, toUpstream: 0 };
    const counter: Counter<'direction'> = new Counter({
      name: 'strata_websocket_bytes_total',
      help: 'Bytes passed through WebSocket tunnels, by direction (to_client, to_upstream).',
      labelNames: ['direction'] as const,
      registers,
      collect() {
        counter.inc({ direction: 'to_client' }, bytes.toClient - reported.toClient);
        counter.inc({ direction: 'to_upstream' }, bytes.toUpstream - reported.toUpstream);
        reported.toClient = bytes.toClient;
        reported.toUpstream = bytes.toUpstream;
      },
    });
  }

  /**
   * The listeners' upgrade handler: the request goes through the pipeline with a response bound
   * to the raw socket, so refusals and errors are ordinary responses (with Cache-Status), after
   * which the connection closes.
   */
  readonly accept = (req: IncomingMessage, socket: Socket, head: Buffer, listener: ListenerInfo): void => {
    socket.on('error', () => socket.destroy());
    const res = new ServerResponse(req);
    res.assignSocket(socket);
    res.shouldKeepAlive = false;
    res.once('finish', () => socket.end());
    const invalid = invalidRequest(req);
    if (invalid) return this.refusals.reject(res, invalid);
    this.upgrades.set(req, { socket, head });
    this.handle(req, res, listener);
  };

  /**
   * Phase recv for a request that asked to switch protocols: a WebSocket upgrade to a site that
   * allows it is piped; to one that does not, refused. Another protocol (h2c, say) is served as
   * a plain request (RFC 9110 §7.8: a server may ignore Upgrade), unless it has a body, which
   * the connection no longer parses.
   */
  decide(ctx: RequestContext): Decision | undefined {
    // Upgrade without Connection: upgrade is not a request to switch (Node served it as usual).
    if (!this.upgrades.has(ctx.req)) return undefined;
    const upgrade = String(ctx.req.headers.upgrade ?? '');
    if (!/(^|,)\s*websocket\s*(,|$)/i.test(upgrade)) {
      const body = ctx.req.headers['content-length'] ?? ctx.req.headers['transfer-encoding'];
      if (body !== undefined && body !== '0')
        return {
          action: 'respond',
          error: new StrataError('REQUEST_INVALID', 'a request with Upgrade and a body is not served'),
        };
      return undefined;
    }
    if (ctx.site.config.websocket === 'off') {
      this.count('not-allowed');
      return { action: 'respond', error: new StrataError('WEBSOCKET_NOT_ALLOWED') };
    }
    // RFC 6455 §4.1: the opening handshake is a GET.
    if (ctx.method !== 'GET')
      return {
        action: 'respond',
        error: new StrataError('REQUEST_INVALID', 'a WebSocket upgrade must be a GET'),
      };
    return pipeDecision;
  }

  /** Phase pipe: within the limits, connect to the first peer that answers and tunnel, or pass on its answer. */
  async pipe(ctx: RequestContext): Promise<void> {
    const upgrade = this.upgrades.get(ctx.req);
    if (!upgrade) throw new StrataError('INTERNAL', 'pipe without an upgraded connection');
    const client = ctx.req.socket.remoteAddress ?? '';
    const open = this.tunnels.size + this.connecting;
    if (this.draining || open >= this.limits.maxConnections) {
      this.count('limit');
      throw new StrataError('WEBSOCKET_LIMIT');
    }
    if ((this.perClient.get(client) ?? 0) >= this.limits.maxPerClient) {
      this.count('limit');
      throw new StrataError('WEBSOCKET_CLIENT_LIMIT');
    }
    this.connecting++;
    this.perClient.set(client, (this.perClient.get(client) ?? 0) + 1);
    let tunnel: Tunnel | undefined;
    try {
      const answer = await this.connect(ctx);
      if (answer.kind === 'response') return await this.passOn(ctx, answer.res);
      tunnel = this.open(ctx, upgrade, answer);
    } catch (err) {
      this.count('failed');
      throw err;
    } finally {
      this.connecting--;
      if (!tunnel) this.release(client);
    }
  }

  /** Tries the site's candidates in order while a failure happened before the peer could act. */
  private async connect(ctx: RequestContext): Promise<UpstreamAnswer> {
    const site = ctx.site;
    const candidates =
      site.config.websocket === 'direct'
        ? this.direct(site).candidates(ctx.key, Date.now())
        : site.upstream.candidates(ctx.key, Date.now());
    if (candidates.length === 0) throw new StrataError('SHIELD_UNAVAILABLE');
    const headers = this.options.upstream.headers(ctx);
    // Upgrade and Connection are hop-by-hop: this hop asks for the same switch again.
    headers.connection = 'Upgrade';
    headers.upgrade = String(ctx.req.headers.upgrade);
    const last = Math.min(this.attempts, candidates.length) - 1;
    for (let i = 0; ; i++) {
      const peer: Peer = candidates[i];
      headers.host = (peer.kind === 'origin' && site.config.originHost) || ctx.host;
      try {
        const answer = await openUpstream(peer, ctx.target, headers, this.headersTimeoutMs);
        peer.health.succeeded();
        return answer;
      } catch (e) {
        const err = StrataError.from(e);
        if (err.source === 'upstream') this.options.metrics.upstreamErrors.inc({ code: err.code });
        if (isPeerFault(err)) peer.health.failed(Date.now());
        if (!err.retry || i >= last) throw err;
        this.options.log.warn(
          { code: err.code, peer: peer.url, kind: peer.kind, reqId: ctx.id },
          `${peer.kind} failed, trying next candidate (WebSocket)`,
        );
      }
    }
  }

  private direct(site: Site): OriginPool {
    let pool = this.directPools.get(site);
    if (!pool) {
      pool = this.options.origins(site);
      this.directPools.set(site, pool);
    }
    return pool;
  }

  /** The origin did not switch protocols: its answer goes to the client as it is, then the close. */
  private async passOn(ctx: RequestContext, res: IncomingMessage): Promise<void> {
    const status = res.statusCode ?? 502;
    ctx.outcome.answered(status, false);
    this.count('refused-by-origin');
    const headers = clientResponseHeaders(res.headers);
    headers.push('via', this.via, 'cache-status', cacheStatus(this.nodeId, ctx.outcome));
    ctx.res.writeHead(status, headers);
    await pipeStreams(res, ctx.res);
  }

  /** The origin said 101: the same 101 goes to the client and the two sockets become a tunnel. */
  private open(
    ctx: RequestContext,
    upgrade: Upgrade,
    answer: Extract<UpstreamAnswer, { kind: 'upgrade' }>,
  ): Tunnel {
    ctx.outcome.answered(101, false);
    // Hop-by-hop fields are this hop's own: Connection and Upgrade are said again.
    const headers = clientResponseHeaders(answer.res.headers);
    headers.push(
      'connection',
      'Upgrade',
      'upgrade',
      String(answer.res.headers.upgrade ?? 'websocket'),
      'via',
      this.via,
      'cache-status',
      cacheStatus(this.nodeId, ctx.outcome),
    );
    ctx.res.writeHead(101, headers);
    ctx.res.flushHeaders();
    const client = ctx.req.socket.remoteAddress ?? '';
    const tunnel = new Tunnel(upgrade.socket, answer.socket, upgrade.head, answer.head, {
      idleMs: this.limits.idleTimeout,
      counted: (toClient, n) => {
        if (toClient) {
          this.bytes.toClient += n;
          ctx.bytes += n;
        } else this.bytes.toUpstream += n;
      },
      ended: (t) => {
        this.tunnels.delete(t);
        this.release(client);
      },
    });
    this.tunnels.add(tunnel);
    this.count('tunnel');
    return tunnel;
  }

  private count(result: UpgradeResult): void {
    this.results.inc({ result });
  }

  private release(client: string): void {
    const n = (this.perClient.get(client) ?? 1) - 1;
    if (n <= 0) this.perClient.delete(client);
    else this.perClient.set(client, n);
  }

  async start(): Promise<void> {}

  /** Refuses new upgrades, then closes every tunnel: Close frames 1001 both ways, then the end. */
  async stop(deadlineMs: number): Promise<void> {
    this.draining = true;
    await Promise.all([...this.tunnels].map((t) => t.close(deadlineMs)));
  }
}
