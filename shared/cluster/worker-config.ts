// What a worker process runs: the node's config with the node's memory budget split between
// the workers, so that the workers together hold what cache.memory.maxBytes says.

import { readFileSync, readdirSync, rmSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { validateConfig, type StrataConfig } from '../config/config.js';
import { maxStorableBytes } from '../cache/build-store.js';

/**
 * The number of worker processes `workers` asks for. auto: one per core this process may use,
 * which is the CPUs it may run on (affinity), or fewer when a cgroup CPU quota (a container's
 * `cpus` limit) allows less: a container limited to 2 CPUs on a 64-core host runs 2 workers.
 */
export function workerCount(config: StrataConfig, quota = cgroupCpuQuota()): number {
  if (config.workers !== 'auto') return config.workers;
  return Math.max(1, Math.min(availableParallelism(), quota ?? Infinity));
}

/** CPUs a cgroup v2 quota allows (cpu.max "QUOTA PERIOD", rounded up), or undefined without one. */
export function cgroupCpuQuota(file = '/sys/fs/cgroup/cpu.max'): number | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return undefined; // not Linux, or cgroup v1: affinity is what we go by
  }
  const [quota, period] = text.trim().split(/\s+/);
  const cpus = Number(quota) / Number(period);
  return quota === 'max' || !(cpus > 0) ? undefined : Math.ceil(cpus);
}

/**
 * One worker's share of the node's config: memory tier, disk tier and fill budget divided by
 * `workers` (the largest object still fits), and workers: 1. Throws when a share is below the
 * minimum the config accepts (cache.memory.maxBytes of 1 MiB per worker).
 */
export function workerConfig(config: StrataConfig, workers: number): StrataConfig {
  const share = JSON.parse(JSON.stringify(config)) as StrataConfig & { workers: number };
  const memory = share.cache.memory;
  memory.maxBytes = Math.floor(memory.maxBytes / workers);
  memory.maxObjectBytes = Math.min(memory.maxObjectBytes, memory.maxBytes);
  // Each worker's disk tier holds the keys it owns, about 1/workers of them (siblings.ts).
  const disk = share.cache.disk;
  if (disk) {
    disk.maxBytes = Math.floor(disk.maxBytes / workers);
    if (disk.maxObjectBytes !== undefined) disk.maxObjectBytes = Math.min(disk.maxObjectBytes, disk.maxBytes);
  }
  share.cache.maxFillBytes = Math.max(
    Math.floor(share.cache.maxFillBytes / workers),
    maxStorableBytes(share),
  );
  share.workers = 1;
  const { config: checked, problems } = validateConfig(share);
  if (!checked)
    throw new Error(
      `the config split between ${workers} workers is invalid: ${problems.map((p) => `${p.path}: ${p.message}`).join('; ')}`,
    );
  return checked;
}

/**
 * Removes the disk tiers of workers a config no longer has (cache.disk.path/worker-N with N at
 * or past `workers`): nobody reads them, and they would hold disk space outside the budget.
 */
export function removeStaleShards(config: StrataConfig, workers: number): string[] {
  const path = config.cache.disk?.path;
  if (!path) return [];
  let names: string[];
  try {
    names = readdirSync(path);
  } catch {
    return [];
  }
  const stale = names.filter((n) => /^worker-\d+$/.test(n) && Number(n.slice(7)) >= workers);
  for (const name of stale) rmSync(join(path, name), { recursive: true, force: true });
  return stale;
}
