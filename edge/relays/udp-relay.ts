// UdpRelay: a UDP listener that keeps a session (UdpSession) per client address and port.
// Every datagram from a client passes the per-address rate limit; a new session passes drain,
// allow/deny and the per-address limit, and evicts the least recently used one at maxSessions.
// Replies go back through the listening socket (so the client sees the address it sent to),
// capped for unproven clients against reflection and amplification. Sessions expire after
// idleTimeout without a datagram either way.

import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import type { UdpRelayConfig } from '../../shared/config/config.js';
import { backendOf } from '../../shared/config/sections/relays.js';
import { parseHostPort } from '../../shared/http/listen.js';
import { RelayBackends, type RelayBackend } from './backends.js';
import { AddressList, ClientRules } from './client-rules.js';
import { unmapped } from './proxy-protocol.js';
import { emptyStats, type Relay, type RefusalReason, type RelayStats } from './relay.js';
import { endpointText, type RelayContext, type RelayLogLine } from './relay-context.js';
import { udpProbe } from './udp-probe.js';
import { UdpSession } from './udp-session.js';

/** Rate-limit buckets kept at most; past this the oldest go (they refill to full anyway). */
const maxBuckets = 100_000;

interface Bucket {
  tokens: number;
  atMs: number;
}

export class UdpRelay implements Relay {
  readonly protocol = 'udp';
  readonly name: string;
  readonly relayName: string;
  port = 0;
  readonly backends: RelayBackends;
  private readonly socket: Socket;
  private readonly rules: ClientRules;
  private readonly trusted: AddressList;
  /** Sessions by "address|port", least recently used first (a Map keeps insertion order). */
  private readonly sessions = new Map<string, UdpSession>();
  private readonly perClient = new Map<string, number>();
  private readonly buckets = new Map<string, Bucket>();
  private readonly counters = emptyStats();
  private ended = { bytesToBackend: 0, bytesToClient: 0, packetsToBackend: 0, packetsToClient: 0 };
  private sweeper: NodeJS.Timeout | undefined;
  private draining = false;
  private emptied: (() => void) | undefined;

  constructor(
    private readonly config: UdpRelayConfig,
    private readonly context: RelayContext,
  ) {
    this.relayName = config.name;
    this.name = `relay udp/${config.name}`;
    this.backends = new RelayBackends(
      config.backends.map(backendOf),
      config.balance,
      config.health,
      context.now,
    );
    this.rules = new ClientRules(config);
    this.trusted = new AddressList(config.amplification.trusted);
    const { host } = parseHostPort(config.listen);
    this.socket = createSocket({ type: isIPv6(host) ? 'udp6' : 'udp4' });
    this.socket.on('message', this.receive);
    // Sends report their errors to their callbacks (counted as send-failed); anything else
    // the socket reports is logged, and the socket keeps serving.
    this.socket.on('error', (err) =>
      this.context.log.warn({ relay: this.relayName, err: err.message }, 'relay socket error'),
    );
  }

  async start(): Promise<void> {
    const { host, port } = parseHostPort(this.config.listen);
    await new Promise<void>((resolve, reject) => {
      const failed = (err: Error) =>
        reject(new Error(`cannot listen on ${this.config.listen}: ${err.message}`, { cause: err }));
      this.socket.once('error', failed);
      this.socket.bind(port, host, () => {
        this.socket.off('error', failed);
        resolve();
      });
    });
    this.port = this.socket.address().port;
    this.counters.listening = true;
    this.context.log.info(
      { relay: this.relayName, protocol: 'udp', listen: this.config.listen, port: this.port },
      'relay listening',
    );
    const sweepMs = Math.min(1000, Math.max(50, this.config.idleTimeout / 4));
    this.sweeper = setInterval(() => this.sweep(), sweepMs);
    this.sweeper.unref();
    const probe = this.config.health.probe;
    if (probe) this.backends.startProbes((b, timeoutMs) => udpProbe(b, probe, timeoutMs));
  }

  /** No new sessions; open ones run until they expire or the deadline, then the socket closes. */
  async stop(deadlineMs: number): Promise<void> {
    if (this.draining || !this.counters.listening) return;
    this.draining = true;
    this.counters.listening = false;
    this.backends.stopProbes();
    if (this.sessions.size > 0) {
      const timer = setTimeout(
        () => {
          for (const s of [...this.sessions.values()]) this.end(s, 'drain-deadline');
        },
        Math.max(0, deadlineMs - Date.now()),
      );
      await new Promise<void>((resolve) => (this.emptied = resolve));
      clearTimeout(timer);
    }
    clearInterval(this.sweeper);
    await new Promise<void>((resolve) => this.socket.close(() => resolve()));
  }

  stats(): RelayStats {
    const totals = { ...this.ended };
    for (const s of this.sessions.values()) {
      totals.bytesToBackend += s.bytesToBackend;
      totals.bytesToClient += s.bytesToClient;
      totals.packetsToBackend += s.packetsToBackend;
      totals.packetsToClient += s.packetsToClient;
    }
    return { ...this.counters, ...totals, active: this.sessions.size, backends: this.backends.stats() };
  }

  /** Runs for every datagram from a client. */
  private readonly receive = (datagram: Buffer, from: RemoteInfo): void => {
    const clientIp = unmapped(from.address);
    const nowMs = this.context.now();
    if (!this.take(clientIp, nowMs)) {
      this.counters.dropped['rate-limit']++;
      return;
    }
    const key = `${from.address}|${from.port}`;
    let session = this.sessions.get(key);
    if (session) {
      // Most recently used goes last.
      this.sessions.delete(key);
      this.sessions.set(key, session);
    } else {
      session = this.open(key, from, clientIp, nowMs);
      if (!session) return;
    }
    session.lastMs = nowMs;
    session.send(datagram);
  };

