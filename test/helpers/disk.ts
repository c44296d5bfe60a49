// LevelDB in a temp dir for tests: one root per test file, removed after all of its tests
// (so it outlives every store and edge the tests close in t.after).

import { after, type TestContext } from 'node:test';
import { mkdtemp, open, readdir, rm, truncate } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { Level } from 'level';
import { DiskStore, type DiskEvents, type DiskStoreOptions } from '../../shared/cache/disk-store.js';
import {
  bodyFilePath,
  bodyInFile,
  chunkKey,
  decodeRecord,
  ranges,
  metaKey,
  objectId,
  type ObjectRecord,
} from '../../shared/cache/disk-layout.js';

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
  hits: number;
  skipped: Record<string, number>;
}

export function countEvents(): EventCounts {
  const counts: EventCounts = {
    corrupted: 0,
    writeErrors: 0,
    hits: 0,
    skipped: {},
    corrupt: () => void counts.corrupted++,
    writeError: () => void counts.writeErrors++,
    writeSkipped: (reason) => void (counts.skipped[reason] = (counts.skipped[reason] ?? 0) + 1),
    hit: () => void counts.hits++,
  };
  return counts;
}

/** A DiskStore for tests (4 KiB chunks unless told) in a new temp dir, not yet opened. */
export async function testDisk(options: Partial<DiskStoreOptions> = {}): Promise<DiskStore> {
  const path = options.path ?? (await tempDir());
  return new DiskStore({
    maxBytes: 64 * 1024 * 1024,
    maxObjectBytes: 16 * 1024 * 1024,
    maxVariants: 4,
    chunkBytes: 4096,
    log: pino({ level: 'silent' }),
    ...options,
    path,
  });
}

/** Opens a test DiskStore (see testDisk); closed after the test. */
export async function openDisk(t: TestContext, options: Partial<DiskStoreOptions> = {}): Promise<DiskStore> {
  const store = await testDisk(options);
  await store.open();
  t.after(() => store.close());
  return store;
}

/**
 * Opens the database at `path` directly (its store must be closed) to damage it the way a disk
 * would: `damage` gets the raw LevelDB and the record of the object stored under `key`.
 */
export async function withRawDb(
  path: string,
  key: string,
  damage: (db: Level<Buffer, Buffer>, record: ObjectRecord) => Promise<void>,
  variant = '',
): Promise<void> {
  const db = new Level<Buffer, Buffer>(path, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
  await db.open();
  try {
    const value = await db.get(metaKey(objectId(key, variant)));
    const record = value && decodeRecord(value);
    if (!record) throw new Error(`no record for ${key}`);
    await damage(db, record);
  } finally {
    await db.close();
  }
}

/** Where bodies go: files (the default) or LevelDB chunks (what older versions wrote). */
export type BodyKind = 'files' | 'chunks';
export const bodyKinds: readonly BodyKind[] = ['files', 'chunks'];

/** Flips one byte of chunk `index` of a stored body (in its file or its chunk), as bit rot would. */
export async function flipByte(path: string, key: string, index: number, offset = 10): Promise<void> {
  await withRawDb(path, key, async (db, record) => {
    if (bodyInFile(record)) {
      const file = await open(bodyFilePath(path, record.body.id), 'r+');
      try {
        const at = index * record.body.chunkBytes + offset;
        const byte = Buffer.alloc(1);
        await file.read(byte, 0, 1, at);
        byte[0] ^= 0x40;
        await file.write(byte, 0, 1, at);
      } finally {
        await file.close();
      }
      return;
    }
    const k = chunkKey(record.body.id, index);
    const chunk = await db.get(k);
    if (!chunk) throw new Error(`no chunk ${index}`);
    chunk[offset] ^= 0x40;
    await db.put(k, chunk);
  });
}

/**
 * Loses a stored body from chunk `index` on, as a torn write would: its file is cut short there,
 * or that chunk is deleted.
 */
export async function cutBody(path: string, key: string, index: number): Promise<void> {
  await withRawDb(path, key, (db, record) =>
    bodyInFile(record)
      ? truncate(bodyFilePath(path, record.body.id), index * record.body.chunkBytes)
      : db.del(chunkKey(record.body.id, index)),
  );
}

/** Bodies left on disk (store closed): LevelDB chunks, body files and pending (unfinished) records. */
export async function bodiesOnDisk(
  path: string,
): Promise<{ chunks: number; files: number; pending: number }> {
  const db = new Level<Buffer, Buffer>(path, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
  await db.open();
  let chunks = 0;
  let pending = 0;
  for await (const _ of db.keys(ranges.allChunks())) chunks++;
  for await (const _ of db.keys(ranges.pending())) pending++;
  await db.close();
  let files = 0;
  const dirs = await readdir(join(path, 'bodies')).catch(() => []);
  for (const d of dirs) files += (await readdir(join(path, 'bodies', d))).length;
  return { chunks, files, pending };
}
