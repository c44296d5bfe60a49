// undici and socket errors converted to StrataError: here and nowhere else.

import { errors as undiciErrors } from 'undici';
import { StrataError, type ErrorCode } from '../errors.js';

/** Certificate and handshake failures (Node's ERR_TLS_* and OpenSSL's verification codes). */
const tlsCodes =
  /^(ERR_TLS_|ERR_SSL_|CERT_|UNABLE_TO_|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|ERR_OSSL_)/;

const networkCodes: Record<string, ErrorCode> = {
  ECONNREFUSED: 'UPSTREAM_CONNECT_FAILED',
  // A Unix socket (a sibling worker's) that is not there.
  ENOENT: 'UPSTREAM_CONNECT_FAILED',
  ENOTFOUND: 'UPSTREAM_CONNECT_FAILED',
  EHOSTUNREACH: 'UPSTREAM_CONNECT_FAILED',
  ENETUNREACH: 'UPSTREAM_CONNECT_FAILED',
  EAI_AGAIN: 'UPSTREAM_CONNECT_FAILED',
  ECONNRESET: 'UPSTREAM_RESET',
  EPIPE: 'UPSTREAM_RESET',
};

/** Maps an undici or socket error to the catalog. */
export function upstreamError(err: unknown, origin: string): StrataError {
  if (err instanceof StrataError) return err;
  const context = { origin };
  if (err instanceof undiciErrors.ConnectTimeoutError)
    return StrataError.because('UPSTREAM_CONNECT_TIMEOUT', err, context);
  if (err instanceof undiciErrors.HeadersTimeoutError)
    return StrataError.because('UPSTREAM_HEADERS_TIMEOUT', err, context);
  if (err instanceof undiciErrors.BodyTimeoutError)
    return StrataError.because('UPSTREAM_BODY_TIMEOUT', err, context);
  // The client's abort signal (pass requests), as undici's error or the DOM AbortError.
  if (err instanceof undiciErrors.RequestAbortedError || (err as Error | undefined)?.name === 'AbortError')
    return StrataError.because('CLIENT_ABORTED', err, context);
  if (err instanceof undiciErrors.SocketError) return StrataError.because('UPSTREAM_RESET', err, context);
  if (
    err instanceof undiciErrors.HTTPParserError ||
    // A response head over undici's 16 KiB limit: the origin's fault, not a reset.
    err instanceof undiciErrors.HeadersOverflowError ||
    err instanceof undiciErrors.ResponseContentLengthMismatchError ||
    err instanceof undiciErrors.InvalidArgumentError
  )
    return StrataError.because('UPSTREAM_PROTOCOL', err, context);
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (code && tlsCodes.test(code)) return StrataError.because('UPSTREAM_TLS', err, context);
  const mapped = code ? networkCodes[code] : undefined;
  return StrataError.because(mapped ?? 'UPSTREAM_RESET', err, context);
}
