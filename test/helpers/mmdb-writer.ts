// A small MaxMind DB (MMDB 2.0) writer for test databases: networks to records, written as the
// format spec says (https://maxmind.github.io/MaxMind-DB/): a binary search tree over the
// address bits, a 16-byte separator, a data section, then the metadata after its marker.
// IPv6 trees only (ip_version 6), with IPv4 networks in ::/96 as the readers expect; 32-bit records.

import { isIPv4, isIPv6 } from 'node:net';

/** A record value the writer can encode: strings, unsigned integers, booleans, lists and maps. */
export type MmdbValue = string | number | boolean | MmdbValue[] | { [key: string]: MmdbValue };

export interface MmdbNetwork {
  /** "192.0.2.0/24" or "2001:db8::/32". */
  cidr: string;
  record: { [key: string]: MmdbValue };
}

export interface MmdbOptions {
  /** metadata database_type, e.g. "GeoLite2-Country". */
  databaseType: string;
  /** metadata build_epoch in seconds; default 0 (tests stay reproducible). */
  buildEpochSec?: number;
}

/** Node numbers are assigned depth-first; a record is a node, no data, or one data entry. */
type Slot = TreeNode | { data: number } | undefined;
interface TreeNode {
  children: [Slot, Slot];
}

/**
 * The database bytes for `networks`. A later, more specific network inside an earlier one
 * splits it (the rest of the earlier one keeps its record); an equal or wider later one replaces.
 */
export function writeMmdb(networks: readonly MmdbNetwork[], options: MmdbOptions): Buffer {
  const root: TreeNode = { children: [undefined, undefined] };
  const records: string[] = [];
  const recordIndex = new Map<string, number>();
  for (const { cidr, record } of networks) {
    const json = JSON.stringify(record);
    let index = recordIndex.get(json);
    if (index === undefined) {
      index = records.length;
      records.push(json);
      recordIndex.set(json, index);
    }
    const [bits, prefix] = networkBits(cidr);
    insert(root, bits, prefix, index);
  }
  const nodes: TreeNode[] = [];
  number(root, nodes);
  const numbers = new Map(nodes.map((n, i) => [n, i]));
  const data = records.map((json) => encode(JSON.parse(json) as MmdbValue));
  const offsets: number[] = [];
  let offset = 0;
  for (const d of data) {
    offsets.push(offset);
    offset += d.length;
  }
  const nodeCount = nodes.length;
  const tree = Buffer.alloc(nodeCount * 8);
  const recordValue = (slot: Slot): number => {
    if (slot === undefined) return nodeCount;
    if ('data' in slot) return nodeCount + 16 + offsets[slot.data];
    return numbers.get(slot)!;
  };
  nodes.forEach((n, i) => {
    tree.writeUInt32BE(recordValue(n.children[0]), i * 8);
    tree.writeUInt32BE(recordValue(n.children[1]), i * 8 + 4);
  });
  const metadata = encode({
    node_count: nodeCount,
    record_size: 32,
    ip_version: 6,
    database_type: options.databaseType,
    languages: ['en'],
    binary_format_major_version: 2,
    binary_format_minor_version: 0,
    build_epoch: options.buildEpochSec ?? 0,
    description: { en: `Strata test database (${options.databaseType})` },
  });
  return Buffer.concat([tree, Buffer.alloc(16), ...data, metadataMarker, metadata]);
}

const metadataMarker = Buffer.concat([Buffer.from([0xab, 0xcd, 0xef]), Buffer.from('MaxMind.com')]);

/** The 128 bits of a network's address (IPv4 in ::/96) and its prefix length in that tree. */
export function networkBits(cidr: string): [Uint8Array, number] {
  const [address, length] = cidr.split('/');
  const bytes = new Uint8Array(16);
  if (isIPv4(address)) {
    address.split('.').forEach((octet, i) => (bytes[12 + i] = Number(octet)));
    return [bytes, 96 + Number(length ?? 32)];
  }
  if (!isIPv6(address)) throw new Error(`not an IP network: ${cidr}`);
  const [head, tail = ''] = address.split('::');
  const groups = (text: string) => (text === '' ? [] : text.split(':').map((g) => parseInt(g, 16)));
  const left = groups(head);
  const right = address.includes('::') ? groups(tail) : [];
  const all = [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right];
  all.forEach((g, i) => {
    bytes[i * 2] = g >> 8;
    bytes[i * 2 + 1] = g & 0xff;
  });
  return [bytes, Number(length ?? 128)];
}

function bitAt(bytes: Uint8Array, i: number): 0 | 1 {
  return ((bytes[i >> 3] >> (7 - (i & 7))) & 1) as 0 | 1;
}

function insert(root: TreeNode, bits: Uint8Array, prefix: number, data: number): void {
  let node = root;
  for (let depth = 0; depth < prefix - 1; depth++) {
    const bit = bitAt(bits, depth);
    const slot = node.children[bit];
    if (slot === undefined || 'data' in slot) {
      // A wider network's record (or none) covers both halves until split further.
      const next: TreeNode = { children: [slot, slot] };
      node.children[bit] = next;
      node = next;
    } else node = slot;
  }
  node.children[bitAt(bits, prefix - 1)] = { data };
}

function number(node: TreeNode, out: TreeNode[]): void {
  out.push(node);
  for (const child of node.children) if (child !== undefined && !('data' in child)) number(child, out);
}

/** Data section encoding: a control byte (type, size), extended type byte, size bytes, payload. */
export function encode(value: MmdbValue): Buffer {
  if (typeof value === 'string') {
    const bytes = Buffer.from(value, 'utf8');
    return Buffer.concat([control(2, bytes.length), bytes]);
  }
  if (typeof value === 'boolean') return control(14, value ? 1 : 0);
  if (typeof value === 'number') {
    if (!Number.isInteger(value) || value < 0) throw new Error(`only unsigned integers: ${value}`);
    const bytes = unsignedBytes(value);
    const type = value <= 0xffff ? 5 : value <= 0xffffffff ? 6 : 9;
    return Buffer.concat([control(type, bytes.length), bytes]);
  }
  if (Array.isArray(value)) return Buffer.concat([control(11, value.length), ...value.map(encode)]);
  const entries = Object.entries(value);
  return Buffer.concat([control(7, entries.length), ...entries.flatMap(([k, v]) => [encode(k), encode(v)])]);
}

function unsignedBytes(value: number): Buffer {
  const bytes: number[] = [];
  for (let v = value; v > 0; v = Math.floor(v / 256)) bytes.unshift(v % 256);
  return Buffer.from(bytes);
}

/** Types 1-7 sit in the control byte's top 3 bits; 8 and above are 0 there and type-7 in the next byte. */
function control(type: number, size: number): Buffer {
  const sizeBytes: number[] = [];
  let sizeField: number;
  if (size < 29) sizeField = size;
  else if (size < 285) {
    sizeField = 29;
    sizeBytes.push(size - 29);
  } else if (size < 65_821) {
    sizeField = 30;
    sizeBytes.push((size - 285) >> 8, (size - 285) & 0xff);
  } else {
    sizeField = 31;
    const rest = size - 65_821;
    sizeBytes.push((rest >> 16) & 0xff, (rest >> 8) & 0xff, rest & 0xff);
  }
  const head = type <= 7 ? [(type << 5) | sizeField] : [sizeField, type - 7];
  return Buffer.from([...head, ...sizeBytes]);
}
