// MemoryStore: the memory tier, an LRU bounded by bytes (headers + body) via lru-cache, with
// exact tag and host indexes kept with each entry (purges by tag or host touch only theirs).

import { LRUCache } from 'lru-cache';
import { hostOfKey } from './key.js';
import { inSlices } from './slices.js';
import {
  metaBytes,
  selects,
  type CacheStore,
  type CachedObject,
  type ObjectMeta,
  type PurgeSelector,
  type StoreStats,
} from './store.js';

export interface MemoryStoreOptions {
  maxBytes: number;
  maxObjectBytes: number;
  maxVariants: number;
  /** Called when an object leaves memory by eviction (the tiered store keeps it on disk). */
  onEvict?: (object: CachedObject) => void;
}

/**
 * What a live byte of metadata costs the process: V8 lets its old generation grow to a multiple
 * of what survives each full collection, and long-lived metadata shares heap pages with request
 * state promoted while in flight, so RSS grows by about twice an object's live heap bytes
 * (`npm run bench:memory`: 2.2x for 1 KiB objects on Node.js 20). Counting metadata at that
 * footprint keeps what cache.memory.maxBytes bounds close to what the process holds.
 */
export const heapFootprint = 2;

/** What the memory tier counts for an object: its body (a Buffer outside the heap) and its metadata's footprint. */
export function memoryBytes(object: CachedObject): number {
  return object.body.size + heapFootprint * metaBytes(object.meta);
}

interface Entry {
  variants: CachedObject[];
  bytes: number;
}

export class MemoryStore implements CacheStore {
  readonly name = 'memory';
  private lru: LRUCache<string, Entry>;
  private objectCount = 0;
  /** Tag -> keys with a variant carrying it; kept in step with the LRU (set and dispose). */
  private tagIndex = new Map<string, Set<string>>();
  /** Host -> keys of that host, for purges by host. */
  private hostIndex = new Map<string, Set<string>>();

  constructor(private readonly options: MemoryStoreOptions) {
    this.lru = this.newLru();
  }

  private newLru(): LRUCache<string, Entry> {
    const onEvict = this.options.onEvict;
    return new LRUCache<string, Entry>({
      maxSize: this.options.maxBytes,
      sizeCalculation: (entry) => Math.max(1, entry.bytes),
      dispose: (entry, key, reason) => {
        this.objectCount -= entry.variants.length;
        this.unindex(key, entry);
        if (reason === 'evict' && onEvict) for (const o of entry.variants) onEvict(o);
      },
    });
  }

  variants(key: string): readonly CachedObject[] | undefined {
    return this.lru.get(key)?.variants;
  }

  async put(object: CachedObject): Promise<void> {
    const bytes = memoryBytes(object);
    if (bytes > this.options.maxObjectBytes + 64 * 1024 || bytes > this.options.maxBytes) return;
    const old = this.lru.peek(object.meta.key);
    const variants = [object];
    if (old) {
      for (const v of old.variants) {
        if (v.meta.variant !== object.meta.variant && variants.length < this.options.maxVariants)
          variants.push(v);
      }
    }
    this.setEntry(object.meta.key, variants);
  }

  async updateMeta(meta: ObjectMeta): Promise<boolean> {
    const entry = this.lru.peek(meta.key);
    const index = entry?.variants.findIndex((v) => v.meta.variant === meta.variant) ?? -1;
    if (!entry || index === -1) return false;
    const variants = entry.variants.slice();
    variants[index] = { meta, body: variants[index].body };
    this.setEntry(meta.key, variants);
    return true;
  }

  /**
   * `visit`, if given, is called with each stored variant the purge touched. A purge by URL, tag
   * or host touches only its keys (the indexes); by prefix, or a soft purge of all, it walks the
   * keys in slices that yield to the event loop, so a purge of many objects never stalls requests.
   */
  async purge(
    selector: PurgeSelector,
    soft: boolean,
    visit?: (key: string, variant: string) => void,
  ): Promise<number> {
    if (selector.kind === 'all' && !soft) return this.dropAll(visit);
    let touched = 0;
    for (const keys of this.keyGroups(selector)) {
      await inSlices(keys, (key) => {
        touched += this.purgeKey(key, selector, soft, visit);
      });
    }
    return touched;
  }

