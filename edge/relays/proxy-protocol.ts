// The PROXY protocol (HAProxy, https://www.haproxy.org/download/2.9/doc/proxy-protocol.txt),
// versions 1 (text) and 2 (binary): the header a relay sends a backend first so that it learns
// the client's address, and the parser of the header a trusted load balancer sends the relay.

import { isIPv4, isIPv6 } from 'node:net';

export type ProxyVersion = 'v1' | 'v2';

export interface Endpoint {
  address: string;
  port: number;
}

/** What a received header says: the client's and the relay-side addresses, or `local` (a health check). */
export type ProxyHeader =
  { command: 'proxy'; source: Endpoint; destination: Endpoint } | { command: 'local' };

export type ParseResult =
  | { state: 'more' }
  | { state: 'invalid'; reason: string }
  | { state: 'done'; header: ProxyHeader; length: number };

/** §2.2: "the 12 bytes signature": \r\n\r\n\0\r\nQUIT\n. */
const v2Signature = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
/** §2.1: "a receiver may reject an incomplete line which does not contain the CRLF sequence in the first 107 characters". */
const v1MaxBytes = 107;
/** Addresses and TLVs beyond this are not expected from a load balancer; refuse rather than buffer. */
const v2MaxBytes = 16 + 2048;

/** An IPv4-mapped IPv6 address (::ffff:a.b.c.d) as the IPv4 address it is. */
export function unmapped(address: string): string {
  return address.startsWith('::ffff:') && isIPv4(address.slice(7)) ? address.slice(7) : address;
}

/**
 * Both endpoints in one family: IPv4 when both are (or map to) IPv4, else IPv6 with an IPv4
 * side written as ::ffff:a.b.c.d (§2.1: "the protocol family used for both addresses").
 */
function sameFamily(
  source: Endpoint,
  destination: Endpoint,
): { v6: boolean; source: Endpoint; destination: Endpoint } {
  const s = unmapped(source.address);
  const d = unmapped(destination.address);
  if (isIPv4(s) && isIPv4(d))
    return { v6: false, source: { ...source, address: s }, destination: { ...destination, address: d } };
  const six = (a: string) => (isIPv4(a) ? `::ffff:${a}` : a);
  return {
    v6: true,
    source: { ...source, address: six(s) },
    destination: { ...destination, address: six(d) },
  };
}

/** The header a relay writes to a backend before the client's bytes (TCP). */
export function encodeProxyHeader(version: ProxyVersion, source: Endpoint, destination: Endpoint): Buffer {
  const f = sameFamily(source, destination);
  if (version === 'v1') {
    // §2.1: "PROXY" SP ("TCP4" | "TCP6") SP src SP dst SP srcport SP dstport CRLF
    return Buffer.from(
      `PROXY ${f.v6 ? 'TCP6' : 'TCP4'} ${f.source.address} ${f.destination.address} ${f.source.port} ${f.destination.port}\r\n`,
      'latin1',
    );
  }
  const addressBytes = f.v6 ? 36 : 12;
  const out = Buffer.alloc(16 + addressBytes);
  v2Signature.copy(out, 0);
  // §2.2: version 2 in the high nibble, command PROXY (1) in the low one.
  out[12] = 0x21;
  // §2.2: family AF_INET (1) or AF_INET6 (2), transport STREAM (1).
  out[13] = f.v6 ? 0x21 : 0x11;
  out.writeUInt16BE(addressBytes, 14);
  if (f.v6) {
    ipv6Bytes(f.source.address).copy(out, 16);
    ipv6Bytes(f.destination.address).copy(out, 32);
    out.writeUInt16BE(f.source.port, 48);
    out.writeUInt16BE(f.destination.port, 50);
  } else {
    ipv4Bytes(f.source.address).copy(out, 16);
    ipv4Bytes(f.destination.address).copy(out, 20);
    out.writeUInt16BE(f.source.port, 24);
    out.writeUInt16BE(f.destination.port, 26);
  }
  return out;
}

/**
 * Parses the PROXY header at the start of `data` (what arrived so far): `more` until it is
 * complete, `invalid` when it cannot be one (the connection must then be closed).
 */
