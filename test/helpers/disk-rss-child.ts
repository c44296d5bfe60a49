// Child process of the RSS test: stores a large object on disk (written from a generator, never
// whole in memory), reopens the store, then streams it back, sampling its RSS at every chunk
// (resident anonymous memory apart: LevelDB mmaps its tables, which shows as file-backed RSS).
// Usage: node --expose-gc disk-rss-child.js <path> <MiB>   (does nothing without arguments)

import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { DiskStore } from '../../shared/cache/disk-store.js';
import type { StoredBody } from '../../shared/cache/store.js';
import { storedObject } from './objects.js';

const [path, mib] = process.argv.slice(2);

/** Resident memory by kind (kB in /proc): anonymous (heap, buffers) and file-backed (mmap'd tables). */
function rss(): { anon: number; file: number } {
  const status = readFileSync('/proc/self/status', 'utf8');
  const kb = (name: string) => Number(new RegExp(`${name}:\\s+(\\d+)`).exec(status)?.[1] ?? 0) * 1024;
  return { anon: kb('RssAnon'), file: kb('RssFile') };
}
const piece = 64 * 1024;

/** A body of `size` bytes produced piece by piece: piece n is filled with n & 0xff. */
function generated(size: number): StoredBody {
  return {
    size,
    buffer: undefined,
    async *read() {
      for (let n = 0; n * piece < size; n++) yield Buffer.alloc(Math.min(piece, size - n * piece), n & 0xff);
    },
  };
}

function options(p: string) {
  return { path: p, maxBytes: 1024 ** 3, maxObjectBytes: 512 * 1024 ** 2, maxVariants: 4 };
}

if (path) {
  const size = Number(mib) * 1024 * 1024;
  const key = 'http://rss.test/big';
  const writer = new DiskStore(options(path));
  await writer.open();
  const object = storedObject(key, generated(size));
  await writer.put(object);
  await writer.close();

  const store = new DiskStore(options(path));
  await store.open();
  global.gc?.();
  const baseline = process.memoryUsage().rss;
  let peak = baseline;
  const base = rss();
  let anonPeak = base.anon;
  let filePeak = base.file;
  const hash = createHash('sha256');
  const found = await store.variants(key);
  let bytes = 0;
  for await (const chunk of found![0].body.read()) {
    hash.update(chunk);
    bytes += chunk.length;
    // Collect now and then, so what is measured is what the read retains, not GC laziness.
    if (bytes % (4 * 1024 * 1024) === 0) global.gc?.();
    peak = Math.max(peak, process.memoryUsage().rss);
    const r = rss();
    anonPeak = Math.max(anonPeak, r.anon);
    filePeak = Math.max(filePeak, r.file);
  }
  const expected = createHash('sha256');
  for await (const p of generated(size).read()) expected.update(p);
  await store.close();
  process.stdout.write(
    JSON.stringify({
      bytes,
      baseline,
      peak,
      anonBase: base.anon,
      anonPeak,
      fileBase: base.file,
      filePeak,
      chunks: store.chunksRead,
      same: hash.digest('hex') === expected.digest('hex'),
    }) + '\n',
  );
}
