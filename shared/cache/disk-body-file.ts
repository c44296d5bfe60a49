// Bodies as files (record v2): written once under a pending record, checksummed per chunk (the
// sums go in the LevelDB record), read back with as few system calls as the chunks allow, every
// chunk verified before a byte of it is yielded. LevelDB stays the store of record: a file
// without a committed record is never read, and the start-up sweep removes it.

import { close, closeSync, mkdir, open, openSync, read, unlink, writev } from 'node:fs';
import { dirname } from 'node:path';
import { StrataError } from '../errors.js';
import { ChunkedBody, checksum, rechunk, type ChunkSource } from './disk-body.js';
import type { BodyLayout } from './disk-layout.js';

/** What a FileBody needs from its store: how to report damage, and a chunk counter. */
export type FileSource = Pick<ChunkSource, 'damaged' | 'readChunk'>;

/**
 * Bytes per read or write system call (whole chunks, at least one): a 1 MiB body is one read.
 * Also what one reader holds at a time, so many large bodies streaming at once stay bounded.
 */
const ioBytes = 1024 * 1024;

const chunksPerIo = (chunkBytes: number) => Math.max(1, Math.floor(ioBytes / chunkBytes));

/** A body stored as a file. Holds at most one read (about 1 MiB) per reader, never the body. */
export class FileBody extends ChunkedBody {
  constructor(
    size: number,
    layout: BodyLayout,
    private readonly path: string,
    private readonly source: FileSource,
  ) {
    super(size, layout);
  }

  protected async *chunks(start: number, end: number, first: number, last: number): AsyncGenerator<Buffer> {
    const { chunkBytes, sums } = this.layout;
    let fd: number;
    try {
      // On the event loop: opening a file names no data to read, and a trip through the thread
      // pool costs more than the system call (a third of a 100 KiB disk hit's CPU, measured).
      fd = openSync(this.path, 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT')
        throw await this.source.damaged(this.layout, first, 'missing');
      throw StrataError.because('STORE_FAILED', err, { path: this.path });
    }
    try {
      for (let from = first; from <= last; from += chunksPerIo(chunkBytes)) {
        const to = Math.min(last, from + chunksPerIo(chunkBytes) - 1);
        const offset = from * chunkBytes;
        const length = Math.min(this.size, (to + 1) * chunkBytes) - offset;
        // One byte more at the body's end: a file longer than its record says is damaged too.
        const atEnd = to === sums.length - 1;
        const buf = Buffer.allocUnsafe(length + (atEnd ? 1 : 0));
        const got = await readAt(fd, buf, offset, this.path);
        const { good, bad } = this.verify(buf, got, from, to, length, atEnd);
        const lo = from === first ? start - offset : 0;
        const hi = Math.min(good, to === last ? end - offset + 1 : length);
        if (hi > lo) yield lo === 0 && hi === buf.length ? buf : buf.subarray(lo, hi);
        if (bad) throw await this.source.damaged(this.layout, bad.index, bad.why);
      }
    } finally {
      closeSync(fd); // a read-only descriptor: no data to flush, so no wait.
    }
  }

  /** Checks chunks from..to of one read: the length of good bytes, and the first bad chunk. */
  private verify(
    buf: Buffer,
    got: number,
    from: number,
    to: number,
    length: number,
    atEnd: boolean,
  ): { good: number; bad?: { index: number; why: 'length' | 'checksum' } } {
    const { chunkBytes, sums } = this.layout;
    for (let i = from; i <= to; i++) {
      this.source.readChunk();
      const a = (i - from) * chunkBytes;
      const b = Math.min(a + chunkBytes, length);
      if (got < b || (atEnd && i === to && got > length))
        return { good: a, bad: { index: i, why: 'length' } };
      if (checksum(buf.subarray(a, b)) !== sums[i]) return { good: a, bad: { index: i, why: 'checksum' } };
    }
    return { good: length };
  }
}

/** A body written to its file: its per-chunk sums and size. */
export interface WrittenFile {
  sums: number[];
  size: number;
}

/**
 * Streams a body into `path` (created with its folder), checksumming each chunk; writes about
 * 1 MiB per system call. Stops early when `cancelled()`. Not fsynced: LevelDB's records are not
 * either, and a body a power cut tore fails its length or checksums and is a miss.
 */
export async function writeBodyFile(
  path: string,
  source: AsyncIterable<Buffer>,
  chunkBytes: number,
  cancelled: () => boolean,
): Promise<WrittenFile> {
  await makeDir(dirname(path));
  const fd = await openFile(path, 'w').catch((err: NodeJS.ErrnoException) => {
    throw wrap(err, path);
  });
  const sums: number[] = [];
  let size = 0;
  try {
    let batch: Buffer[] = [];
    let batchBytes = 0;
    for await (const chunk of rechunk(source, chunkBytes)) {
      if (cancelled()) break;
      sums.push(checksum(chunk));
      batch.push(chunk);
      batchBytes += chunk.length;
      if (batch.length >= chunksPerIo(chunkBytes)) {
        await writeAt(fd, batch, batchBytes, size, path);
        size += batchBytes;
        batch = [];
        batchBytes = 0;
      }
    }
    if (batch.length > 0) await writeAt(fd, batch, batchBytes, size, path);
    size += batchBytes;
  } finally {
    await new Promise<void>((resolve, reject) =>
      close(fd, (err) => (err ? reject(wrap(err, path)) : resolve())),
    );
  }
  return { sums, size };
}

/** Removes a body's file; one already gone is fine (a sweep may run twice). */
export function removeBodyFile(path: string): Promise<void> {
  return new Promise((resolve, reject) =>
    unlink(path, (err) => (err && err.code !== 'ENOENT' ? reject(wrap(err, path)) : resolve())),
  );
}

/** Folders made by this process: a write makes its folder once, not once per body. */
const made = new Set<string>();

function makeDir(dir: string): Promise<void> {
  if (made.has(dir)) return Promise.resolve();
  return new Promise((resolve, reject) =>
    mkdir(dir, { recursive: true }, (err) => {
      if (err) return reject(wrap(err, dir));
      made.add(dir);
      resolve();
    }),
  );
}

function openFile(path: string, flags: 'w'): Promise<number> {
  return new Promise((resolve, reject) => open(path, flags, (err, fd) => (err ? reject(err) : resolve(fd))));
}

function readAt(fd: number, buf: Buffer, position: number, path: string): Promise<number> {
  return new Promise((resolve, reject) =>
    read(fd, buf, 0, buf.length, position, (err, n) => (err ? reject(wrap(err, path)) : resolve(n))),
  );
}

function writeAt(
  fd: number,
  buffers: Buffer[],
  bytes: number,
  position: number,
  path: string,
): Promise<void> {
  return new Promise((resolve, reject) =>
    writev(fd, buffers, position, (err, n) => {
      if (err) return reject(wrap(err, path));
      if (n !== bytes) return reject(new StrataError('STORE_FAILED', `short write to ${path}`, { path }));
      resolve();
    }),
  );
}

/** File system errors become STORE_FAILED here, naming the file. */
function wrap(err: NodeJS.ErrnoException, path: string): StrataError {
  return StrataError.because('STORE_FAILED', err, { path, fsCode: err.code });
}
