// PurgeFanout: with workers, the node's purge agent runs in the primary, and this is its target:
// each purge goes to every worker over the cluster IPC channel, and the node has applied it
// once every worker says it has (a worker that does not answer within the wait is reported,
// and the agent goes on: one stuck worker must not stop the fleet's purges on this node).

import type { Worker } from 'node:cluster';
import type { PurgeTarget } from '../purge/agent.js';
import type { PurgeSpec } from '../purge/message.js';

/** Primary -> worker: apply this purge; worker -> primary: applied (objects touched). */
export type PurgeIpcMessage =
  | { type: 'strata:purge'; seq: number; spec: PurgeSpec & { id?: string } }
  | { type: 'strata:purged'; seq: number; objects: number; error?: string };

interface Pending {
  waiting: Set<number>;
  failed: number[];
  objects: number;
  done: () => void;
}

export class PurgeFanout implements PurgeTarget {
  private seq = 0;
  private readonly pending = new Map<number, Pending>();

  /**
   * `workers()`: the ready workers by index, asked at each purge; `waitMs`: how long a worker
   * may take before it is reported missing.
   */
  constructor(
    private readonly workers: () => Map<number, Worker>,
    private readonly waitMs: number,
  ) {}

  /** Called by the supervisor with every message a worker sends. */
  received(index: number, message: PurgeIpcMessage): void {
    if (message?.type !== 'strata:purged') return;
    const p = this.pending.get(message.seq);
    if (!p || !p.waiting.delete(index)) return;
    // A worker that failed to apply it is reported with those that did not answer.
    if (message.error) p.failed.push(index);
    else p.objects += message.objects;
    if (p.waiting.size === 0) p.done();
  }

  async apply(spec: PurgeSpec & { id?: string }): Promise<{ objects: number; missing?: number[] }> {
    const seq = ++this.seq;
    const workers = this.workers();
    let done!: () => void;
    const finished = new Promise<void>((resolve) => (done = resolve));
    const p: Pending = { waiting: new Set(workers.keys()), failed: [], objects: 0, done };
    this.pending.set(seq, p);
    for (const [index, worker] of workers) {
      try {
        worker.send({ type: 'strata:purge', seq, spec } satisfies PurgeIpcMessage);
      } catch {
        // The worker's channel is closed (it is exiting): it counts as missing, its cache goes with it.
        p.waiting.delete(index);
      }
    }
    if (p.waiting.size === 0) done();
    const timer = setTimeout(done, this.waitMs);
    await finished;
    clearTimeout(timer);
    this.pending.delete(seq);
    const missing = [...p.waiting, ...p.failed].sort((a, b) => a - b);
    return missing.length > 0 ? { objects: p.objects, missing } : { objects: p.objects };
  }
}
