// Bodies on disk: split into fixed-size CRC-32 checksummed chunks when written, and read back
// chunk by chunk (only those a range needs), each verified before a byte of it is yielded.

import { randomBytes } from 'node:crypto';
import { crc32 } from 'node:zlib';
import type { DiskOp } from './disk-db.js';
import { StrataError } from '../errors.js';
import { chunkKey, pendingKey, type BodyLayout } from './disk-layout.js';
import type { StoredBody } from './store.js';

/** Why a stored body could not be read back as written. */
export type Damage = 'checksum' | 'length' | 'missing';

/** What a DiskBody needs from its store. */
export interface ChunkSource {
  /** Chunk values gte..lte of one body, in key order, from one snapshot. */
  range(gte: Buffer, lte: Buffer): AsyncIterable<[Buffer, Buffer]>;
  /**
   * Called when a chunk is missing, short or fails its checksum. The store decides whether
   * the object is damaged (deleted and counted: STORE_CORRUPT) or was replaced while this
   * read began (STORE_FAILED), and returns the error to throw.
   */
  damaged(layout: BodyLayout, index: number, why: Damage): Promise<StrataError>;
  /** Counts chunk reads (tests assert a Range reads only the chunks it needs). */
  readChunk(): void;
}

export function checksum(chunk: Uint8Array): number {
  return crc32(chunk);
}

/**
 * A body on disk in checksummed chunks (LevelDB chunks or a file): reads of chunks first..last
 * covering a clamped byte range, each chunk verified before a byte of it is yielded.
 */
export abstract class ChunkedBody implements StoredBody {
  readonly buffer = undefined;

  constructor(
    readonly size: number,
    protected readonly layout: BodyLayout,
  ) {}

  read(start = 0, end = this.size - 1): AsyncIterable<Buffer> {
    const from = Math.max(0, start);
    const to = Math.min(end, this.size - 1);
    if (to < from) return (async function* () {})();
    const { chunkBytes } = this.layout;
    return this.chunks(from, to, Math.floor(from / chunkBytes), Math.floor(to / chunkBytes));
  }

  /** Bytes start..end (within the body), from chunks first..last. */
  protected abstract chunks(start: number, end: number, first: number, last: number): AsyncGenerator<Buffer>;
}

/** A body stored in LevelDB chunks. Never holds the body whole: memory is one chunk per reader. */
export class DiskBody extends ChunkedBody {
  constructor(
    size: number,
    layout: BodyLayout,
    private readonly source: ChunkSource,
  ) {
    super(size, layout);
  }

  protected async *chunks(start: number, end: number, first: number, last: number): AsyncGenerator<Buffer> {
    const { id, chunkBytes, sums } = this.layout;
    let expected = first;
    try {
      for await (const [key, value] of this.source.range(chunkKey(id, first), chunkKey(id, last))) {
        this.source.readChunk();
        const index = expected++;
        if (!key.equals(chunkKey(id, index))) throw await this.source.damaged(this.layout, index, 'missing');
        const length = index === sums.length - 1 ? this.size - index * chunkBytes : chunkBytes;
        if (value.length !== length) throw await this.source.damaged(this.layout, index, 'length');
        if (checksum(value) !== sums[index]) throw await this.source.damaged(this.layout, index, 'checksum');
        const from = index === first ? start - index * chunkBytes : 0;
        const to = index === last ? end - index * chunkBytes + 1 : value.length;
        yield from === 0 && to === value.length ? value : value.subarray(from, to);
      }
    } catch (err) {
      // LevelDB's own block checksums failed under us: the same as a bad chunk of ours.
      if (err instanceof StrataError && err.context.levelCode === 'LEVEL_CORRUPTION')
        throw await this.source.damaged(this.layout, expected, 'checksum');
      throw err;
    }
    if (expected !== last + 1) throw await this.source.damaged(this.layout, expected, 'missing');
  }
}

/** Re-slices a byte stream into chunks of exactly `chunkBytes` (the last may be shorter). */
export async function* rechunk(source: AsyncIterable<Buffer>, chunkBytes: number): AsyncGenerator<Buffer> {
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  for await (const piece of source) {
    let data = piece;
    while (data.length > 0) {
      const take = Math.min(chunkBytes - pendingBytes, data.length);
      if (pendingBytes === 0 && take === chunkBytes) yield data.subarray(0, take);
      else {
        pending.push(data.subarray(0, take));
        pendingBytes += take;
        if (pendingBytes === chunkBytes) {
          yield Buffer.concat(pending, pendingBytes);
          pending = [];
          pendingBytes = 0;
        }
      }
      data = data.subarray(take);
    }
  }
  if (pendingBytes > 0) yield Buffer.concat(pending, pendingBytes);
}

/** Chunks are written in batches of about this many bytes before the metadata commit. */
const chunkBatchBytes = 4 * 1024 * 1024;

/** A body written: `ops` are its last chunks (none for a file), left for the metadata commit batch. */
export interface WrittenBody {
  layout: BodyLayout;
  size: number;
  ops: DiskOp[];
  /** Whether the body was written ahead under a pending record (the commit must delete it). */
  pending: boolean;
  /** Whether the body is a file (record v2) rather than LevelDB chunks. */
  file: boolean;
}

/** A new random body id (16 hex digits): names its chunks or its file. */
export function newBodyId(): string {
  return randomBytes(8).toString('hex');
}

/**
 * Streams a body into checksummed chunks under a new body id. Full batches are written as they
 * fill, the first one with a pending record (so a crash leaves chunks the start-up sweep finds);
 * a small body is written by the commit batch alone. Stops early when `cancelled()`.
 */
export async function writeChunks(
  source: AsyncIterable<Buffer>,
  chunkBytes: number,
  io: { write(ops: DiskOp[]): Promise<void>; cancelled(): boolean },
): Promise<WrittenBody> {
  const id = newBodyId();
  const sums: number[] = [];
  let ops: DiskOp[] = [];
  let opsBytes = 0;
  let pending = false;
  let size = 0;
  for await (const chunk of rechunk(source, chunkBytes)) {
    if (io.cancelled()) break;
    ops.push({ type: 'put', key: chunkKey(id, sums.length), value: chunk });
    sums.push(checksum(chunk));
    size += chunk.length;
    opsBytes += chunk.length;
    if (opsBytes >= chunkBatchBytes) {
      if (!pending) ops.unshift({ type: 'put', key: pendingKey(id), value: Buffer.alloc(0) });
      pending = true;
      await io.write(ops);
      ops = [];
      opsBytes = 0;
    }
  }
  return { layout: { id, chunkBytes, sums }, size, ops, pending, file: false };
}
