// What a worker process runs: the node's config with the node's memory budget split between
// the workers, so that the workers together hold what cache.memory.maxBytes says.

import { availableParallelism } from 'node:os';
import { validateConfig, type StrataConfig } from '../config/config.js';

/** The number of worker processes `workers` asks for (auto: one per core). */
export function workerCount(config: StrataConfig): number {
  return config.workers === 'auto' ? Math.max(1, availableParallelism()) : config.workers;
}

/**
 * One worker's share of the node's config: memory tier and fill budget divided by `workers`
 * (the largest object still fits), and workers: 1. Throws when a share is below the minimum the
 * config accepts (cache.memory.maxBytes of 1 MiB per worker).
 */
export function workerConfig(config: StrataConfig, workers: number): StrataConfig {
  const share = JSON.parse(JSON.stringify(config)) as StrataConfig & { workers: number };
  const memory = share.cache.memory;
  memory.maxBytes = Math.floor(memory.maxBytes / workers);
  memory.maxObjectBytes = Math.min(memory.maxObjectBytes, memory.maxBytes);
  share.cache.maxFillBytes = Math.max(Math.floor(share.cache.maxFillBytes / workers), memory.maxObjectBytes);
  share.workers = 1;
  const { config: checked, problems } = validateConfig(share);
  if (!checked)
    throw new Error(
      `the config split between ${workers} workers is invalid: ${problems.map((p) => `${p.path}: ${p.message}`).join('; ')}`,
    );
  return checked;
}