export function parseProxyHeader(data: Buffer): ParseResult {
  if (data.length === 0) return { state: 'more' };
  const sig = Math.min(data.length, v2Signature.length);
  if (data.subarray(0, sig).equals(v2Signature.subarray(0, sig))) return parseV2(data);
  const v1 = Buffer.from('PROXY ');
  const pre = Math.min(data.length, v1.length);
  if (data.subarray(0, pre).equals(v1.subarray(0, pre))) return parseV1(data);
  return { state: 'invalid', reason: 'no PROXY protocol signature' };
}

function parseV1(data: Buffer): ParseResult {
  const end = data.indexOf('\r\n');
  if (end === -1) return data.length >= v1MaxBytes ? invalid('v1 line too long') : { state: 'more' };
  if (end + 2 > v1MaxBytes) return invalid('v1 line too long');
  const parts = data.subarray(0, end).toString('latin1').split(' ');
  // §2.1: "PROXY UNKNOWN" means the receiver must use the connection's own addresses.
  if (parts[1] === 'UNKNOWN') return { state: 'done', header: { command: 'local' }, length: end + 2 };
  if (parts.length !== 6 || (parts[1] !== 'TCP4' && parts[1] !== 'TCP6')) return invalid('bad v1 line');
  const valid = parts[1] === 'TCP4' ? isIPv4 : isIPv6;
  const [sp, dp] = [Number(parts[4]), Number(parts[5])];
  if (!valid(parts[2]) || !valid(parts[3]) || !isPort(parts[4]) || !isPort(parts[5]))
    return invalid('bad v1 addresses');
  return {
    state: 'done',
    header: {
      command: 'proxy',
      source: { address: parts[2], port: sp },
      destination: { address: parts[3], port: dp },
    },
    length: end + 2,
  };
}

function parseV2(data: Buffer): ParseResult {
  if (data.length < 16) return { state: 'more' };
  if (data[12] >> 4 !== 2) return invalid('unknown version');
  const length = 16 + data.readUInt16BE(14);
  if (length > v2MaxBytes) return invalid('v2 header too long');
  if (data.length < length) return { state: 'more' };
  const command = data[12] & 0x0f;
  // §2.2: LOCAL (0): "the receiver must accept this connection as valid and must use the real
  // connection endpoints and discard the protocol block including the family".
  if (command === 0) return { state: 'done', header: { command: 'local' }, length };
  if (command !== 1) return invalid('unknown command');
  const family = data[13] >> 4;
  if (family === 1 && length >= 16 + 12) {
    return done(data, length, ipv4Text(data.subarray(16, 20)), ipv4Text(data.subarray(20, 24)), 24);
  }
  if (family === 2 && length >= 16 + 36) {
    return done(data, length, ipv6Text(data.subarray(16, 32)), ipv6Text(data.subarray(32, 48)), 48);
  }
  // §2.2: UNSPEC or UNIX: "the receiver should ignore address information".
  return { state: 'done', header: { command: 'local' }, length };
}

function done(data: Buffer, length: number, src: string, dst: string, portsAt: number): ParseResult {
  return {
    state: 'done',
    header: {
      command: 'proxy',
      source: { address: src, port: data.readUInt16BE(portsAt) },
      destination: { address: dst, port: data.readUInt16BE(portsAt + 2) },
    },
    length,
  };
}

const invalid = (reason: string): ParseResult => ({ state: 'invalid', reason });
const isPort = (text: string) => /^\d{1,5}$/.test(text) && Number(text) <= 65535;

function ipv4Bytes(address: string): Buffer {
  return Buffer.from(address.split('.').map(Number));
}

function ipv4Text(bytes: Buffer): string {
  return Array.from(bytes).join('.');
}

function ipv6Bytes(address: string): Buffer {
  let text = address;
  const out = Buffer.alloc(16);
  // A trailing dotted IPv4 part (::ffff:1.2.3.4) is the last 32 bits.
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (dotted) {
    ipv4Bytes(dotted[1]).copy(out, 12);
    text = text.slice(0, -dotted[1].length) + '0:0';
  }
  const [head, tail] = text.split('::');
  const groups = (part: string | undefined) => (part ? part.split(':').filter((g) => g !== '') : []);
  const h = groups(head);
  const t = tail === undefined ? [] : groups(tail);
  const all = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  all.forEach((g, i) => {
    if (dotted && i >= 6) return;
    out.writeUInt16BE(parseInt(g, 16), i * 2);
  });
  return out;
}

function ipv6Text(bytes: Buffer): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(bytes.readUInt16BE(i).toString(16));
  return groups.join(':');
}
