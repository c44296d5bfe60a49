// MemoryStore: the memory tier, an LRU bounded by bytes (headers + body) via lru-cache.

import { LRUCache } from 'lru-cache';
import { hostOfKey } from './key.js';
import {
  objectBytes,
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

interface Entry {
  variants: CachedObject[];
  bytes: number;
}

export class MemoryStore implements CacheStore {
  readonly name = 'memory';
  private readonly lru: LRUCache<string, Entry>;
  private objectCount = 0;

  constructor(private readonly options: MemoryStoreOptions) {
    this.lru = new LRUCache<string, Entry>({
      maxSize: options.maxBytes,
      sizeCalculation: (entry) => Math.max(1, entry.bytes),
      dispose: (entry, _key, reason) => {
        this.objectCount -= entry.variants.length;
        if (reason === 'evict' && options.onEvict) for (const o of entry.variants) options.onEvict(o);
      },
    });
  }

  variants(key: string): readonly CachedObject[] | undefined {
    return this.lru.get(key)?.variants;
  }

  async put(object: CachedObject): Promise<void> {
    const bytes = objectBytes(object);
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

  /** `visit`, if given, is called with each stored variant the purge touched. */
  async purge(
    selector: PurgeSelector,
    soft: boolean,
    visit?: (key: string, variant: string) => void,
  ): Promise<number> {
    if (selector.kind === 'all' && !soft && !visit) {
      const n = this.objectCount;
      this.lru.clear();
      return n;
    }
    const keys = selector.kind === 'url' ? [selector.key] : [...this.lru.keys()];
    let touched = 0;
    for (const key of keys) {
      const entry = this.lru.peek(key);
      if (!entry) continue;
      const host = hostOfKey(key);
      const keep: CachedObject[] = [];
      let changed = 0;
      for (const v of entry.variants) {
        if (!selects(selector, v.meta, host)) keep.push(v);
        else {
          changed++;
          visit?.(key, v.meta.variant);
          if (soft) keep.push({ meta: { ...v.meta, invalidated: true }, body: v.body });
        }
      }
      touched += changed;
      if (keep.length === 0) this.lru.delete(key);
      else if (changed > 0) this.setEntry(key, keep);
    }
    return touched;
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
    for (const v of variants) bytes += objectBytes(v);
    // Replacing an entry disposes the old one (reason 'set'), which subtracts its count.
    this.lru.set(key, { variants, bytes });
    if (this.lru.peek(key)?.variants === variants) this.objectCount += variants.length;
  }
}
