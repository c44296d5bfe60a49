// Purger: the one entry point of a purge on a node (a worker, or a node without workers). It
// turns a purge's selectors into store selectors (cache keys through the router, as requests
// are keyed), fences fills in flight (fences.ts), stops fills in flight from being joined or
// stored, and purges the store.

import type { FillRegistry } from '../cache/fill.js';
import { keyBuilder } from '../cache/key.js';
import type { CacheStore, PurgeSelector } from '../cache/store.js';
import { normalizeHost } from '../http/host.js';
import type { Router } from '../http/router.js';
import type { PurgeFences } from './fences.js';
import { compareIds, type PurgeSpec } from './message.js';

export interface PurgerOptions {
  store: CacheStore;
  fills: FillRegistry;
  router: Router;
  fences: PurgeFences;
}

/** The key of a URL on a host no site serves: the default key options. */
const defaultKey = keyBuilder({ query: 'keep', dropParams: [] });

const schemes = ['http', 'https'] as const;

export class Purger {
  /** The last purge from the log this node applied ('0-0': none): what its answers are purged through. */
  appliedId = '0-0';

  constructor(private readonly options: PurgerOptions) {}

  /**
   * Applies a purge; resolves with how many stored objects it deleted or marked stale. A fill in
   * flight that the purge may match is no longer joined and its response is not stored.
   */
  async apply(spec: PurgeSpec & { id?: string }): Promise<number> {
    const selectors = this.selectors(spec);
    const { fences, fills, store } = this.options;
    fences.record(selectors, spec.soft);
    fills.invalidateWhere((fill) => selectors.some((s) => fillMayMatch(s, fill.key, fill.tags)));
    let objects = 0;
    for (const selector of selectors) objects += await store.purge(selector, spec.soft);
    if (spec.id !== undefined && compareIds(spec.id, this.appliedId) > 0) this.appliedId = spec.id;
    return objects;
  }

  /**
   * Store selectors for a purge. A URL or prefix covers both schemes (a client may have fetched
   * either), keyed as the site serving its host keys requests (query options, shared schemes).
   */
  selectors(spec: PurgeSpec): PurgeSelector[] {
    if (spec.all) return [{ kind: 'all' }];
    const out: PurgeSelector[] = [];
    const keys = new Set<string>();
    for (const text of spec.urls) {
      const url = new URL(text);
      const key = this.options.router.route(url.host)?.key ?? defaultKey;
      for (const scheme of schemes) keys.add(key(scheme, url.host, url.pathname + url.search));
    }
    for (const key of keys) out.push({ kind: 'url', key });
    const prefixes = new Set<string>();
    for (const text of spec.prefixes) {
      const url = new URL(text);
      // The raw path as given (URL would add a "/" to "http://h"), from after the authority.
      const rest = text.slice(text.indexOf('//') + 2);
      const slash = rest.search(/[/?]/);
      const path = slash === -1 ? '' : rest.slice(slash);
      for (const scheme of schemes) prefixes.add(`${scheme}://${normalizeHost(url.host, scheme)}${path}`);
    }
    for (const prefix of prefixes) out.push({ kind: 'prefix', prefix });
    for (const host of new Set(spec.hosts.map((h) => normalizeHost(h, 'any'))))
      out.push({ kind: 'host', host });
    for (const tag of new Set(spec.tags)) out.push({ kind: 'tag', tag });
    return out;
  }
}

/** Whether a fill for `key` may be what a selector purges; a fill whose tags are not known yet may be. */
function fillMayMatch(selector: PurgeSelector, key: string, tags: readonly string[] | undefined): boolean {
  switch (selector.kind) {
    case 'url':
      return key === selector.key;
    case 'prefix':
      return key.startsWith(selector.prefix);
    case 'host': {
      const start = key.indexOf('://') + 3;
      const end = key.indexOf('/', start);
      return key.slice(start, end === -1 ? undefined : end) === selector.host;
    }
    case 'tag':
      return tags === undefined || tags.includes(selector.tag);
    case 'all':
      return true;
  }
}
