// PurgeFences: the purge sequence as a fence. A fill notes the sequence when it starts; when its
// response is to be stored, any purge recorded since that matches it (by key, prefix, host, tag
// or all) decides: a hard purge drops it, a soft purge stores it already stale. So no response
// whose fetch began before a purge ever lands after it, whatever the selector.

import { hostOfKey } from '../cache/key.js';
import { selects, type ObjectMeta, type PurgeSelector } from '../cache/store.js';

/** What a fill may do with a response once purges recorded since its start are considered. */
export type FenceVerdict = 'store' | 'stale' | 'drop';

interface Fence {
  seq: number;
  soft: boolean;
  selectors: readonly PurgeSelector[];
}

export class PurgeFences {
  private seq = 0;
  private fences: Fence[] = [];
  /** Fills in progress per sequence they started at: fences older than all of them are let go. */
  private readonly open = new Map<number, number>();

  /** Runs when a fill starts fetching; returns its starting sequence, for verdict() and leave(). */
  enter(): number {
    this.open.set(this.seq, (this.open.get(this.seq) ?? 0) + 1);
    return this.seq;
  }

  /** Runs when a fill is done (stored, passed through or failed). */
  leave(since: number): void {
    const n = (this.open.get(since) ?? 1) - 1;
    if (n > 0) this.open.set(since, n);
    else this.open.delete(since);
    this.prune();
  }

  /** Runs when a purge is applied, before the store is purged: fills started before it are fenced. */
  record(selectors: readonly PurgeSelector[], soft: boolean): void {
    this.seq++;
    if (this.open.size > 0) this.fences.push({ seq: this.seq, soft, selectors });
  }

  /** Whether a response fetched by a fill that started at `since` may be stored as it is. */
  verdict(since: number, meta: Pick<ObjectMeta, 'key' | 'tags'>): FenceVerdict {
    let verdict: FenceVerdict = 'store';
    if (since === this.seq) return verdict;
    const host = hostOfKey(meta.key);
    for (const fence of this.fences) {
      if (fence.seq <= since) continue;
      if (!fence.selectors.some((s) => selects(s, meta as ObjectMeta, host))) continue;
      if (!fence.soft) return 'drop';
      verdict = 'stale';
    }
    return verdict;
  }

  /** Purges recorded so far (the sequence). */
  get current(): number {
    return this.seq;
  }

  /** Fences kept (tests: they are let go once no fill needs them). */
  get size(): number {
    return this.fences.length;
  }

  private prune(): void {
    if (this.fences.length === 0) return;
    let oldest = Infinity;
    for (const since of this.open.keys()) oldest = Math.min(oldest, since);
    if (oldest === Infinity) this.fences = [];
    else this.fences = this.fences.filter((f) => f.seq > oldest);
  }
}
