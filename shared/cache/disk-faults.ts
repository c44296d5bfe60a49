// WriteGate: whether the disk tier may write. A failed write (full disk, I/O error) closes the
// gate for the retry delay (logged once, counted each time); then the store may try again.

import type { Logger } from '../log.js';
import { StrataError } from '../errors.js';

export class WriteGate {
  /** Writes are off until this time; undefined while they are on. */
  private offUntilMs: number | undefined;

  constructor(
    private readonly retryMs: number,
    private readonly clock: () => number,
    private readonly path: string,
    private readonly log: Logger | undefined,
    private readonly onError: (() => void) | undefined,
  ) {}

  get open(): boolean {
    return this.offUntilMs === undefined;
  }

  /** Closed, and the retry delay has passed: the store should reopen and try again. */
  get retryDue(): boolean {
    return this.offUntilMs !== undefined && this.clock() >= this.offUntilMs;
  }

  /** A write failed: writes go off for the retry delay. */
  failed(err: unknown): void {
    const first = this.offUntilMs === undefined;
    this.offUntilMs = this.clock() + this.retryMs;
    this.onError?.();
    if (!first) return;
    const e = StrataError.from(err);
    this.log?.error(
      { code: e.code, err: e.message, path: this.path, retryMs: this.retryMs },
      'disk tier write failed; disk writes off, serving from memory',
    );
  }

  /** The retry did not work either: off for another delay. */
  stillFailing(err: unknown): void {
    this.offUntilMs = this.clock() + this.retryMs;
    this.log?.error({ err, path: this.path }, 'disk tier still failing; memory only for now');
  }

  reopened(): void {
    this.offUntilMs = undefined;
    this.log?.info({ path: this.path }, 'disk tier writes back on');
  }
}
