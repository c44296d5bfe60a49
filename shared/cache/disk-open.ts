// What the disk tier does when it opens a database: check the format version, sweep bodies
// whose write never finished (crash), and rebuild the LRU index from the metadata records.

import { StrataError } from '../errors.js';
import type { DiskDb, DiskOp } from './disk-db.js';
import { DiskIndex, type IndexEntry } from './disk-index.js';
import {
  accessKey,
  bodyFilePath,
  bodyIdOfPendingKey,
  decodeRecord,
  formatKey,
  formatVersion,
  idOfMetaKey,
  metaKey,
  ranges,
  type KeyRange,
} from './disk-layout.js';
import { entryOf } from './disk-ops.js';
import { removeBodyFile } from './disk-body-file.js';

export interface Prepared {
  index: DiskIndex;
  /** Bodies whose write was interrupted (chunks without metadata), removed now. */
  swept: number;
  /** Metadata records that could not be read (damaged or unknown version), removed now. */
  damaged: number;
}

export async function prepare(db: DiskDb): Promise<Prepared> {
  await checkFormat(db);
  const swept = await sweepPending(db);
  const { index, damaged } = await loadIndex(db);
  return { index, swept, damaged };
}

/** Persisted formats carry a version: a database written by an unknown version is refused. */
async function checkFormat(db: DiskDb): Promise<void> {
  const value = await db.get(formatKey);
  if (value === undefined) {
    await db.batch([{ type: 'put', key: formatKey, value: Buffer.from(`{"v":${formatVersion}}`) }]);
    return;
  }
  let v: unknown;
  try {
    v = (JSON.parse(value.toString('utf8')) as { v?: unknown }).v;
  } catch {
    // A damaged marker is reported below as an unknown version.
    v = undefined;
  }
  if (v !== formatVersion) {
    throw new StrataError(
      'STORE_FAILED',
      `cannot open the disk cache at ${db.path}: it holds format ${JSON.stringify(v)}, this Strata ` +
        `reads format ${formatVersion} (wipe the directory or run the version that wrote it)`,
      { path: db.path },
    );
  }
}

/**
 * An object's body (chunks or file) is written before its metadata, under a pending record
 * written first and removed with the metadata commit. A pending record left at open means the
 * write was cut (crash, kill): its body belongs to no visible object and is removed. Reclaim
 * records name bodies already removed whose chunks were still waiting for their grace delay.
 */
async function sweepPending(db: DiskDb): Promise<number> {
  const cut = await sweep(db, ranges.pending());
  await sweep(db, ranges.reclaim());
  return cut;
}

/**
 * Deletes the body of each record in a range of pending or reclaim records (its chunks and its
 * file: the record does not say which it has), then the record.
 */
async function sweep(db: DiskDb, range: KeyRange): Promise<number> {
  const keys: Buffer[] = [];
  for await (const key of db.keys(range)) keys.push(key);
  for (const key of keys) {
    const bodyId = bodyIdOfPendingKey(key);
    await db.clear(ranges.chunks(bodyId));
    await removeBodyFile(bodyFilePath(db.path, bodyId));
    await db.batch([{ type: 'del', key }]);
  }
  return keys.length;
}

async function loadIndex(db: DiskDb): Promise<{ index: DiskIndex; damaged: number }> {
  const accessed = new Map<string, number>();
  for await (const [key, value] of db.entries(ranges.access())) {
    const ms = Number(value.toString('utf8'));
    if (Number.isFinite(ms)) accessed.set(idOfMetaKey(key), ms);
  }
  const entries: IndexEntry[] = [];
  const drop: DiskOp[] = [];
  for await (const [key, value] of db.entries(ranges.meta())) {
    const id = idOfMetaKey(key);
    const record = decodeRecord(value);
    if (!record) {
      drop.push({ type: 'del', key: metaKey(id) }, { type: 'del', key: accessKey(id) });
      continue;
    }
    entries.push(entryOf(record, accessed.get(id) ?? record.storedMs));
  }
  await db.batch(drop);
  return { index: DiskIndex.rebuild(entries), damaged: drop.length / 2 };
}
