// TieredStore: the memory tier over the disk tier. Memory answers first (synchronously); a memory
// miss looks on disk, and a disk hit is served and promoted to memory. Disk writes are
// write-behind through a bounded queue, so a response never waits for the disk.

import type { Logger } from '../log.js';
import { StrataError } from '../errors.js';
import type { DiskEvents, DiskStore } from './disk-store.js';
import { objectId } from './disk-layout.js';
import { hostOfKey } from './key.js';
import { MemoryStore, type MemoryStoreOptions } from './memory-store.js';
import {
  bufferBody,
  selects,
  type CacheStore,
  type CachedObject,
  type ObjectMeta,
  type PurgeSelector,
  type StoreStats,
  type StoredBody,
} from './store.js';
import { WriteBehind } from './tiered-write-queue.js';

export interface TieredStoreOptions {
  /** The memory tier; objects up to its maxObjectBytes are promoted from disk. */
  memory: Omit<MemoryStoreOptions, 'onEvict'>;
  /** The disk tier, opened by open(). */
  disk: DiskStore;
  writeQueue: { maxObjects: number; maxBytes: number };
  /** What to do when the disk tier cannot be opened at start: stop, or run from memory only. */
  onOpenError: 'fail' | 'memory-only';
  log?: Logger;
  events?: Partial<DiskEvents>;
  /**
   * Which keys the disk tier holds (default: all). A worker of a node with several keeps only
   * the keys it owns on its disk tier; its copies of the others live in memory only.
   */
  onDisk?: (key: string) => boolean;
}

type Variants = readonly CachedObject[] | undefined;

export class TieredStore implements CacheStore {
  readonly name = 'tiered';
  readonly memory: MemoryStore;
  readonly disk: DiskStore;
  private readonly queue: WriteBehind;
  private diskOn = false;
  /** Disk reads in progress per key: concurrent misses on one key share one read and promotion. */
  private readonly reading = new Map<string, Promise<Variants>>();
  /** Bumped by every purge; a disk read that straddles one is treated as a miss. */
  private generation = 0;

  constructor(private readonly options: TieredStoreOptions) {
    this.disk = options.disk;
    this.memory = new MemoryStore({ ...options.memory, onEvict: (o) => this.demoted(o) });
    this.queue = new WriteBehind({
      ...options.writeQueue,
      write: (object) =>
        this.disk.put(object).catch((err: unknown) => {
          this.options.log?.error({ err, key: object.meta.key }, 'disk tier put failed');
        }),
    });
  }

  /** Opens the disk tier at start; see `onOpenError` for what happens when it cannot. */
  async open(): Promise<void> {
    try {
      await this.disk.open();
      this.diskOn = true;
    } catch (err) {
      if (this.options.onOpenError === 'fail') throw err;
      this.options.log?.error(
        { code: StrataError.from(err).code, err: StrataError.from(err).message, path: this.disk.path },
        'disk tier unavailable: running from memory only (cache.disk.onOpenError: memory-only)',
      );
    }
  }

  /**
   * Synchronous when memory answers (the hit path depends on it). Goes to disk only when memory
   * has no entry, or fewer variants of the key than the disk index lists.
   */
  variants(key: string): Variants | Promise<Variants> {
    const mem = this.memory.variants(key);
    if (!this.diskOn || (this.options.onDisk && !this.options.onDisk(key))) return mem;
    if (mem === undefined) {
      const queued = this.queue.pending(key);
      if (queued.length > 0) return queued;
    }
    const onDisk = this.disk.variantCount(key);
    if (onDisk === 0 || (mem !== undefined && mem.length >= onDisk)) return mem;
    let read = this.reading.get(key);
    if (!read) {
      read = this.fromDisk(key).finally(() => this.reading.delete(key));
      this.reading.set(key, read);
    }
    return read.then((found) => merge(this.memory.variants(key) ?? mem, found));
  }

  /** Stores in memory now and queues the disk write (skipped and counted when the queue is full). */
  async put(object: CachedObject): Promise<void> {
    await this.memory.put(object);
    this.toDisk(object);
  }

  /**
   * A disk read of the key in flight may still promote the older metadata; that copy is then
   * revalidated once more on use, which is harmless, so reads are not invalidated here.
   */
  async updateMeta(meta: ObjectMeta): Promise<boolean> {
    const id = objectId(meta.key, meta.variant);
    const inMemory = await this.memory.updateMeta(meta);
    const queued = this.queue.update((o) =>
      objectId(o.meta.key, o.meta.variant) === id ? { meta, body: o.body } : o,
    );
    const onDisk = this.diskOn ? await this.disk.updateMeta(meta) : false;
    return inMemory || queued > 0 || onDisk;
  }

