// pump(): reads a body with 'data' events, which costs less per chunk than async iteration on the
// miss path, with backpressure from whoever receives the chunks.

import type { Readable } from 'node:stream';

/**
 * Calls onChunk for each chunk. onChunk returns true to go on, false to stop reading (the body
 * is destroyed and pump resolves), or a promise to pause reading until it settles. Resolves
 * when the body has ended; rejects with its error, or when it closed before its end.
 */
export function pump(body: Readable, onChunk: (chunk: Buffer) => boolean | Promise<void>): Promise<void> {
  return new Promise((resolve, reject) => {
    let done = false;
    const finish = (err?: Error) => {
      if (done) return;
      done = true;
      if (err) reject(err);
      else resolve();
    };
    body.on('data', (chunk: Buffer) => {
      if (done) return;
      const next = onChunk(chunk);
      if (next === true) return;
      if (next === false) {
        finish();
        body.destroy();
        return;
      }
      body.pause();
      next.then(
        () => {
          if (!done) body.resume();
        },
        (err: Error) => {
          finish(err);
          body.destroy();
        },
      );
    });
    body.once('end', () => finish());
    body.once('error', (err) => finish(err));
    body.once('close', () =>
      finish(body.readableEnded ? undefined : new Error('body closed before its end')),
    );
  });
}
