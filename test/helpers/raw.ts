// Raw HTTP/1.1 over a net.Socket, for requests no well-behaved client would send.

import { connect, type Socket } from 'node:net';

export interface RawResponse {
  status: number;
  /** Lowercased names; repeated fields joined with ", ". */
  headers: Record<string, string>;
  body: string;
  /** Everything the server sent on this exchange. */
  raw: string;
  /** Whether the connection had already ended when this response was read (await `closed` to wait for it). */
  closed: boolean;
}

export interface RawConnection {
  socket: Socket;
  /** Writes `data` and resolves with the next complete response (by Content-Length), or what came before the close. */
  send(data: string | Buffer): Promise<RawResponse>;
  /** Resolves when the server closes the connection. */
  closed: Promise<void>;
  close(): void;
}

/** Opens a connection to 127.0.0.1:port. */
export async function rawConnect(port: number): Promise<RawConnection> {
  const socket = connect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  let buffered = Buffer.alloc(0);
  let ended = false;
  let wake: (() => void) | undefined;
  socket.on('data', (chunk: Buffer) => {
    buffered = Buffer.concat([buffered, chunk]);
    wake?.();
  });
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  const onEnd = () => {
    ended = true;
    wake?.();
  };
  socket.once('end', onEnd);
  socket.once('close', onEnd);
  // A reset is an answer too (the test looks at `closed`); never an unhandled error.
  socket.on('error', onEnd);

  async function next(): Promise<RawResponse> {
    for (;;) {
      const parsed = parse(buffered, ended);
      if (parsed) {
        buffered = buffered.subarray(parsed.length);
        return { ...parsed.response, closed: ended && buffered.length === 0 };
      }
      if (ended) return { status: 0, headers: {}, body: '', raw: buffered.toString('latin1'), closed: true };
      await new Promise<void>((resolve) => (wake = resolve));
      wake = undefined;
    }
  }

  return {
    socket,
    send(data) {
      socket.write(data);
      return next();
    },
    closed,
    close: () => socket.destroy(),
  };
}

/** Sends one request on a new connection and returns the response. */
export async function rawRequest(port: number, data: string | Buffer): Promise<RawResponse> {
  const conn = await rawConnect(port);
  try {
    const res = await conn.send(data);
    return res;
  } finally {
    conn.close();
  }
}

function parse(
  buf: Buffer,
  ended: boolean,
): { response: Omit<RawResponse, 'closed'>; length: number } | undefined {
  const end = buf.indexOf('\r\n\r\n');
  if (end === -1) return undefined;
  const head = buf.subarray(0, end).toString('latin1');
  const [statusLine, ...lines] = head.split('\r\n');
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine)?.[1] ?? 0);
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
  }
  // 1xx interim responses are skipped by the caller reading again; they have no body.
  const length = headers['content-length'] !== undefined ? Number(headers['content-length']) : undefined;
  const bodyStart = end + 4;
  let bodyEnd: number;
  if (status === 304 || status === 204 || (status >= 100 && status < 200)) bodyEnd = bodyStart;
  else if (length !== undefined) {
    if (buf.length < bodyStart + length) return undefined;
    bodyEnd = bodyStart + length;
  } else if (headers['transfer-encoding']?.includes('chunked')) {
    const terminator = buf.indexOf('0\r\n\r\n', bodyStart);
    if (terminator === -1) return undefined;
    bodyEnd = terminator + 5;
  } else {
    if (!ended) return undefined;
    bodyEnd = buf.length;
  }
  return {
    response: {
      status,
      headers,
      body: buf.subarray(bodyStart, bodyEnd).toString('latin1'),
      raw: buf.subarray(0, bodyEnd).toString('latin1'),
    },
    length: bodyEnd,
  };
}
