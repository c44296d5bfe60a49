// DiskDb: the adapter over `level` (LevelDB). Library errors become StrataErrors here and
// nowhere deeper; an open failure names the path and says why (locked, corrupt, I/O).

import { Level } from 'level';
import { StrataError } from '../errors.js';
import type { KeyRange } from './disk-layout.js';

export type DiskOp = { type: 'put'; key: Buffer; value: Buffer } | { type: 'del'; key: Buffer };

type Db = Level<Buffer, Buffer>;

const openReasons: Record<string, string> = {
  LEVEL_LOCKED: 'it is locked by another process (another Strata node using the same cache.disk.path?)',
  LEVEL_CORRUPTION: 'the database is corrupt (wipe the directory to start with an empty disk tier)',
  LEVEL_IO_ERROR: 'an I/O error occurred',
  LEVEL_INVALID_PARAM: 'the path is not usable',
};

export class DiskDb {
  private constructor(
    readonly path: string,
    private readonly db: Db,
  ) {}

  /** Opens (creating if missing) the database at `path`; throws STORE_FAILED naming the path. */
  static async open(path: string): Promise<DiskDb> {
    const db: Db = new Level<Buffer, Buffer>(path, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
    try {
      await db.open({ createIfMissing: true });
    } catch (err) {
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      const code = cause?.code ?? (err as { code?: string }).code ?? 'unknown';
      const reason = openReasons[code] ?? 'it could not be opened';
      throw new StrataError(
        'STORE_FAILED',
        `cannot open the disk cache at ${path}: ${reason} (${cause?.message ?? String(err)})`,
        { path, levelCode: code },
        err,
      );
    }
    return new DiskDb(path, db);
  }

  async get(key: Buffer): Promise<Buffer | undefined> {
    try {
      return await this.db.get(key);
    } catch (err) {
      throw this.failure(err);
    }
  }

  async getMany(keys: Buffer[]): Promise<(Buffer | undefined)[]> {
    try {
      return await this.db.getMany(keys);
    } catch (err) {
      throw this.failure(err);
    }
  }

  /** Applies the operations atomically, in order (LevelDB write batch). */
  async batch(ops: DiskOp[]): Promise<void> {
    if (ops.length === 0) return;
    try {
      await this.db.batch(ops);
    } catch (err) {
      throw this.failure(err);
    }
  }

  /** Deletes a key range (not atomic; for sweeps and purge-all). */
  async clear(range: KeyRange): Promise<void> {
    try {
      await this.db.clear(range);
    } catch (err) {
      throw this.failure(err);
    }
  }

  async *keys(range: KeyRange): AsyncGenerator<Buffer> {
    try {
      for await (const key of this.db.keys({ ...range, fillCache: false })) yield key;
    } catch (err) {
      throw this.failure(err);
    }
  }

  async *entries(range: KeyRange): AsyncGenerator<[Buffer, Buffer]> {
    try {
      for await (const entry of this.db.iterator({ ...range, fillCache: false })) yield entry;
    } catch (err) {
      throw this.failure(err);
    }
  }

  /** One key as a range of at most one entry: a single read needs no snapshot (or iterator). */
  async *single(key: Buffer): AsyncGenerator<[Buffer, Buffer]> {
    const value = await this.get(key);
    if (value !== undefined) yield [key, value];
  }

  /**
   * Values of keys gte..lte, read from one implicit snapshot (so a concurrent replace or
   * delete cannot mix versions), one at a time so a large body is never held whole.
   */
  async *snapshotRange(gte: Buffer, lte: Buffer): AsyncGenerator<[Buffer, Buffer]> {
    const it = this.db.iterator({ gte, lte, fillCache: false, highWaterMarkBytes: 1 });
    try {
      for (;;) {
        const entry = await it.next();
        if (entry === undefined) return;
        yield entry;
      }
    } catch (err) {
      throw this.failure(err);
    } finally {
      await it.close();
    }
  }

  async close(): Promise<void> {
    await this.db.close();
  }

  private failure(err: unknown): StrataError {
    const code = (err as { code?: string }).code;
    return StrataError.because('STORE_FAILED', err, { path: this.path, levelCode: code });
  }
}