  /** A new session, or undefined (counted) when it is refused. */
  private open(key: string, from: RemoteInfo, clientIp: string, nowMs: number): UdpSession | undefined {
    const refusal = this.refusal(clientIp);
    if (refusal) return this.refuse(refusal);
    if (this.sessions.size >= this.config.maxSessions) {
      const oldest = this.sessions.values().next().value!;
      this.counters.evicted++;
      this.end(oldest, 'evicted');
    }
    const session = new UdpSession(
      key,
      { address: from.address, port: from.port },
      clientIp,
      this.config.amplification.maxRatio === 0 || this.trusted.has(clientIp),
      this.backends.candidates(clientIp),
      nowMs,
      {
        reply: this.reply,
        failed: (backend: RelayBackend) => {
          this.counters.errors['connect-failed']++;
          backend.health.failed(this.context.now());
          this.context.log.warn(
            { relay: this.relayName, peer: backend.address },
            'relay backend unreachable',
          );
        },
        exhausted: (s) => {
          this.counters.refused['no-backend']++;
          this.end(s, 'no-backend');
        },
        sendFailed: () => this.counters.dropped['send-failed']++,
      },
    );
    if (!session.open()) return this.refuse('no-backend');
    this.sessions.set(key, session);
    this.perClient.set(clientIp, (this.perClient.get(clientIp) ?? 0) + 1);
    this.counters.accepted++;
    return session;
  }

  private refusal(clientIp: string): RefusalReason | undefined {
    if (this.draining) return 'draining';
    if (!this.rules.accepts(clientIp)) return 'denied';
    if ((this.perClient.get(clientIp) ?? 0) >= this.config.maxPerClient) return 'max-per-client';
    return undefined;
  }

  private refuse(reason: RefusalReason): undefined {
    this.counters.refused[reason]++;
    this.counters.dropped.refused++;
    return undefined;
  }

  /**
   * A backend's reply to a session's client. RFC 9000 §8 (QUIC), the model of the cap: "Prior
   * to validating the client address, servers MUST NOT send more than three times as many bytes
   * as the number of bytes they have received." A relay cannot validate an address itself, so
   * only trusted addresses (amplification.trusted) are proven; for the others each session may
   * send at most maxRatio times the bytes its client sent.
   */
  private readonly reply = (session: UdpSession, datagram: Buffer): void => {
    if (
      !session.proven &&
      session.bytesToClient + datagram.length > this.config.amplification.maxRatio * session.bytesToBackend
    ) {
      this.counters.dropped.amplification++;
      return;
    }
    session.lastMs = this.context.now();
    session.bytesToClient += datagram.length;
    session.packetsToClient++;
    this.socket.send(datagram, session.client.port, session.client.address, (err) => {
      if (err) this.counters.dropped['send-failed']++;
    });
  };

  /** Token bucket per client address: rateLimit.packetsPerSecond, up to rateLimit.burst at once. */
  private take(clientIp: string, nowMs: number): boolean {
    const { packetsPerSecond, burst } = this.config.rateLimit;
    if (packetsPerSecond === 0) return true;
    let bucket = this.buckets.get(clientIp);
    if (!bucket) {
      if (this.buckets.size >= maxBuckets) this.buckets.delete(this.buckets.keys().next().value!);
      bucket = { tokens: burst, atMs: nowMs };
      this.buckets.set(clientIp, bucket);
    } else {
      bucket.tokens = Math.min(burst, bucket.tokens + ((nowMs - bucket.atMs) * packetsPerSecond) / 1000);
      bucket.atMs = nowMs;
    }
    if (bucket.tokens < 1) return false;
    bucket.tokens--;
    return true;
  }

  /** Ends the sessions idle for idleTimeout and forgets full buckets; runs on a timer. */
  private sweep(): void {
    const nowMs = this.context.now();
    for (const s of [...this.sessions.values()]) {
      if (nowMs - s.lastMs >= this.config.idleTimeout) this.end(s, 'idle');
    }
    const { packetsPerSecond, burst } = this.config.rateLimit;
    for (const [ip, b] of this.buckets) {
      if (b.tokens + ((nowMs - b.atMs) * packetsPerSecond) / 1000 >= burst) this.buckets.delete(ip);
    }
  }

  private end(session: UdpSession, end: string): void {
    if (this.sessions.get(session.key) !== session) return;
    this.sessions.delete(session.key);
    session.close();
    const open = (this.perClient.get(session.clientIp) ?? 1) - 1;
    if (open === 0) this.perClient.delete(session.clientIp);
    else this.perClient.set(session.clientIp, open);
    this.ended.bytesToBackend += session.bytesToBackend;
    this.ended.bytesToClient += session.bytesToClient;
    this.ended.packetsToBackend += session.packetsToBackend;
    this.ended.packetsToClient += session.packetsToClient;
    if (end === 'drain-deadline') this.counters.errors['drain-deadline']++;
    const line: RelayLogLine = {
      relay: this.relayName,
      protocol: 'udp',
      client: endpointText(session.clientIp, session.client.port),
      backend: session.backend?.address,
      bytesToBackend: session.bytesToBackend,
      bytesToClient: session.bytesToClient,
      packetsToBackend: session.packetsToBackend,
      packetsToClient: session.packetsToClient,
      ms: Math.round((performance.now() - session.startMs) * 10) / 10,
      end,
    };
    this.context.accessLog?.info(line, 'relay');
    if (this.draining && this.sessions.size === 0) this.emptied?.();
  }
}
