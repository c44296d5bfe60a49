// The store contract, run against the memory tier.

import { MemoryStore } from '../../shared/cache/memory-store.js';
import { storeContract } from './store-contract.js';

storeContract('MemoryStore', async (t, limits) => {
  const store = new MemoryStore(limits);
  t.after(() => store.close());
  return { store, settle: async () => {} };
});
