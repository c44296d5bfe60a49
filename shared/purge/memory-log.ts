// MemoryLog: the in-process purge log of a node without purge.redis (one node, the demo): the
// same semantics as Redis's, within one process, trimmed by age like the stream.

import type { Heartbeat, PurgeAck, PurgeMessage, PurgeSpec } from './message.js';
import { compareIds } from './message.js';
import { liveIntervals, type LogEvents, type PurgeLog } from './log.js';

export class MemoryLog implements PurgeLog {
  readonly kind = 'memory';
  readonly state = 'up';
  readonly reason = undefined;
  private readonly entries: PurgeMessage[] = [];
  private readonly ackMap = new Map<string, Map<string, PurgeAck>>();
  private readonly expectMap = new Map<string, string[]>();
  private readonly beats = new Map<string, Heartbeat>();
  private readonly listeners = new Set<LogEvents>();
  private lastMs = 0;
  private lastSeq = 0;
  /** The last id trimmed away ('0-0': none). */
  private trimmedId = '0-0';

  /** `maxAgeMs`: purges older than this leave the log (purge.stream.maxAge). */
  constructor(private readonly maxAgeMs: number) {}

  async start(): Promise<void> {}

  /** Nothing to close; each subscriber unsubscribes itself (nodes of one process may share a log). */
  async stop(): Promise<void> {}

  subscribe(events: LogEvents): () => void {
    this.listeners.add(events);
    return () => this.listeners.delete(events);
  }

  async acksReady(): Promise<void> {}

  async append(spec: PurgeSpec, atMs: number): Promise<PurgeMessage> {
    // Ids as Redis makes them: ms-seq, strictly increasing.
    if (atMs > this.lastMs) {
      this.lastMs = atMs;
      this.lastSeq = 0;
    } else this.lastSeq++;
    const message: PurgeMessage = { v: 1, id: `${this.lastMs}-${this.lastSeq}`, atMs, ...spec };
    this.entries.push(message);
    this.trim(atMs);
    // Announced after the caller has its id, as pub/sub after XADD.
    queueMicrotask(() => this.emit((l) => l.announce?.(message.id)));
    return message;
  }

  async readAfter(id: string, count: number): Promise<PurgeMessage[]> {
    const out: PurgeMessage[] = [];
    for (const m of this.entries) {
      if (compareIds(m.id, id) <= 0) continue;
      out.push(m);
      if (out.length >= count) break;
    }
    return out;
  }

  async read(id: string): Promise<PurgeMessage | undefined> {
    return this.entries.find((m) => m.id === id);
  }

  async lastId(): Promise<string> {
    return this.entries.at(-1)?.id ?? this.trimmedId;
  }

  async lostAfter(id: string): Promise<boolean> {
    return compareIds(this.trimmedId, id) > 0;
  }

  async ack(ack: PurgeAck): Promise<void> {
    let acks = this.ackMap.get(ack.id);
    if (!acks) this.ackMap.set(ack.id, (acks = new Map()));
    acks.set(ack.node, ack);
    this.emit((l) => l.ack?.(ack));
  }

  async acks(id: string): Promise<PurgeAck[]> {
    return [...(this.ackMap.get(id)?.values() ?? [])];
  }

  async expect(id: string, nodes: readonly string[]): Promise<void> {
    this.expectMap.set(id, [...nodes]);
  }

  async expected(id: string): Promise<string[] | undefined> {
    return this.expectMap.get(id);
  }

  async heartbeat(beat: Heartbeat): Promise<void> {
    this.beats.set(beat.node, beat);
  }

  async liveNodes(nowMs: number): Promise<Heartbeat[]> {
    return [...this.beats.values()].filter((b) => b.atMs + liveIntervals * b.intervalMs >= nowMs);
  }

  async leave(node: string): Promise<void> {
    this.beats.delete(node);
  }

  private trim(nowMs: number): void {
    let drop = 0;
    while (drop < this.entries.length && this.entries[drop].atMs < nowMs - this.maxAgeMs) drop++;
    if (drop === 0) return;
    for (const m of this.entries.splice(0, drop)) {
      this.ackMap.delete(m.id);
      this.expectMap.delete(m.id);
      this.trimmedId = m.id;
    }
  }

  private emit(fn: (l: LogEvents) => void): void {
    for (const l of this.listeners) fn(l);
  }
}
