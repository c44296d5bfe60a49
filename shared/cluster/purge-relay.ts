// PURGE requests in a worker: the worker has no purge bus (its primary has the node's one), so
// a `PURGE <url>` it accepts goes to the primary over IPC, which appends it to the log, and the
// answer (the purge's id, or the error) comes back the same way.

import type { Worker } from 'node:cluster';
import { StrataError, catalog, type ErrorCode } from '../errors.js';
import type { PurgeMessage } from '../purge/message.js';

/** Worker -> primary: append a purge of this URL; primary -> worker: done, or why not. */
export type PurgeRelayMessage =
  | { type: 'strata:purge-publish'; seq: number; url: string }
  | { type: 'strata:purge-published'; seq: number; id?: string; error?: { code: string; message: string } };

/** How long a worker waits for its primary to append a purge. */
const relayTimeoutMs = 10_000;

/** In a worker: sends PURGE URLs to the primary; one instance per worker process. */
export class PurgeRelayClient {
  private seq = 0;
  private readonly pending = new Map<
    number,
    { resolve: (id: string) => void; reject: (e: StrataError) => void }
  >();

  constructor() {
    process.on('message', (m: PurgeRelayMessage) => {
      if (m?.type !== 'strata:purge-published') return;
      const p = this.pending.get(m.seq);
      if (!p) return;
      this.pending.delete(m.seq);
      if (m.id !== undefined) p.resolve(m.id);
      else p.reject(relayedError(m.error));
    });
  }

  /** Resolves with the purge's id once the primary has it in the log. */
  publish = (url: string): Promise<{ id: string }> => {
    const seq = ++this.seq;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(seq);
        reject(new StrataError('PURGE_UNAVAILABLE', 'the primary did not take the purge in time'));
      }, relayTimeoutMs);
      this.pending.set(seq, {
        resolve: (id) => {
          clearTimeout(timer);
          resolve({ id });
        },
        reject: (err) => {
          clearTimeout(timer);
          reject(err);
        },
      });
      process.send?.({ type: 'strata:purge-publish', seq, url } satisfies PurgeRelayMessage);
    });
  };
}

/** In the primary: appends a worker's PURGE URL through the node's bus and answers it. */
export function relayPurge(
  worker: Worker,
  message: PurgeRelayMessage,
  publish: (urls: string[]) => Promise<PurgeMessage>,
): void {
  if (message.type !== 'strata:purge-publish') return;
  const answer = (reply: PurgeRelayMessage) => {
    if (worker.isConnected()) worker.send(reply);
  };
  publish([message.url]).then(
    (m) => answer({ type: 'strata:purge-published', seq: message.seq, id: m.id }),
    (err: unknown) => {
      const e = StrataError.from(err);
      answer({
        type: 'strata:purge-published',
        seq: message.seq,
        error: { code: e.code, message: e.message },
      });
    },
  );
}

function relayedError(error: { code: string; message: string } | undefined): StrataError {
  const code = (error && Object.hasOwn(catalog, error.code) ? error.code : 'PURGE_UNAVAILABLE') as ErrorCode;
  return new StrataError(code, error?.message);
}
