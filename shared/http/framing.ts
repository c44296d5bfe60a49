// RequestFraming: follows the framing of the requests on one client connection, byte for byte,
// ahead of Node's parser (llhttp), and refuses what RFC 9112 rejects but llhttp lets through or
// waits on: Transfer-Encoding in HTTP/1.0, transfer codings other than one final chunked, chunk
// sizes no body can have, and chunk extensions without bound. llhttp stays the parser; this
// only decides which bytes it may see. Connections are guarded by guardFraming().

import type { Socket } from 'node:net';

/** Why a connection's framing was refused; `status` is the answer before the connection closes. */
export interface FramingFault {
  code:
    | 'TRANSFER_ENCODING_HTTP10'
    | 'TRANSFER_ENCODING_INVALID'
    | 'TRANSFER_CODING_UNSUPPORTED'
    | 'CHUNK_SIZE_INVALID'
    | 'CHUNK_TOO_LARGE'
    | 'CHUNK_EXTENSIONS_TOO_LONG'
    | 'CHUNK_FRAMING_INVALID';
  status: 400 | 413 | 501;
  reason: string;
}

export interface FramingLimits {
  /**
   * server.maxBodyBytes: a chunk larger than this is refused at once (413). Chunks that only add
   * up to more are the body limit's (body-limit.ts), which answers 413 and keeps the connection.
   */
  maxBodyBytes: number;
  /** server.maxHeaderBytes: llhttp refuses a head (or trailer section) past it (431). */
  maxHeadBytes: number;
}

/**
 * Chunk extension bytes one request may carry, all chunks together. RFC 9112 §7.1.1: "A server
 * ought to limit the total length of chunk extensions received in a request to an amount
 * reasonable for the services provided". None is defined, Strata forwards none, and llhttp
 * bounds them per chunk only (16 KiB each, without a total).
 */
export const maxChunkExtensionBytes = 4096;

/** More hex digits than this is no length a body can have (2^64 needs 16). */
const maxChunkSizeDigits = 16;

type State =
  | 'head'
  | 'body'
  | 'size'
  | 'size-ws'
  | 'ext'
  | 'size-lf'
  | 'data'
  | 'data-cr'
  | 'data-lf'
  | 'trailer'
  | 'trailer-lf'
  | 'pass';

const CR = 13;
const LF = 10;
const headEnd = Buffer.from('\r\n\r\n');
const noBytes = Buffer.alloc(0);
/** A field line that frames a body (names are case-insensitive). */
const framingFields = /\n(?:transfer-encoding|content-length)/i;

export class RequestFraming {
  private state: State = 'head';
  /** Pieces of a head split across reads (copies), joined once when its end arrives. */
  private partial: Buffer[] = [];
  private partialBytes = 0;
  /** The last (up to) three bytes of `partial`, where a CRLFCRLF may begin. */
  private tail = noBytes;
  /** Body bytes (Content-Length) or chunk data bytes still to come. */
  private remaining = 0;
  private digits = 0;
  private size = 0;
  private extensionBytes = 0;
  private trailerBytes = 0;
  private lineBytes = 0;
  /** Where in the buffer being scanned the current message began (-1: in an earlier one). */
  private messageStart = -1;
  /** Where scanHead stopped in the buffer being scanned. */
  private at = 0;

  constructor(private readonly limits: FramingLimits) {}

  /**
   * Scans the next bytes from the client. Returns undefined when they are well framed so far, or
   * the fault and how many leading bytes of `data` belong to the messages before the faulty one.
   */
  scan(data: Buffer): { fault: FramingFault; validBytes: number } | undefined {
    this.messageStart = this.state === 'head' && this.partialBytes === 0 ? 0 : -1;
    let i = 0;
    let found: FramingFault | undefined;
    while (i < data.length && !found) {
      switch (this.state) {
        case 'pass':
          return undefined;
        case 'head':
          found = this.scanHead(data, i);
          i = this.at;
          break;
        case 'body':
        case 'data': {
          const take = Math.min(this.remaining, data.length - i);
          i += take;
          this.remaining -= take;
          if (this.remaining === 0) this.endOfData(i);
          break;
        }
        default:
          found = this.scanByte(data[i++], i);
      }
    }
    return found && { fault: found, validBytes: Math.max(0, this.messageStart) };
  }

