// EDNS Client Subnet (RFC 7871): the client's network a resolver passes on, read from the
// option's bytes (validated as the RFC says), and the option echoed in the response.

import type { PacketOpt } from 'dns-packet';

/** RFC 7871 §6: OPTION-CODE 8. */
const ecsCode = 8;

export interface ClientSubnet {
  /** 1: IPv4, 2: IPv6 (IANA address family numbers). */
  family: 1 | 2;
  sourcePrefixLength: number;
  /** The address with the bits past the source prefix zero, as text. */
  address: string;
  /** The option's address bytes as sent (ceil(source / 8) of them). */
  bytes: Buffer;
}

/**
 * The query's ECS option, undefined without one, or 'invalid' when it breaks RFC 7871 §6:
 * an unknown family, a source prefix longer than the family's addresses, a non-zero scope in
 * a query, address bytes other than ceil(source / 8), or bits set past the source prefix.
 */
export function clientSubnet(options: readonly PacketOpt[]): ClientSubnet | 'invalid' | undefined {
  const found = options.filter((o) => Number(o.code) === ecsCode);
  if (found.length === 0) return undefined;
  if (found.length > 1) return 'invalid';
  const data = found[0].data;
  if (!data || data.length < 4) return 'invalid';
  const family = data.readUInt16BE(0);
  const source = data[2];
  const scope = data[3];
  const bytes = data.subarray(4);
  if (family !== 1 && family !== 2) return 'invalid';
  const width = family === 1 ? 32 : 128;
  if (source > width || scope !== 0 || bytes.length !== Math.ceil(source / 8)) return 'invalid';
  // RFC 7871 §6: "the ADDRESS MUST be truncated to the number of bits indicated by the SOURCE
  // PREFIX-LENGTH field, padding with 0 bits to pad to the end of the last octet needed."
  if (source % 8 !== 0 && (bytes[bytes.length - 1] & (0xff >> (source % 8))) !== 0) return 'invalid';
  const full = Buffer.alloc(width / 8);
  bytes.copy(full);
  return { family, sourcePrefixLength: source, address: addressText(full), bytes: Buffer.from(bytes) };
}

/** The ECS option of a response: the query's family, source prefix and address, with our scope. */
export function subnetOption(subnet: ClientSubnet, scope: number): PacketOpt {
  const header = Buffer.alloc(4);
  header.writeUInt16BE(subnet.family, 0);
  header[2] = subnet.sourcePrefixLength;
  header[3] = Math.min(scope, subnet.family === 1 ? 32 : 128);
  return { code: ecsCode, data: Buffer.concat([header, subnet.bytes]) } as PacketOpt;
}

function addressText(bytes: Buffer): string {
  if (bytes.length === 4) return bytes.join('.');
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(bytes.readUInt16BE(i).toString(16));
  return groups.join(':');
}