  /** Purges both tiers and the write queue; counts each stored variant once. */
  async purge(selector: PurgeSelector, soft: boolean): Promise<number> {
    this.generation++;
    this.reading.clear();
    const touched = new Set<string>();
    const visit = (key: string, variant: string) => touched.add(objectId(key, variant));
    await this.memory.purge(selector, soft, visit);
    this.queue.update((o) => {
      if (!selects(selector, o.meta, hostOfKey(o.meta.key))) return o;
      visit(o.meta.key, o.meta.variant);
      return soft ? { meta: { ...o.meta, invalidated: true }, body: o.body } : undefined;
    });
    if (this.diskOn) await this.disk.purge(selector, soft, visit);
    return touched.size;
  }

  /** The larger tier's figures (the disk normally holds what memory holds); per tier: tiers(). */
  stats(): StoreStats {
    const m = this.memory.stats();
    const d = this.diskOn ? this.disk.stats() : { objects: 0, bytes: 0 };
    return { objects: Math.max(m.objects, d.objects), bytes: Math.max(m.bytes, d.bytes) };
  }

  /** Per-tier figures for metrics. */
  tiers(): Record<'memory' | 'disk', StoreStats> {
    return { memory: this.memory.stats(), disk: this.disk.stats() };
  }

  /** Resolves when queued disk writes are done (tests, shutdown). */
  flush(): Promise<void> {
    return this.queue.drained();
  }

  /** Writes what is queued, then closes the disk and memory tiers. */
  async close(): Promise<void> {
    this.queue.stop();
    await this.queue.drained();
    this.diskOn = false;
    await this.disk.close();
    await this.memory.close();
  }

  private toDisk(object: CachedObject): void {
    if (!this.diskOn || (this.options.onDisk && !this.options.onDisk(object.meta.key))) return;
    if (!this.queue.offer(object)) this.options.events?.writeSkipped?.('queue-full');
  }

  /** An object left memory: it stays on disk (marked used), or is queued if it never got there. */
  private demoted(object: CachedObject): void {
    if (!this.diskOn) return;
    const { key, variant } = object.meta;
    if (this.options.onDisk && !this.options.onDisk(key)) return;
    if (this.disk.has(key, variant)) this.disk.touch(key, variant);
    else if (!this.queue.has(object)) this.toDisk(object);
  }

  /**
   * Reads a key's variants from disk. Bodies up to the memory tier's maxObjectBytes are read
   * whole (every chunk verified, so a damaged one is a miss, never a broken response) and
   * promoted; larger ones are served streaming from disk.
   */
  private async fromDisk(key: string): Promise<Variants> {
    const generation = this.generation;
    const found = await this.disk.variants(key);
    if (!found) return undefined;
    const out: CachedObject[] = [];
    for (const object of found) {
      if (object.body.size > this.options.memory.maxObjectBytes) out.push(object);
      else {
        const body = await readWhole(object.body).catch((err: unknown) => {
          // The disk tier logged and counted a damaged object; anything else is logged here.
          const e = StrataError.from(err);
          if (e.code !== 'STORE_CORRUPT') this.options.log?.warn({ err: e.message, key }, 'disk read failed');
          return undefined;
        });
        if (body) out.push({ meta: object.meta, body: bufferBody(body) });
      }
    }
    // A purge happened while reading: what was read may be purged; treat it as a miss.
    if (generation !== this.generation) return undefined;
    if (out.length > 0) this.options.events?.hit?.();
    const inMemory = new Set((this.memory.variants(key) ?? []).map((o) => o.meta.variant));
    // Oldest first, so the most recently stored variant ends up first in memory too.
    for (let i = out.length - 1; i >= 0; i--) {
      if (out[i].body.buffer && !inMemory.has(out[i].meta.variant)) await this.memory.put(out[i]);
    }
    return out.length > 0 ? out : undefined;
  }
}

/** Memory's variants first (they are the newest), then disk variants memory does not have. */
function merge(mem: Variants, disk: Variants): Variants {
  if (!disk) return mem;
  if (!mem) return disk;
  const seen = new Set(mem.map((o) => o.meta.variant));
  return [...mem, ...disk.filter((o) => !seen.has(o.meta.variant))];
}

/**
 * Reads a body into one buffer: a one-chunk body is that chunk as read (no copy); a longer one
 * is copied into an exactly sized buffer chunk by chunk as it arrives (never twice its size).
 */
async function readWhole(body: StoredBody): Promise<Buffer> {
  let out: Buffer | undefined;
  let offset = 0;
  for await (const part of body.read()) {
    if (!out && part.length === body.size) return part;
    out ??= Buffer.allocUnsafeSlow(body.size);
    offset += part.copy(out, offset);
  }
  return out ?? Buffer.alloc(0);
}