  /** After a body or a chunk's data: the next message, or the CRLF that ends the chunk. */
  private endOfData(at: number): void {
    if (this.state === 'data') this.state = 'data-cr';
    else this.startMessage(at);
  }

  private startMessage(at: number): void {
    this.state = 'head';
    this.messageStart = at;
  }

  /**
   * Finds the end of a request head (it may span reads) and decides how its body is framed. A
   * head sent a byte at a time is searched piece by piece and joined once, not once per read.
   */
  private scanHead(data: Buffer, from: number): FramingFault | undefined {
    let start = from;
    // RFC 9112 §2.2: empty lines before a request-line are ignored.
    if (this.partialBytes === 0) {
      while (start < data.length && (data[start] === CR || data[start] === LF)) start++;
      if (this.messageStart >= 0) this.messageStart = start;
    }
    const fresh = data.subarray(start);
    const end = this.headEndIn(fresh);
    if (end === -1) {
      this.partialBytes += fresh.length;
      // Far past the head limit is llhttp's 431 already; nothing of this connection is
      // followed after it. (Twice the limit: the two need not count bytes alike.)
      if (this.partialBytes > 2 * this.limits.maxHeadBytes) {
        this.state = 'pass';
        this.partial = [];
      } else if (fresh.length > 0) {
        this.partial.push(Buffer.from(fresh));
        this.tail = Buffer.concat([this.tail, fresh.subarray(-3)]).subarray(-3);
      }
      this.at = data.length;
      return undefined;
    }
    const prior = this.partialBytes;
    let head = fresh;
    if (prior > 0) {
      head = Buffer.concat([...this.partial, fresh]);
      this.partial = [];
      this.partialBytes = 0;
      this.tail = noBytes;
    }
    this.at = start + end + headEnd.length - prior;
    const found = this.framing(head.toString('latin1', 0, end));
    // A request without a body: the next one starts right after this head.
    if (!found && this.state === 'head') this.messageStart = this.at;
    return found;
  }

  /** Where the head that began in earlier reads (if any) and goes on in `fresh` ends, or -1. */
  private headEndIn(fresh: Buffer): number {
    const prior = this.partialBytes;
    if (prior > 0) {
      // The CRLFCRLF may straddle the reads: the last three bytes before, the first three now.
      const joint = Buffer.concat([this.tail, fresh.subarray(0, 3)]).indexOf(headEnd);
      if (joint !== -1) return prior - this.tail.length + joint;
    }
    const k = fresh.indexOf(headEnd);
    return k === -1 ? -1 : prior + k;
  }

  /** RFC 9112 §6: the body length of a request from its head. */
  private framing(head: string): FramingFault | undefined {
    // Nearly every request has neither field: no line to look at, no lowercase copy made.
    if (!framingFields.test(head)) {
      this.state = 'head';
      return undefined;
    }
    const lower = head.toLowerCase();
    const codings: string[] = [];
    let seenTransferEncoding = false;
    let contentLength: string | undefined;
    const lines = lower.split('\r\n');
    for (let n = 1; n < lines.length; n++) {
      const line = lines[n];
      const colon = line.indexOf(':');
      const name = line.slice(0, colon);
      if (name === 'transfer-encoding') {
        seenTransferEncoding = true;
        codings.push(...transferCodings(line.slice(colon + 1)));
      } else if (name === 'content-length') contentLength = line.slice(colon + 1).trim();
    }
    if (seenTransferEncoding) return this.transferEncoding(lines[0], codings);
    if (contentLength !== undefined && /^\d{1,15}$/.test(contentLength)) {
      this.remaining = Number(contentLength);
      this.state = this.remaining > 0 ? 'body' : 'head';
      return undefined;
    }
    // Any other Content-Length is llhttp's to refuse (400); nothing after it is followed.
    this.state = 'pass';
    return undefined;
  }

  private transferEncoding(requestLine: string, codings: string[]): FramingFault | undefined {
    const found = transferEncodingFault(requestLine.endsWith(' http/1.0'), codings);
    if (found) return found;
    this.extensionBytes = 0;
    this.trailerBytes = 0;
    this.newChunk();
    return undefined;
  }

