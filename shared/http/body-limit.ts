// Request body limit: counts body bytes on their way upstream and stops past server.maxBodyBytes.
// Needed for chunked bodies, whose size is unknown when the request arrives.

import { Readable } from 'node:stream';
import type { IncomingMessage } from 'node:http';
import { StrataError } from '../errors.js';

/**
 * The request body as a stream that fails with REQUEST_BODY_TOO_LARGE (413) as soon as more
 * than `maxBytes` have arrived, and with CLIENT_ABORTED when the client goes away mid-body.
 * Runs when the body is forwarded (phase pass); the upstream adapter passes these errors through.
 */
export function limitBody(req: IncomingMessage, maxBytes: number): Readable {
  return Readable.from(counted(req, maxBytes), { objectMode: false });
}

async function* counted(req: IncomingMessage, maxBytes: number): AsyncGenerator<Buffer> {
  let bytes = 0;
  let ended = false;
  // destroyOnReturn: false — destroying the request would destroy its socket, and with it the
  // response (413, 502) that is about to be written on that socket.
  const chunks = req.iterator({ destroyOnReturn: false }) as AsyncIterableIterator<Buffer>;
  try {
    for (;;) {
      let next: IteratorResult<Buffer>;
      try {
        next = await chunks.next();
      } catch (err) {
        ended = true;
        throw StrataError.because('CLIENT_ABORTED', err);
      }
      if (next.done) {
        ended = true;
        return;
      }
      bytes += next.value.length;
      if (bytes > maxBytes) throw new StrataError('REQUEST_BODY_TOO_LARGE', undefined, { maxBytes });
      yield next.value;
    }
  } finally {
    if (!ended) {
      // Stopped early (limit, or the upstream request failed): the rest of the body is read and
      // dropped, as Node does for bodies nobody reads, so the connection stays in step for the
      // next request. server.requestTimeout bounds how long a client may keep sending.
      await chunks.return?.();
      req.resume();
    }
  }
}
