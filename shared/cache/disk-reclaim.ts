// Reclaimer: deletes the chunks (or file) of replaced, purged and evicted bodies after a grace delay, so
// a read that looked an object up just before it was replaced still finds its body. A
// persisted reclaim record (written with the removal) makes a crash before then harmless.

export interface Reclaim {
  bodyId: string;
  chunks: number;
  /** The body is a file (removed with it) rather than LevelDB chunks. */
  file: boolean;
}

export class Reclaimer {
  private queue: { reclaim: Reclaim; dueMs: number }[] = [];
  private timer: NodeJS.Timeout | undefined;

  /** `run` deletes the given bodies' chunks and reclaim records (one batch, serialised). */
  constructor(
    private readonly delayMs: number,
    private readonly run: (bodies: Reclaim[]) => Promise<void>,
  ) {}

  get pending(): number {
    return this.queue.length;
  }

  /** Schedules bodies whose removal has been committed. */
  later(bodies: Reclaim[]): void {
    const dueMs = performance.now() + this.delayMs;
    for (const reclaim of bodies) this.queue.push({ reclaim, dueMs });
    this.timer ??= setTimeout(() => void this.tick(), this.delayMs).unref();
  }

  /** Reclaims everything now (at close, when no read can be in progress). */
  async all(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    const bodies = this.queue.map((q) => q.reclaim);
    this.queue = [];
    if (bodies.length > 0) await this.run(bodies);
  }

  private async tick(): Promise<void> {
    this.timer = undefined;
    const now = performance.now();
    const due = this.queue.filter((q) => q.dueMs <= now).map((q) => q.reclaim);
    this.queue = this.queue.filter((q) => q.dueMs > now);
    // A failed run leaves the reclaim records on disk; the next open removes them.
    if (due.length > 0) await this.run(due).catch(() => undefined);
    if (this.queue.length > 0)
      this.timer = setTimeout(() => void this.tick(), Math.max(1, this.queue[0].dueMs - now)).unref();
  }
}
