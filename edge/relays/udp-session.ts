// UdpSession: one client address and port through a UdpRelay, with its own socket connected to
// the backend, so that the backend's replies come back on it and go to this client only (a
// connected socket also hears nothing from other hosts, and is told of ICMP port unreachable).
// Until the first reply, a backend that turns out unreachable is replaced by the next
// candidate and the datagrams sent so far are sent again: failover for new sessions.

import { createSocket, type Socket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import type { RelayBackend } from './backends.js';
import type { Endpoint } from './proxy-protocol.js';

/** Datagrams held while the socket connects (a tick for an IP address; a lookup for a name). */
const maxHeld = 16;
/**
 * Once connected, bytes kept for a resend to the next backend until the first reply: a bound per
 * session, since a one-way protocol (syslog) never replies and would otherwise hold them for
 * the session's life. maxSessions times this is the most the relay keeps.
 */
const maxHeldBytes = 16 * 1024;

export interface UdpSessionHooks {
  /** A reply from the backend, to be sent to the client (amplification check included). */
  reply(session: UdpSession, datagram: Buffer): void;
  /** A backend could not be reached; the session moves to the next candidate if there is one. */
  failed(backend: RelayBackend): void;
  /** No candidate left: the session must end. */
  exhausted(session: UdpSession): void;
  /** A datagram could not be sent. */
  sendFailed(): void;
}

export class UdpSession {
  backend: RelayBackend | undefined;
  /** Last datagram either way, on the relay's clock. */
  lastMs: number;
  readonly startMs = performance.now();
  bytesToBackend = 0;
  bytesToClient = 0;
  packetsToBackend = 0;
  packetsToClient = 0;
  private socket: Socket | undefined;
  private connected = false;
  private replied = false;
  private held: Buffer[] = [];
  private heldBytes = 0;
  private next = 0;
  private closed = false;

  constructor(
    readonly key: string,
    /** The client as the relay's socket saw it (an IPv4 client of a dual-stack socket is ::ffff:a.b.c.d). */
    readonly client: Endpoint,
    /** The client's address for rules and limits (IPv4 as itself). */
    readonly clientIp: string,
    /** Whether replies may exceed the amplification cap (a trusted address). */
    readonly proven: boolean,
    private readonly candidates: RelayBackend[],
    nowMs: number,
    private readonly hooks: UdpSessionHooks,
  ) {
    this.lastMs = nowMs;
  }

  /** Opens the socket to the first candidate; false when there is none. */
  open(): boolean {
    return this.connectNext();
  }

  /** Passes one client datagram to the backend (held until the socket is connected). */
  send(datagram: Buffer): void {
    this.bytesToBackend += datagram.length;
    this.packetsToBackend++;
    if (!this.replied) {
      this.held.push(datagram);
      this.heldBytes += datagram.length;
      this.trimHeld();
    }
    if (this.connected) this.write(datagram);
  }

  private trimHeld(): void {
    while (
      this.held.length > maxHeld ||
      (this.connected && this.heldBytes > maxHeldBytes && this.held.length > 0)
    )
      this.heldBytes -= this.held.shift()!.length;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.backend) this.backend.active--;
    this.socket?.close();
    this.held = [];
    this.heldBytes = 0;
  }

  private write(datagram: Buffer): void {
    this.socket!.send(datagram, (err) => err && this.hooks.sendFailed());
  }

  private connectNext(): boolean {
    const backend = this.candidates[this.next++];
    if (!backend) return false;
    if (this.backend) this.backend.active--;
    this.socket?.close();
    this.backend = backend;
    backend.active++;
    this.connected = false;
    const socket = createSocket(isIPv6(backend.host) ? 'udp6' : 'udp4');
    this.socket = socket;
    socket.on('error', () => this.unreachable(socket, backend));
    socket.on('message', (datagram) => {
      if (!this.replied) {
        this.replied = true;
        this.held = [];
        this.heldBytes = 0;
        backend.health.succeeded();
      }
      this.hooks.reply(this, datagram);
    });
    socket.connect(backend.port, backend.host, () => {
      if (this.socket !== socket) return;
      this.connected = true;
      for (const datagram of this.held) this.write(datagram);
      this.trimHeld();
    });
    return true;
  }

  /**
   * The backend's host is unreachable: ICMP port unreachable (ECONNREFUSED) or a failed
   * connect (name not found). Before the first reply the next candidate gets the datagrams.
   */
  private unreachable(socket: Socket, backend: RelayBackend): void {
    if (this.closed || this.socket !== socket) return;
    this.hooks.failed(backend);
    if (this.replied) return;
    if (!this.connectNext()) this.hooks.exhausted(this);
  }
}