  /**
   * The keys a selector may match, in groups (one per host): from the indexes, never from the
   * LRU's own key list (walking it for 100,000 keys holds the event loop for ~90 ms). A group is
   * a copy, as a soft purge re-inserts the keys it touches.
   */
  private *keyGroups(selector: PurgeSelector): Iterable<readonly string[]> {
    switch (selector.kind) {
      case 'url':
        yield [selector.key];
        return;
      case 'tag':
        yield [...(this.tagIndex.get(selector.tag) ?? [])];
        return;
      case 'host':
        yield [...(this.hostIndex.get(selector.host) ?? [])];
        return;
      case 'prefix': {
        // A prefix naming its host whole reads that host's keys; one ending inside a host, all.
        const host = hostOfPrefix(selector.prefix);
        if (host !== undefined) {
          yield [...(this.hostIndex.get(host) ?? [])];
          return;
        }
        for (const keys of [...this.hostIndex.values()]) yield [...keys];
        return;
      }
      case 'all':
        for (const keys of [...this.hostIndex.values()]) yield [...keys];
    }
  }

  private purgeKey(
    key: string,
    selector: PurgeSelector,
    soft: boolean,
    visit: ((key: string, variant: string) => void) | undefined,
  ): number {
    const entry = this.lru.peek(key);
    if (!entry) return 0;
    const host = hostOfKey(key);
    let changed = 0;
    for (const v of entry.variants) {
      if (!selects(selector, v.meta, host)) continue;
      changed++;
      visit?.(key, v.meta.variant);
      // Marked where it is: a soft purge of 100,000 objects allocates nothing (no pauses to
      // collect it), and whoever holds the object (a delivery, the disk write queue) sees it stale.
      if (soft) v.meta.invalidated = true;
    }
    if (soft || changed === 0) return changed;
    const keep = entry.variants.filter((v) => !selects(selector, v.meta, host));
    if (keep.length === 0) this.lru.delete(key);
    else this.setEntry(key, keep);
    return changed;
  }

  /** Hard purge of everything: a new, empty LRU at once; the old one is visited (if asked) in slices. */
  private async dropAll(visit: ((key: string, variant: string) => void) | undefined): Promise<number> {
    const n = this.objectCount;
    const old = this.lru;
    const hosts = this.hostIndex;
    this.lru = this.newLru();
    this.objectCount = 0;
    this.tagIndex = new Map();
    this.hostIndex = new Map();
    if (visit) {
      for (const keys of hosts.values()) {
        await inSlices([...keys], (key) => {
          for (const v of old.peek(key)?.variants ?? []) visit(key, v.meta.variant);
        });
      }
    }
    return n;
  }

  stats(): StoreStats {
    return { objects: this.objectCount, bytes: this.lru.calculatedSize };
  }

  /**
   * Evicts least recently used objects (as the LRU would: the tiered store keeps them on disk)
   * until `share` of the tier's bytes are freed; returns how many objects left.
   */
  shed(share: number): number {
    const goal = Math.ceil(this.lru.calculatedSize * (1 - share));
    const before = this.objectCount;
    while (this.lru.size > 0 && this.lru.calculatedSize > goal) this.lru.pop();
    return before - this.objectCount;
  }

  async close(): Promise<void> {
    this.lru.clear();
  }

  private setEntry(key: string, variants: CachedObject[]): void {
    let bytes = 0;
    for (const v of variants) bytes += memoryBytes(v);
    // Replacing an entry disposes the old one (reason 'set'), which subtracts its count.
    const entry = { variants, bytes };
    this.lru.set(key, entry);
    if (this.lru.peek(key) !== entry) return;
    this.objectCount += variants.length;
    // After set(): replacing an entry disposed the old one, which took its key out of the indexes.
    addTo(this.hostIndex, hostOfKey(key), key);
    for (const v of variants) for (const tag of v.meta.tags) addTo(this.tagIndex, tag, key);
  }

  /** Takes a disposed entry's key out of the indexes. */
  private unindex(key: string, entry: Entry): void {
    removeFrom(this.hostIndex, hostOfKey(key), key);
    for (const v of entry.variants) for (const tag of v.meta.tags) removeFrom(this.tagIndex, tag, key);
  }

  /** Index sizes (tests: the indexes follow the objects). */
  indexSizes(): { tags: number; hosts: number } {
    return { tags: this.tagIndex.size, hosts: this.hostIndex.size };
  }
}

/**
 * The host a key prefix names in full ("http://a.test/img/" names a.test), or undefined when
 * the prefix ends inside the host ("http://a.te"), which may match several hosts.
 */
function hostOfPrefix(prefix: string): string | undefined {
  const start = prefix.indexOf('://');
  if (start === -1) return undefined;
  const end = prefix.indexOf('/', start + 3);
  return end === -1 ? undefined : prefix.slice(start + 3, end);
}

function addTo(index: Map<string, Set<string>>, name: string, key: string): void {
  let keys = index.get(name);
  if (!keys) index.set(name, (keys = new Set()));
  keys.add(key);
}

function removeFrom(index: Map<string, Set<string>>, name: string, key: string): void {
  const keys = index.get(name);
  if (!keys) return;
  keys.delete(key);
  if (keys.size === 0) index.delete(name);
}
