// Raw HTTP/2 frames over TLS, for what no well-behaved client sends: rapid-reset floods (HEADERS
// then RST_STREAM, as fast as the socket takes them) and CONTINUATION floods. Reads back the
// frame types the server sent and the code of its GOAWAY.

import { connect, type TLSSocket } from 'node:tls';

export const frameType = { headers: 1, rstStream: 3, settings: 4, goaway: 7, continuation: 9 } as const;
const flags = { endStream: 0x1, endHeaders: 0x4 } as const;

export function frame(type: number, flag: number, streamId: number, payload: Buffer): Buffer {
  const out = Buffer.alloc(9 + payload.length);
  out.writeUIntBE(payload.length, 0, 3);
  out[3] = type;
  out[4] = flag;
  out.writeUInt32BE(streamId, 5);
  payload.copy(out, 9);
  return out;
}

/** HPACK for GET https://<authority><path>: static-table :method/:scheme, literal :path and :authority. */
export function getHeaderBlock(authority: string, path: string): Buffer {
  const literal = (index: number, value: string) => {
    const v = Buffer.from(value);
    if (v.length > 127) throw new Error('value too long for this encoder');
    return Buffer.concat([Buffer.from([index, v.length]), v]);
  };
  // 0x82 :method GET, 0x87 :scheme https; 0x04 / 0x01: literal without indexing, name index 4 (:path) / 1 (:authority).
  return Buffer.concat([Buffer.from([0x82, 0x87]), literal(0x04, path), literal(0x01, authority)]);
}

export interface RawH2 {
  socket: TLSSocket;
  write(data: Buffer): boolean;
  /** Frames received so far, by type. */
  received: Map<number, number>;
  /** The error code of the server's first GOAWAY, once one came. */
  goawayCode(): number | undefined;
  /** Resolves when the server closed the connection. */
  closed: Promise<void>;
}

/** Opens TLS with ALPN h2 and sends the client preface and an empty SETTINGS frame. */
export async function rawH2(port: number, servername: string, ca: string): Promise<RawH2> {
  const socket = connect({ host: '127.0.0.1', port, servername, ca, ALPNProtocols: ['h2'] });
  await new Promise<void>((resolve, reject) => {
    socket.once('secureConnect', resolve);
    socket.once('error', reject);
  });
  socket.on('error', () => undefined); // a reset after GOAWAY is an answer too
  const received = new Map<number, number>();
  let goaway: number | undefined;
  let pending = Buffer.alloc(0);
  socket.on('data', (chunk: Buffer) => {
    pending = Buffer.concat([pending, chunk]);
    while (pending.length >= 9) {
      const length = pending.readUIntBE(0, 3);
      if (pending.length < 9 + length) break;
      const type = pending[3];
      received.set(type, (received.get(type) ?? 0) + 1);
      if (type === frameType.goaway) goaway ??= pending.readUInt32BE(9 + 4);
      pending = pending.subarray(9 + length);
    }
  });
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  socket.write('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
  socket.write(frame(frameType.settings, 0, 0, Buffer.alloc(0)));
  return { socket, write: (d) => socket.write(d), received, goawayCode: () => goaway, closed };
}

/** HEADERS (END_STREAM, END_HEADERS) for a GET on `streamId`, then RST_STREAM CANCEL at once. */
export function openAndReset(streamId: number, authority: string, path: string): Buffer {
  const cancel = Buffer.alloc(4);
  cancel.writeUInt32BE(0x8);
  return Buffer.concat([
    frame(frameType.headers, flags.endStream | flags.endHeaders, streamId, getHeaderBlock(authority, path)),
    frame(frameType.rstStream, 0, streamId, cancel),
  ]);
}

/** HEADERS without END_HEADERS, then `count` CONTINUATION frames that never end the block. */
export function continuationFlood(streamId: number, authority: string, count: number): Buffer {
  const parts = [frame(frameType.headers, flags.endStream, streamId, getHeaderBlock(authority, '/'))];
  // Each a literal "x-a: b" without indexing (0x00, name, value), never END_HEADERS.
  const field = Buffer.from([0x00, 3, 0x78, 0x2d, 0x61, 1, 0x62]);
  for (let i = 0; i < count; i++) parts.push(frame(frameType.continuation, 0, streamId, field));
  return Buffer.concat(parts);
}
