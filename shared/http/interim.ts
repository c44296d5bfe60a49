// Interim (1xx) responses from upstream, passed on to the client that asked, never stored.
// RFC 9110 §15.2: "A proxy MUST forward 1xx responses unless the proxy itself requested the
// generation of the 1xx response." They go out before the final head, on the client's own
// connection; the final response that follows is what a fill stores.

import { STATUS_CODES, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { RequestContext } from './context.js';
import { connectionTokens, hopByHop } from './headers.js';

/** What an upstream exchange calls for each interim response it receives. */
export type InterimListener = (status: number, headers: IncomingHttpHeaders) => void;

/**
 * Most interim responses passed on per request: an origin sending 1xx in a loop (bounded in time
 * by upstream.headersTimeout) must not fill a slow client's socket with them.
 */
export const maxInterimPerRequest = 16;

/** Node's raw head writer, the one writeEarlyHints and writeProcessing use; queued while an earlier pipelined response is still going out. */
type RawWriter = { _writeRaw?: (data: string, encoding: BufferEncoding) => boolean };

/**
 * A listener that passes interim responses on to the client of `ctx`. Node's public API writes
 * only 103 with a Link (writeEarlyHints) and a bare 102 (writeProcessing); the raw writer they
 * both use sends any 1xx with its end-to-end fields. Skipped, as RFC 9110 requires or allows:
 * - 100 Continue and 101: Strata answers Expect itself and sends no Expect or Upgrade upstream,
 *   so these were requested by Strata (§15.2);
 * - to an HTTP/1.0 client: "a server MUST NOT send a 1xx response to an HTTP/1.0 client" (§15.2);
 * - once the final head is sent, or past maxInterimPerRequest.
 */
export function interimTo(ctx: RequestContext): InterimListener {
  let sent = 0;
  return (status, headers) => {
    const { req, res } = ctx;
    if (status < 102 || status > 199 || sent >= maxInterimPerRequest) return;
    if (req.httpVersionMajor === 1 && req.httpVersionMinor === 0) return;
    if (res.headersSent || res.writableEnded || res.destroyed) return;
    const write = (res as ServerResponse & RawWriter)._writeRaw;
    if (typeof write !== 'function') return;
    sent++;
    write.call(res, interimHead(status, headers), 'latin1');
  };
}

/** The head of an interim response: status line and end-to-end fields, no body (RFC 9112 §6.3). */
export function interimHead(status: number, headers: IncomingHttpHeaders): string {
  const connection = connectionTokens(headers.connection);
  let head = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Informational'}\r\n`;
  for (const name in headers) {
    const value = headers[name];
    // RFC 9110 §8.6: "A server MUST NOT send a Content-Length header field in any response
    // with a status code of 1xx".
    if (value === undefined || hopByHop.has(name) || connection?.has(name) || name === 'content-length')
      continue;
    for (const v of Array.isArray(value) ? value : [value]) {
      // undici's parser lets no CR or LF through; checked anyway, as this is a raw write.
      if (!/[\r\n]/.test(v) && !/[\r\n:]/.test(name)) head += `${name}: ${v}\r\n`;
    }
  }
  return `${head}\r\n`;
}
