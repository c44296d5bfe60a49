// The cache: memory tier, disk tier, fill budget, variants, heuristic freshness, Strata's targeted field.

import { duration, int, num, obj, oneOf, optional, refine, size, str, withDefault } from '../schema.js';

/** RFC 9110 §5.1 field-name (a token); not one of the fields every cache already reads. */
const targetedFieldName = str({
  pattern: /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/,
  hint: 'a field name such as Strata-Cache-Control',
  valid: (v) =>
    ['cache-control', 'cdn-cache-control', 'surrogate-control', 'pragma', 'expires'].includes(v.toLowerCase())
      ? 'name a field only Strata obeys, not a standard one'
      : undefined,
});

export const cacheSection = refine(
  obj({
    memory: obj({
      maxBytes: withDefault(size(1024 * 1024), 256 * 1024 ** 2),
      maxObjectBytes: withDefault(size(1), 16 * 1024 ** 2),
    }),
    /**
     * Most body bytes that responses being received and stored may hold at once, all together;
     * a response that would go over it is streamed to its clients without being stored.
     */
    maxFillBytes: withDefault(size(1024 * 1024), 256 * 1024 ** 2),
    /** Most variants (Vary) kept per URL; older variants are replaced. */
    maxVariants: withDefault(int(1, 1024), 16),
    /** How long an uncacheable response makes its URL skip request collapsing. */
    hitForPass: withDefault(duration(), 60_000),
    /** Fraction of (Date - Last-Modified) used as heuristic freshness (RFC 9111 §4.2.2). */
    heuristicFraction: withDefault(num(0, 1), 0.1),
    /** Upper bound of a heuristic freshness lifetime. */
    heuristicMax: withDefault(duration(), 86_400_000),
    /**
     * Strata's own targeted cache-control field (RFC 9213 §2), e.g. Strata-Cache-Control: obeyed
     * before CDN-Cache-Control and never sent to clients (a shield passes it to its edges).
     */
    targetedField: optional(targetedFieldName),
    /** The disk tier under memory (docs/disk-tier.md); absent: memory only. */
    disk: optional(
      obj({
        /** LevelDB directory, created if missing; one node per directory. */
        path: str(),
        maxBytes: size(1024 * 1024),
        /** Largest object stored on disk; default 64MiB, or maxBytes when that is smaller. */
        maxObjectBytes: optional(size(1)),
        /** Body chunk size; a Range reads only the chunks it needs. */
        chunkBytes: withDefault(size(4096), 256 * 1024),
        /** At start, a database that cannot be opened stops the node, or it runs memory-only. */
        onOpenError: withDefault(oneOf('fail', 'memory-only'), 'fail'),
        /** Write-behind queue from memory to disk; when full, disk writes are skipped and counted. */
        writeQueue: obj({
          maxObjects: withDefault(int(1, 1_000_000), 1024),
          maxBytes: withDefault(size(0), 64 * 1024 ** 2),
        }),
        /** After a failed write (full disk, I/O error), disk writes stay off this long. */
        writeRetry: withDefault(duration(1), 30_000),
        /** How often last-access times (the LRU order kept across restarts) are persisted. */
        accessFlush: withDefault(duration(100), 60_000),
      }),
    ),
  }),
  (cache, path, problems) => {
    const mem = cache.memory;
    if (mem?.maxObjectBytes !== undefined && mem.maxBytes !== undefined && mem.maxObjectBytes > mem.maxBytes)
      problems.push({
        path: `${path}.memory.maxObjectBytes`,
        message: `must not exceed cache.memory.maxBytes (${mem.maxObjectBytes} > ${mem.maxBytes})`,
      });
    const disk = cache.disk;
    if (
      disk?.maxObjectBytes !== undefined &&
      disk.maxBytes !== undefined &&
      disk.maxObjectBytes > disk.maxBytes
    )
      problems.push({
        path: `${path}.disk.maxObjectBytes`,
        message: `must not exceed cache.disk.maxBytes (${disk.maxObjectBytes} > ${disk.maxBytes})`,
      });
    // A fill holds a whole object until it is stored: the budget must take the largest one.
    const largest = Math.max(
      mem?.maxObjectBytes ?? 0,
      disk?.maxBytes === undefined ? 0 : (disk.maxObjectBytes ?? Math.min(64 * 1024 ** 2, disk.maxBytes)),
    );
    if (cache.maxFillBytes !== undefined && cache.maxFillBytes < largest)
      problems.push({
        path: `${path}.maxFillBytes`,
        message: `must be at least the largest storable object, ${largest} bytes (cache.memory.maxObjectBytes, cache.disk.maxObjectBytes)`,
      });
    if (disk?.chunkBytes !== undefined && disk.chunkBytes > 64 * 1024 ** 2)
      problems.push({ path: `${path}.disk.chunkBytes`, message: 'must not exceed 64MiB' });
    return cache;
  },
);
