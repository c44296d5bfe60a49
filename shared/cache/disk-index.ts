// DiskIndex: the disk tier's in-memory index of stored variants (size, last access, body),
// in LRU order for eviction, rebuilt at open from the metadata records. The records of recently
// read variants are kept on their entries too (bounded), so a hot disk hit reads no record.

import type { ObjectRecord } from './disk-layout.js';

/** What the index keeps per stored variant: enough to find, evict and purge it without a read. */
export interface IndexEntry {
  /** objectId(key, variant). */
  readonly id: string;
  readonly key: string;
  readonly variant: string;
  readonly bodyId: string;
  readonly chunks: number;
  /** Whether the body is a file (record v2) rather than LevelDB chunks (v1). */
  readonly file: boolean;
  /** Accounted size: body plus a metadata estimate (objectBytes). */
  readonly bytes: number;
  readonly tags: readonly string[];
  readonly storedMs: number;
  accessMs: number;
  /** The variant's record as last read, while it is among the hot ones (see keepRecord). */
  record?: ObjectRecord;
}

/**
 * Heap kept for hot records, counted as objectBytes counts metadata (about 1,000 bytes plus the
 * header fields and tags of each): a few thousand records, so the disk hits of a hot set read
 * no record from LevelDB.
 */
const hotRecordBytes = 8 * 1024 * 1024;

export class DiskIndex {
  /** Every entry, least recently used first (a Map iterates in insertion order). */
  private readonly lru = new Map<string, IndexEntry>();
  /** Entries per primary key, most recently stored first. */
  private readonly byKey = new Map<string, IndexEntry[]>();
  /** Ids whose access time changed since the last flush. */
  private readonly dirty = new Set<string>();
  private totalBytes = 0;
  /** Entries holding their record, least recently kept first, and what they count. */
  private readonly hot = new Set<IndexEntry>();
  private hotBytes = 0;

  get size(): number {
    return this.lru.size;
  }

  get bytes(): number {
    return this.totalBytes;
  }

  get(id: string): IndexEntry | undefined {
    return this.lru.get(id);
  }

  /** The variants stored for a primary key, most recently stored first. */
  variantsOf(key: string): readonly IndexEntry[] | undefined {
    return this.byKey.get(key);
  }

  /** Adds an entry, replacing one with the same id; it becomes the most recently used. */
  add(entry: IndexEntry): void {
    this.remove(entry.id);
    this.lru.set(entry.id, entry);
    this.totalBytes += entry.bytes;
    const list = this.byKey.get(entry.key);
    if (!list) this.byKey.set(entry.key, [entry]);
    else {
      // Most recently stored first; a rebuild adds in any order, so keep the list sorted.
      let i = 0;
      while (i < list.length && list[i].storedMs > entry.storedMs) i++;
      list.splice(i, 0, entry);
    }
  }

  remove(id: string): IndexEntry | undefined {
    const entry = this.lru.get(id);
    if (!entry) return undefined;
    this.lru.delete(id);
    this.dirty.delete(id);
    this.forgetRecord(entry);
    this.totalBytes -= entry.bytes;
    const list = this.byKey.get(entry.key)!;
    const rest = list.filter((e) => e !== entry);
    if (rest.length === 0) this.byKey.delete(entry.key);
    else this.byKey.set(entry.key, rest);
    return entry;
  }

  /** Records an access: the entry moves to the most recently used end; persisted lazily. */
  touch(id: string, nowMs: number): void {
    const entry = this.lru.get(id);
    if (!entry) return;
    entry.accessMs = nowMs;
    this.lru.delete(id);
    this.lru.set(id, entry);
    this.dirty.add(id);
  }

  /**
   * Keeps a record read for an entry still in the index (the caller checks that it is the entry
   * the read began with, so a record replaced meanwhile is never kept); the least recently kept
   * records are dropped past hotRecordBytes.
   */
  keepRecord(entry: IndexEntry, record: ObjectRecord): void {
    this.forgetRecord(entry);
    entry.record = record;
    this.hot.add(entry);
    this.hotBytes += metaBytes(entry);
    for (const old of this.hot) {
      if (this.hotBytes <= hotRecordBytes) break;
      this.forgetRecord(old);
    }
  }

  /** Drops an entry's kept record (its record on disk is about to change). */
  forgetRecord(entry: IndexEntry): void {
    if (!this.hot.delete(entry)) return;
    this.hotBytes -= metaBytes(entry);
    entry.record = undefined;
  }

  /** Entries from the least recently used on. */
  oldest(): IterableIterator<IndexEntry> {
    return this.lru.values();
  }

  /** Entries whose access time has not been persisted yet; clears the dirty set. */
  takeDirty(): IndexEntry[] {
    const out: IndexEntry[] = [];
    for (const id of this.dirty) {
      const entry = this.lru.get(id);
      if (entry) out.push(entry);
    }
    this.dirty.clear();
    return out;
  }

  clear(): void {
    this.lru.clear();
    this.byKey.clear();
    this.dirty.clear();
    for (const entry of this.hot) entry.record = undefined;
    this.hot.clear();
    this.hotBytes = 0;
    this.totalBytes = 0;
  }

  /** Builds an index from entries read at open, ordered by their persisted access times. */
  static rebuild(entries: IndexEntry[]): DiskIndex {
    const index = new DiskIndex();
    entries.sort((a, b) => a.accessMs - b.accessMs);
    for (const entry of entries) index.add(entry);
    return index;
  }
}

/** What an entry's record costs in the heap: its accounted bytes without the body. */
function metaBytes(entry: IndexEntry): number {
  return entry.bytes - (entry.record?.meta.size ?? 0);
}