  private newChunk(): void {
    this.state = 'size';
    this.digits = 0;
    this.size = 0;
  }

  /** RFC 9112 §7.1: chunk = chunk-size [ chunk-ext ] CRLF chunk-data CRLF; trailer section. */
  private scanByte(c: number, next: number): FramingFault | undefined {
    switch (this.state) {
      case 'size': {
        const v = hexValue(c);
        if (v >= 0) {
          // RFC 9112 §7.1: "Recipients MUST anticipate potentially large hexadecimal numerals
          // and prevent integer conversion overflows or precision loss".
          if (++this.digits > maxChunkSizeDigits)
            return fault('CHUNK_SIZE_INVALID', 400, 'chunk size has more digits than any length');
          this.size = this.size * 16 + v;
          if (this.size > this.limits.maxBodyBytes)
            return fault('CHUNK_TOO_LARGE', 413, 'chunk larger than the request body limit');
          return undefined;
        }
        if (this.digits === 0) return fault('CHUNK_SIZE_INVALID', 400, 'chunk size is not hexadecimal');
        if (c === LF) return bareLf();
        if (c === CR) this.state = 'size-lf';
        else if (c === 0x3b /* ; */) this.state = 'ext';
        else if (c === 0x20 || c === 0x09) this.state = 'size-ws';
        else return fault('CHUNK_SIZE_INVALID', 400, 'chunk size is not hexadecimal');
        return undefined;
      }
      case 'size-ws':
        // chunk-ext = *( BWS ";" BWS chunk-ext-name ... ): whitespace only before an extension.
        if (c === 0x3b) this.state = 'ext';
        else if (c !== 0x20 && c !== 0x09)
          return fault('CHUNK_FRAMING_INVALID', 400, 'whitespace after a chunk size');
        return undefined;
      case 'ext':
        if (c === CR) this.state = 'size-lf';
        else if (c === LF) return bareLf();
        else if (++this.extensionBytes > maxChunkExtensionBytes)
          return fault('CHUNK_EXTENSIONS_TOO_LONG', 400, 'chunk extensions too long');
        return undefined;
      case 'size-lf':
        if (c !== LF) return bareCr();
        if (this.size === 0) {
          this.state = 'trailer';
          this.lineBytes = 0;
        } else {
          this.state = 'data';
          this.remaining = this.size;
        }
        return undefined;
      case 'data-cr':
        if (c !== CR) return fault('CHUNK_FRAMING_INVALID', 400, 'chunk data not followed by CRLF');
        this.state = 'data-lf';
        return undefined;
      case 'data-lf':
        if (c !== LF) return bareCr();
        this.newChunk();
        return undefined;
      case 'trailer':
        if (c === CR) this.state = 'trailer-lf';
        else if (c === LF) return bareLf();
        else {
          this.lineBytes++;
          // A trailer section far past the head limit is llhttp's 431 already (it counts trailers
          // against server.maxHeaderBytes); nothing after it is followed.
          if (++this.trailerBytes > 2 * this.limits.maxHeadBytes) this.state = 'pass';
        }
        return undefined;
      case 'trailer-lf':
        if (c !== LF) return bareCr();
        if (this.lineBytes === 0) this.startMessage(next);
        else {
          this.state = 'trailer';
          this.lineBytes = 0;
        }
        return undefined;
      default:
        return undefined;
    }
  }
}

/**
 * What is wrong with a request's Transfer-Encoding, given its codings (lowercase, empty list
 * elements left out) and whether the request is HTTP/1.0; undefined when it is one chunked.
 * Also checked per request by the listener, so these hold where the byte scanner is off.
 */
