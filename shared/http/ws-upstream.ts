// Opening a WebSocket upstream: the client's upgrade request sent to one peer with node:http(s),
// which tells a 101 (the socket, for the tunnel) from any other answer (a response with its
// body, passed to the client as it is). undici's upgrade() would turn a refusal into an error and
// lose its status and body, hence node:http here. Errors become StrataErrors here.

import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Socket } from 'node:net';
import { StrataError } from '../errors.js';
import { upstreamError } from './upstream-errors.js';
import type { Peer } from './upstream.js';

export type UpstreamAnswer =
  /** The origin switched protocols: its 101 head, the socket, and bytes it sent after the head. */
  | { kind: 'upgrade'; res: IncomingMessage; socket: Socket; head: Buffer }
  /** Any other answer: a response whose body the client gets as it is. */
  | { kind: 'response'; res: IncomingMessage };

/**
 * Sends the upgrade request to `peer`. Connecting (TCP and TLS) must finish within the peer's
 * connect timeout and the answer's head within `headersTimeoutMs`.
 */
export function openUpstream(
  peer: Peer,
  path: string,
  headers: Record<string, string>,
  headersTimeoutMs: number,
): Promise<UpstreamAnswer> {
  const url = new URL(peer.url);
  const secure = url.protocol === 'https:';
  const options = {
    host: url.hostname.replace(/^\[|\]$/g, ''),
    port: url.port || (secure ? 443 : 80),
    method: 'GET',
    path,
    headers,
    agent: false as const,
    setHost: false,
    ...(peer.tls && {
      servername: peer.tls.servername,
      ca: peer.tls.ca,
      rejectUnauthorized: peer.tls.rejectUnauthorized,
    }),
  };
  return new Promise<UpstreamAnswer>((resolve, reject) => {
    const req = (secure ? httpsRequest : httpRequest)(options);
    let timer = setTimeout(
      () => req.destroy(new StrataError('UPSTREAM_CONNECT_TIMEOUT', undefined, { origin: peer.url })),
      peer.connectTimeoutMs,
    );
    req.once('socket', (socket: Socket) => {
      socket.once(secure ? 'secureConnect' : 'connect', () => {
        clearTimeout(timer);
        timer = setTimeout(
          () => req.destroy(new StrataError('UPSTREAM_HEADERS_TIMEOUT', undefined, { origin: peer.url })),
          headersTimeoutMs,
        );
      });
    });
    req.once('upgrade', (res: IncomingMessage, socket: Socket, head: Buffer) => {
      clearTimeout(timer);
      resolve({ kind: 'upgrade', res, socket, head });
    });
    req.once('response', (res: IncomingMessage) => {
      clearTimeout(timer);
      resolve({ kind: 'response', res });
    });
    req.once('error', (err) => {
      clearTimeout(timer);
      reject(upstreamError(err, peer.url));
    });
    req.end();
  });
}
