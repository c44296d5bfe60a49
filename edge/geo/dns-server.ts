// DnsServer: the GeoDNS listener, UDP and TCP on one address (RFC 7766: TCP is a full peer of
// UDP, the way back for truncated answers). Each packet goes to the responder; what it drops
// is counted there. TCP carries 2-byte length-prefixed messages, pipelined, answered in order.

import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createServer, type Server, type Socket } from 'node:net';
import { isIPv6 } from 'node:net';
import type { Logger } from '../../shared/log.js';
import type { Service } from '../../shared/service.js';
import { parseHostPort } from '../../shared/http/listen.js';
import type { DnsMetrics } from './dns-metrics.js';
import type { DnsResponder } from './dns-responder.js';

/** RFC 7766 §6.2.3: servers close idle connections; a few seconds is plenty for DNS. */
const tcpIdleMs = 10_000;
/** Past this many open TCP connections new ones are refused. */
const maxTcpConnections = 256;
/** RFC 1035 §4.2.2: the smallest message is a 12-byte header. */
const headerBytes = 12;

export class DnsServer implements Service {
  readonly name = 'dns';
  private udp: UdpSocket | undefined;
  private tcp: Server | undefined;
  private readonly connections = new Set<Socket>();
  port = 0;

  constructor(
    private readonly address: string,
    private readonly responder: DnsResponder,
    private readonly metrics: DnsMetrics,
    private readonly log: Logger,
  ) {}

  /** Binds UDP, then TCP on the same port (with port 0: the port UDP got, tried again if TCP has it taken). */
  async start(): Promise<void> {
    const { host, port } = parseHostPort(this.address);
    for (let attempt = 0; ; attempt++) {
      const udp = await this.bindUdp(host, port);
      const bound = udp.address().port;
      try {
        this.tcp = await this.bindTcp(host, bound);
        this.udp = udp;
        this.port = bound;
        break;
      } catch (err) {
        udp.close();
        if (port !== 0 || attempt >= 5) throw err;
      }
    }
    this.log.info({ dns: `${host}:${this.port}`, dnsPort: this.port }, 'dns listening (udp and tcp)');
  }

  async stop(): Promise<void> {
    const udp = this.udp;
    this.udp = undefined;
    if (udp) await new Promise<void>((resolve) => udp.close(() => resolve()));
    const tcp = this.tcp;
    this.tcp = undefined;
    // DNS over TCP holds no work worth draining: answers are written as soon as asked.
    for (const socket of this.connections) socket.destroy();
    if (tcp) await new Promise<void>((resolve) => tcp.close(() => resolve()));
  }

  private bindUdp(host: string, port: number): Promise<UdpSocket> {
    return new Promise((resolve, reject) => {
      const socket = createSocket({ type: isIPv6(host) ? 'udp6' : 'udp4' });
      socket.once('error', reject);
      socket.bind(port, host, () => {
        socket.off('error', reject);
        // A send that fails (an ICMP unreachable reported late) concerns one client only.
        socket.on('error', (err) => this.log.debug({ err }, 'dns udp error'));
        socket.on('message', (msg, rinfo) => {
          const out = this.responder.respond(msg, 'udp', rinfo.address);
          if (out) socket.send(out, rinfo.port, rinfo.address);
        });
        resolve(socket);
      });
    });
  }

  private bindTcp(host: string, port: number): Promise<Server> {
    const server = createServer((socket) => this.serveTcp(socket));
    server.maxConnections = maxTcpConnections;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host, port }, () => {
        server.off('error', reject);
        resolve(server);
      });
    });
  }

  /** Reads length-prefixed queries and writes each answer in turn; a bad frame closes the connection. */
  private serveTcp(socket: Socket): void {
    this.connections.add(socket);
    socket.setTimeout(tcpIdleMs, () => socket.destroy());
    socket.on('error', () => {
      // A client resetting its connection ends only that connection.
    });
    socket.on('close', () => this.connections.delete(socket));
    let pending: Buffer = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      while (pending.length >= 2) {
        const length = pending.readUInt16BE(0);
        if (length < headerBytes) {
          this.metrics.dropped('tcp', 'tcp-framing');
          socket.destroy();
          return;
        }
        if (pending.length < 2 + length) return;
        const message = pending.subarray(2, 2 + length);
        pending = pending.subarray(2 + length);
        const out = this.responder.respond(message, 'tcp', socket.remoteAddress ?? '');
        if (!out) {
          // RFC 7766 §8: a server may close a connection that sends what it cannot parse.
          socket.destroy();
          return;
        }
        const frame = Buffer.alloc(2 + out.length);
        frame.writeUInt16BE(out.length, 0);
        out.copy(frame, 2);
        socket.write(frame);
      }
    });
  }
}
