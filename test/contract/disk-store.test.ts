// The store contract, run against the disk tier on a real LevelDB in a temp dir: with bodies in
// files (the default) and in LevelDB chunks (what older versions wrote, still read).

import { bodyKinds, openDisk } from '../helpers/disk.js';
import { storeContract } from './store-contract.js';

for (const bodies of bodyKinds) {
  storeContract(`DiskStore (bodies in ${bodies})`, async (t, limits) => {
    const store = await openDisk(t, { ...limits, bodies });
    return { store, settle: async () => {} };
  });
}
