// The store contract, run against memory over disk: once with objects still in memory, and
// once with memory emptied after each write, so every read is served from disk.

import { pino } from 'pino';
import { TieredStore } from '../../shared/cache/tiered-store.js';
import { DiskStore } from '../../shared/cache/disk-store.js';
import { tempDir } from '../helpers/disk.js';
import { storeContract, type StoreLimits } from './store-contract.js';
import type { TestContext } from 'node:test';

async function tiered(t: TestContext, limits: StoreLimits): Promise<TieredStore> {
  const log = pino({ level: 'silent' });
  const disk = new DiskStore({ ...limits, path: await tempDir(), chunkBytes: 4096, log });
  const store = new TieredStore({
    memory: limits,
    disk,
    writeQueue: { maxObjects: 1000, maxBytes: 64 * 1024 * 1024 },
    onOpenError: 'fail',
    log,
  });
  await store.open();
  t.after(() => store.close());
  return store;
}

storeContract('TieredStore (warm memory)', async (t, limits) => {
  const store = await tiered(t, limits);
  return { store, settle: () => store.flush() };
});

storeContract('TieredStore (cold memory, reads from disk)', async (t, limits) => {
  const store = await tiered(t, limits);
  return {
    store,
    settle: async () => {
      await store.flush();
      await store.memory.close();
    },
  };
});
