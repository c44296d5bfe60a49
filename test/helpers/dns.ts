// DNS clients for tests, needing no system tool: raw dns-packet queries over UDP and TCP (with
// an EDNS Client Subnet when asked), and a GeoDNS server (DnsNode) started on loopback port 0.

import { createSocket } from 'node:dgram';
import { connect } from 'node:net';
import type { TestContext } from 'node:test';
import dnsPacket, { type DecodedPacket, type Packet, type PacketOpt } from 'dns-packet';
import { pino } from 'pino';
import { validateDnsConfig } from '../../shared/config/config.js';
import { DnsNode } from '../../edge/geo/dns-node.js';

/** Starts strata dns's parts from a config in the YAML shape (loopback port 0, silent logs); stopped after the test. */
export async function startDns(t: TestContext, input: Record<string, unknown>): Promise<DnsNode> {
  const { dns, ...rest } = input as { dns: Record<string, unknown> };
  const { config, problems } = validateDnsConfig({
    listen: { http: '127.0.0.1:0', admin: '127.0.0.1:0' },
    log: { level: 'silent', access: false },
    dns: { listen: '127.0.0.1:0', ...dns },
    ...rest,
  });
  if (!config) throw new Error(`test config invalid: ${JSON.stringify(problems)}`);
  const node = new DnsNode(config, pino({ level: 'silent' }));
  await node.start();
  t.after(() => node.stop());
  return node;
}

export interface QueryOptions {
  /** ECS subnet such as "192.0.2.0/24"; adds an OPT record. */
  subnet?: string;
  /** The OPT record's UDP payload size; adds an OPT record (default 1232 when subnet is given). */
  udpPayloadSize?: number;
  id?: number;
}

/** A query packet for one question. */
export function query(name: string, type: string, options: QueryOptions = {}): Packet {
  const edns = options.subnet !== undefined || options.udpPayloadSize !== undefined;
  const opts: PacketOpt[] = options.subnet ? [subnetOpt(options.subnet)] : [];
  return {
    type: 'query',
    id: options.id ?? 4242,
    flags: dnsPacket.RECURSION_DESIRED,
    questions: [{ name, type: type as 'A', class: 'IN' }],
    additionals: edns
      ? [
          {
            name: '.',
            type: 'OPT',
            udpPayloadSize: options.udpPayloadSize ?? 1232,
            extendedRcode: 0,
            ednsVersion: 0,
            flags: 0,
            flag_do: false,
            options: opts,
          },
        ]
      : [],
  };
}

/** The ECS option for a subnet, encoded by hand as RFC 7871 §6 lays it out. */
export function subnetOpt(cidr: string, scope = 0): PacketOpt {
  const [address, bits] = cidr.split('/');
  const v4 = address.includes('.');
  const source = Number(bits);
  const full = v4 ? Buffer.from(address.split('.').map(Number)) : ipv6Bytes(address);
  const header = Buffer.alloc(4);
  header.writeUInt16BE(v4 ? 1 : 2, 0);
  header[2] = source;
  header[3] = scope;
  return { code: 8, data: Buffer.concat([header, full.subarray(0, Math.ceil(source / 8))]) } as PacketOpt;
}

function ipv6Bytes(address: string): Buffer {
  const [head, tail = ''] = address.split('::');
  const groups = (s: string) => (s === '' ? [] : s.split(':').map((g) => parseInt(g, 16)));
  const left = groups(head);
  const right = groups(tail);
  const all = [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right];
  const out = Buffer.alloc(16);
  all.forEach((g, i) => out.writeUInt16BE(g, i * 2));
  return out;
}

export interface DnsReply {
  packet: DecodedPacket;
  bytes: Buffer;
}

/** Sends `message` (a packet or raw bytes) over UDP; resolves with the reply, or undefined when none came in `waitMs`. */
export function udpExchange(
  port: number,
  message: Packet | Buffer,
  waitMs = 2000,
): Promise<DnsReply | undefined> {
  const bytes = Buffer.isBuffer(message) ? message : dnsPacket.encode(message);
  const socket = createSocket('udp4');
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.close();
      resolve(undefined);
    }, waitMs);
    socket.once('message', (msg) => {
      clearTimeout(timer);
      socket.close();
      try {
        resolve({ packet: dnsPacket.decode(msg), bytes: msg });
      } catch (err) {
        reject(err as Error);
      }
    });
    socket.send(bytes, port, '127.0.0.1');
  });
}

/** A UDP query that must be answered. */
export async function udpQuery(port: number, message: Packet | Buffer): Promise<DnsReply> {
  const reply = await udpExchange(port, message);
  if (!reply) throw new Error('no UDP answer');
  return reply;
}

/** Sends length-prefixed messages over one TCP connection; resolves with the replies, in order. */
export function tcpQuery(port: number, messages: (Packet | Buffer)[]): Promise<DnsReply[]> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const replies: DnsReply[] = [];
    let pending = Buffer.alloc(0);
    socket.on('error', reject);
    socket.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      while (pending.length >= 2 && pending.length >= 2 + pending.readUInt16BE(0)) {
        const bytes = pending.subarray(2, 2 + pending.readUInt16BE(0));
        pending = pending.subarray(2 + bytes.length);
        replies.push({ packet: dnsPacket.decode(bytes), bytes });
      }
      if (replies.length === messages.length) {
        socket.end();
        resolve(replies);
      }
    });
    socket.on('close', () => {
      if (replies.length < messages.length) resolve(replies);
    });
    for (const m of messages) {
      const bytes = Buffer.isBuffer(m) ? m : dnsPacket.encode(m);
      const frame = Buffer.alloc(2 + bytes.length);
      frame.writeUInt16BE(bytes.length, 0);
      bytes.copy(frame, 2);
      socket.write(frame);
    }
  });
}

/** The addresses of a reply's A/AAAA answers, sorted. */
export function addressesOf(reply: DnsReply): string[] {
  return (reply.packet.answers ?? [])
    .flatMap((a) => (a.type === 'A' || a.type === 'AAAA' ? [a.data] : []))
    .sort();
}

/** The reply's ECS option: [source prefix, scope prefix], or undefined. */
export function ecsOf(reply: DnsReply): [number, number] | undefined {
  const opt = (reply.packet.additionals ?? []).find((a) => a.type === 'OPT');
  const ecs = opt && 'options' in opt ? opt.options.find((o) => Number(o.code) === 8) : undefined;
  return ecs?.data ? [ecs.data[2], ecs.data[3]] : undefined;
}

/** The reply's rcode, extended by its OPT record (BADVERS is 16). */
export function rcodeOf(reply: DnsReply): number {
  const opt = (reply.packet.additionals ?? []).find((a) => a.type === 'OPT');
  const high = opt && 'extendedRcode' in opt ? opt.extendedRcode : 0;
  return (high << 4) | (reply.bytes.readUInt16BE(2) & 0xf);
}
