// DiskStore: the disk tier on LevelDB. Objects are a metadata record plus a checksummed body, a
// file the record indexes (or, as written before, LevelDB chunks; layout in disk-layout.ts); an
// LRU index in memory bounds it by bytes. See docs/disk-tier.md.

import type { Logger } from '../log.js';
import { StrataError } from '../errors.js';
import { DiskDb, type DiskOp } from './disk-db.js';
import { DiskIndex, type IndexEntry } from './disk-index.js';
import {
  DiskBody,
  newBodyId,
  writeChunks,
  type ChunkSource,
  type Damage,
  type WrittenBody,
} from './disk-body.js';
import { FileBody, removeBodyFile, writeBodyFile } from './disk-body-file.js';
import {
  accessKey,
  bodyFilePath,
  bodyInFile,
  decodeRecord,
  metaKey,
  objectId,
  pendingKey,
  reclaimKey,
  settingKey,
  type BodyLayout,
  type ObjectRecord,
} from './disk-layout.js';
import { chunkDeletions, entryOf, insertOps, removalOps, rewriteOps } from './disk-ops.js';
import { prepare } from './disk-open.js';
import { invalidationOps, matching } from './disk-purge.js';
import { WriteGate } from './disk-faults.js';
import { Reclaimer, type Reclaim } from './disk-reclaim.js';
import { hostOfKey } from './key.js';
import {
  objectBytes,
  selects,
  type CacheStore,
  type CachedObject,
  type ObjectMeta,
  type PurgeSelector,
  type StoreStats,
} from './store.js';

/** Why a disk write was not made. */
export type DiskSkipReason = 'too-large' | 'disabled' | 'queue-full';

/** What the disk tier reports to metrics. */
export interface DiskEvents {
  /** An object failed its checksums (or its record was unreadable) and was deleted. */
  corrupt(): void;
  /** A write failed; writes are off until the retry delay has passed. */
  writeError(): void;
  writeSkipped(reason: DiskSkipReason): void;
  /** A lookup that memory missed was answered from disk (tiered store). */
  hit(): void;
}

/** Called with each stored variant a purge touched. */
export type PurgeVisitor = (key: string, variant: string) => void;

export interface DiskStoreOptions {
  path: string;
  maxBytes: number;
  maxObjectBytes: number;
  maxVariants: number;
  /**
   * Checksummed body chunk size; default 256 KiB. Persisted per object, so it may change
   * between runs. A Range reads only the chunks it needs.
   */
  chunkBytes?: number;
  /**
   * Where new bodies go: 'files' (default; record v2) or 'chunks' in LevelDB (record v1, the
   * format before files, kept so tests can write what older versions left on disk). Both are read.
   */
  bodies?: 'files' | 'chunks';
  /** After a failed write, how long writes stay off before the database is reopened; default 30 s. */
  writeRetryMs?: number;
  /** How often access times are persisted (they are also persisted at close); default 60 s. */
  accessFlushMs?: number;
  /** How long a removed body stays readable for reads that already looked it up; default 5 s. */
  reclaimDelayMs?: number;
  clock?: () => number;
  log?: Logger;
  events?: Partial<DiskEvents>;
  /**
   * Runs after an object's chunks are written and before its metadata commit. For crash tests:
   * a process killed here leaves exactly the partial object the start-up sweep must remove.
   */
  beforeCommit?: (meta: ObjectMeta) => Promise<void>;
}

/** A put in progress. A purge or 304 update arriving meanwhile is applied at its commit. */
interface WriteJob {
  meta: ObjectMeta;
  cancelled: boolean;
}

const defaultChunkBytes = 256 * 1024;

export class DiskStore implements CacheStore {
  readonly name = 'disk';
  readonly path: string;
  private db: DiskDb | undefined;
  private index = new DiskIndex();
  private readonly chunkBytes: number;
  private readonly clock: () => number;
  private readonly events: Partial<DiskEvents>;
  /** Index-changing operations run one at a time, so the index always matches the database. */
  private tail: Promise<unknown> = Promise.resolve();
  private readonly jobs = new Set<WriteJob>();
  private readonly writes = new Set<Promise<void>>();
  private readonly gate: WriteGate;
  private flushTimer: NodeJS.Timeout | undefined;
  private readonly reclaimer: Reclaimer;
  private closing = false;
  /** Bumped when records change without their index entries changing (a soft purge). */
  private recordsEpoch = 0;
  private lastStoredMs = 0;
  /** Chunks read since open (tests assert a Range reads only what it needs). */
  chunksRead = 0;
  /** Partial bodies removed by the last open's sweep. */
  swept = 0;

