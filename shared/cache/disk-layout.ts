// The disk tier's persisted format (v1): LevelDB key encoding and the object record, versioned.
// Bodies live in files next to the database (record v2) or, as written before, in LevelDB
// chunks (record v1, still read):
//   <path>/bodies/<bodyId 0..2>/<bodyId> -> the body, checksummed per chunk in its record (v2)
//
// Keys (UTF-8; '\0' separates parts, since neither URLs nor tags nor hosts can hold it):
//   strata:format                 -> {"v":1}                    the format marker, checked at open
//   v1:m:<key>\0<variant>         -> ObjectRecord (JSON)        one per stored variant; its presence
//                                                                makes the object visible
//   v1:a:<key>\0<variant>         -> last access, ms (decimal)  written lazily for the LRU order
//   v1:c:<bodyId>:<index, 8 hex>  -> chunk bytes                 the body in fixed-size chunks
//   v1:t:<tag>\0<key>\0<variant>  -> ''                          tag -> object index (purge by tag)
//   v1:h:<host>\0<key>\0<variant> -> ''                          host -> object index (purge by host)
//   v1:p:<bodyId>                 -> ''                          a body being written (crash sweep)
//   v1:r:<bodyId>                 -> ''                          a removed body whose chunks are
//                                                                deleted after a grace delay
//   v1:s:<name>                   -> value (UTF-8)              a node setting kept with the cache,
//                                                                such as the last purge applied
// Meta keys sort by URL, so a purge by prefix is one range scan of v1:m:.

import type { ObjectMeta } from './store.js';

export const formatVersion = 1;
export const formatKey = Buffer.from('strata:format');

const meta = 'v1:m:';
const access = 'v1:a:';
const chunk = 'v1:c:';
const tag = 'v1:t:';
const host = 'v1:h:';
const pending = 'v1:p:';
const reclaim = 'v1:r:';
const setting = 'v1:s:';

/**
 * The persisted description of one stored variant: its metadata and where its body is.
 * v1: the body is in LevelDB chunks (v1:c:); v2: the body is a file (bodyFilePath).
 */
export interface ObjectRecord {
  v: RecordVersion;
  meta: ObjectMeta;
  body: BodyLayout;
  /** When this variant was stored (ms since epoch): orders variants, most recent first. */
  storedMs: number;
}

export type RecordVersion = 1 | 2;

/** Whether a record's body is a file (v2) rather than LevelDB chunks (v1). */
export const bodyInFile = (record: ObjectRecord): boolean => record.v === 2;

/**
 * Where a body lives: v1:c:<id>:<n> (v1) or a file (v2), in chunks of `chunkBytes` but the last,
 * each checksummed.
 */
export interface BodyLayout {
  id: string;
  chunkBytes: number;
  /** CRC-32 of each chunk, in order. */
  sums: number[];
}

/** The in-memory id of a stored variant: its primary and secondary keys. */
export function objectId(key: string, variant: string): string {
  return `${key}\0${variant}`;
}

export const metaKey = (id: string): Buffer => Buffer.from(meta + id);
export const accessKey = (id: string): Buffer => Buffer.from(access + id);
export const tagKey = (t: string, id: string): Buffer => Buffer.from(`${tag}${t}\0${id}`);
export const hostKey = (h: string, id: string): Buffer => Buffer.from(`${host}${h}\0${id}`);
export const pendingKey = (bodyId: string): Buffer => Buffer.from(pending + bodyId);
export const reclaimKey = (bodyId: string): Buffer => Buffer.from(reclaim + bodyId);
export const settingKey = (name: string): Buffer => Buffer.from(setting + name);

export function chunkKey(bodyId: string, index: number): Buffer {
  return Buffer.from(`${chunk}${bodyId}:${index.toString(16).padStart(8, '0')}`);
}

/** A key range [gte, lt): every key starting with `prefix`. 0xff never occurs in UTF-8. */
export interface KeyRange {
  gte: Buffer;
  lt: Buffer;
}

export function prefixRange(prefix: string): KeyRange {
  const gte = Buffer.from(prefix);
  return { gte, lt: Buffer.concat([gte, Buffer.from([0xff])]) };
}

export const ranges = {
  meta: () => prefixRange(meta),
  access: () => prefixRange(access),
  pending: () => prefixRange(pending),
  reclaim: () => prefixRange(reclaim),
  /** Meta records whose primary key starts with a URL prefix. */
  metaPrefix: (urlPrefix: string) => prefixRange(meta + urlPrefix),
  /** Meta records of every variant of one primary key. */
  variantsOf: (key: string) => prefixRange(`${meta}${key}\0`),
  tag: (t: string) => prefixRange(`${tag}${t}\0`),
  host: (h: string) => prefixRange(`${host}${h}\0`),
  chunks: (bodyId: string) => prefixRange(`${chunk}${bodyId}:`),
  allChunks: () => prefixRange(chunk),
};

/** The object id in a meta or access key. */
export function idOfMetaKey(k: Buffer): string {
  return k.toString('utf8', meta.length);
}

/** The object id in a tag or host index key: what follows the first '\0'. */
export function idOfIndexKey(k: Buffer): string {
  const text = k.toString('utf8');
  return text.slice(text.indexOf('\0') + 1);
}

/** The body id in a pending or reclaim key. */
export function bodyIdOfPendingKey(k: Buffer): string {
  return k.toString('utf8', pending.length);
}

export function encodeRecord(record: ObjectRecord): Buffer {
  return Buffer.from(JSON.stringify(record));
}

/**
 * Parses a meta value; undefined when it is not a record this version understands
 * (unknown `v`, damaged JSON): the caller treats that object as corrupt.
 */
export function decodeRecord(value: Buffer): ObjectRecord | undefined {
  try {
    const r = JSON.parse(value.toString('utf8')) as Partial<ObjectRecord>;
    if ((r.v !== 1 && r.v !== 2) || r.meta?.v !== 2 || typeof r.storedMs !== 'number') return undefined;
    if (!r.body || typeof r.body.id !== 'string' || !Array.isArray(r.body.sums)) return undefined;
    return r as ObjectRecord;
  } catch {
    // Damaged JSON is reported as "not a record"; the store deletes the object.
    return undefined;
  }
}

/** The file of a v2 body under the database directory: bodies/<first two hex digits>/<id>. */
export function bodyFilePath(dbPath: string, bodyId: string): string {
  return `${dbPath}/bodies/${bodyId.slice(0, 2)}/${bodyId}`;
}

/** Number of chunks a body of `size` bytes takes. */
export function chunkCount(size: number, chunkBytes: number): number {
  return Math.ceil(size / chunkBytes);
}
