// The write operations that add or remove one stored variant with all its index records,
// so an object and its tag/host/access records always change together in one batch.

import type { DiskOp } from './disk-db.js';
import type { IndexEntry } from './disk-index.js';
import {
  accessKey,
  bodyInFile,
  chunkCount,
  chunkKey,
  encodeRecord,
  hostKey,
  metaKey,
  objectId,
  reclaimKey,
  tagKey,
  type ObjectRecord,
} from './disk-layout.js';
import { hostOfKey } from './key.js';
import { objectBytes, type StoredBody } from './store.js';

const empty = Buffer.alloc(0);

/** The index entry describing a record. */
export function entryOf(record: ObjectRecord, accessMs = record.storedMs): IndexEntry {
  const { meta, body } = record;
  return {
    id: objectId(meta.key, meta.variant),
    key: meta.key,
    variant: meta.variant,
    bodyId: body.id,
    chunks: chunkCount(meta.size, body.chunkBytes),
    file: bodyInFile(record),
    bytes: objectBytes({ meta, body: { size: meta.size } as StoredBody }),
    tags: meta.tags,
    storedMs: record.storedMs,
    accessMs,
  };
}

/** Writes the record (which makes the object visible), its access time and its index records. */
export function insertOps(record: ObjectRecord, entry: IndexEntry): DiskOp[] {
  const ops: DiskOp[] = [
    { type: 'put', key: metaKey(entry.id), value: encodeRecord(record) },
    { type: 'put', key: accessKey(entry.id), value: Buffer.from(String(entry.accessMs)) },
    { type: 'put', key: hostKey(hostOfKey(entry.key), entry.id), value: empty },
  ];
  for (const tag of entry.tags) ops.push({ type: 'put', key: tagKey(tag, entry.id), value: empty });
  return ops;
}

/**
 * Deletes the object: its record (it disappears at once) and its index records. Its chunks are
 * left for the Reclaimer, under a reclaim record, so a read already under way can finish.
 */
export function removalOps(entry: IndexEntry): DiskOp[] {
  const ops: DiskOp[] = [
    { type: 'del', key: metaKey(entry.id) },
    { type: 'del', key: accessKey(entry.id) },
    { type: 'del', key: hostKey(hostOfKey(entry.key), entry.id) },
  ];
  for (const tag of entry.tags) ops.push({ type: 'del', key: tagKey(tag, entry.id) });
  ops.push({ type: 'put', key: reclaimKey(entry.bodyId), value: empty });
  return ops;
}

export function chunkDeletions(bodyId: string, chunks: number): DiskOp[] {
  const ops: DiskOp[] = [];
  for (let i = 0; i < chunks; i++) ops.push({ type: 'del', key: chunkKey(bodyId, i) });
  return ops;
}

/** Replaces a record's metadata in place (same body), moving its tag records if tags changed. */
export function rewriteOps(before: IndexEntry, record: ObjectRecord, after: IndexEntry): DiskOp[] {
  const ops: DiskOp[] = [];
  for (const tag of before.tags) ops.push({ type: 'del', key: tagKey(tag, before.id) });
  for (const tag of after.tags) ops.push({ type: 'put', key: tagKey(tag, after.id), value: empty });
  ops.push({ type: 'put', key: metaKey(after.id), value: encodeRecord(record) });
  return ops;
}
