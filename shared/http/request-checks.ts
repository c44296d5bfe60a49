// What a client-facing listener refuses before the pipeline: requests llhttp parsed but RFC 9112
// calls malformed, HTTP/2 requests whose authority is malformed, and the answers on a raw
// socket when there is no response object to answer with. Every listener uses these.

import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Http2ServerResponse } from 'node:http2';
import type { Socket } from 'node:net';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import { transferCodings, transferEncodingFault, type FramingFault } from './framing.js';

/** How long a refused connection may stay half-open after its answer, waiting for the client to close. */
const refusedLingerMs = 2_000;

/** Why a request is refused: a code for strata_client_errors_total and words for the client. */
export interface Invalid {
  code: string;
  reason: string;
  /** Default 400 (405 for CONNECT); 501 for a transfer coding Strata does not implement. */
  status?: number;
}

/**
 * RFC 9110 §4.2.3 / RFC 3986 §3.2.2: uri-host [ ":" port ], where uri-host is an IP-literal
 * or a reg-name (unreserved / pct-encoded / sub-delims). No "/", "@", "?", "#" or spaces.
 */
const validHost = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-._~!$&'()*+,;=%]*)(:\d*)?$/;

/**
 * What llhttp lets through but a proxy must refuse. RFC 9112 §3.2: "A server MUST respond with
 * a 400 (Bad Request) status code to any HTTP/1.1 request message that lacks a Host header
 * field and to any request message that contains more than one Host header field line or a
 * Host header field with an invalid field value." A Host such as "victim.test/admin" would
 * otherwise make the cache key of another URL (cache poisoning). A missing Host is the
 * pipeline's 400: whether it is needed depends on the request target's form.
 */
