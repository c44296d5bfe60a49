// TcpRelay: a TCP listener whose connections are piped, full duplex, to a backend chosen by
// the relay's balance. Admission (drain, limits, allow/deny, a trusted load balancer's PROXY
// header) happens before any backend is tried; each connection's life is a TcpConnection.

import { createServer, connect, type Server, type Socket } from 'node:net';
import type { TcpRelayConfig } from '../../shared/config/config.js';
import { backendOf } from '../../shared/config/sections/relays.js';
import { listen } from '../../shared/http/listen.js';
import { RelayBackends, type RelayBackend } from './backends.js';
import { AddressList, ClientRules } from './client-rules.js';
import { parseProxyHeader, unmapped, type Endpoint, type ProxyHeader } from './proxy-protocol.js';
import { emptyStats, type Relay, type RefusalReason, type RelayStats } from './relay.js';
import type { RelayContext, RelayLogLine } from './relay-context.js';
import { endpointText } from './relay-context.js';
import { TcpConnection } from './tcp-connection.js';

export class TcpRelay implements Relay {
  readonly protocol = 'tcp';
  readonly name: string;
  readonly relayName: string;
  port = 0;
  readonly backends: RelayBackends;
  private readonly server: Server;
  private readonly rules: ClientRules;
  private readonly proxyFrom: AddressList;
  private readonly connections = new Set<TcpConnection>();
  private readonly perClient = new Map<string, number>();
  private readonly counters = emptyStats();
  /** Bytes of connections that have ended (open ones are read from their sockets). */
  private endedToBackend = 0;
  private endedToClient = 0;
  private draining = false;
  private emptied: (() => void) | undefined;

  constructor(
    private readonly config: TcpRelayConfig,
    private readonly context: RelayContext,
  ) {
    this.relayName = config.name;
    this.name = `relay tcp/${config.name}`;
    this.backends = new RelayBackends(
      config.backends.map(backendOf),
      config.balance,
      config.health,
      context.now,
    );
    this.rules = new ClientRules(config);
    this.proxyFrom = new AddressList(config.acceptProxyFrom);
    // pauseOnConnect: the client's bytes wait in the kernel until a backend is connected.
    this.server = createServer({ allowHalfOpen: true, pauseOnConnect: true, noDelay: true }, this.accept);
  }

  async start(): Promise<void> {
    this.port = await listen(this.server, this.config.listen);
    this.counters.listening = true;
    this.context.log.info(
      { relay: this.relayName, protocol: 'tcp', listen: this.config.listen, port: this.port },
      'relay listening',
    );
    this.backends.startProbes((b, timeoutMs) => connectProbe(b, timeoutMs));
  }

  /** Stops accepting, lets open connections finish until the deadline, then closes the rest. */
  async stop(deadlineMs: number): Promise<void> {
    this.draining = true;
    this.counters.listening = false;
    this.backends.stopProbes();
    if (this.server.listening) this.server.close();
    if (this.connections.size === 0) return;
    const timer = setTimeout(
      () => {
        for (const c of this.connections) c.abort('drain-deadline');
      },
      Math.max(0, deadlineMs - Date.now()),
    );
    await new Promise<void>((resolve) => (this.emptied = resolve));
    clearTimeout(timer);
  }

  stats(): RelayStats {
    let toBackend = this.endedToBackend;
    let toClient = this.endedToClient;
    for (const c of this.connections) {
      toBackend += c.bytesToBackend;
      toClient += c.bytesToClient;
    }
    return {
      ...this.counters,
      active: this.connections.size,
      bytesToBackend: toBackend,
      bytesToClient: toClient,
      backends: this.backends.stats(),
    };
  }

  /** Runs for every accepted socket: total limit and drain first, then who the client is. */
  private readonly accept = (socket: Socket): void => {
    // Errors end the connection through its 'close'; they are counted there, not thrown.
    socket.on('error', () => {});
    const peer = { address: unmapped(socket.remoteAddress ?? ''), port: socket.remotePort ?? 0 };
    const local = { address: unmapped(socket.localAddress ?? ''), port: socket.localPort ?? 0 };
    if (this.draining) return this.refuse(socket, peer, 'draining');
    if (this.connections.size >= this.config.maxConnections)
      return this.refuse(socket, peer, 'max-connections');
    if (!this.proxyFrom.has(peer.address)) return this.admit(socket, peer, local);
    readProxyHeader(socket, this.config.connectTimeout).then(
      (header) =>
        header.command === 'proxy'
          ? this.admit(socket, header.source, header.destination)
          : this.admit(socket, peer, local),
      () => this.refuse(socket, peer, 'proxy-header'),
    );
  };

