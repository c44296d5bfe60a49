// The JavaScript heap and the memory tier. The metadata of stored objects (fields, keys, LRU
// entries) lives on V8's heap; their bodies are Buffers outside it. V8 aborts the process when
// its heap reaches its limit (`FATAL ERROR: Reached heap limit`), so a memory tier that can hold
// more than the heap allows would crash the node instead of evicting. Checked at start; while
// running, the node stops storing new fills and evicts from the memory tier before the heap
// runs out.

import { getHeapStatistics, type HeapInfo } from 'node:v8';
import type { StrataConfig } from './config/config.js';
import type { Problem } from './config/schema.js';
import type { Service } from './service.js';

const MiB = 1024 * 1024;

/** What the heap holds besides the memory tier: code, connections, fills' state, garbage between collections. */
const baselineBytes = 128 * MiB;

/** Past this share of the heap limit the node sheds: no new fills stored, LRU objects evicted. */
const tightShare = 0.85;

/**
 * The heap a config's memory tier may need: every byte the tier accounts for could be on the
 * heap (a tier of objects with tiny bodies is nearly all metadata), plus the baseline.
 */
export function heapNeededMiB(config: StrataConfig): number {
  return Math.ceil((config.cache.memory.maxBytes + baselineBytes) / MiB);
}

/** The heap this process may use, MiB (--max-old-space-size, or V8's default for the machine). */
export function heapLimitMiB(): number {
  return Math.floor(getHeapStatistics().heap_size_limit / MiB);
}

/** A problem when the config's memory tier could outgrow this process's heap limit. */
export function heapProblem(config: StrataConfig, limitMiB = heapLimitMiB()): Problem | undefined {
  const needed = heapNeededMiB(config);
  if (needed <= limitMiB) return undefined;
  return {
    path: 'cache.memory.maxBytes',
    message:
      `needs a JavaScript heap of at least ${needed} MiB (the metadata of stored objects lives on it, ` +
      `plus ${baselineBytes / MiB} MiB for the rest), and this process may use ${limitMiB} MiB: ` +
      `start Node.js with --max-old-space-size=${needed} (NODE_OPTIONS), or lower cache.memory.maxBytes`,
  };
}

/**
 * Watches the heap: `tight` while the heap in use is past 85% of its limit, and calls `shed`
 * on each check meanwhile (the node evicts from its memory tier).
 */
export class HeapWatch implements Service {
  readonly name = 'heap-watch';
  tight = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly shed: () => void,
    private readonly stats: () => HeapInfo = getHeapStatistics,
    private readonly intervalMs = 250,
  ) {}

  /** One look at the heap (what the timer runs). */
  check(): void {
    const s = this.stats();
    this.tight = s.used_heap_size > tightShare * s.heap_size_limit;
    if (this.tight) this.shed();
  }

  start(): Promise<void> {
    this.timer = setInterval(() => this.check(), this.intervalMs).unref();
    return Promise.resolve();
  }

  stop(): Promise<void> {
    clearInterval(this.timer);
    return Promise.resolve();
  }
}