  constructor(private readonly options: DiskStoreOptions) {
    this.path = options.path;
    this.chunkBytes = options.chunkBytes ?? defaultChunkBytes;
    this.clock = options.clock ?? Date.now;
    this.events = options.events ?? {};
    this.gate = new WriteGate(options.writeRetryMs ?? 30_000, this.clock, this.path, options.log, () =>
      this.events.writeError?.(),
    );
    this.reclaimer = new Reclaimer(options.reclaimDelayMs ?? 5000, (bodies) => this.reclaim(bodies));
  }

  /**
   * Opens the database at start: checks its format, removes partial objects left by a crash and
   * rebuilds the index. Throws STORE_FAILED naming the path when it cannot be opened.
   */
  async open(): Promise<void> {
    const db = await DiskDb.open(this.path);
    try {
      const prepared = await prepare(db);
      this.index = prepared.index;
      this.swept = prepared.swept;
      for (let i = 0; i < prepared.damaged; i++) this.events.corrupt?.();
      this.options.log?.info(
        { path: this.path, objects: this.index.size, bytes: this.index.bytes, swept: prepared.swept },
        'disk tier opened',
      );
    } catch (err) {
      await db.close();
      throw err;
    }
    this.db = db;
    this.closing = false;
    const flushMs = this.options.accessFlushMs ?? 60_000;
    this.flushTimer = setInterval(() => {
      this.flushAccess().catch((err: unknown) => this.writeFailed(err));
    }, flushMs);
    this.flushTimer.unref();
  }

  /** Whether the index holds the key; answers without touching the disk. */
  variantCount(key: string): number {
    return this.db ? (this.index.variantsOf(key)?.length ?? 0) : 0;
  }

  /**
   * A miss answers synchronously from the index, and so does a hit whose records the index
   * keeps (recently read); otherwise a hit reads the metadata records.
   */
  variants(key: string): readonly CachedObject[] | undefined | Promise<readonly CachedObject[] | undefined> {
    const entries = this.db && this.index.variantsOf(key);
    if (!entries) return undefined;
    if (entries.every((e) => e.record)) {
      const now = this.clock();
      return entries.map((e) => this.objectOf(e.id, e.record!, now));
    }
    return this.load([...entries]);
  }

  /** Marks a variant as used (the tiered store calls it when memory lets the object go). */
  touch(key: string, variant: string): void {
    this.index.touch(objectId(key, variant), this.clock());
  }

  has(key: string, variant: string): boolean {
    return this.index.get(objectId(key, variant)) !== undefined;
  }

  /**
   * Writes chunks first (under a pending record), then the metadata in one batch with the
   * index records and the removal of what it replaces. Failures are logged and counted here;
   * the promise rejects only for programming errors.
   */
  put(object: CachedObject): Promise<void> {
    if (this.closing) return Promise.resolve();
    if (object.body.size > this.options.maxObjectBytes || objectBytes(object) > this.options.maxBytes) {
      this.events.writeSkipped?.('too-large');
      return Promise.resolve();
    }
    // Registered before the first await, so a purge issued right after put() applies to it.
    const job: WriteJob = { meta: object.meta, cancelled: false };
    this.jobs.add(job);
    const write = this.write(job, object).finally(() => {
      this.jobs.delete(job);
      this.writes.delete(write);
    });
    this.writes.add(write);
    return write;
  }

  async updateMeta(meta: ObjectMeta): Promise<boolean> {
    const id = objectId(meta.key, meta.variant);
    let queued = false;
    for (const job of this.jobs) {
      if (objectId(job.meta.key, job.meta.variant) === id) {
        job.meta = { ...meta, size: job.meta.size };
        queued = true;
      }
    }
    return this.exclusive(async () => {
      const db = this.db;
      const before = this.index.get(id);
      if (!db || !before || !this.gate.open) return queued;
      const record = decodeRecord((await db.get(metaKey(id))) ?? Buffer.alloc(0));
      if (!record) return queued;
      const next: ObjectRecord = { ...record, meta: { ...meta, size: record.meta.size } };
      const after = entryOf(next, this.clock());
      try {
        await db.batch(rewriteOps(before, next, after));
      } catch (err) {
        this.writeFailed(err);
        return queued;
      }
      this.index.add(after);
      return true;
    });
  }

