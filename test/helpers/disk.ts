// LevelDB in a temp dir for tests: one root per test file, removed after all of its tests
// (so it outlives every store and edge the tests close in t.after).

import { after, type TestContext } from 'node:test';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { DiskStore, type DiskEvents, type DiskStoreOptions } from '../../shared/cache/disk-store.js';

const root = await mkdtemp(join(tmpdir(), 'strata-disk-'));
after(() => rm(root, { recursive: true, force: true }));

/** A fresh directory under this file's temp root. */
export function tempDir(name = 'db'): Promise<string> {
  return mkdtemp(join(root, `${name}-`));
}

/** Counts what a disk store reports, as the metrics would. */
export interface EventCounts extends DiskEvents {
  corrupted: number;
  writeErrors: number;
  skipped: Record<string, number>;
}

export function countEvents(): EventCounts {
  const counts: EventCounts = {
    corrupted: 0,
    writeErrors: 0,
    skipped: {},
    corrupt: () => void counts.corrupted++,
    writeError: () => void counts.writeErrors++,
    writeSkipped: (reason) => void (counts.skipped[reason] = (counts.skipped[reason] ?? 0) + 1),
  };
  return counts;
}

/** Opens a DiskStore (4 KiB chunks unless told) in a new temp dir; closed after the test. */
export async function openDisk(t: TestContext, options: Partial<DiskStoreOptions> = {}): Promise<DiskStore> {
  const store = new DiskStore({
    path: options.path ?? (await tempDir()),
    maxBytes: 64 * 1024 * 1024,
    maxObjectBytes: 16 * 1024 * 1024,
    maxVariants: 4,
    chunkBytes: 4096,
    log: pino({ level: 'silent' }),
    ...options,
  });
  await store.open();
  t.after(() => store.close());
  return store;
}