export function invalidRequest(req: IncomingMessage): Invalid | undefined {
  // Checked by the byte scanner first where it runs (framing.ts); here for where it does not.
  const te = req.headers['transfer-encoding'];
  if (te !== undefined) {
    const found = transferEncodingFault(req.httpVersion === '1.0', transferCodings(te));
    if (found) return found;
  }
  const raw = req.rawHeaders;
  let hosts = 0;
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i].length !== 4 || raw[i].toLowerCase() !== 'host') continue;
    if (++hosts > 1) return { code: 'DUPLICATE_HOST', reason: 'more than one Host field' };
    if (!validHost.test(raw[i + 1])) return { code: 'INVALID_HOST', reason: 'invalid Host field value' };
  }
  const url = req.url ?? '';
  if (url.charCodeAt(0) !== 47 /* '/' */ && url !== '*') {
    // Absolute-form (RFC 9112 §3.2.2): its authority stands in for Host and is checked alike;
    // userinfo is not allowed in http(s) URIs (RFC 9110 §4.2.4).
    const authority = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/([^/?#]*)/.exec(url)?.[1];
    if (authority !== undefined && (authority === '' || !validHost.test(authority)))
      return { code: 'INVALID_HOST', reason: 'invalid authority in the request target' };
  }
  return undefined;
}

/**
 * The HTTP/2 counterpart (RFC 9113 §8.3.1): :authority stands in for Host, is checked alike, and
 * a Host field naming another authority makes the request malformed. Sets `host` from
 * :authority, so the pipeline routes HTTP/2 and HTTP/1.1 requests alike. CONNECT opens tunnels,
 * which a reverse proxy does not (RFC 9110 §9.3.6).
 */
export function invalidHttp2Request(req: IncomingMessage): Invalid | undefined {
  const headers = req.headers;
  if (req.method === 'CONNECT') return { code: 'CONNECT_REFUSED', reason: 'CONNECT is not served' };
  const authority = headers[':authority'];
  const host = headers.host;
  if (typeof authority === 'string') {
    if (authority === '' || !validHost.test(authority))
      return { code: 'INVALID_HOST', reason: 'invalid :authority' };
    if (host !== undefined && host.toLowerCase() !== authority.toLowerCase())
      return { code: 'INVALID_HOST', reason: 'Host differs from :authority' };
    headers.host = authority;
  } else if (host !== undefined && !validHost.test(host)) {
    return { code: 'INVALID_HOST', reason: 'invalid Host field value' };
  }
  return undefined;
}

/**
 * llhttp reports a request line that alone passes maxHeaderBytes as a header overflow; it is a
 * URI too long (RFC 9110 §15.5.15) when the first line of what arrived is longer than the limit.
 */
export function requestLineOverflowed(err: Error, maxHeaderBytes: number): boolean {
  const raw = (err as Error & { rawPacket?: Buffer }).rawPacket;
  if (raw === undefined) return false;
  const end = raw.indexOf('\r\n');
  return end === -1 || end > maxHeaderBytes;
}

/**
 * Answers on the raw socket (no request object to answer with) and closes it. Node has taken
 * its own listeners off a CONNECT or upgrade socket: a client resetting it mid-answer must not
 * become an uncaught error, and one that keeps its side open must not hold the socket past a
 * short linger.
 */
export function refuseOnSocket(socket: Socket, status: string, fields: string): void {
  const body = `${status}\n`;
  socket.on('error', () => socket.destroy());
  socket.setTimeout(refusedLingerMs, () => socket.destroy());
  socket.end(
    `HTTP/1.1 ${status}\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\n${fields}Connection: close\r\n\r\n${body}`,
  );
}

/** The refusals every client-facing listener makes, counted in strata_client_errors_total. */
export class Refusals {
  private readonly malformedStatus: string;
  private readonly connectStatus: string;

  constructor(
    nodeId: string,
    private readonly maxHeaderBytes: number,
    private readonly log: Logger,
    private readonly metrics: Metrics,
  ) {
    // RFC 9211: every response says what this cache did, refusals included.
    this.malformedStatus = `${nodeId}; fwd=bypass; detail=malformed-request`;
    this.connectStatus = `${nodeId}; fwd=bypass; detail=connect-refused`;
  }

  /** Malformed requests get a 4xx and the connection closes; they never reach the pipeline. */
  clientError(err: NodeJS.ErrnoException, socket: Socket): void {
    const code = err.code ?? 'UNKNOWN';
    this.metrics.clientErrors.inc({ code });
    if (!socket.writable || code === 'ECONNRESET') {
      socket.destroy();
      return;
    }
    const status =
      code === 'HPE_HEADER_OVERFLOW'
        ? requestLineOverflowed(err, this.maxHeaderBytes)
          ? '414 URI Too Long'
          : '431 Request Header Fields Too Large'
        : code === 'ERR_HTTP_REQUEST_TIMEOUT'
          ? '408 Request Timeout'
          : '400 Bad Request';
    refuseOnSocket(socket, status, `Cache-Status: ${this.malformedStatus}\r\n`);
    this.log.debug({ code, reason: err.message }, 'rejected malformed request');
  }

  /** A reverse proxy opens no tunnels (RFC 9110 §9.3.6): CONNECT gets an answer, then the close. */
  connect(socket: Socket): void {
    this.metrics.clientErrors.inc({ code: 'CONNECT_REFUSED' });
    refuseOnSocket(
      socket,
      '405 Method Not Allowed',
      `Allow: GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS\r\nCache-Status: ${this.connectStatus}\r\n`,
    );
  }

  /**
   * Request framing RFC 9112 rejects, found by the byte scanner (framing.ts): the answer, then the
   * close. A response already under way on the connection is cut instead: an answer written into
   * it would corrupt it.
   */
  framingFault(socket: Socket, fault: FramingFault): void {
    this.metrics.clientErrors.inc({ code: fault.code });
    this.log.debug({ code: fault.code, reason: fault.reason }, 'rejected request framing');
    const inFlight = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
    if (!socket.writable || inFlight?.headersSent) {
      socket.destroy();
      return;
    }
    refuseOnSocket(
      socket,
      `${fault.status} ${STATUS_CODES[fault.status]}`,
      `Cache-Status: ${this.malformedStatus}\r\n`,
    );
  }

  /** A request parsed but malformed: 400 (405 for an HTTP/2 CONNECT, 501 for an unknown coding), never the pipeline. */
  reject(res: ServerResponse | Http2ServerResponse, invalid: Invalid): void {
    this.metrics.clientErrors.inc({ code: invalid.code });
    const connect = invalid.code === 'CONNECT_REFUSED';
    const status = invalid.status ?? (connect ? 405 : 400);
    const body = `${status} ${STATUS_CODES[status]}: ${invalid.reason}\n`;
    const headers: Record<string, string | number> = {
      'content-type': 'text/plain; charset=utf-8',
      'content-length': Buffer.byteLength(body),
      'cache-control': 'no-store',
      'cache-status': connect ? this.connectStatus : this.malformedStatus,
    };
    // HTTP/1.1 closes the connection; HTTP/2 ends the stream only (no Connection field there).
    if ('shouldKeepAlive' in res) res.shouldKeepAlive = false;
    res.writeHead(status, headers);
    res.end(body);
    this.log.debug(invalid, 'rejected malformed request');
  }
}
