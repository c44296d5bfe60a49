// The purge bus's wire formats (v1): a purge as the API accepts it and as the log carries it,
// a node's acknowledgement, and a node's heartbeat. Every format carries `v` and a reader
// refuses a version it does not know. Documented in docs/admin-api.md (heartbeats: "Node heartbeats").

import { normalizeHost } from '../http/host.js';

/** What to purge: at least one selector; `soft` marks stale instead of deleting. */
export interface PurgeSpec {
  urls: string[];
  prefixes: string[];
  hosts: string[];
  tags: string[];
  all: boolean;
  soft: boolean;
}

/** A purge in the log: its id is its position in the log (a Redis stream id, "ms-seq"). */
export interface PurgeMessage extends PurgeSpec {
  v: 1;
  id: string;
  /** When the API accepted it (ms since epoch). */
  atMs: number;
}

/** One node's word that it applied a purge. */
export interface PurgeAck {
  v: 1;
  id: string;
  node: string;
  /** When the node had applied it (ms since epoch). */
  appliedMs: number;
  /** From the API accepting it to the node having applied it. */
  lagMs: number;
  /** Objects it deleted or marked stale (over every worker). */
  objects: number;
  /** Workers that did not apply it in time (a node with workers only); absent when all did. */
  missing?: number[];
}

/** Which part of the CDN a node is. */
export type NodeKind = 'edge' | 'shield';

/**
 * A node's heartbeat, written every purge.heartbeat to the bus: the API counts the live nodes a
 * purge waits for from these, and GeoDNS and the dashboard read edge health from them.
 */
export interface Heartbeat {
  v: 1;
  /** node.id */
  node: string;
  role: NodeKind;
  /** node.region */
  region: string;
  /** Strata's version (package.json). */
  version: string;
  /** Where the node serves, as bound: the proxy listener, the TLS listener if any, the admin listener. */
  http: string;
  https?: string;
  admin: string;
  /** The IP addresses the node serves on (the proxy listeners' bound hosts, unspecified ones expanded). */
  addresses: string[];
  startedMs: number;
  /** When this heartbeat was written; the node counts as live until atMs + 3 heartbeat intervals. */
  atMs: number;
  intervalMs: number;
  /** The last purge the node applied ('0-0': none yet). */
  appliedId: string;
  /** Worker processes serving (1 without workers). */
  workers: number;
}

/** Most selectors one purge may carry, and the longest selector, in characters. */
export const maxSelectors = 1000;
export const maxSelectorChars = 4096;

const specKeys = ['urls', 'prefixes', 'hosts', 'tags', 'all', 'soft'] as const;

/** Checks a parsed API body; returns the purge or the reason it is refused (a 400's text). */
export function parseSpec(body: unknown): { spec: PurgeSpec } | { problem: string } {
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    return { problem: 'the body must be a JSON object such as {"urls": ["https://example.test/a"]}' };
  const input = body as Record<string, unknown>;
  for (const key of Object.keys(input)) {
    if (!(specKeys as readonly string[]).includes(key))
      return { problem: `unknown field "${key}" (known fields: ${specKeys.join(', ')})` };
  }
  const spec: PurgeSpec = { urls: [], prefixes: [], hosts: [], tags: [], all: false, soft: false };
  for (const key of ['all', 'soft'] as const) {
    const value = input[key];
    if (value === undefined) continue;
    if (typeof value !== 'boolean') return { problem: `"${key}" must be true or false` };
    spec[key] = value;
  }
  for (const key of ['urls', 'prefixes', 'hosts', 'tags'] as const) {
    const value = input[key];
    if (value === undefined) continue;
    if (!Array.isArray(value) || value.some((v) => typeof v !== 'string' || v.length === 0))
      return { problem: `"${key}" must be a list of non-empty strings` };
    const long = (value as string[]).find((v) => v.length > maxSelectorChars);
    if (long !== undefined)
      return { problem: `"${key}" has an entry longer than ${maxSelectorChars} characters` };
    spec[key] = value as string[];
  }
  const count = spec.urls.length + spec.prefixes.length + spec.hosts.length + spec.tags.length;
  if (count === 0 && !spec.all)
    return { problem: 'nothing to purge: give at least one of urls, prefixes, hosts, tags or "all": true' };
  if (count > maxSelectors) return { problem: `too many selectors (${count}; at most ${maxSelectors})` };
  for (const [key, values] of [
    ['urls', spec.urls],
    ['prefixes', spec.prefixes],
  ] as const) {
    for (const v of values) {
      const problem = urlProblem(v);
      if (problem) return { problem: `"${key}": ${JSON.stringify(v)} ${problem}` };
    }
  }
  for (const h of spec.hosts) {
    if (!/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(:\d{1,5})?$/.test(h))
      return { problem: `"hosts": ${JSON.stringify(h)} is not a host name (such as example.test)` };
  }
  for (const t of spec.tags) {
    if (/[\s,]/.test(t))
      return { problem: `"tags": ${JSON.stringify(t)} holds a space or comma (one tag per entry)` };
  }
  spec.hosts = spec.hosts.map((h) => normalizeHost(h, 'any'));
  return { spec };
}

/** What is wrong with a URL selector (an absolute http or https URL), or undefined. */
function urlProblem(value: string): string | undefined {
  if (!/^https?:\/\//i.test(value)) return 'is not an absolute http:// or https:// URL';
  try {
    const url = new URL(value);
    if (url.username || url.password) return 'must not carry credentials';
  } catch {
    return 'is not a valid URL';
  }
  return undefined;
}

/** The log's encoding of a purge (without its id, which is its position in the log). */
export function encodePurge(spec: PurgeSpec, atMs: number): string {
  const { urls, prefixes, hosts, tags, all, soft } = spec;
  return JSON.stringify({ v: 1, atMs, urls, prefixes, hosts, tags, all, soft });
}

/** Reads a purge from the log; undefined for a version or shape this node does not know. */
export function decodePurge(id: string, text: string): PurgeMessage | undefined {
  try {
    const m = JSON.parse(text) as Partial<PurgeMessage>;
    if (m.v !== 1 || typeof m.atMs !== 'number') return undefined;
    const lists = [m.urls, m.prefixes, m.hosts, m.tags];
    if (lists.some((l) => !Array.isArray(l))) return undefined;
    return {
      v: 1,
      id,
      atMs: m.atMs,
      urls: m.urls!,
      prefixes: m.prefixes!,
      hosts: m.hosts!,
      tags: m.tags!,
      all: m.all === true,
      soft: m.soft === true,
    };
  } catch {
    // Not JSON: not a message this version wrote; the caller logs and skips it.
    return undefined;
  }
}

/** Parses a versioned JSON record (an ack, a heartbeat); undefined for an unknown version. */
export function decodeVersioned<T extends { v: 1 }>(text: string | null | undefined): T | undefined {
  if (!text) return undefined;
  try {
    const value = JSON.parse(text) as T;
    return value?.v === 1 ? value : undefined;
  } catch {
    // Damaged or foreign data: ignored, as a record this version did not write.
    return undefined;
  }
}

/** Orders log ids ("ms-seq", as Redis stream ids): negative when a comes first. */
export function compareIds(a: string, b: string): number {
  const [am, as = '0'] = a.split('-');
  const [bm, bs = '0'] = b.split('-');
  return Number(am) - Number(bm) || Number(as) - Number(bs);
}

/** A well-formed log id. */
export const idPattern = /^\d{1,20}-\d{1,20}$/;