  /** A client (as its PROXY header named it, if any): allow/deny and per-client limit, then a backend. */
  private admit(socket: Socket, client: Endpoint, local: Endpoint): void {
    if (socket.destroyed) return;
    if (!this.rules.accepts(client.address)) return this.refuse(socket, client, 'denied');
    // Checked again: connections may have been admitted while the PROXY header was read.
    if (this.draining) return this.refuse(socket, client, 'draining');
    if (this.connections.size >= this.config.maxConnections)
      return this.refuse(socket, client, 'max-connections');
    const open = this.perClient.get(client.address) ?? 0;
    if (open >= this.config.maxPerClient) return this.refuse(socket, client, 'max-per-client');
    this.perClient.set(client.address, open + 1);
    this.counters.accepted++;
    const connection = new TcpConnection(socket, client, local, this.config, {
      candidates: this.backends.candidates(client.address),
      now: this.context.now,
      failed: (backend: RelayBackend, code) => {
        this.counters.errors[code]++;
        backend.health.failed(this.context.now());
        this.context.log.warn(
          { relay: this.relayName, peer: backend.address, code },
          'relay backend failed, trying the next',
        );
      },
      ended: (c) => this.ended(c),
    });
    this.connections.add(connection);
    connection.start();
  }

  private ended(c: TcpConnection): void {
    if (!this.connections.delete(c)) return;
    const open = (this.perClient.get(c.client.address) ?? 1) - 1;
    if (open === 0) this.perClient.delete(c.client.address);
    else this.perClient.set(c.client.address, open);
    this.endedToBackend += c.bytesToBackend;
    this.endedToClient += c.bytesToClient;
    if (c.end === 'no-backend') this.counters.refused['no-backend']++;
    else if (c.end !== 'closed') this.counters.errors[c.end]++;
    this.logLine({
      client: endpointText(c.client.address, c.client.port),
      backend: c.backend?.address,
      bytesToBackend: c.bytesToBackend,
      bytesToClient: c.bytesToClient,
      ms: c.durationMs(),
      ...(c.end === 'no-backend' ? { end: 'refused', reason: 'no-backend' } : { end: c.end }),
    });
    if (this.connections.size === 0) this.emptied?.();
  }

  /** Closes a connection at once (nothing is read from it) and counts why. */
  private refuse(socket: Socket, client: Endpoint, reason: RefusalReason): void {
    this.counters.refused[reason]++;
    socket.destroy();
    this.logLine({
      client: endpointText(client.address, client.port),
      bytesToBackend: 0,
      bytesToClient: 0,
      ms: 0,
      end: 'refused',
      reason,
    });
  }

  private logLine(line: Omit<RelayLogLine, 'relay' | 'protocol'>): void {
    this.context.accessLog?.info({ relay: this.relayName, protocol: 'tcp', ...line }, 'relay');
  }
}

/** Reads a PROXY header (v1 or v2) from a trusted load balancer; the rest is put back for the backend. */
function readProxyHeader(socket: Socket, timeoutMs: number): Promise<ProxyHeader> {
  return new Promise((resolve, reject) => {
    let data: Buffer = Buffer.alloc(0);
    const timer = setTimeout(() => finish(new Error('no PROXY header in time')), timeoutMs);
    const finish = (err?: Error, header?: ProxyHeader) => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('close', onClose);
      socket.pause();
      if (err) reject(err);
      else resolve(header!);
    };
    const onClose = () => finish(new Error('closed before its PROXY header'));
    const onData = (chunk: Buffer) => {
      data = data.length === 0 ? chunk : Buffer.concat([data, chunk]);
      const result = parseProxyHeader(data);
      if (result.state === 'more') return;
      if (result.state === 'invalid') return finish(new Error(result.reason));
      const rest = data.subarray(result.length);
      finish(undefined, result.header);
      if (rest.length > 0) socket.unshift(rest);
    };
    socket.on('data', onData);
    socket.once('close', onClose);
    socket.resume();
  });
}

/** Active health probe of a TCP backend: a connection that opens within the timeout. */
function connectProbe(backend: RelayBackend, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: backend.host, port: backend.port });
    const done = (ok: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}