  async purge(selector: PurgeSelector, soft: boolean, visit?: PurgeVisitor): Promise<number> {
    // Puts in progress commit after this purge: apply it to them too, or they would resurrect.
    for (const job of this.jobs) {
      if (!selects(selector, job.meta, hostOfKey(job.meta.key))) continue;
      if (soft) job.meta = { ...job.meta, invalidated: true };
      else job.cancelled = true;
    }
    return this.exclusive(async () => {
      const db = this.db;
      if (!db) return 0;
      const entries = await matching(db, this.index, selector);
      for (const e of entries) visit?.(e.key, e.variant);
      if (entries.length === 0) return 0;
      try {
        if (soft) {
          // Their records change: kept ones go, and reads under way keep nothing they read.
          this.recordsEpoch++;
          for (const e of entries) this.index.forgetRecord(e);
          // Bounded batches, as removals: a soft purge of many objects never holds the event loop long.
          for (let i = 0; i < entries.length; i += 256)
            await db.batch(await invalidationOps(db, entries.slice(i, i + 256)));
        } else await this.remove(db, entries);
      } catch (err) {
        this.writeFailed(err);
        throw err;
      }
      return entries.length;
    });
  }

  stats(): StoreStats {
    return { objects: this.index.size, bytes: this.index.bytes };
  }

  /**
   * A setting kept with the cache (v1:s:<name>), such as the last purge applied: written in
   * turn with the purges before it, so it never claims one whose removals are not on disk yet.
   * Undefined when absent or when the disk tier is not open.
   */
  getSetting(name: string): Promise<string | undefined> {
    return this.exclusive(async () => (await this.db?.get(settingKey(name)))?.toString('utf8'));
  }

  /** Writes a setting (see getSetting); a failed write is counted as disk write errors are. */
  putSetting(name: string, value: string): Promise<void> {
    return this.exclusive(async () => {
      try {
        await this.db?.batch([{ type: 'put', key: settingKey(name), value: Buffer.from(value) }]);
      } catch (err) {
        this.writeFailed(err);
      }
    });
  }

  /** Waits for puts in progress, persists access times and closes the database. */
  async close(): Promise<void> {
    this.closing = true;
    clearInterval(this.flushTimer);
    await Promise.allSettled([...this.writes]);
    // No read can be under way any more: removed bodies go now rather than at the next open.
    await this.reclaimer.all().catch((err: unknown) => this.writeFailed(err));
    await this.exclusive(async () => {
      const db = this.db;
      if (!db) return;
      try {
        await this.persistAccess(db);
      } catch (err) {
        this.options.log?.warn({ err, path: this.path }, 'disk tier: access times not persisted');
      }
      this.db = undefined;
      this.index.clear();
      await db.close();
    });
  }

  // ---- reads ----

  private async load(entries: IndexEntry[]): Promise<readonly CachedObject[] | undefined> {
    const db = this.db;
    if (!db) return undefined;
    const ids = entries.map((e) => e.id);
    const epoch = this.recordsEpoch;
    let values: (Buffer | undefined)[];
    try {
      values = await db.getMany(ids.map(metaKey));
    } catch (err) {
      // A read failure is a miss: the node goes on from memory and the origin.
      this.options.log?.warn({ err, path: this.path }, 'disk tier read failed');
      return undefined;
    }
    const found: CachedObject[] = [];
    const now = this.clock();
    values.forEach((value, i) => {
      if (value === undefined) return; // removed since the index was read
      const record = decodeRecord(value);
      if (!record) {
        void this.dropDamaged(ids[i], 'record');
        return;
      }
      // Kept only if nothing rewrote it since the read began: same entry, no soft purge between.
      if (this.index.get(ids[i]) === entries[i] && epoch === this.recordsEpoch)
        this.index.keepRecord(entries[i], record);
      found.push(this.objectOf(ids[i], record, now));
    });
    return found.length > 0 ? found : undefined;
  }

  /** A stored variant as read: its metadata, and a body that reads from its file or chunks. */
  private objectOf(id: string, record: ObjectRecord, now: number): CachedObject {
    this.index.touch(id, now);
    const body = bodyInFile(record)
      ? new FileBody(
          record.meta.size,
          record.body,
          bodyFilePath(this.path, record.body.id),
          this.sourceFor(id),
        )
      : new DiskBody(record.meta.size, record.body, this.sourceFor(id));
    return { meta: record.meta, body };
  }

  private sourceFor(id: string): ChunkSource {
    return {
      range: (gte, lte) => {
        if (!this.db) throw new StrataError('STORE_FAILED', 'the disk tier is closed', { path: this.path });
        return gte.equals(lte) ? this.db.single(gte) : this.db.snapshotRange(gte, lte);
      },
      damaged: (layout, index, why) => this.damaged(id, layout, index, why),
      readChunk: () => {
        this.chunksRead++;
      },
    };
  }