export function transferEncodingFault(http10: boolean, codings: readonly string[]): FramingFault | undefined {
  // RFC 9112 §6.1: "A server or client that receives an HTTP/1.0 message containing a
  // Transfer-Encoding header field MUST treat the message as if the framing is faulty, even
  // if a Content-Length is present, and close the connection after processing the message."
  if (http10) return fault('TRANSFER_ENCODING_HTTP10', 400, 'Transfer-Encoding in an HTTP/1.0 request');
  // RFC 9112 §6.3: "If a Transfer-Encoding header field is present in a request and the
  // chunked transfer coding is not the final encoding, the message body length cannot be
  // determined reliably; the server MUST respond with the 400 (Bad Request) status code and
  // then close the connection." An empty value names no coding at all.
  if (codings.length === 0 || codings[codings.length - 1] !== 'chunked')
    return fault('TRANSFER_ENCODING_INVALID', 400, 'chunked is not the final transfer coding');
  // RFC 9112 §6.1: "A sender MUST NOT apply the chunked transfer coding more than once";
  // "A server that receives a request message with a transfer coding it does not understand
  // SHOULD respond with 501 (Not Implemented)." Strata decodes chunked only.
  const earlier = codings.slice(0, -1);
  if (earlier.includes('chunked'))
    return fault('TRANSFER_ENCODING_INVALID', 400, 'chunked applied more than once');
  if (earlier.length > 0)
    return fault('TRANSFER_CODING_UNSUPPORTED', 501, `transfer coding ${earlier[0]} not implemented`);
  return undefined;
}

/** The codings of a Transfer-Encoding value (lowercase; RFC 9110 §5.6.1: empty elements ignored). */
export function transferCodings(value: string): string[] {
  const codings: string[] = [];
  for (const c of value.toLowerCase().split(',')) if (c.trim()) codings.push(c.trim());
  return codings;
}

function fault(code: FramingFault['code'], status: FramingFault['status'], reason: string): FramingFault {
  return { code, status, reason };
}

// RFC 9112 §7.1 and §2.2: chunked framing lines end in CRLF; a bare LF or CR there is not
// something this server accepts as a line terminator.
const bareLf = (): FramingFault => fault('CHUNK_FRAMING_INVALID', 400, 'bare LF in chunked framing');
const bareCr = (): FramingFault => fault('CHUNK_FRAMING_INVALID', 400, 'bare CR in chunked framing');

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  return -1;
}

/** Node's per-connection parser, which reads the socket natively unless told otherwise. */
type ConsumingParser = { unconsume?: () => void };

/**
 * Puts a RequestFraming between a client socket and Node's parser: runs on each new connection
 * of an http.Server, after Node set it up. Node's parser reads the socket natively; unconsume()
 * (what Node itself does on an upgrade) turns its bytes back into 'data' events, which pass
 * through the scanner before Node's own listener. On a fault, the bytes of the messages before
 * the faulty one still reach Node, nothing after; `onFault` answers and closes. Returns false when
 * this Node version does not have the parts used: then the connection is llhttp's alone.
 */
export function guardFraming(
  socket: Socket,
  limits: FramingLimits,
  onFault: (fault: FramingFault) => void,
): boolean {
  const parser = (socket as Socket & { parser?: ConsumingParser }).parser;
  const listeners = socket.listeners('data');
  if (typeof parser?.unconsume !== 'function' || listeners.length !== 1) return false;
  const deliver = listeners[0] as (chunk: Buffer) => void;
  parser.unconsume();
  socket.removeListener('data', deliver);
  const framing = new RequestFraming(limits);
  let faulted = false;
  const scan = (chunk: Buffer) => {
    // After a fault nothing more is parsed: the answer is on its way and the socket closes.
    if (faulted) return;
    const found = framing.scan(chunk);
    if (!found) return deliver.call(socket, chunk);
    faulted = true;
    if (found.validBytes > 0) deliver.call(socket, chunk.subarray(0, found.validBytes));
    onFault(found.fault);
  };
  socket.on('data', scan);
  scanners.set(socket, scan);
  return true;
}

/** The scanner listening on each guarded socket, so that an upgrade can take it off. */
const scanners = new WeakMap<Socket, (chunk: Buffer) => void>();

/**
 * Takes the scanner off a socket whose request switched protocols (WebSocket): Node's parser
 * has let go of it, and what follows is another protocol's bytes, not HTTP framing.
 */
export function releaseFraming(socket: Socket): void {
  const scan = scanners.get(socket);
  if (scan) socket.removeListener('data', scan);
  scanners.delete(socket);
}
