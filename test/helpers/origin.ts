// A scriptable origin for tests: records every request and answers with the test's handler.

import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TestContext } from 'node:test';

export interface SeenRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  /** Field lines as they came on the wire: [name, value, name, value, ...]. */
  rawHeaders: string[];
  body: string;
}

export type OriginHandler = (req: IncomingMessage, res: ServerResponse, n: number, body: string) => void;

export interface TestOrigin {
  url: string;
  port: number;
  requests: SeenRequest[];
  /** Replaces the handler for the requests that follow. */
  handle(handler: OriginHandler): void;
  close(): Promise<void>;
}

/** Starts an origin on an ephemeral loopback port; closed after the test. */
export async function startOrigin(t: TestContext, handler: OriginHandler = ok()): Promise<TestOrigin> {
  let current = handler;
  const requests: SeenRequest[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString();
      requests.push({
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        rawHeaders: req.rawHeaders,
        body,
      });
      current(req, res, requests.length, body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const close = () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  t.after(close);
  return { url: `http://127.0.0.1:${port}`, port, requests, handle: (h) => (current = h), close };
}

/** A handler answering 200 with the given headers and a body naming the request number. */
export function ok(headers: Record<string, string | string[]> = {}, body?: string): OriginHandler {
  return (req, res, n) => {
    const text = body ?? `body ${n} for ${req.url}`;
    res.writeHead(200, {
      'content-type': 'text/plain',
      'content-length': Buffer.byteLength(text),
      ...headers,
    });
    res.end(req.method === 'HEAD' ? undefined : text);
  };
}
