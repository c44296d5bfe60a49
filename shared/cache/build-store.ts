// Builds the cache store a config asks for (memory alone, or memory over disk), opens it at
// start, and reports per-tier figures for metrics. Used by every node role.

import { join } from 'node:path';
import type { StrataConfig } from '../config/config.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import { DiskStore, type DiskEvents } from './disk-store.js';
import { MemoryStore } from './memory-store.js';
import type { CacheStore, StoreStats } from './store.js';
import { TieredStore } from './tiered-store.js';

/**
 * `shard`: in a worker of a node with several, which keys its disk tier holds (the ones it owns)
 * and where: one LevelDB per worker under cache.disk.path (LevelDB opens in one process).
 */
export function buildStore(
  config: StrataConfig,
  log: Logger,
  metrics: Metrics,
  shard?: { index: number; owns: (key: string) => boolean },
): CacheStore {
  const { cache } = config;
  const memory = {
    maxBytes: cache.memory.maxBytes,
    maxObjectBytes: cache.memory.maxObjectBytes,
    maxVariants: cache.maxVariants,
  };
  const disk = cache.disk;
  if (!disk) return new MemoryStore(memory);
  const events: DiskEvents = {
    corrupt: () => metrics.diskCorruptObjects.inc(),
    writeError: () => metrics.diskWriteErrors.inc(),
    writeSkipped: (reason) => metrics.diskWritesSkipped.inc({ reason }),
    hit: () => metrics.diskHits.inc(),
  };
  return new TieredStore({
    memory,
    disk: new DiskStore({
      path: shard ? join(disk.path, `worker-${shard.index}`) : disk.path,
      maxBytes: disk.maxBytes,
      maxObjectBytes: diskMaxObjectBytes(disk),
      maxVariants: cache.maxVariants,
      chunkBytes: disk.chunkBytes,
      writeRetryMs: disk.writeRetry,
      accessFlushMs: disk.accessFlush,
      log,
      events,
    }),
    writeQueue: disk.writeQueue,
    onOpenError: disk.onOpenError,
    log,
    events,
    onDisk: shard?.owns,
  });
}

type DiskConfig = NonNullable<StrataConfig['cache']['disk']>;

/** cache.disk.maxObjectBytes, defaulting to 64 MiB or the whole disk tier if that is smaller. */
function diskMaxObjectBytes(disk: DiskConfig): number {
  return disk.maxObjectBytes ?? Math.min(64 * 1024 ** 2, disk.maxBytes);
}

/** The largest body any tier of this config stores: responses past it are passed through. */
export function maxStorableBytes(config: StrataConfig): number {
  const memory = config.cache.memory.maxObjectBytes;
  return config.cache.disk ? Math.max(memory, diskMaxObjectBytes(config.cache.disk)) : memory;
}

/** Runs at start: opens the disk tier when there is one (see cache.disk.onOpenError). */
export async function openStore(store: CacheStore): Promise<void> {
  if (store instanceof TieredStore) await store.open();
}

/** The memory tier of a store (itself, or the tiered store's). */
export function memoryTier(store: CacheStore): MemoryStore {
  return store instanceof TieredStore ? store.memory : (store as MemoryStore);
}

/** Objects and bytes per tier, for the strata_cache_* gauges. */
export function tierStats(store: CacheStore): Record<string, StoreStats> {
  return store instanceof TieredStore ? store.tiers() : { memory: store.stats() };
}