  /**
   * A chunk did not read back as written. If the object still has this body, it is damaged:
   * deleted, logged and counted (STORE_CORRUPT). If it was replaced or removed after this read
   * looked it up, the read is simply stale (STORE_FAILED), and nothing is wrong on disk.
   */
  private async damaged(id: string, layout: BodyLayout, chunk: number, why: Damage): Promise<StrataError> {
    const key = id.slice(0, id.indexOf('\0'));
    if (this.index.get(id)?.bodyId !== layout.id)
      return new StrataError('STORE_FAILED', 'stored object changed while it was read', { key });
    await this.dropDamaged(id, why, chunk);
    return new StrataError('STORE_CORRUPT', undefined, { key, chunk, why, path: this.path });
  }

  private async dropDamaged(id: string, why: Damage | 'record', chunk?: number): Promise<void> {
    this.options.log?.warn(
      { code: 'STORE_CORRUPT', key: id.slice(0, id.indexOf('\0')), chunk, why, path: this.path },
      'disk tier: damaged object deleted',
    );
    this.events.corrupt?.();
    await this.exclusive(async () => {
      const db = this.db;
      const entry = this.index.get(id);
      const ops: DiskOp[] = entry
        ? removalOps(entry)
        : [
            { type: 'del', key: metaKey(id) },
            { type: 'del', key: accessKey(id) },
          ];
      try {
        await db?.batch(ops);
        if (entry) this.removed([entry]);
      } catch (err) {
        this.writeFailed(err);
      }
    });
  }

  // ---- writes ----

  private async write(job: WriteJob, object: CachedObject): Promise<void> {
    if (!(await this.writable())) {
      this.events.writeSkipped?.('disabled');
      return;
    }
    if (!this.db || job.cancelled) return;
    try {
      await this.writeJob(job, object);
    } catch (err) {
      this.writeFailed(err);
    }
  }

  private async writeJob(job: WriteJob, object: CachedObject): Promise<void> {
    const written =
      this.options.bodies === 'chunks'
        ? await writeChunks(object.body.read(), this.chunkBytes, {
            write: (ops) => this.requireDb().batch(ops),
            cancelled: () => job.cancelled,
          })
        : await this.writeFile(job, object);
    if (!job.cancelled && written.size !== object.body.size) {
      job.cancelled = true;
      this.options.log?.warn(
        { key: job.meta.key, size: written.size, expected: object.body.size },
        'disk tier: short body',
      );
    }
    if (!job.cancelled) await this.options.beforeCommit?.(job.meta);
    await this.exclusive(() => this.commit(job, written));
  }

  /**
   * Writes a body file under a pending record put first, so a crash at any moment leaves a file
   * the start-up sweep removes. A failed write removes what it wrote (the pending record stays
   * for the sweep if that fails too).
   */
  private async writeFile(job: WriteJob, object: CachedObject): Promise<WrittenBody> {
    const id = newBodyId();
    await this.requireDb().batch([{ type: 'put', key: pendingKey(id), value: Buffer.alloc(0) }]);
    const path = bodyFilePath(this.path, id);
    try {
      const { sums, size } = await writeBodyFile(
        path,
        object.body.read(),
        this.chunkBytes,
        () => job.cancelled,
      );
      return { layout: { id, chunkBytes: this.chunkBytes, sums }, size, ops: [], pending: true, file: true };
    } catch (err) {
      await removeBodyFile(path).catch(() => undefined); // the pending record's sweep retries at open.
      throw err;
    }
  }

  /** Makes the object visible: one batch with its last chunks, record, index records and removals. */
  private async commit(job: WriteJob, written: WrittenBody): Promise<void> {
    const db = this.requireDb();
    const { layout: body, ops: chunkOps, pending } = written;
    if (job.cancelled) {
      // Purged while it was written: remove what was written, never show it.
      if (written.file) await removeBodyFile(bodyFilePath(this.path, body.id));
      if (pending)
        await db.batch([
          ...(written.file ? [] : chunkDeletions(body.id, body.sums.length)),
          { type: 'del', key: pendingKey(body.id) },
        ]);
      return;
    }
    // Strictly increasing, so variants keep their order across restarts.
    const storedMs = Math.max(this.clock(), this.lastStoredMs + 0.001);
    this.lastStoredMs = storedMs;
    const record: ObjectRecord = { v: written.file ? 2 : 1, meta: job.meta, body, storedMs };
    const entry = entryOf(record, this.clock());
    const replaced = this.replaced(entry);
    const ops = replaced.flatMap(removalOps);
    ops.push(...chunkOps, ...insertOps(record, entry));
    if (pending) ops.push({ type: 'del', key: pendingKey(body.id) });
    await db.batch(ops);
    this.removed(replaced);
    this.index.add(entry);
    await this.evict(db, entry.id);
  }

