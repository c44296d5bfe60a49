// Purging on disk: finding what a selector matches through the index records (one key range
// per selector), and the rewrite that marks matched objects stale (soft purge).

import type { DiskDb, DiskOp } from './disk-db.js';
import type { DiskIndex, IndexEntry } from './disk-index.js';
import {
  decodeRecord,
  idOfIndexKey,
  idOfMetaKey,
  metaKey,
  ranges,
  type ObjectRecord,
} from './disk-layout.js';
import { rewriteOps } from './disk-ops.js';
import type { PurgeSelector } from './store.js';
import { inSlices } from './slices.js';

/** The stored variants a selector matches: by URL from the index, otherwise one range scan. */
export async function matching(db: DiskDb, index: DiskIndex, selector: PurgeSelector): Promise<IndexEntry[]> {
  const ids: string[] = [];
  switch (selector.kind) {
    case 'url':
      return [...(index.variantsOf(selector.key) ?? [])];
    case 'all':
      return [...index.oldest()];
    case 'prefix':
      for await (const k of db.keys(ranges.metaPrefix(selector.prefix))) ids.push(idOfMetaKey(k));
      break;
    case 'host':
      for await (const k of db.keys(ranges.host(selector.host))) ids.push(idOfIndexKey(k));
      break;
    case 'tag':
      for await (const k of db.keys(ranges.tag(selector.tag))) ids.push(idOfIndexKey(k));
      break;
  }
  // In slices: looking 100,000 fresh id strings up takes about 90 ms (each is hashed once).
  const entries: IndexEntry[] = [];
  await inSlices(ids, (id) => {
    const entry = index.get(id);
    if (entry) entries.push(entry);
  });
  return entries;
}

/** Soft purge: the matched records rewritten with `invalidated` (stale from now on). */
export async function invalidationOps(db: DiskDb, entries: readonly IndexEntry[]): Promise<DiskOp[]> {
  const values = await db.getMany(entries.map((e) => metaKey(e.id)));
  const ops: DiskOp[] = [];
  values.forEach((value, i) => {
    const record = value && decodeRecord(value);
    if (!record) return;
    const next: ObjectRecord = { ...record, meta: { ...record.meta, invalidated: true } };
    ops.push(...rewriteOps(entries[i], next, entries[i]));
  });
  return ops;
}
