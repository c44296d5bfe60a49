// A reference for the miss path (a child process): the least a Node.js caching proxy does on a
// miss. It forwards the GET through an undici Pool (128 connections, as the edge has) with the
// dispatch API the edge uses (no Readable, no promise per response), keeps the body in a Map,
// and answers with the origin's status, content type, length and Cache-Control. No policy, no
// header rewriting, no logging, no metrics: the ceiling for a single-process Node.js proxy that
// stores what it fetches.
//
//   node dist/loadtest/bare-proxy.js --origin http://127.0.0.1:PORT

import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import { parseArgs } from 'node:util';
import { Pool, type Dispatcher } from 'undici';
import { serveUntilSignal } from './child-server.js';

const { values } = parseArgs({ options: { origin: { type: 'string' } }, strict: true });
if (!values.origin) throw new Error('--origin URL is required');
const pool = new Pool(values.origin, { connections: 128, pipelining: 1 });
const stored = new Map<string, Buffer>();
const maxObjects = 100_000;

class Fetch implements Dispatcher.DispatchHandler {
  private status = 0;
  private headers: IncomingHttpHeaders = {};
  private readonly chunks: Buffer[] = [];

  constructor(
    private readonly path: string,
    private readonly res: ServerResponse,
  ) {}

  /** undici takes a handler for the new API only when it has this method. */
  onRequestStart(): void {}

  onResponseStart(_c: Dispatcher.DispatchController, status: number, headers: IncomingHttpHeaders): void {
    this.status = status;
    this.headers = headers;
  }

  onResponseData(_c: Dispatcher.DispatchController, chunk: Buffer): void {
    this.chunks.push(chunk);
  }

  onResponseEnd(): void {
    const body = this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks);
    if (stored.size >= maxObjects) stored.clear();
    stored.set(this.path, body);
    this.res.writeHead(this.status, {
      'content-type': String(this.headers['content-type'] ?? 'application/octet-stream'),
      'content-length': String(body.length),
      'cache-control': String(this.headers['cache-control'] ?? ''),
    });
    this.res.end(body);
  }

  onResponseError(_c: Dispatcher.DispatchController, err: Error): void {
    // The bench counts a 502 as an error (wrk's non-2xx count), which is all it needs to know.
    if (!this.res.headersSent) this.res.writeHead(502, { 'content-length': '0' }).end();
    process.stderr.write(`bare-proxy: ${String(err)}\n`);
  }
}

const server = createServer((req, res) => {
  const path = req.url ?? '/';
  pool.dispatch({ method: 'GET', path, headers: { host: req.headers.host ?? '' } }, new Fetch(path, res));
});
await serveUntilSignal(server, 'bare-proxy');
await pool.close();