  /** The variant this one replaces, and the oldest siblings past maxVariants. */
  private replaced(entry: IndexEntry): IndexEntry[] {
    const out: IndexEntry[] = [];
    const old = this.index.get(entry.id);
    if (old) out.push(old);
    const siblings = (this.index.variantsOf(entry.key) ?? []).filter((e) => e.id !== entry.id);
    out.push(...siblings.slice(Math.max(0, this.options.maxVariants - 1)));
    return out;
  }

  /** Evicts least recently used objects until the store is within maxBytes (keeps `keep`). */
  private async evict(db: DiskDb, keep: string): Promise<void> {
    let bytes = this.index.bytes;
    if (bytes <= this.options.maxBytes) return;
    const victims: IndexEntry[] = [];
    for (const e of this.index.oldest()) {
      if (bytes <= this.options.maxBytes) break;
      if (e.id === keep) continue;
      victims.push(e);
      bytes -= e.bytes;
    }
    await this.remove(db, victims);
  }

  private async remove(db: DiskDb, entries: readonly IndexEntry[]): Promise<void> {
    // Bounded batches: a large purge never builds one huge write.
    for (let i = 0; i < entries.length; i += 256) {
      const group = entries.slice(i, i + 256);
      await db.batch(group.flatMap(removalOps));
      this.removed(group);
    }
  }

  /** After a committed removal: out of the index; chunks deleted after the grace delay. */
  private removed(entries: readonly IndexEntry[]): void {
    for (const e of entries) this.index.remove(e.id);
    if (entries.length > 0)
      this.reclaimer.later(entries.map((e) => ({ bodyId: e.bodyId, chunks: e.chunks, file: e.file })));
  }

  /** Files first, then the records naming them: a crash between leaves records the next open sweeps. */
  private reclaim(bodies: Reclaim[]): Promise<void> {
    return this.exclusive(async () => {
      const ops: DiskOp[] = [];
      for (const b of bodies) {
        if (b.file) await removeBodyFile(bodyFilePath(this.path, b.bodyId));
        else ops.push(...chunkDeletions(b.bodyId, b.chunks));
        ops.push({ type: 'del', key: reclaimKey(b.bodyId) });
      }
      await this.db?.batch(ops);
    });
  }

  // ---- faults, access times, serialisation ----

  /**
   * Whether a write may go ahead. After a failure writes stay off for writeRetryMs; then the
   * database is reopened (LevelDB keeps a failed write as a sticky error until it is reopened).
   */
  private async writable(): Promise<boolean> {
    if (this.gate.open) return true;
    if (!this.gate.retryDue) return false;
    return this.exclusive(() => this.reopen());
  }

  private async reopen(): Promise<boolean> {
    if (this.gate.open) return true;
    if (!this.gate.retryDue) return false;
    const old = this.db;
    this.db = undefined;
    try {
      await old?.close();
      const db = await DiskDb.open(this.path);
      const prepared = await prepare(db).catch(async (err: unknown) => {
        await db.close();
        throw err;
      });
      this.index = prepared.index;
      this.db = db;
      this.gate.reopened();
      return true;
    } catch (err) {
      this.gate.stillFailing(err);
      return false;
    }
  }

  private writeFailed(err: unknown): void {
    this.gate.failed(err);
  }

  private flushAccess(): Promise<void> {
    return this.exclusive(async () => {
      if (this.db && this.gate.open) await this.persistAccess(this.db);
    });
  }

  private async persistAccess(db: DiskDb): Promise<void> {
    const ops: DiskOp[] = this.index.takeDirty().map((e) => ({
      type: 'put',
      key: accessKey(e.id),
      value: Buffer.from(String(e.accessMs)),
    }));
    await db.batch(ops);
  }

  private requireDb(): DiskDb {
    if (!this.db) throw new StrataError('STORE_FAILED', 'the disk tier is closed', { path: this.path });
    return this.db;
  }

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.tail.then(fn, fn);
    this.tail = run.catch(() => undefined);
    return run;
  }
}
