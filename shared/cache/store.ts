// The CacheStore interface: every tier (memory, disk, tiered) implements it and passes
// the contract suite in test/contract/. A stored object is one variant of one URL.

/** Everything known about a stored response except its body. Persisted: carries a version. */
export interface ObjectMeta {
  v: 2;
  /** Primary key: normalized URL (see key.ts). */
  key: string;
  /** Secondary key: the request's normalized values of the fields in `vary` ('' without Vary). */
  variant: string;
  /** Lowercased request field names the response varies on, in response order. */
  vary: readonly string[];
  status: number;
  /** Client-facing response fields as a flat list [name, value, ...] (see FieldList in headers.ts). */
  headers: string[];
  /** When the request that produced it was sent and its response arrived (ms since epoch). */
  requestTimeMs: number;
  responseTimeMs: number;
  /** RFC 9111 §4.2.3 corrected_initial_age, seconds. */
  initialAgeSec: number;
  /** Freshness lifetime in seconds (0: must be revalidated before each use). */
  lifetimeSec: number;
  /** RFC 5861 windows after the lifetime, seconds. */
  staleWhileRevalidateSec: number;
  staleIfErrorSec: number;
  /** must-revalidate / proxy-revalidate / s-maxage: never served stale. */
  mustRevalidate: boolean;
  /** Set by a soft purge: the object is stale from now on but may still revalidate or serve stale. */
  invalidated: boolean;
  etag?: string;
  lastModified?: string;
  /** Surrogate keys (Surrogate-Key / Cache-Tag) for purging by tag. */
  tags: readonly string[];
  /** Body size in bytes. */
  size: number;
}

/**
 * A stored body. The memory tier holds it whole (`buffer`); the disk tier reads it in chunks,
 * so a large object or a Range streams without being loaded whole.
 */
export interface StoredBody {
  readonly size: number;
  /** The whole body when it is in memory; undefined when it must be read. */
  readonly buffer: Buffer | undefined;
  /**
   * Reads bytes start..end (inclusive; default the whole body). A read that finds the data
   * damaged (checksum) throws StrataError STORE_CORRUPT and the store drops the object.
   */
  read(start?: number, end?: number): AsyncIterable<Buffer>;
}

export interface CachedObject {
  meta: ObjectMeta;
  body: StoredBody;
}

/**
 * A body held as the chunks it arrived in (an object too large for the memory tier, on its way
 * to disk): no copy into one buffer.
 */
export function chunkListBody(chunks: readonly Buffer[], size: number): StoredBody {
  return {
    size,
    buffer: undefined,
    async *read(start = 0, end = size - 1) {
      let offset = 0;
      for (const chunk of chunks) {
        const chunkEnd = offset + chunk.length;
        if (chunkEnd > start && offset <= end) {
          yield chunk.subarray(Math.max(0, start - offset), Math.min(chunk.length, end - offset + 1));
        }
        offset = chunkEnd;
        if (offset > end) return;
      }
    },
  };
}

/** A body held in memory: a class rather than a literal with a closure, one small object per stored body. */
class BufferBody implements StoredBody {
  readonly size: number;

  constructor(readonly buffer: Buffer) {
    this.size = buffer.length;
  }

  async *read(start = 0, end = this.size - 1): AsyncIterable<Buffer> {
    if (end >= start) yield this.buffer.subarray(start, end + 1);
  }
}

export function bufferBody(buffer: Buffer): StoredBody {
  return new BufferBody(buffer);
}

/** What to purge. Hard purges delete; soft purges mark objects stale (`invalidated`). */
export type PurgeSelector =
  | { kind: 'url'; key: string }
  | { kind: 'prefix'; prefix: string }
  | { kind: 'host'; host: string }
  | { kind: 'tag'; tag: string }
  | { kind: 'all' };

export interface StoreStats {
  objects: number;
  bytes: number;
}

export interface CacheStore {
  readonly name: string;
  /**
   * The variants stored for a primary key, most recently stored first, or undefined.
   * The memory tier answers synchronously, which keeps the hit path free of promise hops.
   */
  variants(key: string): readonly CachedObject[] | undefined | Promise<readonly CachedObject[] | undefined>;
  /** Stores one variant, replacing one with the same variant key; keeps at most maxVariants per key. */
  put(object: CachedObject): Promise<void>;
  /** Replaces the metadata of a stored variant (after a 304 revalidation); false if it is gone. */
  updateMeta(meta: ObjectMeta): Promise<boolean>;
  /** Deletes or (soft) invalidates what the selector matches; returns how many objects it touched. */
  purge(selector: PurgeSelector, soft: boolean): Promise<number>;
  stats(): StoreStats;
  close(): Promise<void>;
}

/**
 * What an object's metadata costs on the V8 heap (live bytes), calibrated on Node.js 20
 * (test/integration/memory-accounting.test.ts measures it): about 1,000 bytes per entry (meta,
 * body and Buffer objects, LRU slots, key strings, its host index entry) and, per field line,
 * 24 bytes besides its characters; per tag, its characters, 24 bytes, and about 170 bytes for
 * its place in the memory tier's tag index (counted as if the tag were the object's alone, a Set
 * of its own: the worst case). Counting only the header bytes would let a memory tier of small
 * objects use twice its maxBytes.
 */
export function metaBytes(meta: ObjectMeta): number {
  let bytes = 1000 + meta.key.length + meta.variant.length;
  const fields = meta.headers;
  for (let i = 0; i < fields.length; i += 2) bytes += fields[i].length + fields[i + 1].length + 24;
  for (const tag of meta.tags) bytes += tag.length + 194;
  return bytes;
}

/** Size accounted for an object in a tier's budget: its body plus its metadata's live heap bytes. */
export function objectBytes(object: CachedObject): number {
  return object.body.size + metaBytes(object.meta);
}

/** Whether a selector matches an object; shared by every store so all purge alike. */
export function selects(selector: PurgeSelector, meta: ObjectMeta, host: string): boolean {
  switch (selector.kind) {
    case 'url':
      return meta.key === selector.key;
    case 'prefix':
      return meta.key.startsWith(selector.prefix);
    case 'host':
      return host === selector.host;
    case 'tag':
      return meta.tags.includes(selector.tag);
    case 'all':
      return true;
  }
}
