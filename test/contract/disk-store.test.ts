// The store contract, run against the disk tier on a real LevelDB in a temp dir.

import { openDisk } from '../helpers/disk.js';
import { storeContract } from './store-contract.js';

storeContract('DiskStore', async (t, limits) => {
  const store = await openDisk(t, limits);
  return { store, settle: async () => {} };
});
