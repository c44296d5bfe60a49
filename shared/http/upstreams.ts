// Upstreams: every peer (origin or shield) of a node, one pool and one health record per URL,
// the active probes that keep that health current, and their metrics. A service: probes start
// with the node; at stop the pools drain until the deadline.

import { Agent, request } from 'undici';
import { Counter, Gauge } from 'prom-client';
import type { ShieldConfig, SiteConfig, StrataConfig } from '../config/config.js';
import { originOf } from '../config/fields.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import type { Service } from '../service.js';
import { PeerHealth, type HealthRules } from './health.js';
import { OriginPool } from './select.js';
import { Peer, upstreamOptions, type PeerKind, type UpstreamOptions } from './upstream.js';

/** The path every Strata node answers on its proxy listener while it is ready (the shield probe). */
export const healthPath = '/.well-known/strata/health';

export class Upstreams implements Service {
  readonly name = 'upstreams';
  private readonly options: UpstreamOptions;
  private readonly rules: HealthRules;
  private readonly health: StrataConfig['upstream']['health'];
  private readonly peers = new Map<string, Peer>();
  /** Probe URL per probed peer. */
  private readonly probes = new Map<Peer, string>();
  private readonly probing = new Set<Peer>();
  private probeTimer: NodeJS.Timeout | undefined;
  private probeAgent: Agent | undefined;
  /** Probes of peers with tls.insecure, which do not verify the certificate either. */
  private insecureProbeAgent: Agent | undefined;
  readonly retries: Counter<'kind'>;

  constructor(
    config: StrataConfig,
    private readonly log: Logger,
    metrics: Metrics,
  ) {
    this.options = upstreamOptions(config.upstream);
    this.health = config.upstream.health;
    this.rules = { failures: this.health.failures, openMs: this.health.openFor };
    this.retries = new Counter({
      name: 'strata_upstream_retries_total',
      help: 'Requests sent to the next candidate after a peer failed, by the kind of peer that failed.',
      labelNames: ['kind'] as const,
      registers: [metrics.registry],
    });
    const peers = this.peers;
    new Gauge({
      name: 'strata_upstream_peer_usable',
      help: 'Whether requests go to a peer (1) or its circuit is open or its probe failed (0).',
      labelNames: ['kind', 'peer'] as const,
      registers: [metrics.registry],
      collect() {
        const now = Date.now();
        for (const p of peers.values()) this.set({ kind: p.kind, peer: p.url }, p.health.usable(now) ? 1 : 0);
      },
    });
  }

  /** The origins of a site as a pool, probed at sites[].originProbe when set. */
  originPool(site: SiteConfig): OriginPool {
    return new OriginPool(
      site.origins.map((entry) => {
        const { url, insecure } = originOf(entry);
        const origin = this.peer(url, 'origin', undefined, insecure);
        if (site.originProbe) this.probes.set(origin, origin.url + site.originProbe);
        return origin;
      }),
    );
  }

  /** A shield, probed at its probe URL (default: its health path). */
  shield(shield: ShieldConfig): Peer {
    const peer = this.peer(shield.url, 'shield', shield.region, shield.tls.insecure);
    this.probes.set(peer, shield.probe ?? peer.url + healthPath);
    return peer;
  }

  private peer(url: string, kind: PeerKind, region: string | undefined, insecure: boolean): Peer {
    const id = url.replace(/\/$/, '');
    const key = `${kind} ${id}${insecure ? ' insecure' : ''}`;
    let peer = this.peers.get(key);
    if (!peer) {
      peer = new Peer(id, kind, new PeerHealth(this.rules), { ...this.options, insecure }, region);
      this.peers.set(key, peer);
      // Runs while the node is assembled, so the warning is among the first lines at start.
      if (insecure)
        this.log.warn(
          { peer: id, kind },
          'TLS VERIFICATION IS OFF for this upstream (tls.insecure): anyone on the network path can impersonate it',
        );
    }
    return peer;
  }

  async start(): Promise<void> {
    if (this.probes.size === 0 || this.health.probeInterval === 0) return;
    const agent = (insecure: boolean) =>
      new Agent({
        connect: {
          timeout: this.health.probeTimeout,
          ...(this.options.ca ? { ca: this.options.ca } : {}),
          ...(insecure ? { rejectUnauthorized: false } : {}),
        },
        keepAliveTimeout: this.options.keepAliveTimeout,
      });
    this.probeAgent = agent(false);
    if ([...this.probes.keys()].some((p) => p.insecure)) this.insecureProbeAgent = agent(true);
    this.probeAll();
    this.probeTimer = setInterval(() => this.probeAll(), this.health.probeInterval);
    this.probeTimer.unref();
  }

  private probeAll(): void {
    for (const [peer, url] of this.probes) {
      if (this.probing.has(peer)) continue;
      this.probing.add(peer);
      void this.probe(peer, url).finally(() => this.probing.delete(peer));
    }
  }

  /** One probe: any answer below 400 within probeTimeout is healthy. */
  private async probe(peer: Peer, url: string): Promise<void> {
    const timeoutMs = this.health.probeTimeout;
    let ok: boolean;
    let detail: string;
    try {
      const res = await request(url, {
        dispatcher: peer.insecure ? this.insecureProbeAgent : this.probeAgent,
        headers: { 'user-agent': 'strata-probe' },
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
        signal: AbortSignal.timeout(timeoutMs),
      });
      await res.body.dump();
      ok = res.statusCode < 400;
      detail = `status ${res.statusCode}`;
    } catch (err) {
      ok = false;
      detail = (err as Error).message;
    }
    const was = peer.health.usable(Date.now());
    peer.health.probed(ok);
    if (was && !ok)
      this.log.warn({ peer: peer.url, kind: peer.kind, probe: url, detail }, 'peer probe failed');
    else if (!was && ok) this.log.info({ peer: peer.url, kind: peer.kind }, 'peer probe succeeded');
  }

  /** Stops probing and closes every pool, destroying what is still open at the deadline. */
  async stop(deadlineMs: number): Promise<void> {
    clearInterval(this.probeTimer);
    await Promise.all([
      ...[...this.peers.values()].map((p) => p.close(deadlineMs)),
      this.probeAgent?.destroy(),
      this.insecureProbeAgent?.destroy(),
    ]);
  }
}
