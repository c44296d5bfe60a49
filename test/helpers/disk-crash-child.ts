// Child process of the crash test: writes big objects to a DiskStore in a loop and reports each
// commit. With `hold`, the third object's metadata commit never comes: the parent kills it then.
// Usage: node disk-crash-child.js <path> hold|loop files|chunks   (does nothing without arguments)

import { DiskStore } from '../../shared/cache/disk-store.js';
import { bufferBody, type CachedObject } from '../../shared/cache/store.js';

const [path, mode, bodies] = process.argv.slice(2);

/** Object i: `bytes` bytes all equal to i, so a mixed or short body shows. */
function crashObject(i: number, bytes: number): CachedObject {
  const body = Buffer.alloc(bytes, i & 0xff);
  return {
    meta: {
      v: 2,
      key: `http://crash.test/obj/${i}`,
      variant: '',
      vary: [],
      status: 200,
      headers: ['content-length', String(bytes)],
      requestTimeMs: Date.now(),
      responseTimeMs: Date.now(),
      initialAgeSec: 0,
      lifetimeSec: 3600,
      staleWhileRevalidateSec: 0,
      staleIfErrorSec: 0,
      mustRevalidate: false,
      invalidated: false,
      tags: ['crash'],
      size: bytes,
    },
    body: bufferBody(body),
  };
}

const say = (line: Record<string, unknown>) => process.stdout.write(JSON.stringify(line) + '\n');

if (path) {
  const store = new DiskStore({
    path,
    maxBytes: 1024 ** 3,
    maxObjectBytes: 64 * 1024 ** 2,
    maxVariants: 4,
    bodies: bodies === 'chunks' ? 'chunks' : 'files',
    beforeCommit: async (meta) => {
      if (mode !== 'hold' || !meta.key.endsWith('/3')) return;
      say({ partial: 3 });
      await new Promise(() => {}); // never commits: the parent kills the process here
    },
  });
  await store.open();
  say({ opened: true });
  for (let i = 1; ; i++) {
    await store.put(crashObject(i, (mode === 'hold' ? 8 : 4) * 1024 * 1024));
    say({ committed: i });
  }
}
